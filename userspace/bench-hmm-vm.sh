#!/bin/sh
# Runs in the VM for scripts/bench-hmm.sh: hmm-bench on a shmem and on a
# hugetlb buffer with hmm_mirror.ko (prefill on, then off), then with the
# kernel's lib/test_hmm.ko.  Both modules make /dev/hmm_dmirror*, so they
# are loaded one after the other.
#
#   bench-hmm-vm.sh HMM_MIRROR_KO TEST_HMM_KO
#
# Environment: HB_MIB (buffer size, 256), HB_REPS (passes, 3), HB_CHUNK
# (pages a HMM_DMIRROR_READ, 512).  Prints "KEY name value ..." lines.
set -u
b=$(cd "$(dirname "$0")/.." && pwd)/build
hb=$b/userspace/hmm-bench
mib=${HB_MIB:-256}
reps=${HB_REPS:-3}
chunk=${HB_CHUNK:-512}
[ $# = 2 ] || { echo "usage: bench-hmm-vm.sh HMM_MIRROR_KO TEST_HMM_KO" >&2; exit 2; }
mirror_ko=$1 test_hmm_ko=$2
for f in "$mirror_ko" "$test_hmm_ko"; do
	[ -f "$f" ] || { echo "bench-hmm-vm.sh: no module $f" >&2; exit 2; }
done
[ -x "$hb" ] || { echo "no $hb: make userspace SKIP_KERNEL=1" >&2; exit 1; }
[ -e /dev/hmm_dmirror0 ] && { echo "/dev/hmm_dmirror0 exists before insmod" >&2; exit 1; }

hp=/sys/kernel/mm/hugepages/hugepages-2048kB
echo "kernel $(uname -r)"
echo "hugepages $(cat $hp/free_hugepages) free of $(cat $hp/nr_hugepages)"
echo "thp_shmem $(cat /sys/kernel/mm/transparent_hugepage/shmem_enabled)"

bench() {	# bench KEY ARGS...: one hmm-bench line under KEY
	key=$1
	shift
	out=$($hb --mib "$mib" --reps "$reps" --chunk-pages "$chunk" "$@") || {
		echo "bench-hmm-vm.sh: hmm-bench $* failed" >&2
		exit 1
	}
	echo "$key $out"
}

set -e
insmod "$mirror_ko"
echo "module-mirror $mirror_ko"
$hb --mib 16 --reps 1 --prefill >/dev/null	# warm up
$hb --mib 16 --reps 1 >/dev/null
for buf in shmem hugetlb; do
	flag=
	[ $buf = hugetlb ] && flag=--hugetlb
	bench "mirror-off-$buf" $flag
	bench "mirror-on-$buf" $flag --prefill
done
echo "mirror-stats $(tr '\n' ' ' < /sys/kernel/debug/hmm_mirror/stats 2>/dev/null)"
rmmod hmm_mirror

insmod "$test_hmm_ko"
echo "module-test_hmm $test_hmm_ko"
$hb --mib 16 --reps 1 >/dev/null	# warm up
for buf in shmem hugetlb; do
	flag=
	[ $buf = hugetlb ] && flag=--hugetlb
	bench "test_hmm-$buf" $flag
done
rmmod test_hmm
echo "done"
