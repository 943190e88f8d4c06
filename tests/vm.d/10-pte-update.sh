# The update notifier itself, through the test subscriber module.
. "$TOP/tests/vm-lib.sh"
rc=0
load "$MODDIR/mmu_update_test/mmu_update_test.ko" || exit 1
run pte_update "$B/tests/pte_update" || rc=1
unload mmu_update_test || rc=1
exit $rc
