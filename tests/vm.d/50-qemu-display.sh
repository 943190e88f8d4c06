# QEMU zero-copy display (display/README.md): a nested guest on
# virtio-gpu-pci,blob=true draws pattern 1, the host punches the
# framebuffer's guest pages, the guest draws pattern 2 and QEMU's display
# (a QMP screendump through the udmabuf) must show pattern 2 pixel for
# pixel.  DISPLAY_BACKENDS (default "shmem hugetlb") picks the guest RAM.
. "$TOP/tests/vm-lib.sh"
out=$B/vm-display
rm -rf "$out"
mkdir -p "$out"
for f in "$B/display/guest-kernel/arch/x86/boot/bzImage" "$B/display/initramfs.cpio.gz"; do
	if [ ! -f "$f" ]; then
		echo "not ok - qemu display: missing $f (make display)"
		exit 1
	fi
done
load "$MODDIR/udmabuf/udmabuf.ko" || exit 1
rc=0
for backend in ${DISPLAY_BACKENDS:-shmem hugetlb}; do
	echo "# run qemu display, $backend guest RAM"
	line=$(timeout -k 5 600 python3 "$TOP/display/host/scenario.py" \
		--backend "$backend" --label project --out "$out" 2>&1)
	st=$?
	echo "$line" | sed '$!s/^/# /'
	last=$(echo "$line" | tail -n 1)
	case $st in
	0) echo "ok - qemu display follows a punch and redraw, $backend: $last" ;;
	124|137) echo "not ok - qemu display, $backend: timed out after 600 s"; rc=1 ;;
	*) echo "not ok - qemu display, $backend: $last"; rc=1 ;;
	esac
done
sed 's/^/# udmabuf stats: /' /sys/kernel/debug/udmabuf/stats 2>/dev/null
unload udmabuf || rc=1
exit $rc
