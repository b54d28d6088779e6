#!/bin/bash
# Copy the source tree (tracked and new files, less what .gitignore hides)
# to DEST, so that a build there never mixes its objects with the tree's.
# Usage: srccopy.sh DEST
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
dest=${1:?destination}
rm -rf "$dest" && mkdir -p "$dest"
cd "$ROOT"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			[ -e "$f" ] && printf '%s\0' "$f"
		done | xargs -0 cp --parents -t "$dest"
else
	# A tarball or package tree: everything but earlier build output.
	find . -mindepth 1 -maxdepth 1 ! -name build ! -name .git \
		-exec cp -r -t "$dest" {} +
fi
