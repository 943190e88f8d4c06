#!/bin/sh
# Runs inside the test VM: the display scenario for each guest-RAM backend.
#
#   vm-run.sh LABEL OUTDIR BACKEND...
#
# LABEL "project" loads the project's udmabuf.ko ($MODDIR/udmabuf) first and
# unloads it afterwards; any other label (e.g. "baseline") uses the
# /dev/udmabuf the running kernel has.  Prints one result line per backend
# (display/host/scenario.py) and exits non-zero unless every run finished.
label=${1:?usage: vm-run.sh LABEL OUTDIR BACKEND...}
out=${2:?usage: vm-run.sh LABEL OUTDIR BACKEND...}
shift 2
top=$(cd "$(dirname "$0")/.." && pwd)
moddir=${MODDIR:-$top/build/modules}
mkdir -p "$out"
echo "# host kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPU, label $label"
loaded=
if [ "$label" = project ] && [ ! -e /dev/udmabuf ]; then
	if ! insmod "$moddir/udmabuf/udmabuf.ko" 2>"$out/insmod.err"; then
		echo "# cannot load $moddir/udmabuf/udmabuf.ko: $(cat "$out/insmod.err")"
		exit 2
	fi
	loaded=1
fi
if grep -q '^udmabuf ' /proc/modules; then
	echo "# /dev/udmabuf: the loaded udmabuf.ko"
elif [ -e /dev/udmabuf ]; then
	echo "# /dev/udmabuf: the kernel's built-in udmabuf"
fi
rc=0
for backend in "$@"; do
	python3 "$top/display/host/scenario.py" --backend "$backend" --label "$label" \
		--out "$out" ${SCENARIO_ARGS:-}
	st=$?
	# 1: ran, the display did not follow (the contrast on a stock kernel)
	[ $st -le 1 ] || rc=2
	[ $st = 0 ] || [ $rc = 2 ] || rc=1
done
if [ -r /sys/kernel/debug/udmabuf/stats ]; then
	sed 's/^/# udmabuf stats: /' /sys/kernel/debug/udmabuf/stats
fi
if [ -n "$loaded" ]; then
	rmmod udmabuf || rc=2
fi
exit $rc
