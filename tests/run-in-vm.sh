#!/bin/sh
# Runs inside the test VM (make test): load the project's modules, run every
# test program, print TAP.  The host counts the result lines and scans the
# kernel log.  Each program runs under a time limit.
top=$(cd "$(dirname "$0")/.." && pwd)
b=$top/build
rc=0

load() {
	if insmod "$1" 2>/tmp/insmod.err; then
		echo "ok - insmod $(basename "$1")"
	else
		echo "not ok - insmod $(basename "$1"): $(cat /tmp/insmod.err)"
		rc=1
	fi
}

run() {
	name=$1
	shift
	echo "# run $name"
	timeout -k 5 "${TEST_TIMEOUT:-600}" "$@"
	st=$?
	[ $st = 124 ] && echo "not ok - $name timed out"
	[ $st = 0 ] || rc=1
}

load "$b/modules/mmu_update_test/mmu_update_test.ko"
run pte_update "$b/tests/pte_update"

dmesg > "$b/vm/dmesg.txt"
exit $rc
