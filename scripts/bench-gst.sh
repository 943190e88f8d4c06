#!/bin/bash
# GStreamer part of make bench (issue 10): frames per second of
#   videotestsrc ! video/x-raw,width=1920,height=1080 ! fakesink
# against the same with udmabufupload, where videotestsrc renders into the
# udmabuf pool (target 0.95) and where it does not and the element copies
# (identity drop-allocation=true, target 0.8), alternating in one VM on the
# patched kernel with udmabuf.ko; udmabufs created per 1000 frames against
# the pool size; and, as the contrast, every following check of make
# test's GStreamer and tool suites (punch-rewrite pipelines, zero-copy
# included, read mapped and through a raw mmap; the GstCheck punch tests;
# udmabuf-tool's punches) on the unpatched kernel's in-tree udmabuf, where
# each must fail: the bench fails if one passes there (the fps targets are
# reported, as before).  Writes build/bench/gst.txt and the raw VM output.
#
# Needs: make userspace udmabuf-tests modules SKIP_KERNEL=1 MODULE_DIRS=udmabuf,
# and for the contrast the baseline kernel (make baseline, CONFIG_UDMABUF=y).
# GST_BENCH_FRAMES (default 60) and GST_BENCH_ROUNDS (3): frames per
# pipeline run and runs of each pipeline (the median counts).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/bench
moddir=${MODDIR:-$top/build/modules}
base_k=$top/build/baseline/obj/arch/x86/boot/bzImage
patch_k=${KOBJ:-$top/build/kernel}/arch/x86/boot/bzImage
frames=${GST_BENCH_FRAMES:-60}
rounds=${GST_BENCH_ROUNDS:-3}
pool_max=8	# udmabufupload's default max-buffers
accel=${VM_ACCEL:-tcg}
if [ "$accel" = tcg ]; then export VM_ICOUNT=${VM_ICOUNT:-1}; fi
export VM_HUGEPAGES=${VM_HUGEPAGES:-64} VM_TIMEOUT=${VM_TIMEOUT:-1800}

fail() { echo "bench-gst: $*" >&2; exit 1; }
[[ "$frames" =~ ^[0-9]+$ && $frames -ge 2 ]] || fail "GST_BENCH_FRAMES must be a number >= 2"
[[ "$rounds" =~ ^[0-9]+$ && $rounds -ge 1 ]] || fail "GST_BENCH_ROUNDS must be a number >= 1"
[ -f "$patch_k" ] || fail "no patched kernel at $patch_k (make kernel)"
[ -f "$moddir/udmabuf/udmabuf.ko" ] ||
	fail "no $moddir/udmabuf/udmabuf.ko (make modules SKIP_KERNEL=1 MODULE_DIRS=udmabuf)"
for f in build/userspace/bin/gst-udmabuf-fps build/tests/gst/gst_framesum \
	 build/userspace/lib/gstreamer-1.0/libgstudmabuf.so; do
	[ -e "$top/$f" ] || fail "no $f (make userspace udmabuf-tests SKIP_KERNEL=1)"
done
mkdir -p "$out"
cd "$top"

echo "  BENCH   gst-fps" >&2
qemu-config/vm.sh -k "$patch_k" -o build/vm-gstbench -- \
	userspace/gst-udmabuf/bench-gst-vm.sh fps "$moddir" "$frames" "$rounds" \
	> "$out/gst-fps.raw" || fail "the fps VM failed ($?): see $out/gst-fps.raw"
contrast=yes
if [ -f "$base_k" ] && grep -qx CONFIG_UDMABUF=y "$top/build/baseline/obj/.config"; then
	echo "  BENCH   gst-contrast (unpatched kernel, in-tree udmabuf)" >&2
	qemu-config/vm.sh -k "$base_k" -o build/vm-gstbench-base -- \
		userspace/gst-udmabuf/bench-gst-vm.sh contrast \
		> "$out/gst-contrast.raw" || contrast="the VM failed ($?)"
else
	contrast="no baseline kernel with CONFIG_UDMABUF=y (make baseline)"
fi

# median VARIANT: the median fps of the rounds of VARIANT
median() {
	sed -n "s/^fps $1 .*fps=\([0-9.]*\).*/\1/p" "$out/gst-fps.raw" | sort -n |
		awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
plain=$(median plain) pool=$(median pool) copy=$(median copy)
[ -n "$plain" ] && [ -n "$pool" ] && [ -n "$copy" ] ||
	fail "missing results in $out/gst-fps.raw"
created=$(sed -n 's/^fps \(pool\|copy\) .*udmabufs=\([0-9]*\).*/\2/p' "$out/gst-fps.raw" |
	sort -n | tail -1)
{
	echo "GStreamer over udmabuf: 1920x1080 videotestsrc ! fakesink, $frames frames,"
	echo "median of $rounds runs each, $accel${VM_ICOUNT:+ icount} (frames/s; ratio to plain)"
	echo "kernels: patched $("$top/scripts/kernel-desc.sh" "${KOBJ:-$top/build/kernel}");" \
		"contrast $("$top/scripts/kernel-desc.sh" "$top/build/baseline/obj")"
	printf '%-44s %8s %6s %s\n' pipeline fps ratio target
	printf '%-44s %8s %6s\n' "plain (no udmabufupload)" "$plain" 1.00
	# row LABEL FPS TARGET: fps, ratio to plain, target met or not
	row() {
		awk -v l="$1" -v p="$plain" -v f="$2" -v t="$3" 'BEGIN {
			r = f / p; v = "MISSED"; if (r >= t) v = "ok"
			printf "%-44s %8s %6.2f >= %.2f %s\n", l, f, r, t, v }'
	}
	row "udmabufupload, rendered into the pool" "$pool" 0.95
	row "udmabufupload, copy path" "$copy" 0.80
	awk -v c="$created" -v n="$frames" -v m="$pool_max" 'BEGIN {
		v = "MISSED"; if (c <= m) v = "ok"
		printf "udmabufs created per run: at most %d in %d frames, pool size %d: %s\n",
			c, n, m, v
		print "  (a pool creates its udmabufs once; per 1000 frames the count stays the same)" }'
	echo
	echo "Contrast: make test's following checks on the unpatched kernel's in-tree"
	echo "udmabuf (each must fail: 'fails' is the expected result)"
	if [ "$contrast" = yes ]; then
		grep -q '^contrast' "$out/gst-contrast.raw" || echo "  (no results: see $out/gst-contrast.raw)"
		sed -n 's/^contrast /  /p' "$out/gst-contrast.raw"
		awk '/^contrast / { n++; if (/: fails$/) f++ }
			END { printf "stock contrast: %d of %d checks fail there: %s\n", f, n,
				(n && f == n) ? "ok" : "MISSED" }' "$out/gst-contrast.raw"
	else
		echo "  not run: $contrast"
		echo "stock contrast: not run: MISSED"
	fi
} | tee "$out/gst.txt"
grep -q '^stock contrast: .*: ok$' "$out/gst.txt" ||
	fail "a following check passed on the stock kernel, or the contrast did not run: see $out/gst.txt"
