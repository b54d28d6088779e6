#!/bin/bash
# `make deb`: build the bufq-dkms and bufqctl packages with
# `dpkg-buildpackage -us -uc` in a copy of the tree, run lintian on them
# and check what they hold. The .debs end up in build/deb/.
# Installs what it needs from Debian's packages (only what is missing).
# Exits non-zero on a build failure, a lintian error or warning, or a
# package that lacks a file or disagrees with VERSION.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
out=$ROOT/build/deb
version=$(cat "$ROOT/VERSION")

say() { printf '== %s\n' "$*" >&2; }

pkgs=(dpkg-dev debhelper dh-dkms lintian gcc make libc6-dev)
"$ROOT/tools/vm/deps.sh" "${pkgs[@]}"

rm -rf "$out" && mkdir -p "$out"
src=$out/bufq-$version
"$ROOT/tools/vm/srccopy.sh" "$src"
say "dpkg-buildpackage -us -uc (log: ${out#"$ROOT"/}/build.log)"
if ! (cd "$src" && dpkg-buildpackage -us -uc) >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log"
	echo "deb: dpkg-buildpackage failed"
	exit 1
fi
changes=$(ls "$out"/bufq_*.changes)
arch=$(dpkg --print-architecture)
fail=0

say "lintian"
lintian --info --display-info --pedantic "$changes" | tee "$out/lintian.log" || true
if grep -E '^[EW]: ' "$out/lintian.log"; then
	echo "deb: lintian reports errors or warnings"
	fail=1
fi

# contains DEB FILE...: each FILE is in the package.
contains() {
	local deb=$1 f list
	shift
	list=$(dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|; s| ->.*||')
	for f in "$@"; do
		grep -qx "$f" <<<"$list" || { echo "deb: $(basename "$deb") lacks $f"; fail=1; }
	done
}
dkms_deb=$out/bufq-dkms_${version}_all.deb
ctl_deb=$out/bufqctl_${version}_$arch.deb
for d in "$dkms_deb" "$ctl_deb"; do
	[ -f "$d" ] || { echo "deb: no $(basename "$d")"; exit 1; }
	[ "$(dpkg-deb -f "$d" Version)" = "$version" ] ||
		{ echo "deb: $(basename "$d") is not version $version"; fail=1; }
done
s=/usr/src/bufq-$version
contains "$dkms_deb" "$s/dkms.conf" "$s/Makefile" "$s/Kbuild" "$s/VERSION" \
	"$s/bufq_core.c" "$s/bufq_chardev.c" "$s/bufq_compat.h" \
	"$s/bufq_version.c" "$s/include/linux/bufq.h" \
	"$s/include/uapi/linux/bufq.h" /lib/udev/rules.d/60-bufq.rules \
	/usr/lib/modules-load.d/bufq.conf
contains "$ctl_deb" /usr/bin/bufqctl /usr/share/man/man1/bufqctl.1.gz \
	/usr/include/linux/bufq.h
dpkg-deb --fsys-tarfile "$dkms_deb" | tar -xO ".$s/dkms.conf" |
	grep -qx "PACKAGE_VERSION=\"$version\"" ||
	{ echo "deb: dkms.conf does not say PACKAGE_VERSION=\"$version\""; fail=1; }
dpkg-deb -I "$dkms_deb" postinst | grep -q 'dkms' ||
	{ echo "deb: bufq-dkms's postinst does not run dkms"; fail=1; }
got=$(dpkg-deb --fsys-tarfile "$ctl_deb" | tar -xO ./usr/bin/bufqctl >"$out/bufqctl" &&
	chmod +x "$out/bufqctl" && "$out/bufqctl" --version)
[ "$got" = "bufqctl $version" ] || { echo "deb: bufqctl --version says '$got'"; fail=1; }

ls -l "$out"/*.deb
if [ "$fail" -eq 0 ]; then
	echo "deb: ok: $(basename "$dkms_deb") $(basename "$ctl_deb"), lintian clean"
else
	echo "deb: FAILED"
fi
exit "$fail"
