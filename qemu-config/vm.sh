#!/bin/bash
# Boot a project kernel under QEMU and run one command in it.
#
#   vm.sh [-k BZIMAGE] [-o OUTDIR] -- COMMAND...
#
# The guest mounts the host's root filesystem read-only over 9p, with the
# project's build/ directory writable at the same path, tmpfs on /tmp, /run
# and /dev/shm, debugfs and hugetlbfs.  COMMAND runs as root from the current
# directory.  Its output arrives on the second serial port, its exit status on
# the third; the kernel console (the first) is kept in OUTDIR/console.log.
# The script exits with COMMAND's status, 124 when the guest timed out, 125
# when it died without reporting one (panic, oops, WARN with panic_on_warn).
#
# Environment: VM_ACCEL (tcg|kvm, default tcg), VM_MEM (MiB, 6144), VM_SMP (2),
# VM_HUGEPAGES (2 MiB pages to reserve, 1100), VM_TIMEOUT (seconds, 900),
# VM_ICOUNT=1 (one vCPU, instruction-counted clock, for benchmarks),
# VM_APPEND (extra kernel parameters).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
kernel=$top/build/kernel/arch/x86/boot/bzImage
out=$top/build/vm
while [ $# -gt 0 ]; do
	case "$1" in
	-k) kernel=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	--) shift; break ;;
	*) break ;;
	esac
done
[ $# -gt 0 ] || { echo "vm.sh: no command given" >&2; exit 2; }
[ -f "$kernel" ] || { echo "vm.sh: no kernel at $kernel (run make kernel)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null ||
	{ echo "vm.sh: qemu-system-x86_64 is missing" >&2; exit 2; }

accel=${VM_ACCEL:-tcg}
case "$accel" in
tcg) accel_args=(-accel tcg -cpu max) ;;
kvm) accel_args=(-accel kvm -cpu host) ;;
*) echo "vm.sh: VM_ACCEL must be tcg or kvm, not '$accel'" >&2; exit 2 ;;
esac
smp=${VM_SMP:-2}
extra=()
if [ "${VM_ICOUNT:-0}" = 1 ]; then
	[ "$accel" = tcg ] || { echo "vm.sh: VM_ICOUNT needs VM_ACCEL=tcg" >&2; exit 2; }
	smp=1
	extra+=(-icount shift=0,sleep=off)
fi
for v in VM_MEM VM_SMP VM_HUGEPAGES VM_TIMEOUT; do
	val=${!v:-}
	if [ -n "$val" ] && ! [[ "$val" =~ ^[0-9]+$ ]]; then
		echo "vm.sh: $v must be a number, not '$val'" >&2
		exit 2
	fi
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out/console.log" "$out/output.log" "$out/status"
# The command runs from a script in the writable build directory.
{
	printf 'cd %q || exit 126\n' "$PWD"
	printf '%q ' "$@"
	printf '\n'
} > "$out/cmd.sh"

append="console=ttyS0 root=hostroot rootfstype=9p"
append+=" rootflags=trans=virtio,version=9p2000.L,msize=512000,cache=loose ro"
append+=" init=$top/qemu-config/guest-init panic=-1 oops=panic panic_on_warn=1"
append+=" hugepages=${VM_HUGEPAGES:-1100} transparent_hugepage=madvise"
append+=" vm.build=$top/build vm.cmd=$out/cmd.sh"
# Parameters the tests need (memory reservations, ...), one file per part.
for f in "$top"/qemu-config/cmdline.d/*.txt; do
	[ -f "$f" ] && append+=" $(grep -v '^#' "$f" | tr '\n' ' ')"
done
append+=" ${VM_APPEND:-}"

set +e
timeout --foreground -k 10 "${VM_TIMEOUT:-900}" \
qemu-system-x86_64 "${accel_args[@]}" "${extra[@]}" \
	-m "${VM_MEM:-6144}" -smp "$smp" -nographic -no-reboot -nodefaults \
	-kernel "$kernel" -append "$append" \
	-fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
	-device virtio-9p-pci,fsdev=root,mount_tag=hostroot \
	-fsdev local,id=build,path="$top/build",security_model=none \
	-device virtio-9p-pci,fsdev=build,mount_tag=build \
	-serial file:"$out/console.log" \
	-serial file:"$out/output.log" \
	-serial file:"$out/status" \
	-monitor none < /dev/null
qrc=$?
set -e

tr -d '\r' < "$out/output.log" 2>/dev/null || true
if [ $qrc = 124 ] || [ $qrc = 137 ]; then
	echo "vm.sh: guest timed out after ${VM_TIMEOUT:-900} s; console tail:" >&2
	tail -n 30 "$out/console.log" >&2 || true
	exit 124
fi
status=$(tr -d '\r' < "$out/status" 2>/dev/null | sed -n 's/^vm-exit-status \([0-9]*\)$/\1/p')
if [ -z "$status" ]; then
	echo "vm.sh: guest stopped without an exit status (qemu $qrc); console tail:" >&2
	tail -n 40 "$out/console.log" >&2 || true
	exit 125
fi
exit "$status"
