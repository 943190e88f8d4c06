#!/bin/bash
# build-modules.sh KOBJ MODDIR SRCDIR...: build the out-of-tree modules in
# SRCDIRs (a Kbuild each) for the kernel built in KOBJ, from copies under
# MODDIR/<directory name>/ (the objects stay there between builds).
set -euo pipefail
kobj=$1 moddir=$2
shift 2
for src in "$@"; do
	[ -f "$src/Kbuild" ] || continue
	name=$(basename "$src")
	dst=$moddir/$name
	mkdir -p "$dst"
	rsync -a --delete --exclude='*.o' --exclude='*.ko' --exclude='.*.cmd' \
		--exclude='*.mod*' --exclude=Module.symvers --exclude=modules.order \
		"$src/" "$dst/" --filter='P *.o' --filter='P *.ko' --filter='P .*.cmd' \
		--filter='P *.mod*' --filter='P Module.symvers' --filter='P modules.order'
	echo "  MODULE  $name"
	make -s -C "$kobj" M="$dst" modules
done
