#!/bin/bash
# The host-side part of `make check`, counted in its tally:
#   1. the modules and examples/client build against Debian 12's stock 6.1
#      headers (its default kernel) with W=1 and not one warning, so a
#      6.1 break fails CI (about half a minute; the headers are cached);
#   2. tools/install-test.sh: `make install` staged from that build.
# Usage: host-checks.sh OUTDIR   prints "ok N - what" / "not ok N - what";
# the logs stay in OUTDIR.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?output directory}
rm -rf "$out" && mkdir -p "$out"

build61() {
	local k61
	k61=$("$ROOT/tools/vm/stock.sh" 6.1 amd64) || return
	echo "$k61/kdir" >"$out/kdir"
	"$ROOT/tools/vm/srccopy.sh" "$out/src" || return
	make -C "$out/src" KDIR="$k61/kdir" W=1 || return
	make -C "$out/src/examples/client" KDIR="$k61/kdir" W=1
}
# The compiler says "warning:"; modpost says "WARNING: modpost:". (Not
# grepped inside build61: grep skips a file that is also its output.)
if build61 >"$out/build.log" 2>&1 &&
	! grep -E 'warning:|error:|WARNING:|ERROR:' "$out/build.log" >"$out/warnings"; then
	echo "ok 1 - modules build against Debian 12's 6.1 headers (W=1, no warnings)"
else
	echo "not ok 1 - modules build against Debian 12's 6.1 headers (W=1, no warnings)"
	if [ -s "$out/warnings" ]; then
		sed 's/^/# /' "$out/warnings"
	else
		tail -n 20 "$out/build.log" | sed 's/^/# /'
	fi
fi
if [ -s "$out/kdir" ] && "$ROOT/tools/install-test.sh" --tree "$out/src" \
	"$(cat "$out/kdir")" >"$out/install.log" 2>&1; then
	echo "ok 2 - make install / uninstall in a staged DESTDIR (tools/install-test.sh)"
else
	echo "not ok 2 - make install / uninstall in a staged DESTDIR (tools/install-test.sh)"
	grep -v '^ok ' "$out/install.log" 2>/dev/null | sed 's/^/# /' || true
fi
