#!/bin/bash
# unpack.sh TARBALL DIR VERSION: unpack a Debian linux-source-6.12 tarball
# into the new directory DIR, made a git repository whose branch "base"
# holds it, in a commit that names the Debian VERSION.  For prepare.sh
# (build/linux) and drift.sh (the newest version apt offers).
set -euo pipefail
tarball=${1:?usage: unpack.sh TARBALL DIR VERSION}
dir=${2:?usage: unpack.sh TARBALL DIR VERSION}
version=${3:?usage: unpack.sh TARBALL DIR VERSION}

mkdir -p "$dir"
tar -xf "$tarball" -C "$dir" --strip-components=1 ||
	{ echo "unpack.sh: cannot unpack $tarball" >&2; exit 1; }
g() { git -C "$dir" -c user.name=build -c user.email=build@localhost "$@"; }
g init -q -b base
# Debian's .gitignore ignores every top-level entry: add them all anyway.
g add -f -A >/dev/null
g commit -q -m "Debian linux-source-6.12 $version"
