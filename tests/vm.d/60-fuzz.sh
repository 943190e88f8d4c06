# tests/udmabuf_fuzz: a seeded fuzzer of udmabuf.ko, its test importer and
# vmap modules, vgem imports and hmm_mirror.ko, all loaded at once (issue
# 21).  FUZZ_ARGS passes options (--seconds N --threads N --seed S ...); the
# seed is printed first and with the op counts at the end.
# FUZZ_UDMABUF_PARAMS are udmabuf.ko's (follow=0: the negative control,
# which must fail).  Unloading every module afterwards must succeed: nothing
# may keep a reference, and with DEBUG=1 kmemleak must find nothing.
. "$TOP/tests/vm-lib.sh"
rc=0
spm=
if grep -q '^180000000-19fffffff : Reserved' /proc/iomem; then
	spm="spm_addr_dev0=0x180000000 spm_addr_dev1=0x190000000"
fi
drm=$KOBJ/drivers/gpu/drm
insmod "$drm/drm_shmem_helper.ko" 2>/dev/null
load "$drm/vgem/vgem.ko" || rc=1
load "$MODDIR/udmabuf/udmabuf.ko" ${FUZZ_UDMABUF_PARAMS:-} || exit 1
load "$MODDIR/udmabuf_vmap/udmabuf_vmap.ko" || rc=1
load "$MODDIR/udmabuf_importer/udmabuf_importer.ko" || rc=1
load "$MODDIR/hmm-mirror/hmm_mirror.ko" $spm || rc=1

run udmabuf_fuzz "$B/tests/udmabuf_fuzz" ${FUZZ_ARGS:-} || rc=1
sed 's/^/# udmabuf stats: /' /sys/kernel/debug/udmabuf/stats 2>/dev/null
sed 's/^/# hmm_mirror stats: /' /sys/kernel/debug/hmm_mirror/stats 2>/dev/null

unload hmm_mirror || rc=1
unload udmabuf_importer || rc=1
unload udmabuf_vmap || rc=1
unload udmabuf || rc=1
rmmod vgem 2>/dev/null
rmmod drm_shmem_helper 2>/dev/null
kmemleak_check udmabuf_fuzz || rc=1
exit $rc
