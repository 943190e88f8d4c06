#!/bin/bash
# udmabuf scale part of make bench (run by scripts/bench-udmabuf.sh): what
# N one-page udmabufs cost the faults of their creator on memory they do not
# cover, N = 0 (a process that never made a udmabuf), 1, 16, 256 and 1024,
# as ratios to N = 0 taken within one VM run.  The patched kernel with the
# project's udmabuf.ko and the unpatched 6.12 kernel with its in-tree
# udmabuf, each in a VM of TCG with one vCPU and -icount (the guest clock
# counts instructions, so the ratios repeat), then each in a VM with two
# vCPUs and no -icount for two faulting threads (wall clock, report only).
# Writes build/bench/udmabuf-scale.txt (table, targets, verdicts), .png
# (plot, gnuplot) and the raw VM output next to them; prints the table.
#
# Needs: make userspace modules SKIP_KERNEL=1 (udmabuf and the
# mmu_update_core test module, for the floor of the dontneed loop), the
# baseline kernel (make baseline) and gnuplot (gnuplot-nox).  Environment:
# US_MIB (64, MiB faulted a pass), US_REPS (5 passes a child), US_ROUNDS
# (3, and 5 for the two-vCPU VMs), US_DN_MIB (16, the dontneed loop),
# US_SMP=0 (skip the two-vCPU VMs), VM_TIMEOUT (900, a VM), VM_MEM (2048),
# MODDIR and KOBJ as in the Makefile.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/bench
moddir=${MODDIR:-$top/build/modules}
ko=$moddir/udmabuf/udmabuf.ko
base_k=$top/build/baseline/obj/arch/x86/boot/bzImage
patch_k=${KOBJ:-$top/build/kernel}/arch/x86/boot/bzImage
accel=${VM_ACCEL:-tcg}
export VM_HUGEPAGES=${VM_HUGEPAGES:-0} VM_MEM=${VM_MEM:-2048}
export VM_TIMEOUT=${VM_TIMEOUT:-900}
us_env=(US_MIB="${US_MIB:-64}" US_REPS="${US_REPS:-5}"
	US_DN_MIB="${US_DN_MIB:-16}")
smp=${US_SMP:-1}
for v in US_MIB US_REPS US_ROUNDS US_DN_MIB; do
	val=${!v:-}
	if [ -n "$val" ] && ! [[ "$val" =~ ^[1-9][0-9]*$ ]]; then
		echo "bench-udmabuf-scale: $v must be a positive number, not '$val'" >&2
		exit 2
	fi
done
[[ "$smp" =~ ^[01]$ ]] ||
	{ echo "bench-udmabuf-scale: US_SMP must be 0 or 1, not '$smp'" >&2; exit 2; }

fail() { echo "bench-udmabuf-scale: $*" >&2; exit 1; }
[ -f "$base_k" ] || fail "no baseline kernel at $base_k (make baseline)"
grep -qx CONFIG_UDMABUF=y "$top/build/baseline/obj/.config" ||
	fail "the baseline kernel has no in-tree udmabuf (CONFIG_UDMABUF=y)"
[ -f "$patch_k" ] || fail "no patched kernel at $patch_k (make kernel)"
[ -f "$ko" ] || fail "no $ko (make modules SKIP_KERNEL=1 MODULE_DIRS=udmabuf)"
[ -f "$moddir/mmu_update_core/mmu_update_core.ko" ] ||
	fail "no $moddir/mmu_update_core/mmu_update_core.ko (make modules SKIP_KERNEL=1)"
[ -x "$top/build/userspace/udmabuf-scale-bench" ] ||
	fail "no build/userspace/udmabuf-scale-bench (make userspace SKIP_KERNEL=1)"
command -v gnuplot >/dev/null || fail "gnuplot is missing (apt-get install gnuplot-nox)"
mkdir -p "$out"
cd "$top"

run() {	# run NAME KERNEL ARGS...: build/bench/udmabuf-scale-NAME.raw
	local name=$1 kernel=$2 rc=0
	shift 2
	echo "  BENCH   udmabuf-scale-$name" >&2
	"$top/qemu-config/vm.sh" -k "$kernel" -o "$top/build/vm-usbench-$name" -- \
		env "${us_env[@]}" userspace/bench-udmabuf-vm.sh "$@" \
		> "$out/udmabuf-scale-$name.raw" || rc=$?
	if [ $rc != 0 ] || ! grep -qx done "$out/udmabuf-scale-$name.raw"; then
		fail "the $name VM failed ($rc): see $out/udmabuf-scale-$name.raw and" \
			"build/vm-usbench-$name/console.log"
	fi
}
start=$(date +%s)
(
	if [ "$accel" = tcg ]; then export VM_ICOUNT=1; fi
	export US_ROUNDS=${US_ROUNDS:-3}
	us_env+=(US_ROUNDS="$US_ROUNDS")
	run patched "$patch_k" --scale "$moddir"
	run baseline "$base_k" --scale
)
if [ "$smp" = 1 ]; then
	(
		export VM_ICOUNT=0 VM_SMP=2
		us_env+=(US_ROUNDS="${US_ROUNDS:-5}")
		run smp-patched "$patch_k" --smp "$moddir"
		run smp-baseline "$base_k" --smp
	)
fi
wall=$(( $(date +%s) - start ))

# get RAW KEY N FIELD: the value after FIELD on the line of KEY for N buffers
# (N may be bare-inval or bare-interval, the --notifier children)
get() {
	awk -v k="$2" -v n="$3" -v f="$4" '$1 == k && $2 == "bufs" && $3 == n {
		for (i = 4; i < NF; i++) if ($i == f) { print $(i + 1); exit } }' \
		"$out/udmabuf-scale-$1.raw"
}
need() {	# need RAW KEY N FIELD: as get, failing when missing
	local v
	v=$(get "$@")
	[ -n "$v" ] || fail "no '$2 bufs $3 ... $4' in $out/udmabuf-scale-$1.raw"
	echo "$v"
}
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v >= t ? "met" : "NOT MET") }'; }
kernel_of() {	# kernel_of patched|baseline: release and Debian version
	case $1 in
	patched) "$top/scripts/kernel-desc.sh" "${KOBJ:-$top/build/kernel}" ;;
	*) "$top/scripts/kernel-desc.sh" "$top/build/baseline/obj" ;;
	esac
}

met=0 targets=0
# table KEY TARGET COUNTS...: one row per N of both kernels' results
table() {
	local key=$1 target=$2 n p pr b br range v
	shift 2
	printf '   %5s %12s %7s %15s %12s %7s  %s\n' N patched ratio "per round" \
		baseline ratio "${target:+target >= $target}"
	for n in 0 "$@"; do
		p=$(need patched "$key" "$n" per_sec)
		pr=$(need patched "$key" "$n" ratio)
		range="$(need patched "$key" "$n" round_ratio_min)-$(need patched "$key" "$n" round_ratio_max)"
		b=$(need baseline "$key" "$n" per_sec)
		br=$(need baseline "$key" "$n" ratio)
		v=
		if [ -n "$target" ] && [ "$n" != 0 ]; then
			v=$(verdict "$pr" "$target")
			targets=$((targets + 1))
			[ "$v" = met ] && met=$((met + 1))
		fi
		[ "$n" = 0 ] && range="(none)"
		printf '   %5s %12s %7s %15s %12s %7s  %s\n' "$n" "$p" "$pr" "$range" \
			"$b" "$br" "$v"
	done
}

pages=$(need patched scale-same 0 pages)
reps=$(need patched scale-same 0 reps)
rounds=$(need patched scale-same 0 rounds)
dn_pages=$(need patched dontneed 0 pages)
{
	echo "udmabuf scale bench: faults of a process with N one-page udmabufs on memory"
	echo "no buffer covers, against N = 0 (a forked child that never made a udmabuf)"
	echo "kernels: patched $(kernel_of patched) (update op, project udmabuf.ko),"
	echo "  baseline $(kernel_of baseline) (unpatched, in-tree udmabuf built in)"
	echo "project udmabuf.ko: $ko, built $(date -u -r "$ko" '+%F %T UTC'),"
	echo "  udmabuf/ at $(git log -1 --format='%h of %cd' --date=format-local:'%F %T' -- udmabuf 2>/dev/null || echo '?')$( [ -z "$(git status --porcelain -- udmabuf 2>/dev/null)" ] || echo ' + uncommitted changes')$( [ -z "$(find udmabuf -newer "$ko" -type f 2>/dev/null | head -n 1)" ] || echo '; udmabuf/ has files newer than the .ko')"
	echo "VM: $accel$( [ "$accel" = tcg ] && echo ', 1 vCPU, -icount shift=0 (instruction-counted clock)'), VM_MEM=$VM_MEM MiB"
	echo "Each N runs in its own forked child; $rounds rounds over N = 0 and every N,"
	echo "in order then reversed, best of $reps passes a child and of all rounds;"
	echo "ratio = per_sec(N) / per_sec(0) within one VM run; per round: its range over the rounds"
	echo

	echo "1. Write faults on $((pages / 256)) MiB ($pages pages) of the memfd the buffers are over,"
	echo "   at offsets between them; a pass maps the memfd, faults, unmaps, punches; faults/s"
	table scale-same 0.99 1 16 256 1024
	echo "   info: the buffers on a different memfd"
	table scale-other "" 1 16 256 1024
	echo

	echo "2. Loop of (write-fault one page, MADV_DONTNEED it) over $((dn_pages / 256)) MiB"
	echo "   ($dn_pages pages, in the page cache) no buffer covers; loops/s"
	table dontneed 0.99 1 16 256 1024
	echo "   floor (info, patched kernel): no udmabuf, a bare mmu notifier in the mm"
	echo "   whose callbacks return at once; ratio to N = 0 of the same run"
	for b in inval interval; do
		p=$(need patched dontneed bare-$b per_sec)
		pr=$(need patched dontneed bare-$b ratio)
		range="$(need patched dontneed bare-$b round_ratio_min)"
		range+="-$(need patched dontneed bare-$b round_ratio_max)"
		printf '   %-12s %12s %7s %15s\n' "bare-$b" "$p" "$pr" "$range"
	done
	echo "   bare-inval: invalidate_range_start only (the shape of KVM's notifier)."
	echo "   bare-interval: an interval notifier with an update op on a page the loop"
	echo "   never touches (its callbacks are never called; faults read their entries"
	echo "   back and look it up, invalidations look it up under a lock)."
	echo

	echo "2b. 1 and 2 beside 256 buffers after something happened to them (patched"
	echo "   kernel; ratio to N = 0 of the same invocation): the first buffer's page"
	echo "   punched and refilled at once by a fault, by write(2) 0.3 s later, by"
	echo "   another process, or never; a vmap of it held (a pin); the buffers made"
	echo "   by another process over the same memfd while this one has none"
	printf '   %-14s %12s %7s %15s %12s %7s %15s  %s\n' state faults/s ratio \
		"per round" loops/s ratio "per round" "target >= 0.99"
	for st in punch-fault punch-write punch-other punch-never pin other-process; do
		f=$(need patched state-$st 256 per_sec)
		fr=$(need patched state-$st 256 ratio)
		frange="$(need patched state-$st 256 round_ratio_min)-$(need patched state-$st 256 round_ratio_max)"
		d=$(need patched dn-state-$st 256 per_sec)
		dr=$(need patched dn-state-$st 256 ratio)
		drange="$(need patched dn-state-$st 256 round_ratio_min)-$(need patched dn-state-$st 256 round_ratio_max)"
		v1=$(verdict "$fr" 0.99) v2=$(verdict "$dr" 0.99)
		targets=$((targets + 2))
		[ "$v1" = met ] && met=$((met + 1))
		[ "$v2" = met ] && met=$((met + 1))
		printf '   %-14s %12s %7s %15s %12s %7s %15s  %s\n' "$st" "$f" "$fr" \
			"$frange" "$d" "$dr" "$drange" "$v1, $v2"
	done
	echo

	if [ "$smp" = 1 ]; then
		echo "3. (info) As 1 with 2 faulting threads on 2 vCPUs, no -icount (wall clock);"
		echo "   N = 0, 16 and 1024 alternating in one VM run; faults/s"
		printf '   %5s %12s %7s %15s %12s %7s\n' N patched ratio "per round" baseline ratio
		for n in 0 16 1024; do
			range="$(need smp-patched smp-same $n round_ratio_min)-$(need smp-patched smp-same $n round_ratio_max)"
			[ "$n" = 0 ] && range="(none)"
			printf '   %5s %12s %7s %15s %12s %7s\n' "$n" \
				"$(need smp-patched smp-same $n per_sec)" \
				"$(need smp-patched smp-same $n ratio)" "$range" \
				"$(need smp-baseline smp-same $n per_sec)" \
				"$(need smp-baseline smp-same $n ratio)"
		done
		echo "   vCPUs: patched $(awk '$1 == "cpus" { print $2 }' "$out/udmabuf-scale-smp-patched.raw")," \
			"baseline $(awk '$1 == "cpus" { print $2 }' "$out/udmabuf-scale-smp-baseline.raw")"
		echo
	fi
	sa=$(sed -n 's/^stats-after //p' "$out/udmabuf-scale-patched.raw")
	[ -z "$sa" ] || echo "project udmabuf stats after the patched run: $sa"
	echo "targets (patched kernel, project udmabuf): $met of $targets met; wall time ${wall} s"
} > "$out/udmabuf-scale.txt"
cat "$out/udmabuf-scale.txt"

# The plot: per panel, the ratio to N = 0 of both drivers against N.
dat=$out/udmabuf-scale.dat
{
	echo "# N patched_ratio baseline_ratio; blocks: scale-same, dontneed, smp-same"
	for n in 1 16 256 1024; do
		echo "$n $(get patched scale-same $n ratio) $(get baseline scale-same $n ratio)"
	done
	printf '\n\n'
	for n in 1 16 256 1024; do
		echo "$n $(get patched dontneed $n ratio) $(get baseline dontneed $n ratio)"
	done
	printf '\n\n'
	for n in 16 1024; do
		[ "$smp" = 1 ] || break
		echo "$n $(get smp-patched smp-same $n ratio) $(get smp-baseline smp-same $n ratio)"
	done
} > "$dat"
# panel TITLE BLOCK TARGET [FLOOR]: this driver, the in-tree one, none (1.0)
# and the bare notifier's floor
panel() {
	cat <<P
set title '$1'
plot '$dat' index $2 using 1:2 with linespoints lw 2 pt 7 title 'project udmabuf.ko (patched kernel)', \
	'' index $2 using 1:3 with linespoints lw 2 pt 5 title 'in-tree udmabuf (baseline kernel)', \
	1 with lines lw 2 dt 1 lc rgb '#8d99ae' title 'none (N = 0)'$( [ -n "$3" ] && echo ", \\
	$3 with lines lw 1 dt 2 lc rgb '#d62828' title 'target $3'")$( [ -n "${4:-}" ] && echo ", \\
	$4 with lines lw 1 dt 3 lc rgb '#264653' title 'bare notifier with an update op $4'")
P
}
# the y axis: from below the lowest ratio (at most 0.9) to above the
# highest (at least 1.05)
floor=$(get patched dontneed bare-interval ratio)
yrange=$(awk -v floor="${floor:-1}" '!/^#/ && NF == 3 { for (i = 2; i <= 3; i++) {
		if ($i < lo) lo = $i; if ($i > hi) hi = $i } }
	BEGIN { lo = 0.9; hi = 1.05 }
	END { if (floor < lo) lo = floor; printf "%.2f:%.2f", lo - 0.05, hi + 0.05 }' "$dat")
gnuplot <<EOF
set terminal pngcairo size $((500 * (2 + smp))),520 font 'DejaVu Sans,11'
set output '$out/udmabuf-scale.png'
set multiplot layout 1,$((2 + smp)) title "udmabuf: faults beside N one-page udmabufs, ratio to a process without any" font ',13'
set logscale x 2
set xrange [0.7:1500]
set xtics ('1' 1, '16' 16, '256' 256, '1024' 1024)
set xlabel 'udmabufs in the process (N)'
set ylabel 'throughput, ratio to N = 0'
set yrange [$yrange]
set grid
set key below
set linetype 1 lc rgb '#2a9d8f'
set linetype 2 lc rgb '#e9c46a'
$(panel "write faults, same memfd (TCG, -icount, $((pages / 256)) MiB)" 0 0.99)
$(panel "write fault + MADV\\_DONTNEED loop (TCG, -icount)" 1 0.99 "$floor")
$( [ "$smp" = 1 ] && panel "2 threads on 2 vCPUs, wall clock (info)" 2 "")
unset multiplot
EOF
echo "wrote $out/udmabuf-scale.txt $out/udmabuf-scale.png" >&2
