# shellcheck shell=bash
# Shared setup for check.sh and lint.sh: sourced, not run.
# Sets ROOT (repo), KVER, KBUILD (kernel build dir), KSRC (its source tree),
# MODDIR (where the out-of-tree modules are built; BUFQ_MODDIR overrides it
# so the harness itself can be tested on a throwaway module).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KVER=${BUFQ_KVER:-6.12}
# BUFQ_FRAGMENT: config fragments, space-separated, merged in order.
FRAGMENT=${BUFQ_FRAGMENT:-$ROOT/tests/debug.config}
MODDIR=${BUFQ_MODDIR:-$ROOT}
# User-space kselftests (paths relative to MODDIR), one static binary each.
SELFTESTS=${SELFTESTS-$(cd "$MODDIR" && ls tests/*_test.c 2>/dev/null || true)}

say() { printf '== %s\n' "$*" >&2; }

# Install missing packages, then build (or reuse) the debug kernel.
setup_kernel() {
	"$ROOT/tools/vm/deps.sh"
	say "kernel $KVER (cached under ~/.cache/bufq)"
	# shellcheck disable=SC2086 # one word per fragment
	KBUILD=$("$ROOT/tools/vm/kernel.sh" "$KVER" $FRAGMENT)
	KSRC=$(readlink -f "$KBUILD/source")
	export KBUILD KSRC
}

# Compile one kselftest source against the kernel's kselftest_harness.h
# (-isystem: the header's own -Wmisleading-indentation is not ours).
build_selftest() { # SRC OUT [extra gcc flags]
	(cd "$MODDIR" && gcc -static -O2 -g -Wall -pthread -I include/uapi \
		-isystem "$KSRC/tools/testing/selftests" -o "$2" "$1" "${@:3}")
}
