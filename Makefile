# Top-level driver: see README.md.  Everything generated goes to build/.
SHELL := /bin/bash
TOP := $(CURDIR)
B := $(TOP)/build
KSRC := $(B)/linux
DEBUG ?= 0
ifeq ($(DEBUG),1)
KOBJ := $(B)/kernel-debug
FRAGMENTS := kernel/config/vm.config kernel/config/debug.config
# ACPI's _PRT method can run past the AML loop timeout in a KASAN guest
# under TCG, leaving virtio-9p without an interrupt: route PCI interrupts
# from the BIOS table (the guest then brings up one CPU).
export VM_APPEND += pci=noacpi
# The fault-injection sweeps run on: a WARN is a finding that the log scan
# reports, not the end of the run.
export VM_APPEND += panic_on_warn=0
# Every part under KASAN and lockdep on one vCPU takes well over the 15
# minutes vm.sh allows a guest by default, and a part may take over the
# 25 minutes tests/run-in-vm.sh allows it.
export VM_TIMEOUT ?= 5400
PART_TIMEOUT ?= 3600
else ifeq ($(DEBUG),0)
KOBJ := $(B)/kernel
FRAGMENTS := kernel/config/vm.config
PART_TIMEOUT ?= 1500
else
$(error DEBUG must be 0 or 1, not '$(DEBUG)')
endif
BZIMAGE := $(KOBJ)/arch/x86/boot/bzImage
# Out-of-tree modules are built per kernel.
MODDIR := $(B)/modules$(if $(filter 1,$(DEBUG)),-debug)
BASE_OBJ := $(B)/baseline/obj
BASE_BZIMAGE := $(BASE_OBJ)/arch/x86/boot/bzImage
# The display scenario's nested guest (display/README.md).
DISPLAY_OBJ := $(B)/display/guest-kernel
DISPLAY_BZIMAGE := $(DISPLAY_OBJ)/arch/x86/boot/bzImage
DISPLAY_INITRD := $(B)/display/initramfs.cpio.gz
export CCACHE_DIR ?= $(B)/ccache

# Out-of-tree modules (a directory with a Kbuild each), built from a copy
# under build/modules/<directory name>/.
MODULE_DIRS := $(patsubst %/Kbuild,%,$(wildcard tests/*/Kbuild udmabuf/Kbuild hmm-mirror/Kbuild))
SELFTESTS := $(KSRC)/tools/testing/selftests
# Every tests/*.c is a test program; tests/NAME.libs adds link flags.
TEST_PROGS := $(basename $(notdir $(wildcard tests/*.c)))
TEST_CFLAGS := -O2 -g -Wall -Wno-sign-compare -I$(SELFTESTS) -Itests

VM_OUT ?= $(B)/vm
VM := qemu-config/vm.sh -k $(BZIMAGE) -o $(VM_OUT)

FORCE:

.PHONY: FORCE all patches deps kernel baseline modules move-notify-kernel tests userspace test demo demo-events display vm bench check clean help
.DEFAULT_GOAL := help

# libudmabuf, udmabuf-tool, the GStreamer plugin and their tests.
include userspace/udmabuf.mk

help:
	@echo "make demo        QEMU virtio-gpu display over udmabuf: patched vs unpatched (build/demo/)"
	@echo "make demo-events boot the patched kernel and show the update notifier at work"
	@echo "make test        build everything, run every test in the VM"
	@echo "make vm CMD=...  run CMD as root in the VM (exit status is CMD's), with"
	@echo "                 udmabuf.ko and hmm_mirror.ko loaded (VM_MODULES= for none)"
	@echo "make bench       fault throughput: unpatched vs patched kernel"
	@echo "make check       checkpatch --strict on the series and modules"
	@echo "make patches     export build/linux's series branch to kernel/patches"
	@echo "make install     libudmabuf, udmabuf-tool and the GStreamer plugin (PREFIX=...)"
	@echo "make clean       remove build/ (keeps the ccache)"
	@echo "variables: DEBUG=1 (lockdep, KASAN, kmemleak), VM_ACCEL=kvm,"
	@echo "  PARTS='20 30' (make test: only tests/vm.d parts with these prefixes),"
	@echo "  SKIP_KERNEL=1 (do not rebuild the kernel), VM_OUT=DIR"

all: kernel modules tests userspace

deps:
	@scripts/install-deps.sh

# SKIP_KERNEL=1 uses the kernel already built (several makes at once).
kernel: deps
ifeq ($(SKIP_KERNEL),1)
	@test -f $(BZIMAGE) || { echo "make: SKIP_KERNEL=1 but no $(BZIMAGE)" >&2; exit 1; }
else
	@kernel/scripts/prepare.sh $(KSRC)
	@kernel/scripts/build.sh $(KSRC) $(KOBJ) $(FRAGMENTS)
endif

baseline: deps
	@kernel/scripts/prepare.sh $(B)/baseline/src --baseline
	@kernel/scripts/build.sh $(B)/baseline/src $(BASE_OBJ) kernel/config/vm.config \
		kernel/config/baseline.config

modules: kernel
	@scripts/build-modules.sh $(KOBJ) $(MODDIR) $(MODULE_DIRS)

# make test runs the importer tests once more on a kernel with
# CONFIG_DMABUF_MOVE_NOTIFY set (the one above leaves it unset, as Debian).
MN_OBJ := $(B)/kernel-move-notify
MN_BZIMAGE := $(MN_OBJ)/arch/x86/boot/bzImage
MN_MODDIR := $(B)/modules-move-notify
MN_MODULES := udmabuf tests/udmabuf_importer tests/udmabuf_vmap
MN_TESTS := udmabuf_importer udmabuf_follow udmabuf_matrix
MN_OUT := $(VM_OUT)/move-notify

move-notify-kernel: kernel
ifneq ($(SKIP_KERNEL),1)
	@kernel/scripts/build.sh $(KSRC) $(MN_OBJ) kernel/config/vm.config \
		kernel/config/move-notify.config
endif
	@scripts/build-modules.sh $(MN_OBJ) $(MN_MODDIR) $(MN_MODULES)

tests: kernel
	@mkdir -p $(B)/tests
	@set -e; for t in $(TEST_PROGS); do \
		echo "  CC      tests/$$t"; \
		gcc $(TEST_CFLAGS) -o $(B)/tests/$$t tests/$$t.c -pthread \
			$$(cat tests/$$t.libs 2>/dev/null); \
	done

# tests/vm.d/40-gstreamer.sh needs the userspace libraries, plugin and tests.
# With DEBUG=0 and part 20 wanted, a second VM runs $(MN_TESTS) on the
# CONFIG_DMABUF_MOVE_NOTIFY kernel; one summary counts both runs.
MN_RUN := $(if $(filter 0,$(DEBUG)),$(if $(PARTS),$(filter 20%,$(PARTS)),20))
test: udmabuf-tests
test: modules tests display $(if $(MN_RUN),move-notify-kernel)
	@mkdir -p $(VM_OUT)
	@set +e; $(VM) -- env PARTS='$(PARTS)' PART_TIMEOUT=$(PART_TIMEOUT) MODDIR=$(MODDIR) KOBJ=$(KOBJ) tests/run-in-vm.sh | tee $(VM_OUT)/test-output.log; \
	rc=$${PIPESTATUS[0]}; kernels="$$(scripts/kernel-desc.sh $(KOBJ))"; \
	if [ -n '$(MN_RUN)' ]; then \
		mkdir -p $(MN_OUT); \
		echo "# the importer tests on the kernel with CONFIG_DMABUF_MOVE_NOTIFY" | tee -a $(VM_OUT)/test-output.log; \
		qemu-config/vm.sh -k $(MN_BZIMAGE) -o $(MN_OUT) -- env PARTS=20 UDMABUF_TESTS='$(MN_TESTS)' \
			MODDIR=$(MN_MODDIR) KOBJ=$(MN_OBJ) tests/run-in-vm.sh | tee -a $(VM_OUT)/test-output.log; \
		mnrc=$${PIPESTATUS[0]}; [ $$rc != 0 ] || rc=$$mnrc; \
		cat $(MN_OUT)/console.log >> $(VM_OUT)/console.log; \
		kernels="$$kernels; $$(scripts/kernel-desc.sh $(MN_OBJ)) with CONFIG_DMABUF_MOVE_NOTIFY"; \
	fi; \
	scripts/summarize.sh $(VM_OUT)/test-output.log $(VM_OUT)/console.log $$rc "$$kernels"

# make vm loads these first (VM_MODULES= for none): udmabuf.ko, and
# hmm_mirror.ko with the device coherent ranges qemu-config/cmdline.d
# reserves, as tests/vm.d/30-hmm-mirror.sh loads it.
VM_MODULES ?= udmabuf hmm_mirror
VM_LOAD_udmabuf := insmod $(MODDIR)/udmabuf/udmabuf.ko || exit 1;
VM_LOAD_hmm_mirror := spm=; grep -q "^180000000-19fffffff : Reserved" /proc/iomem && \
	spm="spm_addr_dev0=0x180000000 spm_addr_dev1=0x190000000"; \
	insmod $(MODDIR)/hmm-mirror/hmm_mirror.ko $$spm || exit 1;
$(foreach m,$(VM_MODULES),$(if $(VM_LOAD_$(m)),,$(error VM_MODULES: no module '$(m)' (udmabuf, hmm_mirror))))

vm: modules tests
	@$(if $(CMD),:,echo "make vm: give CMD='...'" >&2; exit 2)
	@$(VM) -- sh -c '$(foreach m,$(VM_MODULES),$(VM_LOAD_$(m)) )$(subst ','\'',$(CMD))'

USERSPACE_PROGS := $(basename $(notdir $(wildcard userspace/*.c)))

userspace: udmabuf-userspace

userspace: kernel
	@mkdir -p $(B)/userspace
	@set -e; for t in $(USERSPACE_PROGS); do \
		echo "  CC      userspace/$$t"; \
		gcc -O2 -g -Wall -o $(B)/userspace/$$t userspace/$$t.c -pthread \
			$$(cat userspace/$$t.libs 2>/dev/null); \
	done

# The display scenario on the patched and the unpatched kernel, then the
# notifier events: PNGs and report.txt in build/demo/ (display/demo.sh).
demo: modules userspace display $(BASE_BZIMAGE)
	@display/demo.sh $(BZIMAGE) $(BASE_BZIMAGE) $(MODDIR)

demo-events: modules userspace
	@$(VM) -- userspace/demo.sh

# The unpatched kernel of the contrast, built if missing or built from
# another unpacking of the Debian source (make baseline rebuilds it anyway).
$(BASE_BZIMAGE): FORCE | deps
	@kernel/scripts/prepare.sh $(B)/baseline/src --baseline
	@BUILD_IF_STALE=1 kernel/scripts/build.sh $(B)/baseline/src $(BASE_OBJ) \
		kernel/config/vm.config kernel/config/baseline.config

# The nested guest: a tinyconfig kernel of its own from the pristine tree
# (initramfs, virtio-gpu with KMS, shmem THP) and a busybox initramfs with
# display/guest/fbdraw.
display: $(DISPLAY_BZIMAGE) $(DISPLAY_INITRD)

$(DISPLAY_BZIMAGE): FORCE | deps
	@kernel/scripts/prepare.sh $(B)/baseline/src --baseline
	@BUILD_IF_STALE=1 kernel/scripts/build.sh $(B)/baseline/src $(DISPLAY_OBJ) \
		kernel/config/display-guest.config

$(DISPLAY_INITRD): display/guest/fbdraw.c display/guest/init display/mkinitramfs.sh | deps
	@display/mkinitramfs.sh $(B)/display

patches:
	@kernel/scripts/export.sh

# Each part writes build/bench/*.txt; the HMM part also a plot (PNG).
bench: baseline modules userspace udmabuf-tests
	@scripts/bench.sh
	@scripts/bench-hmm.sh
	@scripts/bench-udmabuf.sh
	@scripts/bench-gst.sh

check: modules
	@KOBJ=$(KOBJ) scripts/check.sh

clean:
	@find $(B) -mindepth 1 -maxdepth 1 ! -name ccache -exec rm -rf {} +
	@echo "  CLEAN   build/ (ccache kept)"
