#!/bin/bash
# Unpack Debian's linux-source-6.12 into a git tree and apply the series.
#
#   prepare.sh SRCDIR [--baseline]
#
# SRCDIR becomes a git repository whose branch "base" is the pristine Debian
# source and whose branch "series" is base plus kernel/patches (git am, in the
# order of kernel/patches/series).  Any patch that does not apply stops the
# script with a non-zero status.  With --baseline, SRCDIR is a worktree of
# "base" only (the unpatched comparison kernel).
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
tarball=${LINUX_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
src=$(realpath -m "${1:?usage: prepare.sh SRCDIR [--baseline]}")
mode=${2:-series}
tree=$top/build/linux

die() { echo "prepare.sh: $*" >&2; exit 1; }

if [ ! -d "$tree/.git" ] || ! git -C "$tree" rev-parse -q --verify base >/dev/null; then
	[ -f "$tarball" ] || die "missing $tarball (apt-get install linux-source-6.12)"
	echo "  UNPACK  $tarball"
	rm -rf "$tree" "$tree.tmp"
	mkdir -p "$tree.tmp"
	tar -xf "$tarball" -C "$tree.tmp" --strip-components=1 ||
		die "cannot unpack $tarball"
	git -C "$tree.tmp" init -q -b base
	git -C "$tree.tmp" -c user.name=build -c user.email=build@localhost \
		add -f -A >/dev/null
	git -C "$tree.tmp" -c user.name=build -c user.email=build@localhost \
		commit -q -m "Debian linux-source-6.12 $(sed -n 's/^SUBLEVEL = //p' "$tree.tmp/Makefile")"
	mv "$tree.tmp" "$tree"
fi

if [ "$mode" = --baseline ]; then
	if [ ! -e "$src/.git" ]; then
		rm -rf "$src"
		git -C "$tree" worktree prune
		git -C "$tree" worktree add -q --detach "$src" base
	fi
	exit 0
fi

[ "$src" = "$tree" ] || die "the patched tree lives in $tree"
series=$top/kernel/patches/series
[ -f "$series" ] || die "missing $series"
stamp=$tree/.series-applied
want=$( (cat "$series"; sed -e '/^#/d' -e '/^$/d' "$series" |
	while read -r p; do cat "$top/kernel/patches/$p" 2>/dev/null; done) |
	sha1sum | cut -d' ' -f1)
head=$(git -C "$tree" rev-parse HEAD)
if [ -f "$stamp" ] && [ "$(sed -n 1p "$stamp")" = "$want" ] &&
   [ "$(sed -n 2p "$stamp")" = "$head" ]; then
	exit 0
fi
# Never throw away work done in the tree itself (see "make patches").
if [ -n "$(git -C "$tree" status --porcelain --untracked-files=no)" ]; then
	die "$tree has uncommitted changes: commit them there and run 'make patches', or discard them"
fi
if [ -f "$stamp" ] && [ "$(sed -n 2p "$stamp")" != "$head" ] &&
   [ "$(sed -n 1p "$stamp")" = "$want" ]; then
	die "$tree has commits that are not in kernel/patches: run 'make patches' first"
fi

git -C "$tree" am --abort >/dev/null 2>&1 || true
git -C "$tree" checkout -q -f -B series base
rm -f "$stamp"
sed -e '/^#/d' -e '/^$/d' "$series" | while read -r p; do
	f=$top/kernel/patches/$p
	[ -f "$f" ] || die "series names $p, which is not in kernel/patches"
	echo "  APPLY   $p"
	if ! git -C "$tree" -c user.name=build -c user.email=build@localhost \
		am -q --committer-date-is-author-date "$f"; then
		git -C "$tree" am --abort >/dev/null 2>&1 || true
		die "patch $p does not apply to $(git -C "$tree" log -1 --format=%s base)"
	fi
done
printf '%s\n%s\n' "$want" "$(git -C "$tree" rev-parse HEAD)" > "$stamp"
