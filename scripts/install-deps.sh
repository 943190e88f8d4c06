#!/bin/bash
# Install the Debian packages the project needs, if any is missing.
set -euo pipefail

pkgs=(linux-source-6.12 qemu-system-x86 busybox-static flex bison bc
      libelf-dev libssl-dev cpio ccache xz-utils rsync gcc make libdrm-dev
      python3 kmod sparse python3-ply python3-git gnuplot-nox)
# userspace/: libudmabuf, udmabuf-tool and the GStreamer plugin and its tests
pkgs+=(pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
       gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
       gstreamer1.0-plugins-bad)
pkgs+=("$@")

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "  APT     ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
	echo "install-deps.sh: missing packages (${missing[*]}); run as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
