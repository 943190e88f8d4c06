#!/bin/bash
# kernel-desc.sh OBJDIR: one line naming a kernel built by
# kernel/scripts/build.sh: its release and the Debian source it is built
# from, e.g. "6.12.118-mmu-update+ (Debian linux-source-6.12
# 6.12.118-1~deb12u1)".
set -u
obj=${1:?usage: kernel-desc.sh OBJDIR}
release=$(cat "$obj/include/config/kernel.release" 2>/dev/null || echo unknown)
debian=$(cat "$obj/debian-version" 2>/dev/null || echo unknown)
echo "$release (Debian linux-source-6.12 $debian)"
