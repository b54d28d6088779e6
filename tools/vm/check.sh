#!/bin/bash
# `make check`: build the debug kernel (cached), the modules and the static
# kselftests, boot them in QEMU (TCG) and judge the logs.
# Ends with the line "N passed, N failed"; exits non-zero on any failure.
# Env: SELFTESTS (space-separated kselftest sources; default tests/*_test.c),
# BUFQ_MODDIR (module tree to test; default the repo),
# BUFQ_TIMEOUT (seconds for the whole VM run; default 1200),
# BUFQ_PARAMS (module parameters, "MODULE.PARAM=VALUE ...", e.g.
#   bufq.max_buffers=64), BUFQ_KUNIT_FILTER (kunit.filter_glob: "SUITE" or
#   "SUITE.CASE", globs allowed), BUFQ_SELFTEST_ARGS (arguments of every
#   kselftest binary, e.g. "-r bufq.batch"), BUFQ_STRESS_OPS (operations of
#   the multi-process stress kselftest), BUFQ_OUT (output directory; default
#   build/check), BUFQ_FRAGMENT (kernel config fragments; see common.sh),
#   BUFQ_CMDLINE (more kernel command line, e.g. kcsan.skip_watch=500).
set -euo pipefail
. "$(dirname "$0")/common.sh"
out=${BUFQ_OUT:-$ROOT/build/check}
case $out in /*) ;; *) out=$ROOT/$out ;; esac
stage=$out/stage

setup_kernel

rm -rf "$out" && mkdir -p "$stage/modules" "$stage/tests"
: >"$stage/plan"

say "modules (W=1) in $MODDIR"
if ! make -C "$MODDIR" KDIR="$KBUILD" W=1 >"$out/build.log" 2>&1; then
	cat "$out/build.log"
	echo "module build failed"
	echo "0 passed, 1 failed"
	exit 1
fi
# modules.order keeps Kbuild's obj-m order (bufq before its tests).
while read -r obj; do
	case $obj in /*) ko=${obj%.o}.ko ;; *) ko=$MODDIR/${obj%.o}.ko ;; esac
	name=$(basename "$ko" .ko)
	cp "$ko" "$stage/modules/"
	# This module's parameters from BUFQ_PARAMS, for insmod.
	args=
	for p in ${BUFQ_PARAMS:-}; do
		case $p in "$name".*=*) args="$args ${p#"$name".}" ;; esac
	done
	if objdump -h "$ko" | grep -q kunit_test_suites; then
		echo "kunit $name$args" >>"$stage/plan"
	else
		echo "module $name$args" >>"$stage/plan"
	fi
done <"$MODDIR/modules.order"
# Plain modules first (KUnit modules and selftests may need them).
sort -s -k1,1r "$stage/plan" -o "$stage/plan"
# Environment of the kselftests.
for v in BUFQ_STRESS_OPS BUFQ_TEST_TIMEOUT; do
	[ -z "${!v:-}" ] || echo "env $v=${!v}" >>"$stage/plan"
done

# The README's out-of-tree client, built exactly as the README tells and
# loaded after bufq: it loads only if its own checks pass.
if [ -d "$MODDIR/examples/client" ]; then
	say "examples/client (the README's recipe, W=1)"
	if ! make -C "$MODDIR/examples/client" KDIR="$KBUILD" BUFQ_DIR="$MODDIR" \
		W=1 >>"$out/build.log" 2>&1; then
		cat "$out/build.log"
		echo "examples/client: build failed"
		echo "0 passed, 1 failed"
		exit 1
	fi
	cp "$MODDIR/examples/client/bufq_client.ko" "$stage/modules/"
	echo "client bufq_client" >>"$stage/plan"
fi

# User-space kselftests: every listed source becomes one static binary.
for t in $SELFTESTS; do
	name=$(basename "$t" .c)
	say "selftest $name"
	if ! build_selftest "$t" "$stage/tests/$name" >>"$out/build.log" 2>&1; then
		cat "$out/build.log"
		echo "selftest $name: build failed"
		echo "0 passed, 1 failed"
		exit 1
	fi
	echo "test $name ${BUFQ_SELFTEST_ARGS:-}" >>"$stage/plan"
done
# bufqctl, for the selftests that run it (/tests/bufqctl; not in the plan).
if [ -f "$MODDIR/tools/bufqctl/bufqctl.c" ]; then
	make -s -C "$MODDIR" bufqctl >>"$out/build.log" 2>&1 ||
		{ cat "$out/build.log"; echo "bufqctl: build failed"; echo "0 passed, 1 failed"; exit 1; }
	cp "$MODDIR/build/bufqctl" "$stage/tests/"
fi
# Warnings do not stop the run (`make lint` fails on them), but show them.
grep -E 'warning:|error:' "$out/build.log" >&2 || true

"$ROOT/tools/vm/initramfs.sh" "$out/initramfs.cpio.gz" "$stage"

# Host side, in the tally: the 6.1 build and the staged make install.
say "host: modules against Debian 12's 6.1 headers (W=1), make install-test"
"$ROOT/tools/vm/host-checks.sh" "$out/host" >"$out/host.tap" || true

cmdline="console=ttyS0 panic=-1 printk.devkmsg=on ${BUFQ_CMDLINE:-}"
[ -z "${BUFQ_KUNIT_FILTER:-}" ] ||
	cmdline="$cmdline kunit.filter_glob=$BUFQ_KUNIT_FILTER"
say "boot (log: ${out#"$ROOT"/}/console.log, tests.log)"
start=$(date +%s)
rc=0
timeout "${BUFQ_TIMEOUT:-1200}" qemu-system-x86_64 -accel tcg -smp 2 -m 2G \
	-nodefaults -display none -monitor none -no-reboot \
	-kernel "$KBUILD/arch/x86/boot/bzImage" -initrd "$out/initramfs.cpio.gz" \
	-serial "file:$out/console.log" -serial "file:$out/tests.log" \
	-append "$cmdline" || rc=$?
say "VM ran $(($(date +%s) - start)) s, exit $rc"

exec python3 "$ROOT/tools/vm/scan-log.py" --qemu-rc "$rc" \
	--host-tap "$out/host.tap" --kunit-filter "${BUFQ_KUNIT_FILTER:-}" \
	"$stage/plan" "$out/console.log" "$out/tests.log"
