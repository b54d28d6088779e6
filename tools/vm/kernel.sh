#!/bin/bash
# Build (or reuse) a kernel from Debian's linux-source package.
# Usage: tools/vm/kernel.sh VERSION FRAGMENT [FRAGMENT...]
# Fragments merge in order (a later value of an option wins).
# Prints the build directory on stdout. The build is cached outside the repo,
# keyed by the source package version and the config fragments.
set -euo pipefail
ver=${1:-6.12}
: "${2:?config fragment}"
frags=()
for f in "${@:2}"; do frags+=("$(realpath "$f")"); done
cache=${BUFQ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bufq}
tarball=/usr/src/linux-source-$ver.tar.xz
pkgver=$(dpkg-query -W -f='${Version}' "linux-source-$ver")
key=$(printf '%s\n' "$pkgver" "$(cat "${frags[@]}")" | sha256sum | cut -c1-16)
out=$cache/linux-$ver-$key
# A finished build needs no lock (only a build in progress lacks .done).
if [ -f "$out/.done" ] && [ -f "$out/Module.symvers" ]; then
	echo "$out"
	exit 0
fi
# One build at a time: a second caller waits, then reuses the result.
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
# Module.symvers (from `make modules`) is what out-of-tree modules link
# against; a tree built before that was added only needs the incremental make.
if [ -f "$out/.done" ] && [ -f "$out/Module.symvers" ]; then
	echo "$out"
	exit 0
fi
src=$cache/src-$ver-$pkgver
if [ ! -f "$src/.done" ]; then
	echo "kernel.sh: unpacking $tarball" >&2
	rm -rf "$src" && mkdir -p "$src"
	tar -xf "$tarball" -C "$src" --strip-components=1
	touch "$src/.done"
fi
if [ -f "$out/.done" ]; then
	echo "kernel.sh: finishing $out" >&2
	rm "$out/.done"
	make -s -C "$src" O="$out" -j"$(nproc)" bzImage modules modules_prepare >&2
	touch "$out/.done"
	echo "$out"
	exit 0
fi
echo "kernel.sh: building $out (a few minutes)" >&2
rm -rf "$out" && mkdir -p "$out"
make -s -C "$src" O="$out" tinyconfig >&2
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${frags[@]}" >&2
make -s -C "$src" O="$out" olddefconfig >&2
# Every requested option (its last value) must have survived olddefconfig.
missing=0
while IFS= read -r line; do
	opt=${line%%=*} val=${line#*=}
	if [ "$val" = n ]; then
		grep -q "^$opt=" "$out/.config" && { echo "kernel.sh: $opt not disabled" >&2; missing=1; }
	else
		grep -qx "$line" "$out/.config" || { echo "kernel.sh: $line missing" >&2; missing=1; }
	fi
done < <(cat "${frags[@]}" | awk -F= '/^CONFIG_[A-Za-z0-9_]+=/ {
	if (!($1 in v)) o[n++] = $1; v[$1] = $0 }
	END { for (i = 0; i < n; i++) print v[o[i]] }')
[ "$missing" = 0 ] || { echo "kernel.sh: config fragment not satisfied" >&2; exit 1; }
make -s -C "$src" O="$out" -j"$(nproc)" bzImage modules modules_prepare >&2
touch "$out/.done"
echo "$out"
