#!/bin/bash
# Configure and build a VM kernel.
#
#   build.sh SRCDIR OBJDIR [FRAGMENT...]
#
# tinyconfig plus the fragments (merge_config.sh), then bzImage, modules and
# the headers needed for out-of-tree modules.  Fails if an option a fragment
# asks for did not survive olddefconfig.
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

# Reconfigure only when the fragments changed.
cfgsum=$(cat "${frags[@]}" | sha1sum | cut -d' ' -f1)
if [ ! -f "$obj/.config" ] || [ "$(cat "$obj/.fragments" 2>/dev/null)" != "$cfgsum" ]; then
	echo "  CONFIG  $obj (tinyconfig + ${frags[*]##*/})"
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

echo "  BUILD   $obj"
kmake bzImage modules
kmake modules_prepare >/dev/null
