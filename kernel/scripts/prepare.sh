#!/bin/bash
# Unpack Debian's linux-source-6.12 into a git tree and apply the series.
#
#   prepare.sh SRCDIR [--baseline]
#
# build/linux becomes a git repository whose branch "base" is the pristine
# Debian source (its commit names the Debian version) and whose branch
# "series" is base plus kernel/patches (git am, in the order of
# kernel/patches/series).  On the version that kernel/base-version names, a
# patch that does not apply stops the script with a non-zero status.  On
# another version each patch that does not apply as it is is applied with
# fuzz, and the script says which; one that does not apply even so stops it,
# saying how to rebase.  With --baseline, SRCDIR is a worktree of "base"
# only (the unpatched comparison kernel).
#
# build/linux unpacked from another tarball than the installed one is
# unpacked again (never while it holds work that kernel/patches lacks), and
# worktrees of the old tree are made again.  build.sh rebuilds what was
# built from it.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
tarball=${LINUX_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
src=$(realpath -m "${1:?usage: prepare.sh SRCDIR [--baseline]}")
mode=${2:-series}
tree=$top/build/linux
stamp=$tree/.series-applied
partial=$tree/.git/series-partial
pinned=$("$top/kernel/scripts/base-version.sh" pinned)

die() { echo "prepare.sh: $*" >&2; exit 1; }

# One prepare.sh at a time: several makes may run it at once.
mkdir -p "$top/build"
exec 9>"$top/build/.prepare.lock"
flock 9

[ -f "$tarball" ] || die "missing $tarball (apt-get install linux-source-6.12=$pinned)"
if [ -n "${LINUX_TARBALL:-}" ]; then
	version=${LINUX_TARBALL_VERSION:-$(basename "$tarball")}
else
	version=$("$top/kernel/scripts/base-version.sh" installed)
	[ -n "$version" ] || die "$tarball belongs to no installed linux-source-6.12"
fi
# What build/linux was unpacked from: the version and the tarball's file.
want_id="$version $(stat -c '%s %Y' "$tarball")"

# Work in the tree that kernel/patches does not have yet: changes,
# untracked files, other branches, stashes, an am or rebase under way, or
# commits on series that no stamp knows.
unexported() {
	local head
	[ -d "$tree/.git" ] || return 1
	[ -n "$(git -C "$tree" status --porcelain --untracked-files=no 2>/dev/null)" ] && return 0
	# Debian's .gitignore ignores every top-level entry: ask for every
	# untracked file, except the stamp.
	[ -n "$(git -C "$tree" ls-files --others -- . ':!.series-applied' | head -1)" ] && return 0
	[ -n "$(git -C "$tree" for-each-ref --format='%(refname)' refs/heads refs/stash |
		grep -vx 'refs/heads/base\|refs/heads/series')" ] && return 0
	[ -d "$tree/.git/rebase-apply" ] || [ -d "$tree/.git/rebase-merge" ] && return 0
	head=$(git -C "$tree" rev-parse -q --verify HEAD) || return 1
	if [ -f "$stamp" ]; then
		[ "$(sed -n 2p "$stamp")" != "$head" ]
	elif [ -f "$partial" ]; then
		[ "$(cat "$partial")" != "$head" ]
	else
		# Nothing applied or exported from here yet: only base is known.
		[ "$head" != "$(git -C "$tree" rev-parse -q --verify base)" ]
	fi
}

if [ ! -d "$tree/.git" ] || ! git -C "$tree" rev-parse -q --verify base >/dev/null ||
   [ "$(cat "$tree/.git/tarball-id" 2>/dev/null)" != "$want_id" ]; then
	if [ -d "$tree/.git" ] && unexported; then
		die "$tree was unpacked from another tarball than $tarball ($version)," \
			"and holds work that kernel/patches does not have: commit it there and" \
			"run 'make patches', or discard it, then run make again"
	fi
	echo "  UNPACK  $tarball ($version)"
	rm -rf "$tree" "$tree.tmp"
	"$top/kernel/scripts/unpack.sh" "$tarball" "$tree.tmp" "$version"
	echo "$want_id" > "$tree.tmp/.git/tarball-id"
	mv "$tree.tmp" "$tree"
	git -C "$tree" worktree prune
	unpacked=1
fi

if [ "$mode" = --baseline ]; then
	# A fresh unpacking gets its series too, for the builds that use it.
	if [ "${unpacked:-0}" = 1 ]; then
		flock -u 9
		"$0" "$tree"
		flock 9
	fi
	base=$(git -C "$tree" rev-parse base)
	# A worktree of an older unpacking has no repository any more.
	if [ "$(git -C "$src" rev-parse -q --verify HEAD 2>/dev/null)" != "$base" ] ||
	   [ "$(git -C "$src" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)" != "$(realpath "$tree")/.git" ]; then
		rm -rf "$src"
		git -C "$tree" worktree prune
		git -C "$tree" worktree add -q --detach "$src" base
	fi
	exit 0
fi

[ "$src" = "$tree" ] || die "the patched tree lives in $tree"
series=$top/kernel/patches/series
[ -f "$series" ] || die "missing $series"
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
if [ -f "$partial" ] && [ "$(cat "$partial")" != "$head" ]; then
	die "$tree has commits made after a patch failed to apply: run 'make patches' to export the rebased series"
fi

# apply_fuzzy PATCH: patch(1) with fuzz, committed with the patch's author
# and message.  Fails, leaving the tree as it was, if it does not apply.
apply_fuzzy() {
	local f=$1 info msg
	info=$(mktemp) msg=$(mktemp)
	# Called in a condition, where set -e does not hold: check each step.
	git mailinfo "$msg" /dev/null < "$f" > "$info" &&
	(cd "$tree" && patch -p1 -F3 -s -f --dry-run < "$f" >/dev/null) &&
	(cd "$tree" && patch -p1 -F3 -s -f --no-backup-if-mismatch < "$f" >/dev/null) &&
	git -C "$tree" add -f -A >/dev/null &&
	{ sed -n 's/^Subject: //p' "$info"; echo; cat "$msg"; } |
		GIT_AUTHOR_NAME=$(sed -n 's/^Author: //p' "$info") \
		GIT_AUTHOR_EMAIL=$(sed -n 's/^Email: //p' "$info") \
		GIT_AUTHOR_DATE=$(sed -n 's/^Date: //p' "$info") \
		git -C "$tree" -c user.name=build -c user.email=build@localhost \
		commit -q -F -
	local rc=$?
	rm -f "$info" "$msg"
	[ $rc = 0 ] && return 0
	# Leave the tree as it was, without what the patch created.
	git -C "$tree" reset -q --hard HEAD
	sed -n 's|^+++ b/||p' "$f" | (cd "$tree" && xargs -r git clean -q -f -x --)
	return 1
}

strict=1
[ "$version" = "$pinned" ] || strict=0
[ $strict = 1 ] ||
	echo "  BASE    the series is tested on $pinned, this is $version: applying with fuzz"
git -C "$tree" am --abort >/dev/null 2>&1 || true
git -C "$tree" checkout -q -f -B series base
rm -f "$stamp"
# Where applying stands, so that an interrupted or failed run is told
# from commits made afterwards.
git -C "$tree" rev-parse HEAD > "$partial"
fuzzed=()
for p in $(sed -e '/^#/d' -e '/^$/d' "$series"); do
	f=$top/kernel/patches/$p
	[ -f "$f" ] || die "series names $p, which is not in kernel/patches"
	echo "  APPLY   $p"
	if out=$(git -C "$tree" -c user.name=build -c user.email=build@localhost \
		am -q --committer-date-is-author-date "$f" 2>&1); then
		git -C "$tree" rev-parse HEAD > "$partial"
		continue
	fi
	git -C "$tree" am --abort >/dev/null 2>&1 || true
	if [ $strict = 1 ]; then
		echo "$out" | grep -v '^\(When you\|If you\|To restore\|hint:\)' >&2
		die "patch $p does not apply to Debian linux-source-6.12 $version," \
			"the version it is tested on"
	fi
	if ! apply_fuzzy "$f"; then
		die "patch $p does not apply to Debian linux-source-6.12" \
			"$version (installed), even with fuzz; the series is tested" \
			"on $pinned (kernel/base-version)."$'\n' \
			" To rebase: in $tree (branch series, the patches before it" \
			"applied), 'patch -p1 --merge < $f', resolve, commit with the" \
			"patch's message; apply the rest likewise; then 'make patches'" \
			"and put $version in kernel/base-version."
	fi
	git -C "$tree" rev-parse HEAD > "$partial"
	echo "  FUZZ    $p needed fuzz on $version"
	fuzzed+=("$p")
done
if [ ${#fuzzed[@]} -gt 0 ]; then
	echo "  BASE    ${#fuzzed[@]} patch(es) applied with fuzz on $version (tested on $pinned): ${fuzzed[*]}"
fi
printf '%s\n%s\n' "$want" "$(git -C "$tree" rev-parse HEAD)" > "$stamp"
rm -f "$partial"
