#!/bin/sh
# Runs in the VM for scripts/bench-udmabuf.sh and bench-udmabuf-scale.sh.
#
#   bench-udmabuf-vm.sh [--scale | --smp] [MODDIR]
#
# With MODDIR (the patched kernel): loads MODDIR/udmabuf/udmabuf.ko, the
# project's udmabuf, and with --scale MODDIR/mmu_update_core/ too (the bare
# notifiers of the dontneed loop's floor).  Without (the baseline kernel): uses the in-tree 6.12
# udmabuf, built in.  Both get size_limit_mb=1024 for the 1 GiB buffers.
# No option: udmabuf-bench in every mode.  --scale: udmabuf-scale-bench,
# faults beside 0 to 1024 one-page buffers (one vCPU); --smp: the same with
# two faulting threads (two vCPUs).  Environment for those: US_MIB (64),
# US_REPS (5), US_ROUNDS (3, and 5 with --smp), US_DN_MIB (16, the dontneed
# loop).  Prints "KEY name value ..." lines.
set -u
b=$(cd "$(dirname "$0")/.." && pwd)/build
ub=$b/userspace/udmabuf-bench
sb=$b/userspace/udmabuf-scale-bench
mib=1024
part=main
case "${1:-}" in
--scale) part=scale; shift ;;
--smp) part=smp; shift ;;
-*) echo "usage: bench-udmabuf-vm.sh [--scale | --smp] [MODDIR]" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "usage: bench-udmabuf-vm.sh [--scale | --smp] [MODDIR]" >&2; exit 2; }
if [ $part = main ]; then
	[ -x "$ub" ] || { echo "no $ub: make userspace SKIP_KERNEL=1" >&2; exit 1; }
else
	[ -x "$sb" ] || { echo "no $sb: make userspace SKIP_KERNEL=1" >&2; exit 1; }
fi

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

scale() {	# scale KEY ARGS...: "KEY bufs N ..." lines, or exit 1
	key=$1
	shift
	res=$($sb "$@") || { echo "$key: udmabuf-scale-bench $* failed" >&2; exit 1; }
	echo "$res" | sed "s/^/$key /"
}

if [ $part = scale ]; then
	m=${US_MIB:-64} r=${US_REPS:-5} k=${US_ROUNDS:-3}
	stats stats-before
	# 1. Faults on the buffers' memfd (target), then on another (info).
	scale scale-same fault --mib $m --reps $r --rounds $k --bufs 1,16,256,1024
	scale scale-other fault --mib $m --reps $r --rounds $k --bufs 1,16,256,1024 --other-memfd
	# 2. (write fault, MADV_DONTNEED) per page, and beside it the floor: a
	# bare mmu notifier in the mm (test module of the patched kernel).
	bare=
	if [ -n "${1:-}" ]; then
		insmod "$1/mmu_update_core/mmu_update_core.ko" || exit 1
		bare=--notifier
	fi
	scale dontneed dontneed --mib ${US_DN_MIB:-16} --reps $r --rounds $k --bufs 1,16,256,1024 $bare
	# 3. The same beside 256 buffers in each state (patched kernel).
	if [ -n "${1:-}" ]; then
		insmod "$1/udmabuf_vmap/udmabuf_vmap.ko" || exit 1
		for st in punch-fault punch-write punch-other punch-never pin other-process; do
			scale state-$st fault --mib $m --reps $r --rounds $k --bufs 256 --state $st
			scale dn-state-$st dontneed --mib ${US_DN_MIB:-16} --reps $r --rounds $k --bufs 256 --state $st
		done
	fi
	stats stats-after
	echo done
	exit 0
fi
if [ $part = smp ]; then
	echo "cpus $(grep -c ^processor /proc/cpuinfo)"
	# 3. Two faulting threads on two vCPUs, wall clock.
	scale smp-same fault --mib ${US_MIB:-64} --reps ${US_REPS:-5} \
		--rounds ${US_ROUNDS:-5} --bufs 16,1024 --threads 2
	echo done
	exit 0
fi

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
# 4. A dynamic importer mapping and unmapping an 8 MiB buffer per frame.
if [ -n "${IMPORTER_KO:-}" ]; then
	insmod "$IMPORTER_KO" || exit 1
	bench map-cycles map-cycles --mib 8 --cycles 1000
fi
# 2. UDMABUF_CREATE_LIST of 1 GiB: 16 items of 64 MiB over one memfd.
bench create-shmem create --mib $mib --items 16
bench create-hugetlb create --mib $mib --items 16 --hugetlb
# 3. Stale reads through the udmabuf mmap right after a rewriting fault by
# the creator, then by another process (through its mapping, with write(2)).
stats stats-before
bench stale stale --mib 64
stats stats-after
bench stale-child stale --mib 64 --writer child
bench stale-child-write stale --mib 64 --writer child-write
stats stats-after-other
