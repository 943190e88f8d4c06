#!/bin/bash
# Build the display scenario's nested guest initramfs:
#
#   mkinitramfs.sh OUTDIR
#
# OUTDIR/fbdraw (static, libdrm) from display/guest/fbdraw.c and
# OUTDIR/initramfs.cpio.gz: busybox-static, fbdraw and display/guest/init.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: mkinitramfs.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

bb=$(command -v busybox || true)
[ -n "$bb" ] && file -L "$bb" | grep -q 'statically linked' ||
	{ echo "mkinitramfs.sh: needs a static busybox (apt-get install busybox-static)" >&2; exit 1; }
[ -f /usr/lib/x86_64-linux-gnu/libdrm.a ] ||
	{ echo "mkinitramfs.sh: needs libdrm.a (apt-get install libdrm-dev)" >&2; exit 1; }

echo "  CC      display/guest/fbdraw"
gcc -O2 -g0 -Wall -static -I/usr/include/libdrm -o "$out/fbdraw" \
	"$top/display/guest/fbdraw.c" -ldrm

root=$out/initramfs
rm -rf "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp}
cp "$bb" "$root/bin/busybox"
cp "$out/fbdraw" "$root/bin/fbdraw"
cp "$top/display/guest/init" "$root/init"
chmod 755 "$root/init"
# The kernel opens /dev/console before devtmpfs is mounted.
mknod -m 600 "$root/dev/console" c 5 1
echo "  CPIO    $out/initramfs.cpio.gz"
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner=0:0 --quiet) | gzip -9n > "$out/initramfs.cpio.gz.tmp"
mv "$out/initramfs.cpio.gz.tmp" "$out/initramfs.cpio.gz"
