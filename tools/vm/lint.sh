#!/bin/bash
# `make lint`: checkpatch (strict) over every project *.c/*.h, sparse (C=2)
# and a W=1 build of the modules against the debug kernel. Prints every
# finding; exits non-zero if there is any.
set -euo pipefail
. "$(dirname "$0")/common.sh"
setup_kernel
out=$ROOT/build/lint
mkdir -p "$out"
fail=0

# Tracked and new files alike, minus what .gitignore hides (*.mod.c, build/).
mapfile -t files < <(cd "$MODDIR" && git ls-files --cached --others \
	--exclude-standard -- '*.c' '*.h' 2>/dev/null ||
	find . -path ./build -prune -o -name '*.[ch]' ! -name '*.mod.c' -print)
say "checkpatch: ${#files[@]} files"
# No ignored types: --strict CHECKs fail lint too.
# bufq_compat.h is the one place that compares LINUX_VERSION_CODE (its
# header says why); anywhere else checkpatch still flags it.
compat=()
for i in "${!files[@]}"; do
	[ "${files[$i]#./}" = bufq_compat.h ] && { compat=(bufq_compat.h); unset "files[$i]"; }
done
if [ ${#files[@]} -gt 0 ] && ! (cd "$MODDIR" && "$KSRC/scripts/checkpatch.pl" \
	--strict --no-tree --show-types --quiet --no-summary --terse \
	-f "${files[@]}"); then
	fail=1
fi
if [ ${#compat[@]} -gt 0 ] && ! (cd "$MODDIR" && "$KSRC/scripts/checkpatch.pl" \
	--strict --no-tree --show-types --quiet --no-summary --terse \
	--ignore LINUX_VERSION_CODE,CONSTANT_COMPARISON -f "${compat[@]}"); then
	fail=1
fi

# Sparse on every module source, and the compiler with W=1. Clean first so
# the compiler really runs (an up-to-date build prints no warnings).
say "sparse (C=2) + W=1 build"
make -s -C "$MODDIR" KDIR="$KBUILD" clean >/dev/null
make -C "$MODDIR" KDIR="$KBUILD" W=1 C=2 >"$out/build.log" 2>&1 || fail=1
for t in $SELFTESTS; do
	say "selftest $t (-Wall)"
	build_selftest "$t" /dev/null -fsyntax-only >>"$out/build.log" 2>&1 || fail=1
done
say "scan-log.py rules"
python3 "$ROOT/tools/vm/scan-log-test.py" >>"$out/build.log" 2>&1 || {
	echo "scan-log-test.py failed"
	fail=1
}
# Compiler and sparse say "warning:"; modpost says "WARNING: modpost:".
if grep -E 'warning:|error:|WARNING:|ERROR:|Error ' "$out/build.log"; then
	fail=1
elif [ $fail = 1 ]; then
	cat "$out/build.log"
fi

if [ $fail = 0 ]; then echo "lint: clean"; else echo "lint: FAILED"; fi
exit $fail
