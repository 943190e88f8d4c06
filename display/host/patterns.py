"""The two framebuffer patterns of display/guest/fbdraw.c, as RGB rows.

Keep in step with draw() in fbdraw.c.  Each returns the w x h picture as
packed RGB bytes (what a PPM screendump holds), built row by row so that a
1024x768 picture takes milliseconds even in a TCG guest.
"""

TAG = {1: 0x5A, 2: 0xA5}
BARS = [0xFFFFFF, 0xFFFF00, 0x00FFFF, 0x00FF00,
        0xFF00FF, 0xFF0000, 0x0000FF, 0x000000]
CHECK = (0xFF8000, 0x002060)


def _rgb(v):
    return bytes(((v >> 16) & 255, (v >> 8) & 255, v & 255))


def _runs_row(w, colour_of_x):
    """One row from a function that is constant over runs of x."""
    out = []
    x = 0
    while x < w:
        c = colour_of_x(x)
        end = x + 1
        while end < w and colour_of_x(end) == c:
            end += 1
        out.append(_rgb(c) * (end - x))
        x = end
    return b"".join(out)


def picture(n, w, h):
    if n == 1:
        row = _runs_row(w, lambda x: BARS[x * 8 // w])
        return row * h
    if n == 2:
        even = _runs_row(w, lambda x: CHECK[(x // 64) & 1])
        odd = _runs_row(w, lambda x: CHECK[((x // 64) ^ 1) & 1])
        return b"".join(even if (y // 64) % 2 == 0 else odd for y in range(h))
    raise ValueError(f"no pattern {n}")


def classify(rgb, w, h):
    """'pattern 2', 'pattern 1' or 'other: ...' for a w x h RGB picture."""
    for n in (2, 1):
        if rgb == picture(n, w, h):
            return f"pattern {n}", 0
    best = None
    rowlen = 3 * w
    for n in (2, 1):
        exp = picture(n, w, h)
        bad = sum(1 for i in range(0, len(exp), rowlen)
                  if rgb[i:i + rowlen] != exp[i:i + rowlen])
        if best is None or bad < best[1]:
            best = (n, bad)
    return f"other (closest: pattern {best[0]}, {best[1]} of {h} rows differ)", best[1]
