# Failure at every allocation: with fault injection (make test DEBUG=1),
# each operation of udmabuf.ko and hmm_mirror.ko with its 1st, 2nd, ...
# injection point failing (udmabuf_failnth, hmm_mirror_failnth); on every
# kernel, processes killed in the middle of long operations (kill_anytime).
# Then both modules must unload and, with kmemleak, nothing may leak.
. "$TOP/tests/vm-lib.sh"
rc=0
# The sweeps set the fault-injection knobs they need themselves
# (tests/failnth.h); without fault injection they skip.
[ -e /proc/self/fail-nth ] ||
	echo "# no fault injection in this kernel: the sweeps skip (make test DEBUG=1)"
spm=
grep -q '^180000000-19fffffff : Reserved' /proc/iomem &&
	spm="spm_addr_dev0=0x180000000 spm_addr_dev1=0x190000000"
load "$MODDIR/udmabuf/udmabuf.ko" || exit 1
load "$MODDIR/udmabuf_vmap/udmabuf_vmap.ko" || rc=1
load "$MODDIR/udmabuf_importer/udmabuf_importer.ko" || rc=1
# shellcheck disable=SC2086
load "$MODDIR/hmm-mirror/hmm_mirror.ko" $spm || rc=1
# The sweeps print their injection points per operation.
for t in udmabuf_failnth hmm_mirror_failnth kill_anytime; do
	TEST_TIMEOUT=900 run "$t" "$B/tests/$t" || rc=1
done
unload hmm_mirror || rc=1
unload udmabuf_importer || rc=1
unload udmabuf_vmap || rc=1
unload udmabuf || rc=1
kmemleak_check "the sweeps and kills" || rc=1
exit $rc
