#!/usr/bin/env python3
"""Writes what tshark's pgsql dissector sees in a capture, for the tests to
compare the parser's records with:

    tshark.py CAPTURE.pcap [PORT] > CAPTURE.tshark

PORT is the server's (54329, this folder's, unless given).

One line per connection (tshark's tcp.stream) and fact, values separated by
`|`: the CommandComplete tags and the SQLSTATEs of ErrorResponses in order
(NoticeResponses, also `pgsql.code`, are counted apart), and counts of the
messages that make records.
"""
import collections
import subprocess
import sys

PORT = 54329


def main():
    cap = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else PORT
    out = subprocess.run(
        ["tshark", "-r", cap, "-d", f"tcp.port=={port},pgsql", "-Y", "pgsql",
         "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=\x1f",
         "-e", "tcp.stream", "-e", "pgsql.type", "-e", "pgsql.tag", "-e", "pgsql.code",
         "-e", "pgsql.severity"],
        check=True, capture_output=True, text=True).stdout
    facts = collections.defaultdict(lambda: collections.defaultdict(list))
    order = []
    for line in out.splitlines():
        stream, types, tags, codes, _sev = (line.split("\t") + [""] * 5)[:5]
        if stream not in facts:
            order.append(stream)
        f = facts[stream]
        codes = [c for c in codes.split("\x1f") if c]
        for t in types.split("\x1f"):
            f["count " + t].append(1)
            if t == "Error":
                f["errors"].append(codes.pop(0) if codes else "?")
            elif t == "Notice" and codes:
                codes.pop(0)
        f["tags"].extend(t for t in tags.split("\x1f") if t)
    print(f"# tshark -d tcp.port=={port},pgsql on {cap.split('/')[-1]}")
    for stream in order:
        f = facts[stream]
        print(f"{stream} tags {'|'.join(f['tags'])}")
        print(f"{stream} errors {'|'.join(f['errors'])}")
        for key in sorted(k for k in f if k.startswith("count ")):
            print(f"{stream} {key.replace(' ', '_', 0)} {len(f[key])}")


if __name__ == "__main__":
    main()
