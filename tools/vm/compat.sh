#!/bin/bash
# `make compat`: on each of Debian 12's stock kernels, 6.1 and 6.12 in their
# generic, rt and cloud flavours, run the demo (tools/vm/demo.sh --kernel):
# fetch image and headers (unpacked, never installed, cached in
# ~/.cache/bufq), build the modules with W=1, boot QEMU (TCG), load bufq,
# run the pipes and the shell round trip through /dev/bufq and the sample.
# Prints the matrix kernel x build / load / demo; exits 0 only if every
# cell is ok. Takes a while: six boots under TCG.
# Env: BUFQ_COMPAT_KERNELS ("SERIES FLAVOUR" pairs, comma-separated) to run
# fewer, e.g. "6.1 amd64,6.12 rt-amd64".
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
out=$ROOT/build/compat
IFS=, read -r -a kernels <<<"${BUFQ_COMPAT_KERNELS:-6.1 amd64,6.1 rt-amd64,6.1 cloud-amd64,6.12 amd64,6.12 rt-amd64,6.12 cloud-amd64}"
mkdir -p "$out"

say() { printf '== %s\n' "$*" >&2; }

rows=()
bad=0
for k in "${kernels[@]}"; do
	read -r series flavour <<<"$k"
	dir=$out/$series-$flavour
	say "$series $flavour (log: ${dir#"$ROOT"/}.log)"
	start=$(date +%s)
	rc=0
	"$ROOT/tools/vm/demo.sh" --kernel "$series" "$flavour" --out "$dir" \
		>"$dir.log" 2>&1 || rc=$?
	secs=$(($(date +%s) - start))
	release=$(sed -n 's/^== stock kernel \([^ ]*\) (.*/\1/p' "$dir.log" | head -n1)
	# build: the modules built, "warn" if W=1 said anything.
	if [ ! -f "$dir/build.log" ] || grep -q '^demo: module build failed' "$dir.log"; then
		build=FAIL
	elif grep -qE 'warning:|WARNING:' "$dir/build.log"; then
		build=warn
	else
		build=ok
	fi
	# load: the demo's first step, insmod bufq.ko and /dev/bufq present.
	con=$dir/console.log
	if [ "$build" = FAIL ] || [ ! -f "$con" ] || ! grep -q '^--- load bufq.ko' "$con"; then
		load=-
	elif grep -q '^\*\*\* FAILED (exit [0-9]*): load bufq.ko' "$con"; then
		load=FAIL
	else
		load=ok
	fi
	if [ "$rc" -eq 0 ] && [ -f "$con" ] && grep -qx 'DEMO OK' "$con"; then
		demo=ok
	else
		demo=FAIL
	fi
	[ "$build/$load/$demo" = ok/ok/ok ] || bad=1
	rows+=("$(printf '%-6s %-12s %-28s %-6s %-5s %-5s %5ss' "$series" "$flavour" \
		"${release:-?}" "$build" "$load" "$demo" "$secs")")
	say "$series $flavour: build $build, load $load, demo $demo (${secs}s)"
done

{
	printf '%-6s %-12s %-28s %-6s %-5s %-5s %6s\n' series flavour release build load demo time
	printf '%s\n' "${rows[@]}"
} | tee "$out/matrix.txt"
[ "$bad" -eq 0 ] && echo "compat: all ok" || echo "compat: FAILED (logs in ${out#"$ROOT"/}/)"
exit "$bad"
