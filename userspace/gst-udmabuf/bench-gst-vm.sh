#!/bin/sh
# Runs inside the bench VM (scripts/bench-gst.sh):
#   bench-gst-vm.sh fps MODDIR FRAMES ROUNDS   patched kernel, udmabuf.ko
#   bench-gst-vm.sh contrast                   stock kernel, in-tree udmabuf:
#                                              every following check must fail
# Prints "key value..." lines for the host to parse.
top=$(cd "$(dirname "$0")/../.." && pwd)
B=$top/build
export HOME=/tmp/gst-home GST_REGISTRY=/tmp/gst-registry.bin TEMP=/tmp
export GST_PLUGIN_PATH=$B/userspace/lib/gstreamer-1.0
export GST_PLUGIN_SYSTEM_PATH_1_0=/tmp/gst-plugins GST_DEBUG=*:1
mkdir -p "$HOME" /tmp/gst-plugins
sysdir=$(pkg-config --variable=pluginsdir gstreamer-1.0 2>/dev/null)
sysdir=${sysdir:-/usr/lib/x86_64-linux-gnu/gstreamer-1.0}
for p in coreelements videotestsrc app; do
	ln -sf "$sysdir/libgst$p.so" /tmp/gst-plugins/
done

case "$1" in
fps)
	insmod "$2/udmabuf/udmabuf.ko" || exit 1
	frames=$3 rounds=$4
	caps="video/x-raw,width=1920,height=1080"
	src="videotestsrc num-buffers=$frames ! $caps"
	sink="fakesink name=sink sync=false"
	r=0
	while [ $r -lt "$rounds" ]; do
		# One round: the three pipelines one after the other.
		for v in plain pool copy; do
			case $v in
			plain) p="$src ! $sink" ;;
			pool) p="$src ! udmabufupload name=up ! $sink" ;;
			copy) p="$src ! identity drop-allocation=true ! udmabufupload name=up ! $sink" ;;
			esac
			echo "fps $v $(timeout 900 "$B/userspace/bin/gst-udmabuf-fps" "$p" 2>&1 | tr '\n' ' ')"
		done
		r=$((r + 1))
	done
	rmmod udmabuf
	;;
contrast)
	# Every following check of make test's GStreamer and tool suites on
	# the stock kernel's in-tree udmabuf: each must fail there.  One line
	# per check: "contrast NAME: fails" or "contrast NAME: PASSES".
	T=$B/tests/gst
	# check NAME PATTERN CMD...: CMD fails and its output holds PATTERN
	check() {
		name=$1 pat=$2
		shift 2
		out=$("$@" 2>&1)
		st=$?
		echo "$out" | sed -n 's/^# \(framesum .*\)/# \1/p'
		if [ $st != 0 ] && echo "$out" | grep -q -- "$pat"; then
			echo "contrast $name: fails"
		else
			echo "$out" | tail -3 | sed 's/^/# /'
			echo "contrast $name: PASSES (status $st)"
		fi
	}
	for args in "NV12 320 240 10 pattern=ball" \
		    "I420 640 480 6 pattern=smpte horizontal-speed=5" \
		    "RGBx 64 64 10 pattern=ball" \
		    "I420 98 66 8 pattern=zone-plate kt=3" \
		    "NV12 1920 1080 3 pattern=ball"; do
		set -- $args
		fmt=$1 w=$2 h=$3 n=$4
		shift 4
		for v in copy+punch zero-copy+punch; do
			check "framesum $fmt ${w}x$h $v" \
				"$v: $n of $n frames differ mapped.* $n through the raw mmap" \
				timeout 600 "$T/gst_framesum" "$fmt" "$w" "$h" "$n" "$*" $v
		done
	done
	for t in test_punch_rewrite_copy test_punch_rewrite_zero_copy; do
		check "gstcheck $t" "Failures: 1, Errors: 0" \
			env GST_CHECKS=$t CK_DEFAULT_TIMEOUT=300 timeout -k 5 400 \
			sh -c "cd /tmp && exec '$T/gst_udmabuf_check'"
	done
	tool=$B/userspace/bin/udmabuf-tool
	check "udmabuf-tool follows a punch" "mmap shows old, expected new" \
		timeout 120 "$tool" -d none -i none -p 64K:64K -e mmap=new -e sync=new
	check "udmabuf-tool segments" "mmap shows old, expected new" \
		timeout 120 "$tool" -d none -i none -s 512K -r 0:64K -r 256K:128K \
		-p 256K:64K -e mmap=new -e sync=new
	check "udmabuf-tool hugetlb" "mmap shows old, expected new" \
		timeout 120 "$tool" -H -s 4M -d none -i none -p 2M:2M -e mmap=new -e sync=new
	check "udmabuf-tool says it follows" "follows: no" \
		timeout 120 "$tool" -d none -i none -p 0:4K -e mmap=new
	;;
*)
	echo "usage: $0 fps MODDIR FRAMES ROUNDS | contrast" >&2
	exit 2
	;;
esac
