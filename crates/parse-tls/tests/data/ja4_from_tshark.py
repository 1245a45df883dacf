#!/usr/bin/env python3
"""JA4 of every ClientHello in a pcap, computed from tshark's dissection.

tshark 4.0 has no `tls.handshake.ja4` field, so this is an independent
implementation of FoxIO's JA4.md over tshark's fields, used to cross-check
podwire's own. Usage: ja4_from_tshark.py FILE.pcap
"""
import hashlib, subprocess, sys

FIELDS = ["tcp.stream", "tls.handshake.version", "tls.handshake.ciphersuite",
          "tls.handshake.extension.type", "tls.handshake.extensions.supported_version",
          "tls.handshake.extensions_alpn_str", "tls.handshake.sig_hash_alg"]
GREASE = {0x0a0a + 0x1010 * i for i in range(16)}
VERSIONS = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2"}

def h12(s):
    return hashlib.sha256(s.encode()).hexdigest()[:12] if s else "000000000000"

cmd = ["tshark", "-r", sys.argv[1], "-Y", "tls.handshake.type == 1", "-T", "fields",
       "-E", "occurrence=a", "-E", "aggregator=|"] + sum((["-e", f] for f in FIELDS), [])
for line in subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines():
    cols = [c.split("|") if c else [] for c in line.split("\t")]
    stream, version, ciphers, exts, supported, alpn, sigs = cols
    num = lambda vs: [int(v, 0) for v in vs]
    ciphers = [c for c in num(ciphers) if c not in GREASE]
    exts = [e for e in num(exts) if e not in GREASE]
    sigs = [s for s in num(sigs) if s not in GREASE]
    vers = [v for v in num(supported) if v not in GREASE]
    ver = max(vers) if 43 in exts and vers else int(version[0], 0)
    first = alpn[0] if alpn else ""
    if not first:
        a = "00"
    elif first[0].isalnum() and first[-1].isalnum() and first.isascii():
        a = first[0] + first[-1]
    else:
        a = first.encode().hex()[0] + first.encode().hex()[-1]
    sorted_exts = sorted(e for e in exts if e not in (0, 0x10))
    c = ",".join(f"{e:04x}" for e in sorted_exts)
    if c and sigs:
        c += "_" + ",".join(f"{s:04x}" for s in sigs)
    ja4 = "t%s%s%02d%02d%s_%s_%s" % (VERSIONS.get(ver, "00"), "d" if 0 in exts else "i",
        min(len(ciphers), 99), min(len(exts), 99), a,
        h12(",".join(f"{x:04x}" for x in sorted(ciphers))), h12(c))
    print(stream[0], ja4)
