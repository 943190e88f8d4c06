"""Find the guest framebuffer in QEMU's guest-RAM memfd by content and punch it.

The guest's dumb buffer is VM_PFNMAP in the guest (no PFNs in its pagemap),
so the host looks for it: every pixel of pattern N carries the tag byte
patterns.TAG[N] in its X byte (bits 24-31), and a 4 KiB page of guest RAM
whose 1024 X bytes all hold the tag is a framebuffer page.
"""
import ctypes
import os
import stat

PAGE = 4096
CHUNK = 2 << 20
FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02

_libc = ctypes.CDLL(None, use_errno=True)
_libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


class ScanError(Exception):
    pass


def find_guest_ram(pid, size):
    """Path (/proc/PID/fd/N) of QEMU's memfd guest-RAM backend of size bytes."""
    found = []
    fddir = f"/proc/{pid}/fd"
    for n in os.listdir(fddir):
        path = f"{fddir}/{n}"
        try:
            link = os.readlink(path)
            st = os.stat(path)
        except OSError:
            continue
        if link.startswith("/memfd:") and stat.S_ISREG(st.st_mode) and st.st_size == size:
            found.append((path, link))
    if not found:
        raise ScanError(f"QEMU (pid {pid}) has no memfd of {size >> 20} MiB: "
                        "is guest RAM a memory-backend-memfd?")
    if len(found) > 1:
        raise ScanError(f"QEMU (pid {pid}) has {len(found)} memfds of {size >> 20} MiB: "
                        + ", ".join(f"{p} -> {l}" for p, l in found))
    return found[0][0]


def scan(path, tag):
    """Indexes of the 4 KiB pages of the memfd at path whose X bytes all hold tag."""
    want = bytes([tag]) * (PAGE // 4)
    pages = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        for off in range(0, size, CHUNK):
            data = os.pread(fd, CHUNK, off)
            x = data[3::4]
            if want[:64] not in x:
                continue
            step = PAGE // 4
            for i in range(0, len(x), step):
                if x[i:i + step] == want:
                    pages.append((off + i * 4) // PAGE)
    finally:
        os.close(fd)
    return pages


def runs(pages):
    """[(first, count)] of consecutive page indexes."""
    out = []
    for p in pages:
        if out and out[-1][0] + out[-1][1] == p:
            out[-1][1] += 1
        else:
            out.append([p, 1])
    return [tuple(r) for r in out]


def punchable(pages, unit):
    """Byte ranges [(offset, length)] of whole unit-sized host pages that hold
    nothing but framebuffer pages."""
    per = unit // PAGE
    have = set(pages)
    units = sorted({p // per for p in pages})
    return [(u * unit, unit) for u in units
            if all(u * per + k in have for k in range(per))]


def punch(path, ranges):
    fd = os.open(path, os.O_RDWR)
    try:
        for off, length in ranges:
            if _libc.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, length):
                e = ctypes.get_errno()
                raise ScanError(f"fallocate(PUNCH_HOLE) at {off:#x}+{length:#x}: {os.strerror(e)}")
    finally:
        os.close(fd)
