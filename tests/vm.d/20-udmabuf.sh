# udmabuf that follows page replacement (udmabuf/), with its tests.
. "$TOP/tests/vm-lib.sh"
rc=0
drm=$KOBJ/drivers/gpu/drm
insmod "$drm/drm_shmem_helper.ko" 2>/dev/null
load "$drm/vgem/vgem.ko" || rc=1
load "$MODDIR/udmabuf/udmabuf.ko" || exit 1
load "$MODDIR/udmabuf_vmap/udmabuf_vmap.ko" || rc=1
load "$MODDIR/udmabuf_importer/udmabuf_importer.ko" || rc=1
for t in ${UDMABUF_TESTS:-udmabuf_upstream udmabuf_hugetlb_resv \
		udmabuf_errors udmabuf_follow udmabuf_fallocate udmabuf_race \
		udmabuf_readers udmabuf_sigbus udmabuf_stress udmabuf_importer \
		udmabuf_matrix udmabuf_memory udmabuf_close_race}; do
	run "$t" "$B/tests/$t" || rc=1
done
sed 's/^/# udmabuf stats: /' /sys/kernel/debug/udmabuf/stats 2>/dev/null
# udmabuf_errors checked that rmmod is refused while a buffer lives.
unload udmabuf_importer || rc=1
unload udmabuf_vmap || rc=1
unload udmabuf || rc=1
rmmod vgem 2>/dev/null
rmmod drm_shmem_helper 2>/dev/null
exit $rc
