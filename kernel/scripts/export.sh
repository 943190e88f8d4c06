#!/bin/bash
# Export the commits on build/linux's "series" branch to kernel/patches
# (git format-patch, with the cover letter kept in kernel/cover-letter.txt)
# and rewrite kernel/patches/series.  The inverse of prepare.sh.
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
tree=$top/build/linux
out=$top/kernel/patches
[ "$(git -C "$tree" rev-parse --abbrev-ref HEAD)" = series ] ||
	{ echo "export.sh: $tree is not on the series branch" >&2; exit 1; }
[ -z "$(git -C "$tree" status --porcelain --untracked-files=no)" ] ||
	{ echo "export.sh: commit your changes in $tree first" >&2; exit 1; }

rm -f "$out"/*.patch
# The cover letter's From: is the committer's identity: the project's.
git -C "$tree" -c diff.suppressBlankEmpty=true \
	-c user.name="mmu-update developers" -c user.email=devel@mmu-update.example \
	format-patch -q --no-signature --zero-commit --cover-letter \
	--subject-prefix="RFC PATCH" -o "$out" base..series
cover=$out/0000-cover-letter.patch
if [ -f "$top/kernel/cover-letter.txt" ]; then
	# Subject from the first line, body from the rest.
	subj=$(head -1 "$top/kernel/cover-letter.txt")
	python3 - "$cover" "$top/kernel/cover-letter.txt" "$subj" <<'PY'
import sys
cover, text, subj = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3]
s = open(cover).read()
s = s.replace('*** SUBJECT HERE ***', subj)
body = text.split('\n', 1)[1].lstrip('\n')
s = s.replace('*** BLURB HERE ***\n', body)
open(cover, 'w').write(s)
PY
fi
(cd "$out" && ls 0*.patch | grep -v '^0000-' ) > "$out/series"
want=$( (cat "$out/series"; while read -r p; do cat "$out/$p"; done < "$out/series") |
	sha1sum | cut -d' ' -f1)
printf '%s\n%s\n' "$want" "$(git -C "$tree" rev-parse HEAD)" > "$tree/.series-applied"
rm -f "$tree/.git/series-partial"
echo "  EXPORT  $(wc -l < "$out/series") patches to kernel/patches"
