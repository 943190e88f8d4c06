#!/bin/sh
# make demo: runs in the VM.  Loads the test subscriber and runs the demo.
b=$(cd "$(dirname "$0")/.." && pwd)/build
insmod "$b/modules/mmu_update_test/mmu_update_test.ko" || exit 1
echo "Kernel: $(uname -r), $(grep -c ^processor /proc/cpuinfo) vCPU"
"$b/userspace/mmu-update-demo"
rc=$?
rmmod mmu_update_test
exit $rc
