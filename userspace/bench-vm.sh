#!/bin/sh
# Runs in the VM for make bench: fault-bench without and (where the test
# module loads) with a subscriber.  Prints "KEY faults_per_sec ..." lines.
b=$(cd "$(dirname "$0")/.." && pwd)/build
fb=$b/userspace/fault-bench
for mode in write read; do
	flag=
	[ $mode = read ] && flag=--read
	$fb $flag --reps 1 --pages 2048 >/dev/null	# warm up
	echo "nosub-$mode $($fb $flag)"
done
if [ "${1:-}" = --subscriber ]; then
	insmod "$b/modules/mmu_update_test/mmu_update_test.ko" || exit 1
	for mode in write read; do
		flag=
		[ $mode = read ] && flag=--read
		echo "sub-$mode $($fb $flag --subscribe)"
	done
	rmmod mmu_update_test
fi
