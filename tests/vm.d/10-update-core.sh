# The notifier core around update subscribers, through mmu_update_core.
. "$TOP/tests/vm-lib.sh"
rc=0
load "$MODDIR/mmu_update_core/mmu_update_core.ko" || exit 1
run update_core "$B/tests/update_core" || rc=1
run nonblock_invalidate "$B/tests/nonblock_invalidate" || rc=1
unload mmu_update_core || rc=1
exit $rc
