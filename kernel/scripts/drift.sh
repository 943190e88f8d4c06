#!/bin/bash
# drift.sh: try the series on the newest linux-source-6.12 that apt offers,
# downloaded into build/drift/ (not installed over the pinned one), and say
# per patch whether it applies as it is, with fuzz, or not at all.  Only
# warns: exits 0 unless it could not ask apt or unpack the source at all.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
pinned=$("$top/kernel/scripts/base-version.sh" pinned)
out=$top/build/drift

say() { printf '%s\n' "$*"; }

if [ "$(id -u)" = 0 ]; then
	apt-get update -qq >/dev/null 2>&1 || say "  DRIFT   apt-get update failed: the package lists may be old"
fi
newest=
for v in $(apt-cache madison linux-source-6.12 2>/dev/null |
	awk -F'|' '{ gsub(/ /, "", $2); print $2 }'); do
	if [ -z "$newest" ] || dpkg --compare-versions "$v" gt "$newest"; then
		newest=$v
	fi
done
if [ -z "$newest" ]; then
	say "  DRIFT   apt offers no linux-source-6.12: not tried"
	exit 1
fi
if [ "$newest" = "$pinned" ]; then
	say "  DRIFT   the newest linux-source-6.12 apt offers is $pinned, the tested base"
	exit 0
fi
if dpkg --compare-versions "$newest" lt "$pinned"; then
	say "  DRIFT   apt's newest linux-source-6.12 is $newest, older than the tested base $pinned"
	exit 0
fi

say "  DRIFT   the series is tested on $pinned; trying apt's newest, $newest"
tree=$out/linux-$newest
# Only the newest version's tree is kept (about 1.5 GB each).
for old in "$out"/linux-*; do
	[ -d "$old" ] && [ "$old" != "$tree" ] && rm -rf "$old"
done
if ! git -C "$tree" rev-parse -q --verify base >/dev/null 2>&1; then
	rm -rf "$out/deb" "$tree"
	mkdir -p "$out/deb"
	(cd "$out/deb" && apt-get download -q "linux-source-6.12=$newest" >/dev/null 2>&1) ||
		{ say "  DRIFT   cannot download linux-source-6.12 $newest"; exit 1; }
	dpkg-deb -x "$out"/deb/linux-source-6.12_*.deb "$out/deb/x"
	"$top/kernel/scripts/unpack.sh" \
		"$out/deb/x/usr/src/linux-source-6.12.tar.xz" "$tree" "$newest"
	rm -rf "$out/deb"
fi
git -C "$tree" am --abort >/dev/null 2>&1 || true
git -C "$tree" checkout -q -f -B drift base
git -C "$tree" clean -q -f -d

clean=0 fuzz=0 failed=0
for p in $(sed -e '/^#/d' -e '/^$/d' "$top/kernel/patches/series"); do
	f=$top/kernel/patches/$p
	if git -C "$tree" -c user.name=build -c user.email=build@localhost \
		am -q "$f" >/dev/null 2>&1; then
		say "  DRIFT   $p: applies"
		clean=$((clean + 1))
		continue
	fi
	git -C "$tree" am --abort >/dev/null 2>&1 || true
	# With fuzz, as prepare.sh would apply it on this version.
	if (cd "$tree" && patch -p1 -F3 -s -f --no-backup-if-mismatch < "$f" >/dev/null 2>&1); then
		git -C "$tree" add -f -A >/dev/null
		git -C "$tree" -c user.name=build -c user.email=build@localhost \
			commit -q -m "$p (fuzz)" >/dev/null
		say "  DRIFT   $p: applies with fuzz only"
		fuzz=$((fuzz + 1))
	else
		git -C "$tree" checkout -q -f HEAD
		git -C "$tree" clean -q -f -d
		say "  DRIFT   $p: DOES NOT APPLY (the patches after it are tried without it)"
		failed=$((failed + 1))
	fi
done
if [ $((fuzz + failed)) = 0 ]; then
	say "  DRIFT   warning: the series applies to $newest as it is: test it" \
		"there and move kernel/base-version before Debian drops $pinned"
else
	say "  DRIFT   warning: on $newest, $clean patch(es) apply, $fuzz with fuzz" \
		"only, $failed not at all: rebase before Debian drops $pinned"
fi
exit 0
