"""Read a binary PPM (QMP screendump) and write it as PNG (zlib only)."""
import struct
import zlib


def read_ppm(path):
    with open(path, "rb") as f:
        data = f.read()
    fields = []
    pos = 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos) + 1
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    pos += 1
    if fields[0] != b"P6" or int(fields[3]) != 255:
        raise ValueError(f"{path}: not an 8-bit binary PPM (P6)")
    w, h = int(fields[1]), int(fields[2])
    rgb = data[pos:pos + 3 * w * h]
    if len(rgb) != 3 * w * h:
        raise ValueError(f"{path}: truncated PPM ({len(rgb)} of {3 * w * h} bytes)")
    return w, h, rgb


def write_png(path, w, h, rgb):
    def chunk(kind, body):
        c = struct.pack(">I", len(body)) + kind + body
        return c + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    stride = 3 * w
    raw = b"".join(b"\0" + rgb[y * stride:(y + 1) * stride] for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 3:
        sys.exit("usage: ppm.py IN.ppm OUT.png")
    write_png(sys.argv[2], *read_ppm(sys.argv[1]))
