# Userspace over udmabuf.ko: libudmabuf, udmabuf-tool (with a vgem import
# and the udmabuf_importer test module) and the GStreamer plugin
# (userspace/), with GStreamer's own check framework, frame-for-frame
# checksums of videotestsrc pipelines (read mapped and through a raw mmap),
# filesink output against the same pipeline without the element, and the
# negative control: the following checks again with the module parameter
# follow=0 (buffers behave as the in-tree driver's), where each must fail.
. "$TOP/tests/vm-lib.sh"
rc=0
drm=$KOBJ/drivers/gpu/drm
T=$B/tests/gst
U=$B/userspace

# tap NAME STATUS [DETAIL]: one TAP line; a failure fails the part
tap() {
	if [ "$2" = 0 ]; then
		echo "ok - $1"
	else
		echo "not ok - $1${3:+: $3}"
		rc=1
	fi
}

insmod "$drm/drm_shmem_helper.ko" 2>/dev/null
load "$drm/vgem/vgem.ko" || rc=1
load "$MODDIR/udmabuf/udmabuf.ko" || exit 1
load "$MODDIR/udmabuf_importer/udmabuf_importer.ko" || rc=1

# GStreamer: a registry of just the plugins the tests use (scanning them all
# takes long under TCG), in the guest's writable /tmp.
export HOME=/tmp/gst-home GST_REGISTRY=/tmp/gst-registry.bin
export GST_PLUGIN_PATH=$U/lib/gstreamer-1.0 GST_PLUGIN_SYSTEM_PATH_1_0=/tmp/gst-plugins
export GST_DEBUG_NO_COLOR=1 GST_DEBUG=${GST_DEBUG:-*:1}
# libcheck keeps its messages in temporary files: not in the read-only cwd.
export TEMP=/tmp TMPDIR=/tmp
mkdir -p "$HOME" /tmp/gst-plugins
sysdir=$(pkg-config --variable=pluginsdir gstreamer-1.0 2>/dev/null)
sysdir=${sysdir:-/usr/lib/x86_64-linux-gnu/gstreamer-1.0}
for p in coreelements videotestsrc app; do
	ln -sf "$sysdir/libgst$p.so" /tmp/gst-plugins/
done

fd0=$(ls /proc/self/fd | wc -l)

# libudmabuf (kselftest TAP of its own)
run libudmabuf_test "$T/libudmabuf_test" || rc=1

# gst-inspect documents the plugin, the element and every property.
out=$(timeout 120 gst-inspect-1.0 udmabuf 2>&1)
echo "$out" | grep -q 'udmabufupload' && echo "$out" | grep -q '^  Filename .*libgstudmabuf.so'
tap "gst-inspect-1.0 udmabuf lists udmabufupload" $?
out=$(timeout 120 gst-inspect-1.0 udmabufupload 2>&1)
st=0
for prop in device stride-align min-buffers max-buffers punch-rewrite \
		udmabufs-created frames-copied frames-zero-copy frames-punched; do
	# The property line carries a blurb after the colon.
	echo "$out" | grep -Eq "^  $prop +: [A-Za-z]{3}" || { st=1; echo "# no blurb: $prop"; }
done
tap "gst-inspect-1.0 udmabufupload documents every property" $st

# GstCheck: each test case on its own, a TAP line each.
for t in test_caps_negotiation test_aligned_strides test_allocation_query \
		test_default_layout_without_meta test_downstream_min_buffers \
		test_type_names test_memfd_only_for_punch test_dmabuf_caps \
		test_pool_reuse_copy test_pool_reuse_upstream \
		test_harness_uses_pool test_punch_rewrite_copy \
		test_punch_rewrite_zero_copy test_eos test_flushing_seek \
		test_pipeline_eos test_teardown_no_leak test_bad_properties; do
	out=$(cd /tmp && GST_CHECKS=$t CK_DEFAULT_TIMEOUT=300 timeout -k 5 400 \
		"$T/gst_udmabuf_check" 2>&1)
	st=$?
	sum=$(echo "$out" | grep -E '^[0-9]+%: Checks: ' | tail -1)
	case "$sum" in
	*"Checks: 0,"*) st=1 ;;
	*"Failures: 0, Errors: 0"*) ;;
	*) st=1 ;;
	esac
	[ $st = 0 ] || echo "$out" | tail -15 | sed 's/^/# /'
	tap "gstcheck $t${sum:+ ($sum)}" $st
done

# Frame checksums: with udmabufupload (zero-copy, copy, and both with
# punch-rewrite, which must show the frames inverted) against the pipeline
# without it, frame for frame, mapped and through a raw mmap.
while read -r fmt w h n src; do
	timeout -k 5 600 "$T/gst_framesum" "$fmt" "$w" "$h" "$n" "$src" 2>&1 |
		sed '/^ok \|^not ok \|^#/!s/^/# /'
done > /tmp/framesum.out <<'EOF'
RGBx 64 64 10 pattern=ball
NV12 64 64 10 pattern=smpte horizontal-speed=3
I420 64 64 10 pattern=ball
I420 98 66 8 pattern=zone-plate kt=3
RGBx 320 240 6 pattern=smpte horizontal-speed=5
NV12 640 480 4 pattern=ball
I420 1280 720 3 pattern=smpte horizontal-speed=16
NV12 1920 1080 3 pattern=ball
RGBx 1920 1080 3 pattern=smpte horizontal-speed=16
I420 1920 1080 3 pattern=ball
EOF
cat /tmp/framesum.out
n_ok=$(grep -c '^ok ' /tmp/framesum.out)
grep -q '^not ok ' /tmp/framesum.out && rc=1
# Each line above gives 5 results; a crash or timeout gives fewer.
[ "$n_ok" = 50 ] || { echo "not ok - framesum: $n_ok of 50 results ok"; rc=1; }

# udmabuf-tool: tool NAME WANT_STATUS PATTERN ARGS...: the exit status and
# a pattern its output (stdout and stderr) must hold.
tool() {
	name=$1 want=$2 pat=$3
	shift 3
	out=$(timeout -k 5 120 "$U/bin/udmabuf-tool" "$@" 2>&1)
	st=$?
	if [ $st = "$want" ] && echo "$out" | grep -q -- "$pat"; then
		tap "udmabuf-tool $name" 0
	else
		echo "$out" | sed 's/^/# /'
		tap "udmabuf-tool $name" 1 "status $st (want $want), want '$pat'"
	fi
}
tool "follows a punch" 0 'importer: new' -d none -p 64K:64K -e mmap=new \
	-e sync=new -e importer=new
tool "says it follows" 0 'follows: yes' -d none
tool "segments" 0 'sync: new' -d none -s 512K -r 0:64K -r 256K:128K \
	-p 256K:64K -e mmap=new -e sync=new
tool "hugetlb" 0 'mmap: new' -H -s 4M -d none -p 2M:2M -e mmap=new -e sync=new
tool "vgem import frozen while pinned, new after release" 0 '(vgem)' \
	-p 64K:64K -R -e reexport=old -e mmap=old -e sync=old -e released=new
tool "an unmet expectation exits 3" 3 'expected old' -d none -p 0:4K -e mmap=old
tool "unaligned range" 1 'not aligned' -d none -r 1:4096
tool "range beyond the memfd" 1 'beyond the end' -d none -s 1M -r 0:2M
tool "over size_limit_mb" 1 'size_limit_mb' -d none -s 100M
tool "no udmabuf device" 1 'is udmabuf.ko loaded' -u /dev/no-such-udmabuf
tool "not a udmabuf device" 1 'not a udmabuf device' -u /dev/null
tool "DRM device that refuses" 1 'cannot open\|refused' -d /dev/null -p 0:4K
tool "bad size" 2 "bad size 'abc'" -s abc
tool "bad expectation" 2 'bad expectation' -p 0:4K -e foo=bar
tool "--help" 0 'Usage: udmabuf-tool' --help

# A plain consumer: filesink writes what it writes without the element
# (sizes; visible pixels, as the row padding of system memory is
# uninitialised; and byte for byte where there is no padding).
for c in "I420 98 66" "RGBx 98 66" "NV12 1920 1080" "I420 64 64"; do
	set -- $c
	caps="video/x-raw,format=$1,width=$2,height=$3"
	st=0
	for v in zc copy plain; do
		case $v in
		zc) e="udmabufupload !" ;;
		copy) e="identity drop-allocation=true ! udmabufupload !" ;;
		plain) e= ;;
		esac
		timeout -k 5 300 gst-launch-1.0 -q videotestsrc num-buffers=8 ! "$caps" ! \
			$e filesink location=/tmp/fs-$v.raw >/dev/null 2>&1 || st=1
	done
	for v in zc copy; do
		out=$("$T/gst_framesum" --compare-files $1 $2 $3 /tmp/fs-$v.raw /tmp/fs-plain.raw) ||
			{ st=1; echo "# $v: $out"; }
	done
	if [ "$1" = NV12 ]; then
		cmp /tmp/fs-zc.raw /tmp/fs-plain.raw || st=1
	fi
	tap "filesink: $1 $2x$3 with udmabufupload (zero-copy and copy) as without" $st
	rm -f /tmp/fs-*.raw
done

# Negative control: the project's module with every path of following off
# (follow=0: each new buffer keeps its pages, as the in-tree driver's).
# Each check of following must fail there, and fail by its check.
follow=/sys/module/udmabuf/parameters/follow
# control NAME PATTERN CMD...: CMD fails and its output holds PATTERN
control() {
	name=$1 pat=$2
	shift 2
	out=$("$@" 2>&1)
	st=$?
	if [ $st != 0 ] && echo "$out" | grep -q -- "$pat"; then
		tap "control (follow=0): $name fails" 0
	else
		echo "$out" | tail -5 | sed 's/^/# /'
		tap "control (follow=0): $name fails" 1 "status $st, want a failure with '$pat'"
	fi
}
if [ -w "$follow" ] && echo 0 > "$follow"; then
	for args in "I420 98 66 8 pattern=zone-plate kt=3" "NV12 1920 1080 3 pattern=ball"; do
		set -- $args
		for v in copy+punch zero-copy+punch; do
			control "framesum $1 $2x$3 $v" "$v: $4 of $4 frames differ mapped.* $4 through the raw mmap" \
				timeout -k 5 600 "$T/gst_framesum" $1 $2 $3 $4 "$5 $6" $v
		done
	done
	for t in test_punch_rewrite_copy test_punch_rewrite_zero_copy; do
		control "gstcheck $t" "Failures: 1, Errors: 0" \
			env GST_CHECKS=$t CK_DEFAULT_TIMEOUT=300 timeout -k 5 400 \
			sh -c "cd /tmp && exec '$T/gst_udmabuf_check'"
	done
	control "udmabuf-tool follows a punch" "mmap shows old, expected new" \
		timeout -k 5 120 "$U/bin/udmabuf-tool" -d none -p 64K:64K \
		-e mmap=new -e sync=new -e importer=new
	control "udmabuf-tool says it follows" "follows: no" \
		timeout -k 5 120 "$U/bin/udmabuf-tool" -d none -p 0:4K -e mmap=new
	echo 1 > "$follow"
else
	tap "control (follow=0): $follow can be set" 1
fi

# Nothing left open by this shell, and a clean kernel log.
fd1=$(ls /proc/self/fd | wc -l)
[ "$fd0" = "$fd1" ]
tap "no fd left open in the runner ($fd0 before, $fd1 after)" $?
! dmesg | grep -qE 'WARNING:|BUG:|Oops'
tap "no kernel warning after the GStreamer tests" $?

rmmod udmabuf_importer 2>/dev/null
unload udmabuf || rc=1
rmmod vgem 2>/dev/null
rmmod drm_shmem_helper 2>/dev/null
exit $rc
