#!/bin/bash
# make demo: the display scenario on this project's kernel and udmabuf.ko
# and, as the contrast, on the unpatched 6.12 kernel with its in-tree
# udmabuf, each in one test VM (qemu-config/vm.sh) that runs the nested
# guest for shmem- and hugetlb-backed guest RAM.  Leaves PNG screenshots and
# report.txt in build/demo/.  The notifier-event demo runs in the first VM
# and becomes a section of the report (DEMO_EVENTS=0 skips it).
#
#   demo.sh PATCHED_BZIMAGE BASELINE_BZIMAGE MODDIR
#
# Environment: DEMO_BACKENDS ("shmem hugetlb"), DEMO_OUT (build/demo).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
patched=${1:?usage: demo.sh PATCHED_BZIMAGE BASELINE_BZIMAGE MODDIR}
baseline=${2:?usage: demo.sh PATCHED_BZIMAGE BASELINE_BZIMAGE MODDIR}
moddir=${3:?usage: demo.sh PATCHED_BZIMAGE BASELINE_BZIMAGE MODDIR}
out=${DEMO_OUT:-$top/build/demo}
backends=${DEMO_BACKENDS:-shmem hugetlb}
for b in $backends; do
	case $b in shmem|hugetlb) ;; *) echo "demo.sh: no backend '$b' (shmem, hugetlb)" >&2; exit 2 ;; esac
done
for f in "$patched" "$baseline" "$moddir/udmabuf/udmabuf.ko" \
	"$top/build/display/guest-kernel/arch/x86/boot/bzImage" \
	"$top/build/display/initramfs.cpio.gz"; do
	[ -f "$f" ] || { echo "demo.sh: missing $f" >&2; exit 2; }
done

# Someone benchmarking or rebuilding the kernel: do not start a VM.
wait_locks() {
	local waited=0
	while [ -e /tmp/bench.lock ] || [ -e /tmp/kernel.lock ]; do
		[ $waited = 0 ] && echo "demo.sh: waiting for /tmp/bench.lock or /tmp/kernel.lock to go"
		if [ $waited -ge "${DEMO_LOCK_WAIT:-3600}" ]; then
			echo "demo.sh: still locked after $waited s, giving up" >&2
			exit 3
		fi
		sleep 30
		waited=$((waited + 30))
	done
}

rm -rf "$out"
mkdir -p "$out"
start=$(date +%s)
events=
cmd="MODDIR=$moddir display/vm-run.sh project $out $backends"
if [ "${DEMO_EVENTS:-1}" = 1 ]; then
	cmd+="; userspace/demo.sh > $out/events.txt 2>&1"
	events=$out/events.txt
fi
echo "== this project's kernel and udmabuf.ko"
wait_locks
set +e
(cd "$top" && VM_TIMEOUT=${DEMO_VM_TIMEOUT:-900} qemu-config/vm.sh -k "$patched" \
	-o "$out/vm-project" -- sh -c "$cmd")
echo "== unpatched 6.12 with the in-tree udmabuf (the contrast)"
wait_locks
(cd "$top" && VM_TIMEOUT=${DEMO_VM_TIMEOUT:-900} qemu-config/vm.sh -k "$baseline" \
	-o "$out/vm-baseline" -- display/vm-run.sh baseline "$out" $backends)
set -e
export DEMO_ELAPSED=$(( $(date +%s) - start ))
# The kernels' release and Debian version, from their build directories.
DEMO_KERNELS="this project $("$top/scripts/kernel-desc.sh" "$(dirname "$patched")/../../..");"
DEMO_KERNELS+=" contrast $("$top/scripts/kernel-desc.sh" "$(dirname "$baseline")/../../..")"
export DEMO_KERNELS
echo "== report ($DEMO_ELAPSED s): $out/report.txt"
"$top/display/report.py" "$out" $events
