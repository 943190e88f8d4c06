#!/bin/bash
# make bench: shmem fault throughput on the unpatched 6.12 kernel and on the
# patched one (no subscriber, then a subscriber on the mm), each booted
# three times, alternating, each boot in its own VM of the same kind.  Boots
# land on slightly different levels (about 0.5%), so the ratio compares the
# medians of the three boots of each kernel.  Under TCG the VM runs with one
# vCPU and -icount (the guest clock counts instructions), so the ratios
# repeat across runs.  Writes build/bench/fault.txt.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/bench
mkdir -p "$out"
accel=${VM_ACCEL:-tcg}
if [ "$accel" = tcg ]; then export VM_ICOUNT=${VM_ICOUNT:-1}; fi
export VM_HUGEPAGES=${VM_HUGEPAGES:-0} VM_MEM=${VM_MEM:-2048}
boots=${FAULT_BOOTS:-3}

run() {	# run NAME KERNEL ARGS...
	local name=$1 kernel=$2
	shift 2
	echo "  BENCH   $name" >&2
	"$top/qemu-config/vm.sh" -k "$kernel" -o "$top/build/vm-bench-$name" -- \
		userspace/bench-vm.sh "$@" > "$out/$name.raw"
}
for i in $(seq 1 "$boots"); do
	run baseline-$i "$top/build/baseline/obj/arch/x86/boot/bzImage"
	run patched-$i "$top/build/kernel/arch/x86/boot/bzImage" --subscriber
done

# median KIND KEY: the median over the boots of KIND of KEY's faults/s
median() {
	for i in $(seq 1 "$boots"); do
		awk -v k="$2" '$1 == k { print $3 }' "$out/$1-$i.raw"
	done | sort -n | awk '{ v[NR] = $1 } END {
		print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
boots_of() {	# boots_of KIND KEY: every boot's value, in boot order
	for i in $(seq 1 "$boots"); do
		awk -v k="$2" '$1 == k { printf "%s ", $3 }' "$out/$1-$i.raw"
	done
}
{
	echo "shmem fault throughput, faults/s of the best of 5 passes over 64 MiB,"
	echo "median of $boots boots of each kernel (booted alternately)"
	echo "kernels: unpatched $("$top/scripts/kernel-desc.sh" "$top/build/baseline/obj"),"
	echo "  patched $("$top/scripts/kernel-desc.sh" "$top/build/kernel")"
	echo "VM: $accel$( [ "${VM_ICOUNT:-0}" = 1 ] && echo ', 1 vCPU, -icount shift=0 (instruction-counted clock)')"
	printf '%-6s %14s %14s %14s %9s %9s\n' mode unpatched patched+nosub \
		patched+sub nosub/base sub/base
	for mode in write read; do
		b=$(median baseline "nosub-$mode")
		n=$(median patched "nosub-$mode")
		s=$(median patched "sub-$mode")
		awk -v m=$mode -v b="$b" -v n="$n" -v s="$s" 'BEGIN {
			printf "%-6s %14d %14d %14d %9.4f %9.4f\n", m, b, n, s, n / b, s / b }'
	done
	for mode in write read; do
		echo "boots, $mode: unpatched $(boots_of baseline nosub-$mode)"
		echo "  patched+nosub $(boots_of patched nosub-$mode)"
	done
	echo "targets: nosub/base >= 0.99, sub/base >= 0.95"
} | tee "$out/fault.txt"
