#!/bin/bash
# Install the Debian packages the VM harness needs, or those given as
# arguments (tools/deb.sh, dkms-test.sh, demo.sh); apt runs only when
# something is missing, so a warm machine pays one dpkg-query.
# Usage: deps.sh [PACKAGE...]
set -euo pipefail
pkgs=("$@")
[ $# -gt 0 ] || pkgs=(
	qemu-system-x86 linux-source-6.12 busybox-static
	gcc make libc6-dev binutils bc bison flex libelf-dev libssl-dev
	cpio gzip xz-utils kmod dwarves python3 perl sparse
	# make check's host side: install-test (changelog, man page, MOK)
	dpkg-dev man-db openssl
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps.sh: installing ${missing[*]}" >&2
sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >&2
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
