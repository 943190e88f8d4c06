#!/bin/sh
# Runs inside the test VM (make test): every tests/vm.d/*.sh in order, each
# printing TAP for its own part (loading its modules, running its programs).
# The host counts the result lines and scans the kernel log.
top=$(cd "$(dirname "$0")/.." && pwd)
export TOP=$top B=$top/build
# The out-of-tree modules and the kernel build they belong to.
export MODDIR=${MODDIR:-$B/modules} KOBJ=${KOBJ:-$B/kernel}
export PATH=$B/tests:$PATH

rc=0

for part in "$top"/tests/vm.d/*.sh; do
	if [ -n "${PARTS:-}" ]; then
		want=0
		for p in $PARTS; do
			case "$(basename "$part")" in "$p"*) want=1 ;; esac
		done
		[ $want = 1 ] || continue
	fi
	echo "# part $(basename "$part")"
	timeout -k 5 "${PART_TIMEOUT:-1500}" sh "$part"
	st=$?
	if [ $st = 124 ] || [ $st = 137 ]; then
		echo "not ok - $(basename "$part") timed out"
	fi
	[ $st = 0 ] || rc=1
done

# make test DEBUG=1: leaks found by kmemleak fail the run.
if [ -w /sys/kernel/debug/kmemleak ]; then
	# Objects younger than 5 s are not reported: scan twice.
	echo scan > /sys/kernel/debug/kmemleak
	sleep 6
	echo scan > /sys/kernel/debug/kmemleak
	leaks=$(. "$top/tests/vm-lib.sh" && kmemleak_count)
	if [ "$leaks" = 0 ]; then
		echo "ok - kmemleak found no leaks"
	else
		echo "not ok - kmemleak found $leaks leaks"
		sed -n '1,40s/^/# /p' /sys/kernel/debug/kmemleak
		rc=1
	fi
fi

dmesg > "$B/vm-dmesg.txt"
exit $rc
