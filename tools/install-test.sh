#!/bin/bash
# `make install-test`: run `make install` into a scratch DESTDIR and check
# every file it must put there and that each works as far as the host can
# tell (module metadata and depmod's index, bufqctl, the header compiling
# into a user program, the udev rule, modules-load.d), that the version is
# the same everywhere, then `make uninstall` and check nothing is left.
# Usage: install-test.sh [--tree BUILT_COPY] [KDIR]
#   KDIR defaults to Debian 12's stock 6.1 headers (tools/vm/stock.sh 6.1);
#   --tree uses a source copy already built against KDIR (make check's).
# Prints "ok N - what" / "not ok N - what" lines; exits 1 if any failed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
tree=
if [ "${1:-}" = --tree ]; then
	tree=$2
	shift 2
fi
kdir=${1:-}
if [ -z "$kdir" ]; then
	kdir=$("$ROOT/tools/vm/stock.sh" 6.1 amd64)/kdir
fi
out=$ROOT/build/install-test
rm -rf "$out" && mkdir -p "$out"
if [ -z "$tree" ]; then
	tree=$out/src
	"$ROOT/tools/vm/srccopy.sh" "$tree"
fi
stage=$out/stage
version=$(cat "$ROOT/VERSION")
rel=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"/\1/p' "$kdir/include/generated/utsrelease.h")
vars=(KDIR="$kdir" DESTDIR="$stage" PREFIX=/usr)

n=0
failed=0
# check WHAT CMD...: one numbered result; CMD's output goes to the log.
check() {
	local what=$1
	shift
	n=$((n + 1))
	if "$@" >>"$out/test.log" 2>&1; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what"
		failed=$((failed + 1))
	fi
}

check "make install DESTDIR=... PREFIX=/usr (kernel $rel)" \
	make -C "$tree" "${vars[@]}" install

mods=$stage/lib/modules/$rel
ko=$mods/extra/bufq.ko
only_bufq() {
	[ "$(cd "$mods" && find . -name '*.ko*' | sort)" = "./extra/bufq.ko" ]
}
check "only bufq.ko installed, in /lib/modules/$rel/extra" only_bufq
check "modinfo: version $version, vermagic $rel" \
	bash -c "[ \"\$(modinfo -F version '$ko')\" = '$version' ] &&
		modinfo -F vermagic '$ko' | grep -q '^$rel '"
check "depmod indexed it: modprobe resolves bufq" \
	bash -c "modprobe -d '$stage' -S '$rel' --show-depends bufq |
		grep -qx 'insmod $ko '"

# README "Secure Boot": a MOK made with openssl signs the installed module
# with the kernel's sign-file (enrolling it needs a real machine).
mok_sign() {
	openssl req -new -x509 -newkey rsa:2048 -nodes -days 36500 \
		-subj "/CN=bufq module signing/" -keyout "$out/MOK.priv" \
		-outform DER -out "$out/MOK.der" &&
	"$kdir/scripts/sign-file" sha256 "$out/MOK.priv" "$out/MOK.der" "$ko" &&
	[ "$(modinfo -F signer "$ko")" = "bufq module signing" ]
}
check "README's MOK recipe signs the installed module" mok_sign

bin=$stage/usr/bin/bufqctl
check "bufqctl --version says $version" \
	bash -c "[ \"\$('$bin' --version)\" = 'bufqctl $version' ]"
no_module() {
	local msg
	if msg=$("$bin" info --dev "$out/no-such-device" --count 1 --size 64 2>&1); then
		return 1
	fi
	echo "$msg"
	grep -q "modprobe bufq" <<<"$msg"
}
check "bufqctl without the device tells to 'modprobe bufq'" no_module
check "man page bufqctl(1) renders and documents --version" \
	bash -c "man -l --warnings -E UTF-8 '$stage/usr/share/man/man1/bufqctl.1' 2>&1 >/dev/null |
		{ ! grep .; } && grep -q 'version' '$stage/usr/share/man/man1/bufqctl.1'"

# A user program against the installed header alone.
cat >"$out/user.c" <<'EOF'
#include <stdio.h>
#include <linux/bufq.h>

int main(void)
{
	struct bufq_configure c = { .size = sizeof(c), .buffer_count = 8 };

	printf("%lu %u\n", (unsigned long)BUFQ_IOCTL_CONFIGURE, c.buffer_count);
	return 0;
}
EOF
check "<linux/bufq.h> from PREFIX/include builds a user program" \
	gcc -Wall -Werror -I "$stage/usr/include" -o "$out/user" "$out/user.c"

rule=$stage/etc/udev/rules.d/60-bufq.rules
check "udev rule: /dev/bufq group bufq, mode 0660" \
	grep -Eq '^KERNEL=="bufq",.*GROUP="bufq", MODE="0660"' "$rule"
check "modules-load.d loads bufq" \
	grep -qx bufq "$stage/etc/modules-load.d/bufq.conf"

# One version: VERSION, the module, bufqctl (above), DKMS, the packages.
make -s -C "$ROOT" DESTDIR="$out/dkms" install-dkms-src >>"$out/test.log" 2>&1
check "dkms.conf and debian/changelog say $version" \
	bash -c "grep -qx 'PACKAGE_VERSION=\"$version\"' '$out/dkms/usr/src/bufq-$version/dkms.conf' &&
		[ \"\$(dpkg-parsechangelog -l '$ROOT/debian/changelog' -S Version | sed 's/-[^-]*\$//')\" = '$version' ]"

check "make uninstall" make -C "$tree" "${vars[@]}" uninstall
gone() {
	local left
	left=$(find "$stage" \( -type f -o -type l \) ! -path "$mods/modules.*")
	[ -z "$left" ] || { echo "left behind: $left"; return 1; }
	! grep -q bufq "$mods/modules.dep"
}
check "nothing of bufq left (depmod forgot it too)" gone

echo "install-test: $((n - failed)) of $n passed (log: ${out#"$ROOT"/}/test.log)"
[ "$failed" -eq 0 ]
