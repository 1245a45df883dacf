#!/usr/bin/env python3
"""What tshark's RESP dissector makes of a capture, per connection.

    tshark-summary.py CAPTURE PORT > NAME.tshark

One line per connection and direction: the top-level values tshark shows,
counted by kind (client arrays by their command name, in upper case). The
tests' expected counts were checked against these files. tshark misses
inline commands (it shows them as nothing) and RESP3 types (it shows no
value), which the tests note where it matters.
"""
import collections
import subprocess
import sys


def main():
    cap, port = sys.argv[1], sys.argv[2]
    text = subprocess.run(
        ["tshark", "-r", cap, "-d", f"tcp.port=={port},resp", "-Y", "resp", "-V"],
        check=True, capture_output=True, text=True).stdout
    counts = collections.defaultdict(collections.Counter)
    key, in_resp, want_name = None, False, False
    for line in text.splitlines():
        if line.startswith("Frame "):
            key, in_resp = None, False
        elif line.startswith("Transmission Control Protocol"):
            src = line.split("Src Port: ")[1].split(",")[0]
            stream = None
            key = ("S" if src == port else "C", src)
        elif line.startswith("    [Stream index: "):
            stream = line.split(": ")[1].rstrip("]")
            key = (stream, key[0]) if key else None
        elif line.startswith("REdis Serialization Protocol"):
            in_resp = True
        elif in_resp and line.startswith("    ") and not line.startswith("     "):
            item = line.strip()
            kind = item.split(":")[0]
            if key[1] == "C" and kind == "Array":
                want_name = True
                continue
            counts[key][kind] += 1
        elif in_resp and want_name and line.startswith("        Bulk String: "):
            counts[key]["cmd " + line.split(": ", 1)[1].upper()] += 1
            want_name = False
        elif not line.startswith(" "):
            in_resp = in_resp and line == ""
    for (stream, d), c in sorted(counts.items()):
        print(stream, d, " ".join(f"{k.replace(' ', '_')}={v}" for k, v in sorted(c.items())))


if __name__ == "__main__":
    main()
