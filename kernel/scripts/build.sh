#!/bin/bash
# Configure and build a VM kernel.
#
#   build.sh SRCDIR OBJDIR [FRAGMENT...]
#
# tinyconfig plus the fragments (merge_config.sh), then bzImage, modules and
# the headers needed for out-of-tree modules.  Fails if an option a fragment
# asks for did not survive olddefconfig.  OBJDIR built from another
# unpacking of the Debian source (prepare.sh) is emptied first; OBJDIR/
# debian-version names the Debian version it is built from.
set -euo pipefail

src=$(cd "${1:?usage: build.sh SRCDIR OBJDIR [FRAGMENT...]}" && pwd)
mkdir -p "${2:?missing OBJDIR}"
obj=$(cd "$2" && pwd)
shift 2
frags=(); for f in "$@"; do frags+=("$(realpath "$f")"); done

jobs=${JOBS:-$(nproc)}
cc=gcc
if command -v ccache >/dev/null; then
	cc="ccache gcc"
	export CCACHE_DIR=${CCACHE_DIR:-$obj/../ccache}
	export CCACHE_BASEDIR=$(cd "$src/.." && pwd)
	export CCACHE_NOHASHDIR=true
	export CCACHE_SLOPPINESS=time_macros,include_file_mtime,include_file_ctime
	export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
fi
export KBUILD_BUILD_TIMESTAMP="2024-11-17"
export KBUILD_BUILD_USER=build KBUILD_BUILD_HOST=vm

kmake() { make -s -C "$src" O="$obj" CC="$cc" HOSTCC=gcc -j"$jobs" "$@"; }

# The Debian source this tree was unpacked from: its "base" commit.
base=$(git -C "$src" rev-parse base)
if [ "$(cat "$obj/.source-base" 2>/dev/null)" != "$base" ] && [ -n "$(ls -A "$obj")" ]; then
	echo "  CLEAN   $obj (built from another unpacking of the source)"
	find "$obj" -mindepth 1 -delete
fi
echo "$base" > "$obj/.source-base"
git -C "$src" log -1 --format=%s base | sed 's/^Debian linux-source-6.12 //' \
	> "$obj/debian-version"

# Reconfigure only when the fragments changed.
reconfigured=0
cfgsum=$(cat "${frags[@]}" | sha1sum | cut -d' ' -f1)
if [ ! -f "$obj/.config" ] || [ "$(cat "$obj/.fragments" 2>/dev/null)" != "$cfgsum" ]; then
	echo "  CONFIG  $obj (tinyconfig + ${frags[*]##*/})"
	reconfigured=1
	# tinyconfig's own fragments plus ours on allnoconfig: every option
	# nobody asked for stays off.
	(cd "$src" && scripts/kconfig/merge_config.sh -n -O "$obj" \
		kernel/configs/tiny.config arch/x86/configs/tiny.config \
		"${frags[@]}" >/dev/null)
	# What the fragments ask for, the later one winning, must be what
	# the configuration has.
	missing=0
	declare -A want=()
	for f in "${frags[@]}"; do
		while IFS= read -r line; do
			case "$line" in
			CONFIG_*=*) want[${line%%=*}]=$line ;;
			esac
		done < "$f"
	done
	for opt in "${!want[@]}"; do
		line=${want[$opt]}
		case "$line" in
		*=n) if grep -q "^$opt=" "$obj/.config"; then
			echo "build.sh: $opt is set, the fragments want it off" >&2
			missing=1
		     fi ;;
		*) if ! grep -qxF "$line" "$obj/.config"; then
			echo "build.sh: $line did not survive olddefconfig" >&2
			missing=1
		   fi ;;
		esac
	done
	[ "$missing" = 0 ] || { rm -f "$obj/.config"; exit 1; }
	echo "$cfgsum" > "$obj/.fragments"
fi

# BUILD_IF_STALE=1: nothing to do if the last build that completed here
# was of this source and configuration.
built="$base $cfgsum"
if [ "${BUILD_IF_STALE:-0}" = 1 ] && [ "$reconfigured" = 0 ] &&
   [ -f "$obj/arch/x86/boot/bzImage" ] &&
   [ "$(cat "$obj/.built" 2>/dev/null)" = "$built" ]; then
	exit 0
fi
rm -f "$obj/.built"
echo "  BUILD   $obj"
kmake bzImage modules
kmake modules_prepare >/dev/null
echo "$built" > "$obj/.built"
