#!/bin/bash
# Install the Debian packages the project needs, if any is missing, and the
# linux-source-6.12 version that kernel/base-version names: exactly that one
# while the archive has it, else the newest, said in one line (prepare.sh
# then applies the series with fuzz).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

pkgs=(qemu-system-x86 busybox-static flex bison bc
      libelf-dev libssl-dev cpio ccache xz-utils rsync gcc make libdrm-dev
      python3 kmod sparse python3-ply python3-git gnuplot-nox patch git)
# userspace/: libudmabuf, udmabuf-tool and the GStreamer plugin and its tests
pkgs+=(pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
       gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
       gstreamer1.0-plugins-bad)
pkgs+=("$@")

pinned=$("$top/kernel/scripts/base-version.sh" pinned)
installed=$("$top/kernel/scripts/base-version.sh" installed)
# Where the archive was found not to have the pinned version: asked once.
gone=$top/build/.base-unavailable

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
if [ "$installed" != "$pinned" ] &&
   [ "$(cat "$gone" 2>/dev/null)" != "$pinned $installed" ]; then
	missing+=(linux-source-6.12)
fi
if [ ${#missing[@]} -eq 0 ]; then
	[ "$installed" = "$pinned" ] || echo "  BASE    linux-source-6.12 $pinned is not in the archive; using $installed"
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	if [ "${missing[*]}" = linux-source-6.12 ] && [ -n "$installed" ]; then
		echo "  BASE    linux-source-6.12 $installed is installed, the series is tested on $pinned (run as root to install it)"
		exit 0
	fi
	echo "install-deps.sh: missing packages (${missing[*]}); run as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
src=()
for i in "${!missing[@]}"; do
	[ "${missing[$i]}" = linux-source-6.12 ] || continue
	unset "missing[$i]"
	if apt-cache madison linux-source-6.12 | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' |
		grep -xF -- "$pinned" >/dev/null; then
		src=("linux-source-6.12=$pinned")
	else
		# Gone from the archive: the newest, whatever is installed.
		src=(linux-source-6.12)
	fi
done
[ ${#missing[@]} -eq 0 ] && [ ${#src[@]} -eq 0 ] || {
	echo "  APT     ${missing[*]} ${src[*]}"
	apt-get install -y -qq --no-install-recommends --allow-downgrades \
		"${missing[@]}" "${src[@]}" >/dev/null
}
installed=$("$top/kernel/scripts/base-version.sh" installed)
[ -n "$installed" ] || { echo "install-deps.sh: linux-source-6.12 did not install" >&2; exit 1; }
if [ "$installed" != "$pinned" ]; then
	mkdir -p "$(dirname "$gone")"
	echo "$pinned $installed" > "$gone"
	echo "  BASE    linux-source-6.12 $pinned is not in the archive; using $installed"
else
	rm -f "$gone"
fi
