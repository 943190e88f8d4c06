#!/bin/sh
# Runs inside the bench VM (scripts/bench-gst.sh):
#   bench-gst-vm.sh fps MODDIR FRAMES ROUNDS   patched kernel, udmabuf.ko
#   bench-gst-vm.sh contrast                   stock kernel, in-tree udmabuf
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
	# The same punch-and-rewrite pipelines as make test, reporting
	# mismatching frames instead of failing.
	for args in "NV12 320 240 10 pattern=ball" \
		    "I420 640 480 6 pattern=smpte horizontal-speed=5" \
		    "RGBx 64 64 10 pattern=ball"; do
		set -- $args
		fmt=$1 w=$2 h=$3 n=$4
		shift 4
		timeout 600 "$B/tests/gst/gst_framesum" --report "$fmt" "$w" "$h" \
			"$n" "$*" copy copy+punch zero-copy+punch 2>&1 |
			sed -n 's/^# \(framesum .*\)/contrast \1/p; s/^not ok - \(.*\)/contrast \1 (failed)/p'
	done
	;;
*)
	echo "usage: $0 fps MODDIR FRAMES ROUNDS | contrast" >&2
	exit 2
	;;
esac
