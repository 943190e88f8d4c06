#!/bin/bash
# make check: checkpatch --strict on the series and on the modules' sources,
# sparse on the modules, and a build of the objects each patch touches at
# every step of the series (each patch must build).  Exits non-zero on any
# finding.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
ksrc=$top/build/linux
kobj=${KOBJ:-$top/build/kernel}
cp=$ksrc/scripts/checkpatch.pl
# Debian's python3, which has python3-ply for the SPDX check.
export PATH=/usr/bin:$PATH
fail=0

say() { printf '%s\n' "$*"; }

say "  CHECK   checkpatch --strict kernel/patches"
for p in "$top"/kernel/patches/0*.patch; do
	case "$p" in *0000-cover-letter.patch) continue ;; esac
	# From inside the tree, so checkpatch knows where it is.  The unpacked
	# Debian tree has no upstream history: a Fixes: tag's commit cannot be
	# looked up there.
	out=$(cd "$ksrc" && "$cp" --strict --terse --no-summary \
		--max-line-length=80 --ignore UNKNOWN_COMMIT_ID "$p" 2>&1)
	[ -z "$out" ] || { say "$out"; fail=1; }
done

# Kernel modules only: the directories with a Kbuild (tests/gst is
# GStreamer code, in GStreamer's style).
srcs=$(cd "$top" && for k in tests/*/Kbuild udmabuf/Kbuild hmm-mirror/Kbuild; do
	[ -f "$k" ] && ls "$(dirname "$k")"/*.[ch] 2>/dev/null
done)
say "  CHECK   checkpatch --strict -f $(echo $srcs | wc -w) module sources"
for f in $srcs; do
	out=$(cd "$ksrc" && "$cp" --strict --terse --no-summary --no-tree \
		--max-line-length=80 --ignore SPDX_LICENSE_TAG,FILE_PATH_CHANGES \
		-f "$top/$f" 2>&1)
	[ -z "$out" ] || { say "$out"; fail=1; }
done

if command -v sparse >/dev/null; then
	for d in "$top"/build/modules/*/; do
		[ -f "$d/Kbuild" ] || continue
		say "  SPARSE  $(basename "$d")"
		out=$(make -s -C "$kobj" M="$d" C=2 modules 2>&1 |
			grep -E 'warning|error' | grep -v 'frame size')
		[ -z "$out" ] || { say "$out"; fail=1; }
	done
else
	say "check.sh: sparse is not installed" >&2
	fail=1
fi

# Each patch builds: compile the C files it touches with the series applied
# up to it, in a scratch worktree (the kernel config of build/kernel).
if [ "${CHECK_BISECT:-1}" = 1 ]; then
	wt=$top/build/bisect/src
	obj=$top/build/bisect/obj
	base=$(git -C "$ksrc" rev-parse base)
	# A worktree or objects of an older unpacking of the source are redone.
	if [ "$(git -C "$wt" rev-parse --path-format=absolute --git-common-dir 2>/dev/null)" != "$(realpath "$ksrc")/.git" ]; then
		rm -rf "$wt"
		git -C "$ksrc" worktree prune
		git -C "$ksrc" worktree add -q --detach "$wt" base
	fi
	[ "$(cat "$obj/.source-base" 2>/dev/null)" = "$base" ] || rm -rf "$obj"
	mkdir -p "$obj"
	echo "$base" > "$obj/.source-base"
	cp "$kobj/.config" "$obj/.config"
	for c in $(git -C "$ksrc" rev-list --reverse base..series); do
		subj=$(git -C "$ksrc" log -1 --format=%s "$c")
		files=$(git -C "$ksrc" diff --name-only "$c~1" "$c" -- '*.c' | sed 's/\.c$/.o/')
		git -C "$wt" checkout -q --detach "$c"
		[ -n "$files" ] || { say "  BISECT  $subj: no C files"; continue; }
		say "  BISECT  $subj: $(echo $files)"
		if ! out=$(make -s -C "$wt" O="$obj" CC="${CC:-ccache gcc}" \
			-j"$(nproc)" olddefconfig $files 2>&1); then
			say "$out" | tail -20
			fail=1
		fi
	done
fi
# The series on the newest Debian source apt offers: a warning only.
"$top/kernel/scripts/drift.sh" || say "  DRIFT   not tried (see above)"

[ $fail = 0 ] && say "  CHECK   clean"
exit $fail
