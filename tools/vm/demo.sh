#!/bin/bash
# `make demo`: boot Debian's stock 6.12 kernel in QEMU (TCG) with bufq.ko and
# bufq_sample.ko built against its headers, and run tools/vm/demo-init in it:
# bufqctl pipes at three sizes in three modes, a shell round trip through
# /dev/bufq, the sample's kernel thread fed through /dev/bufq-sample, its
# capture device at two rates (frames/s, drops, latency, sequence check)
# and its playback device (the kernel thread's CRC against bufqctl's).
# Prints the guest's output and exits 0 only if it ended with "DEMO OK".
# `demo.sh --shell` (make vm-shell): the same VM, to an interactive shell.
# `demo.sh --kernel SERIES FLAVOUR [--out DIR]`: another Debian 12 stock
# kernel (stock.sh's arguments, e.g. 6.1 rt-amd64), as make compat does.
# Env: BUFQ_CACHE (download cache, default ~/.cache/bufq), BUFQ_TIMEOUT
# (seconds for the VM, default 900), BUFQ_STOCK_ABI (see stock.sh).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
out=$ROOT/build/demo
shell=
series=6.12
flavour=amd64
while [ $# -gt 0 ]; do
	case $1 in
	--shell) shell=1 out=$ROOT/build/vm-shell ;;
	--kernel) series=$2 flavour=$3; shift 2 ;;
	--out) out=$2; shift ;;
	*) echo "usage: demo.sh [--shell] [--kernel SERIES FLAVOUR] [--out DIR]" >&2; exit 2 ;;
	esac
	shift
done

say() { printf '== %s\n' "$*" >&2; }
start=$(date +%s)

# Host packages: only what is missing, so a warm machine runs no apt.
pkgs=(
	qemu-system-x86 busybox-static cpio gzip gcc gcc-12 make libc6-dev
	pahole libelf1 libssl3 zlib1g
)
"$ROOT/tools/vm/deps.sh" "${pkgs[@]}"

stock=$("$ROOT/tools/vm/stock.sh" "$series" "$flavour")
release=$(cat "$stock/release")
say "stock kernel $release (${stock/#$HOME/\~})"

# Build in a copy of the sources, so that the stock-kernel objects never mix
# with those `make check` builds in the tree for its debug kernel.
rm -rf "$out" && mkdir -p "$out/stage/bin" "$out/stage/lib/modules" \
	"$out/stage/dev" "$out/stage/proc" "$out/stage/sys" "$out/stage/tmp"
"$ROOT/tools/vm/srccopy.sh" "$out/src"
say "modules (against the stock headers, W=1)"
if ! make -C "$out/src" KDIR="$stock/kdir" W=1 \
	>"$out/build.log" 2>&1; then
	cat "$out/build.log"
	echo "demo: module build failed"
	exit 1
fi
grep -E 'warning:|WARNING:' "$out/build.log" >&2 || true
say "bufqctl"
make -s -C "$ROOT" bufqctl >>"$out/build.log" 2>&1 ||
	{ cat "$out/build.log"; echo "demo: bufqctl build failed"; exit 1; }

cp "$out/src/bufq.ko" "$out/src/bufq_sample.ko" "$out/stage/lib/modules/"
cp "$ROOT/build/bufqctl" /bin/busybox "$out/stage/bin/"
cp "$ROOT/tools/vm/demo-init" "$out/stage/init"
chmod 0755 "$out/stage/init"
# The kernel's built-in initramfs already holds /dev/console; newc cpio with
# owner root needs no privileges.
(cd "$out/stage" && find . | cpio -o -H newc -R 0:0 --quiet) |
	gzip -1 >"$out/initramfs.cpio.gz"

# -cpu max: with RDRAND the guest's RNG is ready before the second CPU
# starts. Otherwise its late static-key flip (live code patching) races the
# other vCPU under TCG, and a reader of /dev/urandom can take a stray int3.
qemu=(qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1G -nographic -no-reboot
	-nic none -kernel "$stock/vmlinuz" -initrd "$out/initramfs.cpio.gz")
append="console=ttyS0 quiet panic=-1"
if [ -n "$shell" ]; then
	say "booting to a shell (Ctrl-A X quits QEMU)"
	exec "${qemu[@]}" -append "$append bufq_demo=shell"
fi

say "booting (full log: ${out#"$ROOT"/}/console.log)"
boot=$(date +%s)
rc=0
# The guest's output, from its first line on: boot messages stay in the log.
timeout "${BUFQ_TIMEOUT:-900}" "${qemu[@]}" -append "$append" </dev/null 2>&1 |
	sed -u 's/\r//g; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' |
	tee "$out/console.log" | sed -un '/^=== bufq demo/,$p' || rc=$?
say "VM ran $(($(date +%s) - boot)) s, demo $(($(date +%s) - start)) s in all"
if ! grep -q '^=== bufq demo' "$out/console.log"; then
	echo "demo: the guest did not start; the end of its console:"
	tail -n 30 "$out/console.log"
fi
if [ "$rc" -ne 0 ]; then
	echo "demo: QEMU failed or timed out (exit $rc)"
	exit 1
fi
grep -qx 'DEMO OK' "$out/console.log"
