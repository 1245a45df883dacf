#!/usr/bin/env python3
"""What tshark's HTTP/2 dissector reports for a capture: the reference the
tests' expected values were copied from.

    tshark_summary.py CAPTURE PORT [DISSECTOR] > NAME.tshark

DISSECTOR is http2 by default; http for a connection upgraded from HTTP/1.

One line per HTTP/2 frame that carries a header block, RST_STREAM or
GOAWAY: tcp stream, frame number, HTTP/2 stream id, frame type, and the
fields records use (pseudo-headers, content-type, grpc-status,
grpc-message); then, per HTTP/2 stream, DATA payload bytes each way
(http2.length less padding) and gRPC messages each way.
"""
import collections
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
    data = collections.Counter()
    for line in tshark(cap, port, ["tcp.stream", "tcp.srcport",
                                   "http2.streamid", "http2.type",
                                   "http2.length", "http2.pad_length"],
                       "http2.type == 0"):
        stream, sport, sids, types, lens, pads = line.split("|")
        pads = [int(p) for p in pads.split("\x1f") if p]
        flags_padded = iter(pads)
        for sid, t, n in zip(sids.split("\x1f"), types.split("\x1f"),
                             lens.split("\x1f")):
            if t != "0":
                continue
            d = "S" if sport == port else "C"
            data[(stream, sid, d)] += int(n)
    for (stream, sid, d), n in sorted(data.items()):
        print("data", stream, sid, d, n)
    msgs = collections.Counter()
    for line in tshark(cap, port, ["tcp.stream", "tcp.srcport",
                                   "http2.streamid", "grpc.message_length"],
                       "grpc"):
        stream, sport, sids, lens = line.split("|")
        d = "S" if sport == port else "C"
        msgs[(stream, sids.split("\x1f")[-1], d)] += len(lens.split("\x1f"))
    for (stream, sid, d), n in sorted(msgs.items()):
        print("grpc-messages", stream, sid, d, n)


if __name__ == "__main__":
    main()
