#!/usr/bin/env python3
"""Writes NAME.client.bin and NAME.server.bin from `tshark -z follow,tcp,raw,STREAM`."""
import subprocess, sys
pcap, stream, name = sys.argv[1], sys.argv[2], sys.argv[3]
out = subprocess.run(["tshark", "-r", pcap, "-q", "-z", f"follow,tcp,raw,{stream}"],
                     capture_output=True, text=True, check=True).stdout
client, server = bytearray(), bytearray()
for line in out.splitlines():
    if not line.strip() or line.startswith(("=", "Follow:", "Filter:", "Node ")):
        continue
    (server if line.startswith("\t") else client).extend(bytes.fromhex(line.strip()))
open(f"{name}.client.bin", "wb").write(client)
open(f"{name}.server.bin", "wb").write(server)
print(name, len(client), len(server))
