#!/bin/bash
# Fetch Debian's stock 6.12 kernel (image and headers) without installing it,
# and make the unpacked headers usable for out-of-tree builds.
# Usage: stock.sh            prints the cache directory, which holds
#   vmlinuz   the stock kernel (8250 console and initramfs built in)
#   kdir      the headers tree: make -C kdir M=... modules
#   release   its `uname -r`
# Env: BUFQ_CACHE (default ~/.cache/bufq), BUFQ_STOCK_ABI (e.g.
# 6.12.117+deb12: pick that build instead of the newest apt knows).
# Needs apt's package lists; runs `apt-get update` when they lack 6.12.
set -euo pipefail
cache=${BUFQ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bufq}
flavour=amd64
sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo

say() { printf '== %s\n' "$*" >&2; }

# The ABI name (6.12.N+debM) of the newest stock 6.12 build apt knows: the
# one the headers meta-package points at, else the highest version listed
# (backports and security builds use the same package names).
find_abi() {
	local dep
	dep=$(apt-cache depends "linux-headers-6.12-$flavour" 2>/dev/null |
		sed -n "s/^ *Depends: linux-headers-\(6\.12\..*\)-$flavour\$/\1/p" |
		head -n1)
	if [ -z "$dep" ]; then
		dep=$(apt-cache search --names-only \
			"^linux-image-6\.12\.[0-9]+.*-$flavour-unsigned\$" 2>/dev/null |
			sed -n "s/^linux-image-\(6\.12\.[^ ]*\)-$flavour-unsigned .*/\1/p" |
			sort -V | tail -n1)
	fi
	echo "$dep"
}

abi=${BUFQ_STOCK_ABI:-}
if [ -z "$abi" ]; then
	abi=$(find_abi)
	if [ -z "$abi" ]; then
		say "apt-get update (no 6.12 kernel in the package lists)"
		$sudo apt-get update -q >&2
		abi=$(find_abi)
	fi
fi
[ -n "$abi" ] || { echo "stock.sh: apt knows no linux-image-6.12.*-$flavour-unsigned" >&2; exit 1; }

release=$abi-$flavour
out=$cache/stock-$abi
mkdir -p "$cache"
exec 9>"$cache/.stock.lock"
flock 9
if [ -f "$out/.done" ]; then
	echo "$out"
	exit 0
fi

pkgs=(
	"linux-image-$release-unsigned"
	"linux-headers-$release"
	"linux-headers-$abi-common"
	"linux-kbuild-$abi"
)
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

# The headers' top Makefile includes the common tree by absolute path; its
# scripts/ and tools/ links are relative, into linux-kbuild, and resolve
# inside the unpacked root as they are.
kdir=$out/root/usr/src/linux-headers-$release
common=$out/root/usr/src/linux-headers-$abi-common
[ -f "$kdir/Makefile" ] && [ -d "$common" ] ||
	{ echo "stock.sh: unexpected package layout under $out/root" >&2; exit 1; }
sed -i "s|^include /usr/src/|include $out/root/usr/src/|" "$kdir/Makefile"
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
