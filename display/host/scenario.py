#!/usr/bin/env python3
"""One run of the display scenario (display/README.md), host side.

Boots the nested guest under QEMU with memfd guest RAM and
virtio-gpu-pci,blob=true (qemu-config/display-BACKEND.cfg), waits for the
guest's fbdraw to show pattern 1, takes a QMP screendump, finds the
framebuffer's pages in the guest-RAM memfd by content, punches them, tells
the guest to redraw and takes a second screendump.  The display followed if
the second one is pattern 2 pixel for pixel.

Writes OUT/LABEL-BACKEND-{before,after}.png, the console and QEMU's stderr,
and OUT/LABEL-BACKEND.json; prints one result line.  Exit status: 0 the
display followed, 1 it did not (pattern 1 or anything else), 2 the scenario
could not run (the message says why).  Every wait is bounded.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fbscan  # noqa: E402
import patterns  # noqa: E402
import ppm  # noqa: E402
from qmp import QMP, QMPError, connect_unix  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = {"shmem": 4096, "hugetlb": 2 << 20}


class Fail(Exception):
    """The scenario could not run; the message says why."""


def guest_ram(cfg):
    """Size in bytes of the memory backend object of a -readconfig file."""
    section = None
    with open(cfg) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            m = re.match(r'size\s*=\s*"(\d+)([KMG]?)"', line)
            if m and section and section.startswith("[object"):
                return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2)]
    raise Fail(f"{cfg}: no [object] with a size (the memory-backend-memfd)")


class Guest:
    def __init__(self, args, work):
        self.args = args
        self.work = work
        self.proc = None
        self.qmp = None
        self.ctl = None
        self.ctl_buf = b""

    def start(self):
        a = self.args
        cfg = a.config
        for f in (cfg, a.kernel, a.initrd):
            if not os.path.isfile(f):
                raise Fail(f"missing {f}")
        for s in ("qmp.sock", "ctl.sock"):
            try:
                os.unlink(os.path.join(self.work, s))
            except FileNotFoundError:
                pass
        cmd = [a.qemu, "-nodefaults", "-no-reboot", "-display", "none",
               "-readconfig", cfg, "-accel", "tcg", "-smp", "1",
               "-kernel", a.kernel, "-initrd", a.initrd,
               # swiotlb=force: framebuffer segments of at most 256 KiB, so
               # QEMU maps it through a udmabuf (display/README.md);
               # noapic: an IO-APIC set-up race crashed nested boots.
               "-append", f"console=ttyS0 panic=-1 loglevel=6 noapic swiotlb=8192,force "
               f"fbdraw.timeout={a.timeout}",
               "-serial", "file:console.log",
               "-chardev", "socket,id=ctl,path=ctl.sock,server=on,wait=off",
               "-serial", "chardev:ctl"]
        with open(os.path.join(self.work, "qemu.cmd"), "w") as f:
            f.write(" ".join(cmd) + "\n")
        self.err = open(os.path.join(self.work, "qemu.err"), "w+")
        self.proc = subprocess.Popen(cmd, cwd=self.work, stdin=subprocess.DEVNULL,
                                     stdout=self.err, stderr=subprocess.STDOUT)
        try:
            self.qmp = QMP(os.path.join(self.work, "qmp.sock"), timeout=30, alive=self.alive)
        except (QMPError, OSError) as e:
            # QEMU refusing its configuration closes the socket first.
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self.alive()
            raise Fail(f"QMP: {e}")
        try:
            self.ctl = connect_unix(os.path.join(self.work, "ctl.sock"), 30,
                                    self.alive, "control socket")
        except QMPError as e:
            raise Fail(str(e))

    def stderr_text(self):
        self.err.flush()
        self.err.seek(0)
        return self.err.read().strip()

    def alive(self):
        if self.proc.poll() is not None:
            raise Fail(f"QEMU exited with status {self.proc.returncode}: "
                       f"{self.stderr_text() or '(no message)'}; console tail:\n"
                       f"{self.console_tail()}")

    def console_tail(self, n=15):
        try:
            with open(os.path.join(self.work, "console.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def line(self, timeout, what):
        """The next line from the guest's control port, within timeout s."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.ctl_buf:
            self.alive()
            left = deadline - time.monotonic()
            if left <= 0:
                raise Fail(f"no {what} from the guest within {timeout:.0f} s; "
                           f"console tail:\n{self.console_tail()}")
            self.ctl.settimeout(min(left, 1.0))
            try:
                data = self.ctl.recv(4096)
            except socket.timeout:
                continue
            if not data:
                raise Fail(f"the guest's control port closed while waiting for {what}; "
                           f"console tail:\n{self.console_tail()}")
            self.ctl_buf += data
        line, self.ctl_buf = self.ctl_buf.split(b"\n", 1)
        return line.decode(errors="replace").strip()

    def expect(self, prefix, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            line = self.line(max(0.1, deadline - time.monotonic()), what)
            if line.startswith("ERROR"):
                raise Fail(f"guest: {line[6:]}")
            if line.startswith(prefix):
                return line

    def screendump(self, path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        self.qmp.cmd("screendump", timeout=60, filename=path)
        return ppm.read_ppm(path)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None and self.qmp:
            try:
                self.qmp.cmd("quit", timeout=10)
            except (QMPError, OSError):
                pass
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        for c in (self.qmp, self.ctl):
            if c:
                c.close()


def udmabufs():
    """Sizes of the udmabufs alive on this host (debugfs dma_buf bufinfo)."""
    sizes = []
    try:
        with open("/sys/kernel/debug/dma_buf/bufinfo") as f:
            for line in f:
                cols = line.split("\t")
                if len(cols) >= 5 and cols[4].strip() == "udmabuf" and cols[0].strip().isdigit():
                    sizes.append(int(cols[0]))
    except OSError as e:
        raise Fail(f"cannot read dma_buf bufinfo (debugfs mounted?): {e}")
    return sizes


def save_png(path, w, h, rgb):
    ppm.write_png(path, w, h, rgb)
    return os.path.basename(path)


def run(args):
    name = f"{args.label}-{args.backend}"
    # QEMU's sockets need a local filesystem (build/ may be 9p): work in
    # /tmp, keep the logs in OUT/NAME.d.
    work = tempfile.mkdtemp(prefix=f"display-{name}-")
    try:
        return run_in(args, name, work)
    finally:
        keep = os.path.join(args.out, f"{name}.d")
        os.makedirs(keep, exist_ok=True)
        for f in ("console.log", "qemu.err", "qemu.cmd"):
            if os.path.exists(os.path.join(work, f)):
                shutil.copy(os.path.join(work, f), keep)
        shutil.rmtree(work, ignore_errors=True)


def run_in(args, name, work):
    t0 = time.monotonic()
    res = {"label": args.label, "backend": args.backend}

    ram = guest_ram(args.config)
    if not os.path.exists("/dev/udmabuf") and not args.no_udmabuf_check:
        raise Fail("no /dev/udmabuf on this host: QEMU 7.2 refuses blob=true without it "
                   "(load udmabuf.ko or use a kernel with CONFIG_UDMABUF)")
    if args.backend == "hugetlb":
        p = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
        try:
            free = int(open(p).read())
        except OSError:
            free = 0
        if free < ram // UNIT["hugetlb"]:
            raise Fail(f"hugetlb guest RAM needs {ram // UNIT['hugetlb']} free 2 MiB "
                       f"huge pages, the host has {free}")

    # A nested guest that panics while booting (TCG in TCG is slow
    # enough to expose early-boot races) is booted once more; the result
    # says so.
    for boot in (1, 2):
        tb = time.monotonic()
        g = Guest(args, work)
        try:
            g.start()
            ready = g.expect("READY 1", args.boot_timeout, "READY 1 (nested boot)")
            break
        except Fail as e:
            panicked = "Kernel panic" in g.console_tail(200)
            g.stop()
            if boot == 2 or not panicked:
                raise
            res["boot_retry"] = str(e).splitlines()[0] + " / " + next(
                (l.strip() for l in g.console_tail(200).splitlines()
                 if "BUG:" in l or "Kernel panic" in l), "")
            print(f"# {name}: the nested guest panicked while booting, booting it again",
                  file=sys.stderr)
    try:
        res["boot_s"] = round(time.monotonic() - tb, 1)
        kv = dict(re.findall(r"(\w+)=(\S+)", ready))
        w, fbh = int(kv["width"]), int(kv["height"])
        size = int(kv["size"])
        mw, mh = (int(v) for v in kv["mode"].split("x"))
        res.update(fb=f"{w}x{fbh}", mode=kv["mode"], fb_bytes=size)

        err = g.stderr_text()
        if "udmabuf" in err.lower() or "blob" in err.lower():
            msgs = list(dict.fromkeys(l.strip() for l in err.splitlines() if l.strip()))
            raise Fail("QEMU could not put the framebuffer in a udmabuf, so it shows no "
                       "zero-copy blob display (unsealed memfd? seal=off?): " + " | ".join(msgs))
        mem = fbscan.find_guest_ram(g.proc.pid, ram)
        for attempt in range(1, args.attempts + 1):
            res["guest"] = ready
            deadline = time.monotonic() + 5
            while size not in udmabufs() and time.monotonic() < deadline:
                time.sleep(0.2)
            bufs = udmabufs()
            if size in bufs:
                break
            n = len(fbscan.runs(fbscan.scan(mem, patterns.TAG[1])))
            if n == 1 and attempt < args.attempts:
                # One contiguous range: QEMU maps it directly.  Ask the
                # guest for another buffer (the old one stays allocated).
                g.ctl.sendall(b"realloc\n")
                ready = g.expect("READY 1", args.step_timeout, "READY 1 (new buffer)")
                continue
            raise Fail("QEMU shows the framebuffer without a udmabuf of its size "
                       f"({size} bytes; udmabufs alive: {bufs or 'none'}; the framebuffer "
                       f"is in {n} runs of guest RAM): blob is off, or the buffer is one "
                       f"contiguous range of guest RAM, which QEMU maps directly; guest: {ready}")
        res["fb_attempts"] = attempt

        bw, bh, before = g.screendump(os.path.join(work, "before.ppm"))
        if (bw, bh) != (mw, mh):
            raise Fail(f"screendump is {bw}x{bh}, the guest's mode is {mw}x{mh}")
        got, _ = patterns.classify(before, bw, bh)
        res["before"] = got
        res["before_png"] = save_png(os.path.join(args.out, f"{name}-before.png"), bw, bh, before)
        if got != "pattern 1":
            raise Fail(f"before the punch the display shows {got}, not pattern 1")

        mem = fbscan.find_guest_ram(g.proc.pid, ram)
        pages = fbscan.scan(mem, patterns.TAG[1])
        if len(pages) != size // fbscan.PAGE:
            raise Fail(f"found {len(pages)} guest pages with pattern 1 in guest RAM, "
                       f"the framebuffer has {size // fbscan.PAGE}")
        runs = fbscan.runs(pages)
        res["fb_runs"] = [[f"{p * fbscan.PAGE:#x}", n] for p, n in runs]
        ranges = fbscan.punchable(pages, UNIT[args.backend])
        if not ranges:
            raise Fail(f"no {UNIT[args.backend] >> 10} KiB page of guest RAM holds only "
                       f"framebuffer (the framebuffer is in {len(runs)} runs of guest pages)")
        if not args.no_punch:
            fbscan.punch(mem, ranges)
        res["punched_pages"] = 0 if args.no_punch else len(ranges)
        res["punch_unit"] = UNIT[args.backend]
        res["punched_bytes"] = res["punched_pages"] * UNIT[args.backend]

        g.ctl.sendall(b"redraw\n")
        g.expect("READY 2", args.step_timeout, "READY 2 (redraw)")
        # The redraw is in guest RAM now; give the display up to
        # --settle seconds to show it.
        deadline = time.monotonic() + args.settle
        while True:
            aw, ah, after = g.screendump(os.path.join(work, "after.ppm"))
            got, _ = patterns.classify(after, aw, ah)
            if got == "pattern 2" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        res["after"] = got
        res["after_png"] = save_png(os.path.join(args.out, f"{name}-after.png"), aw, ah, after)
        res["followed"] = got == "pattern 2"
    finally:
        g.stop()
        res["total_s"] = round(time.monotonic() - t0, 1)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", choices=sorted(UNIT), required=True)
    ap.add_argument("--label", required=True, help="name of this host kernel (file names, report)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--config", help="QEMU -readconfig file (qemu-config/display-BACKEND.cfg)")
    ap.add_argument("--no-udmabuf-check", action="store_true",
                    help="(testing the failure path) start QEMU without /dev/udmabuf")
    ap.add_argument("--kernel", default=os.path.join(TOP, "build/display/guest-kernel/arch/x86/boot/bzImage"))
    ap.add_argument("--initrd", default=os.path.join(TOP, "build/display/initramfs.cpio.gz"))
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--boot-timeout", type=float, default=180)
    ap.add_argument("--step-timeout", type=float, default=60)
    ap.add_argument("--settle", type=float, default=3)
    ap.add_argument("--attempts", type=int, default=6,
                    help="framebuffers to try until one is not contiguous in guest RAM")
    ap.add_argument("--timeout", type=int, default=600, help="the guest's own bound on waits")
    ap.add_argument("--no-punch", action="store_true", help="(debugging) skip the punch")
    args = ap.parse_args()
    args.config = args.config or os.path.join(TOP, "qemu-config", f"display-{args.backend}.cfg")
    # QEMU runs in a directory of its own.
    args.config, args.kernel, args.initrd = (os.path.abspath(f) for f in
                                             (args.config, args.kernel, args.initrd))
    os.makedirs(args.out, exist_ok=True)
    args.out = os.path.abspath(args.out)
    t0 = time.monotonic()
    try:
        res = run(args)
    except (Fail, fbscan.ScanError, QMPError, OSError, ValueError) as e:
        res = {"label": args.label, "backend": args.backend, "error": str(e),
               "total_s": round(time.monotonic() - t0, 1)}
    with open(os.path.join(args.out, f"{args.label}-{args.backend}.json"), "w") as f:
        json.dump(res, f, indent=1)
    if "error" in res:
        print(f"{args.backend} on {args.label}: could not run: {res['error']}")
        return 2
    pun = res["punched_pages"]
    unit = "4 KiB" if res["punch_unit"] == 4096 else "2 MiB"
    print(f"{args.backend} on {args.label}: after the redraw the display shows {res['after']}"
          f" ({'followed' if res['followed'] else 'did not follow'}); punched {pun} {unit} pages"
          f" ({res['punched_bytes'] >> 10} KiB) of a {res['fb_bytes'] >> 10} KiB framebuffer"
          f" in {len(res['fb_runs'])} runs; nested boot {res['boot_s']} s, total {res['total_s']} s"
          + (" (after a second boot: the first panicked)" if "boot_retry" in res else ""))
    return 0 if res["followed"] else 1


if __name__ == "__main__":
    sys.exit(main())
