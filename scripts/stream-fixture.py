#!/usr/bin/env python3
"""Writes a parser test fixture (see crates/parse/src/fixture.rs) from a capture.

    scripts/stream-fixture.py CAPTURE SERVER_PORT [DISPLAY_FILTER] > fixture.txt

tshark picks every TCP segment with payload (retransmissions left out); a
segment whose source port is SERVER_PORT is server to client ("S"), any other
client to server ("C").
"""
import subprocess
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cap, port = sys.argv[1], int(sys.argv[2])
    flt = "tcp.len > 0 && !tcp.analysis.retransmission"
    if len(sys.argv) > 3:
        flt += " && (" + sys.argv[3] + ")"
    out = subprocess.run(
        ["tshark", "-r", cap, "-Y", flt, "-T", "fields", "-e", "tcp.stream",
         "-e", "tcp.srcport", "-e", "frame.time_epoch", "-e", "tcp.payload"],
        check=True, capture_output=True, text=True).stdout
    print(f"# from {cap.split('/')[-1]}, server port {port}")
    for line in out.splitlines():
        stream, sport, t, payload = line.split("\t")
        secs, _, frac = t.partition(".")
        ns = int(secs) * 1_000_000_000 + int((frac + "000000000")[:9])
        d = "S" if int(sport) == port else "C"
        print(f"{stream} {d} {ns} {payload.replace(':', '')}")


if __name__ == "__main__":
    main()
