# hmm_mirror.ko: the upstream HMM selftest (tools/testing/selftests/mm/
# hmm-tests.c, built unmodified as hmm_mirror_upstream) against hmm_mirror.ko
# and, for comparison, against the in-tree lib/test_hmm.ko; then the prefill
# tests.  Device coherent memory is the range that
# qemu-config/cmdline.d/30-hmm.txt reserves with memmap=.
. "$TOP/tests/vm-lib.sh"
rc=0
spm=
if grep -q '^180000000-19fffffff : Reserved' /proc/iomem; then
	spm="spm_addr_dev0=0x180000000 spm_addr_dev1=0x190000000"
else
	echo "# no reserved range for device coherent memory: those tests skip"
fi

# counters NAME: the module's totals as TAP comments
counters() {
	sed "s/^/# $1 /" /sys/kernel/debug/hmm_mirror/stats 2>/dev/null
}

if load "$MODDIR/hmm-mirror/hmm_mirror.ko" $spm; then
	run hmm-tests/hmm_mirror "$B/tests/hmm_mirror_upstream" || rc=1
	counters hmm-tests
	run hmm_mirror_prefill "$B/tests/hmm_mirror_prefill" || rc=1
	run hmm_mirror_release "$B/tests/hmm_mirror_release" || rc=1
	counters total
	unload hmm_mirror || rc=1
else
	rc=1
fi

kmemleak_check hmm_mirror.ko || rc=1

# Loaded in the background for the pid of its insmod, whose allocations
# kmemleak_count (tests/vm-lib.sh) leaves out from now on.
# shellcheck disable=SC2086
insmod "$KOBJ/lib/test_hmm.ko" $spm 2>/tmp/insmod.err &
test_hmm_pid=$!
if wait $test_hmm_pid; then
	echo "ok - insmod test_hmm.ko"
	echo $test_hmm_pid > /tmp/test_hmm.insmod.pid
	run hmm-tests/test_hmm "$B/tests/hmm_mirror_upstream" || rc=1
	unload test_hmm || rc=1
else
	echo "not ok - insmod test_hmm.ko: $(cat /tmp/insmod.err)"
	rc=1
fi
# 6.12's test_hmm.ko never puts its devices (dmirror_device_remove() has
# no put_device()), leaking their names and private data on unload: show
# those; the kmemleak checks from here on leave them out.
if [ -w /sys/kernel/debug/kmemleak ]; then
	echo scan > /sys/kernel/debug/kmemleak
	sleep 6
	echo scan > /sys/kernel/debug/kmemleak
	echo "# test_hmm.ko (upstream) leaks, not counted: $(grep -c "comm \"insmod\", pid $test_hmm_pid," /sys/kernel/debug/kmemleak)"
fi
exit $rc
