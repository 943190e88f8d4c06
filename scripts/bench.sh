#!/bin/bash
# make bench: shmem fault throughput on the unpatched 6.12 kernel and on the
# patched one (no subscriber, then a subscriber on the mm), each in its own
# VM of the same kind, one after the other in this run.  Under TCG the VM
# runs with one vCPU and -icount (the guest clock counts instructions), so
# the ratios repeat across runs.  Writes build/bench/fault.txt.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/bench
mkdir -p "$out"
accel=${VM_ACCEL:-tcg}
if [ "$accel" = tcg ]; then export VM_ICOUNT=${VM_ICOUNT:-1}; fi
export VM_HUGEPAGES=${VM_HUGEPAGES:-0} VM_MEM=${VM_MEM:-2048}

run() {	# run NAME KERNEL ARGS...
	local name=$1 kernel=$2
	shift 2
	echo "  BENCH   $name" >&2
	"$top/qemu-config/vm.sh" -k "$kernel" -o "$top/build/vm-bench-$name" -- \
		userspace/bench-vm.sh "$@" > "$out/$name.raw"
}
run baseline "$top/build/baseline/obj/arch/x86/boot/bzImage"
run patched "$top/build/kernel/arch/x86/boot/bzImage" --subscriber

get() { awk -v k="$2" '$1 == k { print $3 }' "$out/$1.raw"; }
{
	echo "shmem fault throughput, faults/s of the best of 5 passes over 64 MiB"
	echo "kernels: unpatched $("$top/scripts/kernel-desc.sh" "$top/build/baseline/obj"),"
	echo "  patched $("$top/scripts/kernel-desc.sh" "$top/build/kernel")"
	echo "VM: $accel$( [ "${VM_ICOUNT:-0}" = 1 ] && echo ', 1 vCPU, -icount shift=0 (instruction-counted clock)')"
	printf '%-6s %14s %14s %14s %9s %9s\n' mode unpatched patched+nosub \
		patched+sub nosub/base sub/base
	for mode in write read; do
		b=$(get baseline "nosub-$mode")
		n=$(get patched "nosub-$mode")
		s=$(get patched "sub-$mode")
		awk -v m=$mode -v b="$b" -v n="$n" -v s="$s" 'BEGIN {
			printf "%-6s %14d %14d %14d %9.4f %9.4f\n", m, b, n, s, n / b, s / b }'
	done
	echo "targets: nosub/base >= 0.99, sub/base >= 0.95"
} | tee "$out/fault.txt"
