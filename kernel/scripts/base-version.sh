#!/bin/bash
# base-version.sh [pinned|installed]: the Debian linux-source-6.12 version
# that the series is tested on (kernel/base-version), or the one installed
# (empty if none).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
case "${1:-pinned}" in
pinned) sed -e '/^#/d' -e '/^[[:space:]]*$/d' "$top/kernel/base-version" | head -1 ;;
installed) dpkg-query -W -f='${Status} ${Version}\n' linux-source-6.12 2>/dev/null |
	awk '$3 == "installed" { print $4 }' ;;
*) echo "usage: base-version.sh [pinned|installed]" >&2; exit 2 ;;
esac
