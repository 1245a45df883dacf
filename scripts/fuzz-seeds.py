#!/usr/bin/env python3
"""Seeds the parser fuzz targets from the committed stream fixtures.

    scripts/fuzz-seeds.py fuzz/corpus

Each fixture (crates/parse-*/tests/data/*.txt, format in
crates/parse/src/fixture.rs) gives one seed per connection, laid out as its
target reads input (see each fuzz_targets/*.rs header), capped at 64 KiB,
with a trailing segmentation byte.
"""
import glob
import os
import struct
import sys

CAP = 64 * 1024


def streams(path):
    """{stream: [(dir, bytes)]} in file order."""
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4 or line.startswith("#"):
                continue
            stream, d, _, hexs = parts
            try:
                out.setdefault(stream, []).append((d, bytes.fromhex(hexs)))
            except ValueError:
                pass
    return out


def both(segs):
    c = b"".join(b for d, b in segs if d == "C")
    s = b"".join(b for d, b in segs if d == "S")
    return c[:CAP], s[:CAP]


def layout(target, segs):
    c, s = both(segs)
    if target in ("http2", "redis"):
        return c + s
    if target == "postgres":
        return c + b"\n--server--\n" + s
    if target == "kafka":
        return struct.pack(">I", len(c)) + c + s
    if target == "mysql":
        out = bytearray()
        for d, b in segs:
            for i in range(0, len(b), 0xFFFF):
                piece = b[i:i + 0xFFFF]
                out += bytes([1 if d == "C" else 0]) + struct.pack("<H", len(piece)) + piece
                if len(out) > CAP:
                    return bytes(out)
        return bytes(out)
    raise ValueError(target)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus"
    for target in ("http2", "postgres", "mysql", "redis", "kafka"):
        dest = os.path.join(root, target)
        os.makedirs(dest, exist_ok=True)
        for fixture in glob.glob(f"crates/parse-{target}/tests/data/*.txt"):
            name = os.path.splitext(os.path.basename(fixture))[0]
            for stream, segs in streams(fixture).items():
                with open(os.path.join(dest, f"{name}-{stream}"), "wb") as f:
                    f.write(layout(target, segs) + b"\x01")
    # SQL text: the statements of the PostgreSQL and MySQL fixtures' queries
    # are in their captures; a few hand-picked ones cover both dialects.
    dest = os.path.join(root, "sql")
    os.makedirs(dest, exist_ok=True)
    for i, q in enumerate([
        b"SELECT * FROM t WHERE id = 42 AND name = 'O''Brien' -- x",
        b"\x01INSERT INTO t VALUES (1, \"two\", 0x3F, 1e-3) # c",
        b"\x00WITH a AS (SELECT $$x$$) SELECT E'\\n', $tag$y$tag$ FROM a; COMMIT",
    ]):
        with open(os.path.join(dest, f"seed-{i}"), "wb") as f:
            f.write(q)


if __name__ == "__main__":
    main()
