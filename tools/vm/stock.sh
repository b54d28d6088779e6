#!/bin/bash
# Fetch one of Debian 12's stock kernels (image and headers) without
# installing it, and make the unpacked headers usable for out-of-tree builds.
# Usage: stock.sh [SERIES [FLAVOUR]]   prints the cache directory, which holds
#   vmlinuz   the stock kernel (8250 console and initramfs built in)
#   kdir      the headers tree: make -C kdir M=... modules
#   release   its `uname -r`
# SERIES is 6.12 (default) or 6.1; FLAVOUR amd64 (default), rt-amd64 or
# cloud-amd64.
# Env: BUFQ_CACHE (default ~/.cache/bufq), BUFQ_STOCK_ABI (e.g.
# 6.12.117+deb12 or 6.1.0-56: pick that build instead of the newest apt knows).
# Needs apt's package lists; runs `apt-get update` when they lack the series.
set -euo pipefail
series=${1:-6.12}
flavour=${2:-amd64}
cache=${BUFQ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bufq}
sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo

say() { printf '== %s\n' "$*" >&2; }

# The ABI name of the newest stock build of the series apt knows:
# 6.12.N+debM (6.12) or 6.1.0-N (6.1). Backports and security builds use the
# same package names, so the highest version listed wins.
find_abi() {
	local s=${series//./\\.}
	apt-cache search --names-only "^linux-image-$s\\..*-$flavour-unsigned\$" 2>/dev/null |
		sed -En "s/^linux-image-($s\\.[0-9]+(\\+deb[0-9]+|-[0-9]+))-$flavour-unsigned .*/\\1/p" |
		sort -V | tail -n1
}

abi=${BUFQ_STOCK_ABI:-}
if [ -z "$abi" ]; then
	abi=$(find_abi)
	if [ -z "$abi" ]; then
		say "apt-get update (no $series kernel in the package lists)"
		$sudo apt-get update -q >&2
		abi=$(find_abi)
	fi
fi
[ -n "$abi" ] || { echo "stock.sh: apt knows no linux-image-$series.*-$flavour-unsigned" >&2; exit 1; }

release=$abi-$flavour
out=$cache/stock-$release
mkdir -p "$cache"
exec 9>"$cache/.stock.lock"
flock 9
if [ -f "$out/.done" ]; then
	echo "$out"
	exit 0
fi

# The headers need their -common tree (-common-rt for rt) and the kbuild
# package with the build scripts: linux-kbuild-6.12.N+debM, or for 6.1 the
# unversioned linux-kbuild-6.1, which must be the headers' own version.
headers=linux-headers-$release
version=$(apt-cache show --no-all-versions "$headers" 2>/dev/null |
	sed -n 's/^Version: //p' | head -n1)
[ -n "$version" ] || { echo "stock.sh: apt knows no $headers" >&2; exit 1; }
mapfile -t deps < <(apt-cache depends "$headers" |
	sed -En 's/^ *Depends: (linux-(headers|kbuild)-[^ <>]+)$/\1/p' | sort -u)
pkgs=("linux-image-$release-unsigned=$version" "$headers=$version")
for d in "${deps[@]}"; do
	pkgs+=("$d=$version")
done
say "stock kernel $release: downloading ${pkgs[*]}"
rm -rf "$out" && mkdir -p "$out/debs" "$out/root"
# apt's sandbox user must be able to write there, or apt warns.
chmod 0777 "$out/debs"
if ! (cd "$out/debs" && apt-get download -q "${pkgs[@]}") >"$out/download.log" 2>&1; then
	say "apt-get download failed; updating the package lists and retrying"
	$sudo apt-get update -q >&2
	(cd "$out/debs" && apt-get download -q "${pkgs[@]}") >"$out/download.log" 2>&1 ||
		{ cat "$out/download.log" >&2; exit 1; }
fi
chmod 0755 "$out/debs"
for deb in "$out"/debs/*.deb; do
	dpkg-deb -x "$deb" "$out/root"
done

# The headers' Makefile includes the common tree by absolute path; point it
# into the unpacked root. Their scripts/ and tools/ links are relative, into
# linux-kbuild, and resolve inside the unpacked root as they are.
kdir=$out/root/usr/src/linux-headers-$release
[ -f "$kdir/Makefile" ] ||
	{ echo "stock.sh: unexpected package layout under $out/root" >&2; exit 1; }
sed -i "s|^include /usr/src/|include $out/root/usr/src/|" "$kdir/Makefile"
common=$(sed -n 's|^include \(.*\)/Makefile$|\1|p' "$kdir/Makefile" | head -n1)
[ -d "$common" ] ||
	{ echo "stock.sh: $kdir/Makefile includes no unpacked common tree" >&2; exit 1; }
for l in scripts tools; do
	[ -e "$kdir/$l/" ] || { echo "stock.sh: $kdir/$l does not resolve" >&2; exit 1; }
done
# The image's modules are not needed to boot an initramfs; drop them.
rm -rf "$out/root/lib/modules/$release/kernel"

ln -sfn "root/boot/vmlinuz-$release" "$out/vmlinuz"
ln -sfn "root/usr/src/linux-headers-$release" "$out/kdir"
echo "$release" >"$out/release"
rm -rf "$out/debs"
touch "$out/.done"
echo "$out"
