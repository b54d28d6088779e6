#!/bin/bash
# Pack the guest initramfs (newc cpio, gzip).
# Usage: initramfs.sh OUT.cpio.gz STAGE
#   STAGE/plan, STAGE/modules/*.ko, STAGE/tests/* are prepared by check.sh;
#   this adds busybox, /init and /dev/console.
# The archive is written by the kernel's own usr/gen_init_cpio from a file
# list, so device nodes and root ownership need no root or fakeroot.
set -euo pipefail
out=$1 stage=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
: "${KBUILD:?}" "${KSRC:?}"

gen=$KBUILD/usr/gen_init_cpio
if [ ! -x "$gen" ]; then
	gen=$stage/../gen_init_cpio
	gcc -O2 -o "$gen" "$KSRC/usr/gen_init_cpio.c"
fi

list=$stage/../initramfs.list
{
	for d in /bin /dev /proc /sys /tmp /modules /tests; do
		echo "dir $d 0755 0 0"
	done
	echo "nod /dev/console 0600 0 0 c 5 1"
	echo "file /bin/busybox /bin/busybox 0755 0 0"
	echo "file /init $here/init 0755 0 0"
	echo "file /plan $stage/plan 0644 0 0"
	for f in "$stage"/modules/* "$stage"/tests/*; do
		[ -e "$f" ] || continue
		echo "file /${f#"$stage"/} $f 0755 0 0"
	done
} >"$list"
"$gen" "$list" | gzip -1 >"$out"
