#!/bin/sh
# Runs in the VM for scripts/bench-udmabuf.sh: udmabuf-bench in every mode.
#
#   bench-udmabuf-vm.sh [MODDIR]
#
# With MODDIR (the patched kernel): loads MODDIR/udmabuf/udmabuf.ko, the
# project's udmabuf.  Without (the baseline kernel): uses the in-tree 6.12
# udmabuf, built in.  Both get size_limit_mb=1024 for the 1 GiB buffers.
# Prints "KEY name value ..." lines.
set -u
b=$(cd "$(dirname "$0")/.." && pwd)/build
ub=$b/userspace/udmabuf-bench
mib=1024
[ -x "$ub" ] || { echo "no $ub: make userspace SKIP_KERNEL=1" >&2; exit 1; }

stats() {	# the project module's counters, as one line
	f=/sys/kernel/debug/udmabuf/stats
	if [ -r $f ]; then echo "$1 $(tr '\n' ' ' < $f)"; fi
}

if [ -n "${1:-}" ]; then
	[ -e /dev/udmabuf ] && { echo "/dev/udmabuf exists before insmod" >&2; exit 1; }
	insmod "$1/udmabuf/udmabuf.ko" size_limit_mb=$mib || exit 1
	echo "driver project $1/udmabuf/udmabuf.ko"
else
	[ -e /dev/udmabuf ] || { echo "no /dev/udmabuf (CONFIG_UDMABUF=y?)" >&2; exit 1; }
	echo $mib > /sys/module/udmabuf/parameters/size_limit_mb || exit 1
	echo "driver in-tree"
fi
echo "kernel $(uname -r)"
echo "hugepages $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages) free of $(cat /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)"

bench() {	# bench KEY ARGS...: one "KEY name value ..." line, or exit 1
	key=$1
	shift
	res=$($ub "$@") || { echo "$key: udmabuf-bench $* failed" >&2; exit 1; }
	echo "$key $res"
}

# 1. Refault of a punched 256 MiB memfd, without and with a udmabuf over it.
bench warmup refault --mib 64 --reps 1 >/dev/null	# warm up
bench refault-nobuf refault --mib 256
bench refault-buf refault --mib 256 --udmabuf
ff=/sys/module/udmabuf/parameters/follow_faults
if [ -n "${1:-}" ]; then	# for the analysis: the update op called, not acted on
	echo N > $ff || exit 1
	bench refault-buf-nofollow refault --mib 256 --udmabuf
	echo Y > $ff
fi
# 2. UDMABUF_CREATE_LIST of 1 GiB: 16 items of 64 MiB over one memfd.
bench create-shmem create --mib $mib --items 16
bench create-hugetlb create --mib $mib --items 16 --hugetlb
# 3. Stale reads through the udmabuf mmap right after a rewriting fault.
stats stats-before
bench stale stale --mib 64
stats stats-after
