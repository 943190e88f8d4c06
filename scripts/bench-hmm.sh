#!/bin/bash
# Device reads after CPU faults (issue 4): hmm_mirror.ko with prefill on,
# with prefill off, and the kernel's lib/test_hmm.ko, on a 256 MiB shmem
# and a 256 MiB hugetlb buffer, all in one VM of the patched kernel with
# one vCPU and -icount (the guest clock counts instructions, so the numbers
# repeat across runs).  Writes build/bench/hmm.txt (table, ratios, targets)
# and build/bench/hmm.png (plot, with gnuplot), and prints the table.
#
# Needs: make modules userspace SKIP_KERNEL=1 MODULE_DIRS=hmm-mirror, and
# gnuplot (Debian package gnuplot-nox).  Environment: HB_MIB (256), HB_REPS
# (3), HB_CHUNK (pages a HMM_DMIRROR_READ, 512), VM_TIMEOUT (900).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
out=$top/build/bench
kernel=$top/build/kernel/arch/x86/boot/bzImage
mirror_ko=$top/build/modules/hmm-mirror/hmm_mirror.ko
test_hmm_ko=$top/build/kernel/lib/test_hmm.ko
export HB_MIB=${HB_MIB:-256} HB_REPS=${HB_REPS:-3} HB_CHUNK=${HB_CHUNK:-512}
export VM_ACCEL=tcg VM_ICOUNT=1
export VM_HUGEPAGES=${VM_HUGEPAGES:-256} VM_TIMEOUT=${VM_TIMEOUT:-900}

for f in "$kernel" "$mirror_ko" "$test_hmm_ko" "$top/build/userspace/hmm-bench"; do
	[ -e "$f" ] || {
		echo "bench-hmm.sh: no $f: make modules userspace SKIP_KERNEL=1 MODULE_DIRS=hmm-mirror" >&2
		exit 2
	}
done
command -v gnuplot >/dev/null ||
	{ echo "bench-hmm.sh: gnuplot is missing (apt-get install gnuplot-nox)" >&2; exit 2; }
mkdir -p "$out"

echo "  BENCH   hmm (${HB_MIB} MiB, best of ${HB_REPS})" >&2
start=$(date +%s)
rc=0
"$top/qemu-config/vm.sh" -k "$kernel" -o "$top/build/vm-hbench-patched" -- \
	env HB_MIB="$HB_MIB" HB_REPS="$HB_REPS" HB_CHUNK="$HB_CHUNK" \
	userspace/bench-hmm-vm.sh "$mirror_ko" "$test_hmm_ko" > "$out/hmm.raw" || rc=$?
if [ $rc != 0 ] || ! grep -q '^done$' "$out/hmm.raw"; then
	echo "bench-hmm.sh: the VM run failed (status $rc); its output:" >&2
	cat "$out/hmm.raw" >&2
	exit 1
fi
wall=$(( $(date +%s) - start ))

# get KEY FIELD: the value after FIELD on the line of KEY
get() {
	awk -v k="$1" -v f="$2" '$1 == k { for (i = 2; i < NF; i++) if ($i == f) { print $(i + 1); exit } }' \
		"$out/hmm.raw"
}
for key in mirror-on-shmem mirror-off-shmem test_hmm-shmem \
	   mirror-on-hugetlb mirror-off-hugetlb test_hmm-hugetlb; do
	[ -n "$(get $key read_ns)" ] || { echo "bench-hmm.sh: no $key in $out/hmm.raw" >&2; exit 1; }
done

# verdict VALUE OP LIMIT: "met" or "NOT met"
verdict() {
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		ok = (op == "<=") ? (v <= l) : (v >= l)
		print ok ? "met" : "NOT met" }'
}
fault_part() {	# fault_part KEY: read_ns - reread_ns, at least 0
	awk -v r="$(get "$1" read_ns)" -v rr="$(get "$1" reread_ns)" \
		'BEGIN { d = r - rr; print (d > 0 ? d : 0) }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print (a == 0 ? 0 : "inf"); else printf "%.4f\n", a / b }'; }

missed=0
{
	echo "hmm device read after a CPU touch: ${HB_MIB} MiB buffers, best of ${HB_REPS} passes"
	echo "HMM_DMIRROR_READ in chunks of ${HB_CHUNK} pages; device faults = sum of cmd.faults over one read"
	echo "VM: tcg, 1 vCPU, -icount shift=0 (instruction-counted clock: 1 ns = 1 guest instruction); $("$top/scripts/kernel-desc.sh" "$top/build/kernel")"
	echo
	printf '%-8s %-18s %9s %13s %9s %10s %9s %9s\n' buffer config touch_ms \
		touch_pages/s read_ms dev_faults reread_ms prefilled
	for buf in shmem hugetlb; do
		for cfg in mirror-on mirror-off test_hmm; do
			k=$cfg-$buf
			case $cfg in
			mirror-on) name=mirror+prefill ;;
			mirror-off) name=mirror,no-prefill ;;
			*) name=test_hmm.ko ;;
			esac
			pf=$(get "$k" prefilled)
			awk -v b=$buf -v n=$name -v t="$(get "$k" touch_ns)" \
			    -v tp="$(get "$k" touch_pages_per_sec)" -v r="$(get "$k" read_ns)" \
			    -v f="$(get "$k" read_faults)" -v rr="$(get "$k" reread_ns)" \
			    -v pf="${pf:--}" 'BEGIN {
				printf "%-8s %-18s %9.2f %13d %9.2f %10d %9.2f %9s\n",
					b, n, t / 1e6, tp, r / 1e6, f, rr / 1e6, pf }'
		done
	done
	echo
	echo "prefill on / prefill off (hmm_mirror.ko):"
	printf '%-8s %-28s %10s %10s  %-9s %s\n' buffer metric on/off target result "(on, off)"
	for buf in shmem hugetlb; do
		on=mirror-on-$buf off=mirror-off-$buf
		fo=$(get $on read_faults) ff=$(get $off read_faults)
		r=$(ratio "$fo" "$ff"); v=$(verdict "$r" '<=' 0.01)
		printf '%-8s %-28s %10s %10s  %-9s (%s, %s)\n' $buf "device faults" "$r" "<= 0.01" "$v" "$fo" "$ff"
		[ "$v" = met ] || missed=$((missed + 1))
		# The fault part of a device read: read minus re-read (the
		# same read with every page mirrored), a negative one as 0.
		fo=$(fault_part $on) ff=$(fault_part $off)
		r=$(ratio "$fo" "$ff"); v=$(verdict "$r" '<=' 0.01)
		# Without a fault part to remove, the ratio says nothing.
		[ "$ff" != 0 ] || v="NOT met (no fault part with prefill off)"
		printf '%-8s %-28s %10s %10s  %-9s (%s ns, %s ns)\n' $buf "fault part of device read" "$r" "<= 0.01" "$v" "$fo" "$ff"
		[ "$v" = met ] || missed=$((missed + 1))
		to=$(get $on touch_pages_per_sec) tf=$(get $off touch_pages_per_sec)
		r=$(ratio "$to" "$tf"); v=$(verdict "$r" '>=' 0.9)
		printf '%-8s %-28s %10s %10s  %-9s (%s, %s pages/s)\n' $buf "CPU fault throughput" "$r" ">= 0.9" "$v" "$to" "$tf"
		[ "$v" = met ] || missed=$((missed + 1))
	done
	echo
	echo "for the analysis (not targets):"
	for buf in shmem hugetlb; do
		on=mirror-on-$buf off=mirror-off-$buf th=test_hmm-$buf
		awk -v b=$buf -v ro="$(get $on read_ns)" -v rro="$(get $on reread_ns)" \
		    -v rf="$(get $off read_ns)" -v rrf="$(get $off reread_ns)" \
		    -v rt="$(get $th read_ns)" -v rrt="$(get $th reread_ns)" '
		function ms(ns) { ns /= 1e6; return ns < 0 && ns > -0.0005 ? 0 : ns }
		BEGIN {
			printf "%-8s fault part of the read (read - reread): on %.3f ms, off %.3f ms, test_hmm %.3f ms\n",
				b, ms(ro - rro), ms(rf - rrf), ms(rt - rrt)
			printf "%-8s read time on/test_hmm %.4f; reread (no faults) / read off %.4f\n",
				b, ro / rt, rrf / rf }'
	done
	echo "hmm_mirror totals: $(sed -n 's/^mirror-stats //p' "$out/hmm.raw")"
	echo
	echo "targets: $(( 6 - missed )) of 6 met; bench wall time ${wall} s"
} | tee "$out/hmm.txt"

# The plot: device-read time, device faults, CPU fault throughput.
dat=$out/hmm.dat
{
	echo "# buffer read_ms(on off test_hmm) faults(on off test_hmm) touch_kpages_s(on off test_hmm)"
	for buf in shmem hugetlb; do
		line=$buf
		for f in read_ns read_faults touch_pages_per_sec; do
			for cfg in mirror-on mirror-off test_hmm; do
				v=$(get $cfg-$buf $f)
				case $f in
				read_ns) v=$(awk -v v="$v" 'BEGIN { printf "%.1f", v / 1e6 }') ;;
				touch_pages_per_sec) v=$(awk -v v="$v" 'BEGIN { printf "%.1f", v / 1e3 }') ;;
				esac
				line+=" $v"
			done
		done
		echo "$line"
	done
} > "$dat"
# panel TITLE COL: one chart of data columns COL to COL + 2 (prefill on,
# prefill off, test_hmm.ko), each bar labelled with its value.
panel() {
	local a=$2 b=$(($2 + 1)) c=$(($2 + 2))
	cat <<P
set title '$1'
plot '$dat' using $a:xtic(1) title 'hmm\_mirror prefill on', '' using $b title 'hmm\_mirror prefill off', \
	'' using $c title 'test\_hmm.ko', \
	'' using (bar(1)):$a:$a with labels font ',9' offset 0,0.6 notitle, \
	'' using (bar(2)):$b:$b with labels font ',9' offset 0,0.6 notitle, \
	'' using (bar(3)):$c:$c with labels font ',9' offset 0,0.6 notitle
P
}
gnuplot <<EOF
set terminal pngcairo size 1500,520 font 'DejaVu Sans,11'
set output '$out/hmm.png'
set multiplot layout 1,3 title "hmm: device read of ${HB_MIB} MiB after a CPU touch (TCG, -icount: 1 ns = 1 instruction)" font ',13'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key below
set yrange [0:*]
set offsets 0, 0, graph 0.1, 0
set xrange [-0.6:1.6]
set xtics nomirror
set linetype 1 lc rgb '#2a9d8f'
set linetype 2 lc rgb '#e9c46a'
set linetype 3 lc rgb '#8d99ae'
bar(c) = \$0 + (c - 2) * 0.25
$(panel 'device-read time (ms, lower is better)' 2)
set yrange [0:*]
$(panel 'device faults (sum of cmd.faults)' 5)
$(panel 'CPU touch throughput (k pages/s, higher is better)' 8)
unset multiplot
EOF
echo "wrote $out/hmm.txt $out/hmm.png" >&2
