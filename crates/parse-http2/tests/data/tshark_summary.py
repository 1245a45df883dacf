#!/usr/bin/env python3
"""What tshark's HTTP/2 dissector reports for a capture: the reference the
tests' expected values were copied from.

    tshark_summary.py CAPTURE PORT [DISSECTOR] > NAME.tshark

DISSECTOR is http2 by default; http for a connection upgraded from HTTP/1.

One line per HTTP/2 frame that carries a header block, RST_STREAM or
GOAWAY: tcp stream, frame number, HTTP/2 stream id, frame type, and the
fields records use (pseudo-headers, content-type, grpc-status,
grpc-message); then, per HTTP/2 stream, DATA payload bytes each way
(padding excluded) and gRPC messages each way, from the packet
details (`-O http2,grpc`).
"""
import collections
import re
import subprocess
import sys

KEEP = (":method", ":path", ":authority", ":status", "content-type",
        "grpc-status", "grpc-message")


def tshark(cap, port, fields, flt):
    proto = sys.argv[3] if len(sys.argv) > 3 else "http2"
    cmd = ["tshark", "-r", cap, "-d", f"tcp.port=={port},{proto}", "-Y", flt,
           "-T", "fields", "-E", "separator=|", "-E", "aggregator=\x1f"]
    for f in fields:
        cmd += ["-e", f]
    return subprocess.run(cmd, check=True, capture_output=True,
                          text=True).stdout.splitlines()


def main():
    cap, port = sys.argv[1], sys.argv[2]
    for line in tshark(cap, port, ["tcp.stream", "frame.number",
                                   "http2.streamid", "http2.type",
                                   "http2.header.name", "http2.header.value"],
                       "http2.type == 1 || http2.type == 3 || http2.type == 5 || http2.type == 7"):
        stream, frame, sids, types, names, values = line.split("|")
        names, values = names.split("\x1f"), values.split("\x1f")
        kept = [f"{n}={v}" for n, v in zip(names, values) if n in KEEP]
        print(stream, frame, sids.replace("\x1f", ","),
              types.replace("\x1f", ","), " ".join(kept))
    # DATA and gRPC from the packet details, which keep frames apart.
    conn = {}
    for line in tshark(cap, port, ["frame.number", "tcp.stream", "tcp.srcport"], "http2"):
        frame, stream, sport = line.split("|")
        conn[frame] = (stream, "S" if sport == port else "C")
    proto = sys.argv[3] if len(sys.argv) > 3 else "http2"
    text = subprocess.run(
        ["tshark", "-r", cap, "-d", f"tcp.port=={port},{proto}", "-Y", "http2",
         "-O", "http2,grpc"], check=True, capture_output=True).stdout.decode("utf-8", "replace")
    data, msgs = collections.Counter(), collections.Counter()
    where, sid, in_data = None, None, False
    for line in text.splitlines():
        m = re.match(r"Frame (\d+):", line)
        if m:
            where = conn.get(m.group(1))
            continue
        m = re.search(r"Stream: (\w+), Stream ID: (\d+), Length (\d+)", line)
        if m and where:
            in_data = m.group(1) == "DATA"
            sid = m.group(2)
            if in_data:
                data[(where[0], sid, where[1])] += int(m.group(3))
            continue
        m = re.match(r"\s+Pad Length: (0x[0-9a-f]+|\d+)$", line)
        if m and in_data and where:
            data[(where[0], sid, where[1])] -= int(m.group(1), 0) + 1
            continue
        m = re.match(r"GRPC Message: .*, (Request|Response)$", line)
        if m and where:
            msgs[(where[0], sid, "C" if m.group(1) == "Request" else "S")] += 1
    for (stream, sid, d), n in sorted(data.items()):
        print("data", stream, sid, d, n)
    for (stream, sid, d), n in sorted(msgs.items()):
        print("grpc-messages", stream, sid, d, n)

if __name__ == "__main__":
    main()
