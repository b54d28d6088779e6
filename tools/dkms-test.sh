#!/bin/bash
# `make dkms-test`: Debian's real dkms (the package, installed here if
# missing) on bufq, against Debian 12's stock kernels, unpacked by
# tools/vm/stock.sh and never installed:
#   1. two kernels are "installed" (6.1 and 6.12): dkms add, then dkms
#      build and dkms install for each;
#   2. a kernel update: a third kernel (6.12 cloud) appears and the hook
#      apt runs for a new kernel (/etc/kernel/postinst.d/dkms) must build
#      and install bufq for it on its own (AUTOINSTALL);
#   3. for every kernel: dkms status says installed, the module sits in
#      updates/dkms with version VERSION and that kernel's vermagic, signed
#      with dkms's MOK, and depmod indexed it;
#   4. dkms remove --all takes it all away.
# dkms runs with its default paths in a private mount namespace, where
# /lib/modules, /var/lib/dkms, /usr/src and /etc/dkms/framework.conf.d
# are scratch directories under build/dkms: the host's stay untouched.
# Prints "ok N - what" lines and dkms's own output; exits 1 on a failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
out=$ROOT/build/dkms
version=$(cat "$ROOT/VERSION")

if [ "${1:-}" != --inside ]; then
	pkgs=(dkms openssl kmod gcc-12 make libc6-dev libelf1 libssl3)
	"$ROOT/tools/vm/deps.sh" "${pkgs[@]}"
	rm -rf "$out" && mkdir -p "$out/modules" "$out/dkms" "$out/src" "$out/conf.d"
	# The sources as bufq-dkms ships them.
	make -s -C "$ROOT" DESTDIR="$out" install-dkms-src
	mv "$out/usr/src/bufq-$version" "$out/src/" && rm -rf "${out:?}/usr"
	: >"$out/kernels"
	for k in "6.1 amd64" "6.12 amd64" "6.12 cloud-amd64"; do
		# shellcheck disable=SC2086 # two words: series and flavour
		stock=$("$ROOT/tools/vm/stock.sh" $k)
		echo "$(cat "$stock/release") $stock/kdir" >>"$out/kernels"
	done
	# A mount point for /lib/modules; removed again if we made it.
	made=
	[ -d /lib/modules ] || { mkdir /lib/modules && made=1; }
	rc=0
	unshare --mount --propagation private "$0" --inside || rc=$?
	[ -z "$made" ] || rmdir /lib/modules 2>/dev/null || true
	exit "$rc"
fi

# Inside the namespace.
mount --bind "$out/modules" /lib/modules
mount --bind "$out/dkms" /var/lib/dkms
mount --bind "$out/src" /usr/src
mount --bind "$out/conf.d" /etc/dkms/framework.conf.d

n=0
failed=0
check() { # WHAT CMD...
	local what=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $what"
	else
		echo "not ok $n - $what"
		failed=$((failed + 1))
	fi
}
run() { # CMD...: echo it, run it
	echo "# $*"
	"$@"
}
install_kernel() { # "RELEASE KDIR": what linux-headers-RELEASE would leave
	local rel=${1%% *}
	mkdir -p "/lib/modules/$rel"
	ln -s "${1#* }" "/lib/modules/$rel/build"
}
mapfile -t kernels <"$out/kernels"
rels=()
for k in "${kernels[@]}"; do
	rels+=("${k%% *}")
done

installed() { # RELEASE: bufq built, installed, signed and indexed for it
	local rel=$1 ko
	ko=$(find "/lib/modules/$rel/updates/dkms" -name 'bufq.ko*' 2>/dev/null | head -n1)
	dkms status -k "$rel" bufq/"$version" | grep -q ": installed" &&
		[ -n "$ko" ] &&
		[ "$(modinfo -F version "$ko")" = "$version" ] &&
		modinfo -F vermagic "$ko" | grep -q "^$rel " &&
		[ "$(modinfo -F signer "$ko")" = "DKMS module signing key" ] &&
		grep -q '^updates/dkms/bufq.ko' "/lib/modules/$rel/modules.dep"
}

# 1. Two installed kernels: add, build and install for each.
install_kernel "${kernels[0]}"
install_kernel "${kernels[1]}"
check "dkms add bufq/$version" run dkms add "bufq/$version"
for rel in "${rels[@]:0:2}"; do
	check "dkms build -k $rel" run dkms build "bufq/$version" -k "$rel"
	check "dkms install -k $rel" run dkms install "bufq/$version" -k "$rel"
done

# 2. A kernel update: the new kernel's postinst hook builds bufq for it.
install_kernel "${kernels[2]}"
check "kernel update to ${rels[2]}: /etc/kernel/postinst.d/dkms builds bufq" \
	run /etc/kernel/postinst.d/dkms "${rels[2]}"

# 3. Every kernel has it.
run dkms status
for rel in "${rels[@]}"; do
	check "$rel: installed, version $version, its vermagic, MOK-signed, in modules.dep" \
		installed "$rel"
done

# 4. Gone again.
check "dkms remove bufq/$version --all" run dkms remove "bufq/$version" --all
none_left() {
	local left
	left=$(find /lib/modules /var/lib/dkms -name 'bufq.ko*')
	[ -z "$left" ] || { echo "left: $left"; return 1; }
	[ -z "$(dkms status bufq)" ]
}
check "no bufq module left in any kernel" none_left

echo "dkms-test: $((n - failed)) of $n passed"
[ "$failed" -eq 0 ]
