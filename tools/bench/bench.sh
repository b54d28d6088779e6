#!/bin/bash
# `make bench`: boot Debian's stock 6.12 kernel in QEMU (TCG) and run every
# benchmark $BUFQ_BENCH_RUNS rounds (default 5) in one boot, the
# implementations of each figure interleaved: bufq_bench.ko (bufq against
# kernel alternatives), ubench (/dev/bufq against a pipe and a
# socketpair) and kubench with bufq_kprod.ko (a kernel producer feeding user
# space through a mapped driver file or a copying read()). Records the host's load around the VM run and the CPU time
# the VM got. Prints the table (min / median / max, ratios of medians and
# their spread over rounds) with the host's load, warning when the host was
# busy; with --update, also writes docs/benchmarks.md's table and
# docs/benchmarks.png. BUFQ_BENCH_ONLY=kernel runs only the kernel figures
# (bufq_bench.ko), for a quick look at one change. A second boot under
# -icount counts the guest instructions of the one-thread kernel figures
# (BUFQ_BENCH_ICOUNT=0 skips it). The report ends with how far each ratio
# moved since the previous whole run (build/bench-prev).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
out=$ROOT/build/bench
runs=${BUFQ_BENCH_RUNS:-5}
vcpus=2

say() { printf '== %s\n' "$*" >&2; }

"$ROOT/tools/vm/deps.sh"
command -v gnuplot >/dev/null || {
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends gnuplot-nox >&2
}
stock=$("$ROOT/tools/vm/stock.sh")
say "stock kernel $(cat "$stock/release")"

# The last whole run's logs stay in build/bench-prev: the report ends with
# how far each ratio moved since (an idle run against a loaded one). A
# run that did not finish, ran only the kernel figures or logged a kernel
# warning does not replace it.
prev=$ROOT/build/bench-prev
if grep -qsx 'BENCH OK' "$out/console.log" && grep -qs '^ubench ' "$out/console.log" &&
	grep -qsx 'host guest_oops 0' "$out/host.txt"; then
	rm -rf "$prev" && mkdir -p "$prev"
	cp "$out/console.log" "$out/host.txt" "$prev/"
fi

# Build in a copy, so these objects never mix with `make check`'s.
rm -rf "$out" && mkdir -p "$out/src" "$out/stage/bin" "$out/stage/lib/modules"
"$ROOT/tools/vm/srccopy.sh" "$out/src"
# The same bufq with its trace events compiled out (NOTRACE), as the
# baseline of what they cost when off.
cp -r "$out/src" "$out/src-notrace"
say "modules"
{
	make -C "$stock/kdir" M="$out/src" modules &&
	make -C "$stock/kdir" M="$out/src-notrace" KCFLAGS=-DNOTRACE modules &&
	make -C "$stock/kdir" M="$out/src/tools/bench" \
		KBUILD_EXTRA_SYMBOLS="$out/src/Module.symvers" modules &&
	gcc -static -O2 -Wall -I "$ROOT/include/uapi" -o "$out/stage/bin/ubench" \
		"$ROOT/tools/bench/ubench.c" &&
	gcc -static -O2 -Wall -I "$ROOT/include/uapi" -o "$out/stage/bin/kubench" \
		"$ROOT/tools/bench/kubench.c"
} >"$out/build.log" 2>&1 || { cat "$out/build.log"; exit 1; }
cp "$out/src/bufq.ko" "$out/src/tools/bench/bufq_bench.ko" \
	"$out/src/tools/bench/bufq_kprod.ko" "$out/stage/lib/modules/"
cp "$out/src-notrace/bufq.ko" "$out/stage/lib/modules/bufq-notrace.ko"
cp /bin/busybox "$out/stage/bin/"
cp "$ROOT/tools/bench/bench-init" "$out/stage/init"
(cd "$out/stage" && find . | cpio -o -H newc -R 0:0 --quiet) |
	gzip -1 >"$out/initramfs.cpio.gz"

# Host load: /proc/loadavg and the host's busy CPU time (/proc/stat)
# before and after, and the CPU time the VM got (this shell's reaped
# children: timeout, which reaps QEMU, and tr).
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }
children() { awk '{print $16+$17}' "/proc/$$/stat"; }
load0=$(cut -d' ' -f1-3 /proc/loadavg)
busy0=$(busy)
kids0=$(children)
t0=$(date +%s.%N)

# boot LOG CMDLINE [QEMU OPTION...]: one VM run, its console in LOG. The
# stock kernel under TCG now and then dies while booting, before /init
# (an int3 while it patches its own text): such a boot, which ran none
# of our code, is tried again, three times at most.
boot() {
	local log=$1 cmdline=$2 try
	shift 2
	for try in 1 2 3; do
		timeout "${BUFQ_TIMEOUT:-1800}" qemu-system-x86_64 -accel tcg "$@" \
			-cpu max -smp $vcpus -m 1G -nographic -no-reboot -nic none \
			-kernel "$stock/vmlinuz" -initrd "$out/initramfs.cpio.gz" \
			-append "console=ttyS0 quiet panic=-1 $cmdline" </dev/null |
			tr -d '\r' >"$log"
		grep -q 'bench: cpus' "$log" && return 0
		say "the guest died before /init (try $try): booting again"
	done
}

say "booting (log: ${out#"$ROOT"/}/console.log)"
boot "$out/console.log" \
	"bufq_bench_runs=$runs bufq_bench_only=${BUFQ_BENCH_ONLY:-all}"

t1=$(date +%s.%N)
load1=$(cut -d' ' -f1-3 /proc/loadavg)
busy1=$(busy)
kids1=$(children)
cat >"$out/host.txt" <<EOT
host cpus $(grep -c "^cpu[0-9]" /proc/stat)
host vcpus $vcpus
host clk_tck $(getconf CLK_TCK)
host wall $t0 $t1
host loadavg_before $load0
host loadavg_after $load1
host busy_ticks $busy0 $busy1
host vm_ticks $kids0 $kids1
host guest_oops $(grep -cE '\] (BUG|WARNING:|Oops)|Call Trace:' "$out/console.log" || true)
EOT
say "VM ran $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s"
grep -qx 'BENCH OK' "$out/console.log" || {
	tail -n 30 "$out/console.log"
	echo "bench: the guest did not finish its benchmarks"
	exit 1
}

# The one-thread kernel figures again, counted rather than timed: under
# -icount shift=0 the guest's clock advances one nanosecond per guest
# instruction, so ps/cycle / 1000 is instructions per cycle, the same on an
# idle or a busy host. Two rounds, to show that they repeat.
icount=
if [ "${BUFQ_BENCH_ICOUNT:-1}" = 1 ]; then
	say "booting again under -icount (log: ${out#"$ROOT"/}/console-icount.log)"
	boot "$out/console-icount.log" "bufq_bench_runs=2 bufq_bench_only=icount" \
		-icount shift=0
	grep -qx 'BENCH OK' "$out/console-icount.log" || {
		tail -n 30 "$out/console-icount.log"
		echo "bench: the guest did not finish its -icount benchmarks"
		exit 1
	}
	icount="--icount $out/console-icount.log"
fi
agree=
[ -f "$prev/console.log" ] && agree="--agree $prev/console.log"
# shellcheck disable=SC2086 # $icount and $agree are two words or none
exec python3 "$ROOT/tools/bench/report.py" "$out/console.log" --host "$out/host.txt" \
	$icount $agree "$@"
