#!/usr/bin/env python3
"""Write build/demo/report.txt from the scenario results (display/demo.sh).

  report.py DEMODIR [EVENTS.txt]

One line per guest-RAM backend: did the display follow with this project,
what the unpatched kernel showed (the contrast), pages punched, nested boot
and total time.  Exit status 1 if the project's run did not follow or did
not run, or if the unpatched kernel's display followed too (the contrast
then shows nothing).
"""
import json
import os
import sys

d = sys.argv[1]
events = sys.argv[2] if len(sys.argv) > 2 else None


def load(label, backend):
    try:
        with open(os.path.join(d, f"{label}-{backend}.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def err(r, label, backend):
    first = r["error"].splitlines()[0]
    more = f" (console: {label}-{backend}.d/console.log)" if "\n" in r["error"] else ""
    return first + more


def pages(r):
    unit = "4 KiB" if r["punch_unit"] == 4096 else "2 MiB"
    return f"{r['punched_pages']} {unit} pages ({r['punched_bytes'] >> 10} KiB of a {r['fb_bytes'] >> 10} KiB framebuffer)"


lines = ["QEMU zero-copy display (virtio-gpu-pci,blob=true over udmabuf), nested guest",
         "under TCG: draw pattern 1, punch its guest pages, redraw pattern 2."]
if os.environ.get("DEMO_KERNELS"):
    lines.append(f"Kernels: {os.environ['DEMO_KERNELS']}")
lines.append("")
ok = True
for backend in ("shmem", "hugetlb"):
    p, b = load("project", backend), load("baseline", backend)
    if p is None and b is None:
        continue
    if p is None or "error" in p:
        ok = False
        what = f"did not run: {err(p, 'project', backend)}" if p else "did not run"
        lines.append(f"{backend:8} this project: {what}")
    else:
        if not p["followed"]:
            ok = False
        verdict = "display followed (pattern 2)" if p["followed"] else f"display did NOT follow ({p['after']})"
        lines.append(f"{backend:8} this project: {verdict}; punched {pages(p)};"
                     f" nested boot {p['boot_s']} s, total {p['total_s']} s"
                     + ("; booted twice, the first boot panicked" if "boot_retry" in p else ""))
    if b is None:
        lines.append(f"{'':8} unpatched 6.12 (contrast): not run")
    elif "error" in b:
        lines.append(f"{'':8} unpatched 6.12 (contrast): did not run: {err(b, 'baseline', backend)}")
    else:
        if b["followed"]:
            ok = False
        shows = "stale, pattern 1, as expected" if b["after"] == "pattern 1" else \
            ("pattern 2: the stock kernel followed too, so the scenario shows nothing (FAILED)"
             if b["followed"] else b["after"])
        lines.append(f"{'':8} unpatched 6.12 (contrast): display shows {shows}; punched {pages(b)};"
                     f" nested boot {b['boot_s']} s, total {b['total_s']} s"
                     + ("; booted twice, the first boot panicked" if "boot_retry" in b else ""))
if os.environ.get("DEMO_ELAPSED"):
    lines.append(f"Both VMs (4 nested guests) took {os.environ['DEMO_ELAPSED']} s.")
lines.append("")
lines.append("Screenshots (QMP screendump, 1024x768):")
for f in sorted(os.listdir(d)):
    if f.endswith(".png"):
        lines.append(f"  {f}")
if events:
    lines += ["", "Notifier events (userspace/demo.sh, the former make demo):", ""]
    try:
        with open(events, errors="replace") as f:
            lines += [l.rstrip("\n") for l in f]
    except OSError as e:
        lines.append(f"  not available: {e}")
text = "\n".join(lines) + "\n"
with open(os.path.join(d, "report.txt"), "w") as f:
    f.write(text)
sys.stdout.write(text)
sys.exit(0 if ok else 1)
