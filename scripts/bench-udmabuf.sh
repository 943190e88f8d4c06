#!/bin/bash
# udmabuf part of make bench: the unpatched 6.12 kernel with its
# in-tree udmabuf (built in) against the patched kernel with the project's
# udmabuf.ko, each in its own VM, one after the other.  Under TCG the VM runs
# with one vCPU and -icount (the guest clock counts instructions), so the
# numbers repeat across runs.  Writes build/bench/udmabuf.txt (and the raw
# VM output next to it) and prints the table; then runs
# scripts/bench-udmabuf-scale.sh (udmabuf-scale.txt, .png), unless
# UB_SCALE=0.
#
# Needs: make userspace modules SKIP_KERNEL=1 (udmabuf, and mmu_update_core
# for the floor of the scale part), and the
# baseline kernel (make baseline) built with CONFIG_UDMABUF=y.  MODDIR and
# KOBJ (as in the Makefile) choose other module and kernel build directories.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# the caller's VM settings for the scale part, before this part's defaults
scale_env=(VM_MEM="${VM_MEM:-}" VM_HUGEPAGES="${VM_HUGEPAGES:-}" VM_TIMEOUT="${VM_TIMEOUT:-}")
out=$top/build/bench
moddir=${MODDIR:-$top/build/modules}
base_k=$top/build/baseline/obj/arch/x86/boot/bzImage
patch_k=${KOBJ:-$top/build/kernel}/arch/x86/boot/bzImage
accel=${VM_ACCEL:-tcg}
if [ "$accel" = tcg ]; then export VM_ICOUNT=${VM_ICOUNT:-1}; fi
# 1 GiB of 2 MiB pages for the hugetlb buffer; VM_MEM also has to hold the
# 1 GiB page of qemu-config/cmdline.d and the 1 GiB shmem memfd.
export VM_HUGEPAGES=${VM_HUGEPAGES:-520} VM_MEM=${VM_MEM:-4096}
export VM_TIMEOUT=${VM_TIMEOUT:-600}

fail() { echo "bench-udmabuf: $*" >&2; exit 1; }
[ -f "$base_k" ] || fail "no baseline kernel at $base_k (make baseline)"
grep -qx CONFIG_UDMABUF=y "$top/build/baseline/obj/.config" ||
	fail "the baseline kernel has no in-tree udmabuf (CONFIG_UDMABUF=y)"
[ -f "$patch_k" ] || fail "no patched kernel at $patch_k (make kernel)"
[ -f "$moddir/udmabuf/udmabuf.ko" ] ||
	fail "no $moddir/udmabuf/udmabuf.ko (make modules SKIP_KERNEL=1 MODULE_DIRS=udmabuf)"
[ -x "$top/build/userspace/udmabuf-bench" ] ||
	fail "no build/userspace/udmabuf-bench (make userspace SKIP_KERNEL=1)"
mkdir -p "$out"
cd "$top"

run() {	# run NAME KERNEL ARGS...
	local name=$1 kernel=$2
	shift 2
	echo "  BENCH   udmabuf-$name" >&2
	"$top/qemu-config/vm.sh" -k "$kernel" -o "$top/build/vm-ubench-$name" -- \
		env IMPORTER_KO="${IMPORTER_KO:-}" userspace/bench-udmabuf-vm.sh "$@" \
		> "$out/udmabuf-$name.raw" ||
		fail "the $name VM failed ($?): see $out/udmabuf-$name.raw and" \
			"build/vm-ubench-$name/console.log"
}
# The test importer of the map/unmap cycles, built for each kernel.
base_imp=$top/build/modules-baseline
scripts/build-modules.sh "$top/build/baseline/obj" "$base_imp" tests/udmabuf_importer \
	>/dev/null || fail "cannot build udmabuf_importer.ko for the baseline kernel"
IMPORTER_KO=$base_imp/udmabuf_importer/udmabuf_importer.ko run baseline "$base_k"
IMPORTER_KO=$moddir/udmabuf_importer/udmabuf_importer.ko run patched "$patch_k" "$moddir"

# get RAW KEY FIELD: the value after FIELD on the line that starts with KEY
get() {
	awk -v k="$2" -v f="$3" '$1 == k {
		for (i = 2; i < NF; i++) if ($i == f) { print $(i + 1); exit } }' \
		"$out/udmabuf-$1.raw"
}
need() {	# need RAW KEY FIELD: as get, failing when missing
	local v
	v=$(get "$@")
	[ -n "$v" ] || fail "no '$2 ... $3' in $out/udmabuf-$1.raw"
	echo "$v"
}
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {
	ok = op == ">=" ? v >= t : v == t; print ok ? "met" : "NOT MET" }'; }

{
	echo "udmabuf bench"
	echo "kernels: baseline $("$top/scripts/kernel-desc.sh" "$top/build/baseline/obj")" \
		"(unpatched, in-tree udmabuf built in),"
	echo "  patched $("$top/scripts/kernel-desc.sh" "${KOBJ:-$top/build/kernel}")" \
		"(update op, project udmabuf.ko)"
	echo "VM: $accel$( [ "${VM_ICOUNT:-0}" = 1 ] && echo ', 1 vCPU, -icount shift=0 (instruction-counted clock)'),"
	echo "  VM_MEM=$VM_MEM MiB, VM_HUGEPAGES=$VM_HUGEPAGES; udmabuf size_limit_mb=1024 on both"
	echo

	echo "1. Punch and write-refault of a 256 MiB shmem memfd (65536 pages), best"
	echo "   of 5 passes: faults/s of the refault; pages/s of the cycle: punch and"
	echo "   refault (the buffer has then dropped the punched pages and holds every"
	echo "   refaulted one: nothing is deferred); patched kernel"
	n=$(need patched refault-nobuf faults_per_sec)
	u=$(need patched refault-buf faults_per_sec)
	r=$(awk -v n="$n" -v u="$u" 'BEGIN { printf "%.4f", u / n }')
	cn=$(need patched refault-nobuf cycle_faults_per_sec)
	cu=$(need patched refault-buf cycle_faults_per_sec)
	cr=$(awk -v n="$cn" -v u="$cu" 'BEGIN { printf "%.4f", u / n }')
	printf '   %-34s %10s %10s %10s\n' "" faults/s punch_ms cycle/s
	for row in "no udmabuf:patched refault-nobuf" \
		   "project udmabuf:patched refault-buf" \
		   "project, follow_faults=0 (info):patched refault-buf-nofollow" \
		   "baseline kernel, no udmabuf (info):baseline refault-nobuf" \
		   "baseline, in-tree udmabuf (info):baseline refault-buf"; do
		label=${row%%:*}
		set -- ${row#*:}
		v=$(get "$1" "$2" faults_per_sec)
		[ -n "$v" ] || continue
		printf '   %-34s %10s %10s %10s\n' "$label" "$v" \
			"$(get "$1" "$2" punch_ms)" \
			"$(get "$1" "$2" cycle_faults_per_sec)"
	done
	echo "   cycle ratio udmabuf/none $cr  target >= 0.95: $(verdict "$cr" 0.95 '>=')"
	echo "   refault ratio udmabuf/none $r (info)"
	# The best a follower can do: the update op call (follow_faults=0)
	# plus freeing the replaced page, which the punch no longer does
	# while the buffer pins it, with no work of the driver's own.
	nf=$(get patched refault-buf-nofollow faults_per_sec)
	if [ -n "$nf" ]; then
		awk -v n="$n" -v nf="$nf" -v pn="$(need patched refault-nobuf punch_ms)" \
			-v pb="$(need patched refault-buf punch_ms)" \
			-v pages="$(need patched refault-nobuf pages)" 'BEGIN {
			free = (pn - pb) / 1000 / pages
			printf "   refault ceiling (info): update op call + page free, nothing else: %.4f\n",
				(1 / n) / (1 / nf + free)
			printf "     (per fault: none %.0f ns, op call %.0f ns, free %.0f ns)\n",
				1e9 / n, 1e9 / nf - 1e9 / n, free * 1e9 }'
	fi
	echo

	echo "4. A dynamic importer (the udmabuf_importer test module, built for each"
	echo "   kernel) maps and unmaps an 8 MiB buffer, 1000 cycles, best of 3;"
	echo "   CONFIG_DMABUF_MOVE_NOTIFY unset on both, so the core pins around every map"
	mb=$(need baseline map-cycles cycles_per_sec)
	mp=$(need patched map-cycles cycles_per_sec)
	mr=$(awk -v b="$mb" -v p="$mp" 'BEGIN { printf "%.4f", p / b }')
	printf '   %-34s %12s\n' "" cycles/s
	printf '   %-34s %12s\n' "baseline, in-tree udmabuf" "$mb"
	printf '   %-34s %12s\n' "patched, project udmabuf" "$mp"
	echo "   ratio project/in-tree $mr  target >= 0.95: $(verdict "$mr" 0.95 '>=')"
	echo

	echo "2. UDMABUF_CREATE_LIST of 1 GiB: 16 items of 64 MiB over one written"
	echo "   memfd; best of 5 create+close rounds, microseconds (both = ioctl + close)"
	printf '   %-11s %-6s %12s %12s %10s  %s\n' backing op baseline project \
		base/proj "target >= 1.0"
	for key in create-shmem create-hugetlb; do
		backing=$(need patched $key backing)
		for op in ioctl close both; do
			if [ $op = both ]; then
				b=$(awk -v x="$(need baseline $key ioctl_us)" \
					-v y="$(need baseline $key close_us)" \
					'BEGIN { printf "%.1f", x + y }')
				p=$(awk -v x="$(need patched $key ioctl_us)" \
					-v y="$(need patched $key close_us)" \
					'BEGIN { printf "%.1f", x + y }')
			else
				b=$(need baseline $key ${op}_us)
				p=$(need patched $key ${op}_us)
			fi
			r=$(awk -v b="$b" -v p="$p" 'BEGIN { printf "%.4f", b / p }')
			printf '   %-11s %-6s %12s %12s %10s  %s\n' "$backing" "$op" \
				"$b" "$p" "$r" "$(verdict "$r" 1.0 '>=')"
		done
	done
	echo

	echo "3. Stale reads: punch 64 MiB, then per page write a new value and read it"
	echo "   at once through the udmabuf mmap made before the punch (no"
	echo "   DMA_BUF_IOCTL_SYNC); 2 rounds.  Writers: the buffer's creator through"
	echo "   its memfd mapping; another process (forked before the buffer, a pipe"
	echo "   handshake per page) through its own mapping, and with write(2)"
	printf '   %-26s %-13s %7s %7s %7s %9s\n' "" writer reads stale zero "ns/page"
	for k in baseline:"baseline, in-tree udmabuf" patched:"patched, project udmabuf"; do
		for w in stale:creator stale-child:other-mmap stale-child-write:other-write; do
			printf '   %-26s %-13s %7s %7s %7s %9s\n' "${k#*:}" "${w#*:}" \
				"$(need ${k%%:*} ${w%%:*} reads)" "$(need ${k%%:*} ${w%%:*} stale)" \
				"$(need ${k%%:*} ${w%%:*} zero)" "$(need ${k%%:*} ${w%%:*} ns_per_page)"
		done
	done
	for w in stale:creator stale-child:other-mmap stale-child-write:other-write; do
		s=$(need patched ${w%%:*} stale)
		echo "   patched stale reads, ${w#*:} writer $s  target == 0: $(verdict "$s" 0 '==')"
	done
	eb=$(get patched stats-before eager_pages)
	ea=$(get patched stats-after eager_pages)
	lb=$(get patched stats-before lazy_pages)
	la=$(get patched stats-after lazy_pages)
	if [ -n "$ea" ]; then
		echo "   project udmabuf pages swapped in part 3: eager $((ea - eb)), lazy $((la - lb))" \
			"(creator writer)"
	fi
	eo=$(get patched stats-after-other eager_pages)
	lo=$(get patched stats-after-other lazy_pages)
	if [ -n "$eo" ] && [ -n "$ea" ]; then
		echo "     other-process writers: eager $((eo - ea)), lazy $((lo - la))"
	fi
} > "$out/udmabuf.txt"
cat "$out/udmabuf.txt"

if [ "${UB_SCALE:-1}" != 0 ]; then
	env "${scale_env[@]}" "$top/scripts/bench-udmabuf-scale.sh"
fi
