#!/usr/bin/env python3
"""Helpers of bench/agent.sh (Python 3 standard library only).

  agent_helper.py get SRC PATH...      values from a JSON document (SRC: an
                                       http:// URL, a file, or - for stdin);
                                       PATH is dotted: capture.ring_packets,
                                       store.connection.dropped_records (list
                                       items are picked by their "table" or
                                       "name" field, or by index), store.*.X
                                       sums X over a list, #len counts a list.
  agent_helper.py pcap N FILE          writes N TCP SYN frames (Ethernet/IPv4/
                                       TCP, 54 bytes, correct lengths and
                                       checksums), each opening a distinct
                                       connection, as a pcap file.
  agent_helper.py report TSV JSON      turns the key/value lines agent.sh
                                       collected into JSON and prints the
                                       results table.
"""
import json
import struct
import sys
import urllib.request


# ---------------------------------------------------------------- get
def load(src):
    if src.startswith("http://"):
        with urllib.request.urlopen(src, timeout=10) as r:
            return json.load(r)
    if src == "-":
        return json.load(sys.stdin)
    with open(src) as f:
        return json.load(f)


def pick(doc, path):
    cur = doc
    parts = path.split(".")
    for i, p in enumerate(parts):
        if p == "#len":
            return len(cur)
        if isinstance(cur, list):
            if p == "*":
                rest = ".".join(parts[i + 1:])
                return sum(pick(x, rest) for x in cur)
            if p.isdigit():
                cur = cur[int(p)]
                continue
            found = None
            for x in cur:
                if isinstance(x, dict) and p in (x.get("table"), x.get("name")):
                    found = x
                    break
            if found is None:
                raise KeyError(path)
            cur = found
        else:
            cur = cur[p]
    return cur


def cmd_get(args):
    doc = load(args[0])
    out = []
    for p in args[1:]:
        try:
            v = pick(doc, p)
        except (KeyError, IndexError, TypeError):
            v = "null"
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif v is None:
            v = "null"
        elif isinstance(v, (dict, list)):
            v = json.dumps(v, separators=(",", ":"))
        out.append(str(v))
    print(" ".join(out))


# ---------------------------------------------------------------- pcap
def fold(s):
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def cmd_pcap(args):
    n = int(args[0])
    path = args[1]
    dst_mac = bytes.fromhex("020000000002")
    src_mac = bytes.fromhex("020000000001")
    dst_ip = 0x0AC80001  # 10.200.0.1
    dport = 80
    ports = 60000
    eth = dst_mac + src_mac + b"\x08\x00"
    rec = struct.Struct("<IIII")
    ip = struct.Struct("!BBHHHBBHII")
    tcp = struct.Struct("!HHIIBBHHH")
    # Constant parts of the checksums.
    ip_const = 0x4500 + 40 + 0x4000 + ((64 << 8) | 6) + (dst_ip >> 16) + (dst_ip & 0xFFFF)
    tcp_const = (dst_ip >> 16) + (dst_ip & 0xFFFF) + 6 + 20 + dport + 0x5002 + 64240
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        base_ts = 1_700_000_000
        chunk = bytearray()
        for i in range(n):
            src_ip = 0x0A400001 + i // ports  # 10.64.0.1, 10.64.0.2, ...
            sport = 1024 + i % ports
            seq = (i * 2654435761 + 12345) & 0xFFFFFFFF
            ident = i & 0xFFFF
            s_ip = ip_const + ident + (src_ip >> 16) + (src_ip & 0xFFFF)
            ip_csum = (~fold(s_ip)) & 0xFFFF
            s_tcp = tcp_const + (src_ip >> 16) + (src_ip & 0xFFFF) + sport + (seq >> 16) + (seq & 0xFFFF)
            tcp_csum = (~fold(s_tcp)) & 0xFFFF
            chunk += rec.pack(base_ts + i // 1_000_000, i % 1_000_000, 54, 54)
            chunk += eth
            chunk += ip.pack(0x45, 0, 40, ident, 0x4000, 64, 6, ip_csum, src_ip, dst_ip)
            chunk += tcp.pack(sport, dport, seq, 0, 0x50, 0x02, 64240, tcp_csum, 0)
            if len(chunk) >= 1 << 20:
                f.write(chunk)
                chunk = bytearray()
        f.write(chunk)


# ---------------------------------------------------------------- report
def convert(v):
    if v in ("true", "false"):
        return v == "true"
    if v in ("null", ""):
        return None
    try:
        return int(v)
    except ValueError:
        pass
    try:
        return float(v)
    except ValueError:
        return v


def nest(pairs):
    root = {}
    for k, v in pairs:
        cur = root
        parts = k.split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = v

    def lists(x):
        if isinstance(x, dict):
            x = {k: lists(v) for k, v in x.items()}
            if x and all(k.isdigit() for k in x):
                return [x[k] for k in sorted(x, key=int)]
        return x

    return lists(root)


def fmt(v, nd=None):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if nd is None:
            nd = 2 if abs(v) < 100 else 0
        return f"{v:,.{nd}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def mib(kib):
    return None if kib is None else kib / 1024


def table(rows, header=None):
    rows = [[fmt(c) if not isinstance(c, str) else c for c in r] for r in rows]
    allrows = ([header] if header else []) + rows
    w = [max(len(r[i]) for r in allrows) for i in range(len(allrows[0]))]
    out = []
    for j, r in enumerate(allrows):
        cells = []
        for i, c in enumerate(r):
            cells.append(c.ljust(w[i]) if i == 0 else c.rjust(w[i]))
        out.append("  " + "  ".join(cells))
        if header and j == 0:
            out.append("  " + "  ".join("-" * x for x in w))
    return "\n".join(out)


def kv(section, items):
    rows = []
    for label, key, *rest in items:
        v = section.get(key) if isinstance(section, dict) else None
        if rest and v is not None:
            v = rest[0](v)
        rows.append([label, fmt(v)])
    return table(rows)


def cmd_report(args):
    pairs = []
    with open(args[0]) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or "\t" not in line:
                continue
            k, v = line.split("\t", 1)
            pairs.append((k, convert(v)))
    doc = nest(pairs)
    with open(args[1], "w") as f:
        json.dump(doc, f, indent=2, sort_keys=False)
        f.write("\n")

    out = []
    m = doc.get("meta", {})
    out.append("podwire agent overhead benchmark")
    out.append(f"  {m.get('date', '?')}  repo {m.get('git', '?')}  podwire {m.get('podwire', '?')}")
    out.append(f"  {m.get('cpu', '?')}, {m.get('cores', '?')} cores, Linux {m.get('kernel', '?')}, "
               f"load before {m.get('load_before', '?')}, after {m.get('load_after', '?')}, "
               f"CPU busy before start {m.get('busy_pct_start', '?')}%, "
               f"run time {fmt(m.get('run_seconds'))} s")

    p = doc.get("p1")
    if p:
        out.append("")
        out.append("1. eBPF path: CPU per 10k TCP connections/s (agent --interfaces none-matches-this)")
        out.append(kv(p, [
            ("target rate (conn/s)", "target_rate"),
            ("connections completed (client errors)", "conn_label"),
            ("load seconds / measurement window s", "window_label"),
            ("rate achieved (conn/s)", "rate_cps"),
            ("BPF program ids (name)", "bpf_prog"),
            ("hook (status sources.ebpf_hook)", "hook"),
            ("BPF runs (tracepoint hits) / connection", "bpf_runs_per_conn"),
            ("BPF ns per run (event)", "bpf_ns_per_run"),
            ("BPF ns per connection", "bpf_ns_per_conn"),
            ("BPF recursion_misses (runs skipped)", "bpf_recursion_misses"),
            ("control, agent stopped: BPF ns per run / per conn", "paused_label"),
            ("floor, empty tp_btf program: ns per run / per conn", "floor_label"),
            ("  alone, % of one core per 10k conn/s", "floor_pct_core_per_10k"),
            ("floor, empty root-cgroup sock_ops: ns/run x runs/conn / ns/conn", "floor_sockops_label"),
            ("  alone, % of one core per 10k conn/s", "floor_sockops_pct_core_per_10k"),
            ("BPF CPU s in window", "bpf_cpu_s"),
            ("agent CPU s in window (user+sys)", "agent_cpu_s"),
            ("agent idle CPU, % of a core (before load)", "agent_idle_pct"),
            ("agent ebpf.events / connection", "events_per_conn"),
            ("agent ebpf.lost (delta)", "ebpf_lost"),
            ("agent ebpf.evicted (delta)", "ebpf_evicted"),
            ("agent ebpf.unclaimed (delta)", "ebpf_unclaimed"),
            ("agent store connection dropped_records", "store_conn_dropped"),
            ("% of one core per 10k conn/s (BPF + agent)", "pct_core_per_10k"),
            ("  of which BPF / agent", "pct_split"),
            ("target < 1%", "verdict"),
            ("target <= 3x the floor (tp_btf)", "floor_verdict"),
        ]))

    p = doc.get("p2")
    if p:
        out.append("")
        out.append(f"2. AF_PACKET capture of {p.get('payload', 64)}-byte-payload UDP over a veth, "
                   f"{p.get('seconds', '?')} s per rate ({p.get('pinning', '')})")
        rows = []
        for r in p.get("rates", []):
            a = r.get("agent", {}) or {}
            t = r.get("tcpdump", {}) or {}
            rows.append([
                str(r.get("label", "?")),
                a.get("offered_pps"), a.get("captured_pps"), a.get("ring_drops"),
                a.get("decoded"), a.get("cpu_pct"),
                t.get("offered_pps"), t.get("captured_pps"), t.get("dropped"),
            ])
        out.append(table(rows, header=[
            "target pps", "agent: offered pps", "captured pps", "ring drops",
            "decoded (capture.packets)", "agent CPU %",
            "tcpdump: offered pps", "captured pps", "dropped by kernel"]))
        def best(tool):
            v = p.get(f"best_{tool}_pps")
            if v is None:
                return "none"
            s = fmt(v)
            if p.get(f"best_{tool}_bound"):
                s = ">= " + s + " (no drops at any rate: the generator is the limit)"
            return s
        out.append(table([
            ["generator max (one unpaced sender, nothing capturing), pps", fmt(p.get("max_pps"))],
            ["highest offered rate with zero drops: agent", best("agent")],
            ["highest offered rate with zero drops: tcpdump", best("tcpdump")],
        ]))
        if p.get("dual_note"):
            out.append("  " + p["dual_note"])

    p = doc.get("p3")
    if p:
        out.append("")
        out.append("3. Agent RSS idle and with 100k tracked TCP connections (tcpreplay --topspeed of SYNs)")
        out.append(kv(p, [
            ("idle VmRSS MiB (5 s after start)", "idle_rss_kib", mib),
            ("idle VmHWM MiB", "idle_hwm_kib", mib),
            ("idle VmRSS split, MiB", "idle_split"),
            ("SYNs replayed (tcpreplay pps)", "replay_label"),
            ("ring packets / ring drops", "ring_label"),
            ("tracker.open", "tracker_open"),
            ("tracker.tcp_connections", "tcp_connections"),
            ("tracker.evicted", "evicted"),
            ("VmRSS MiB with connections tracked", "rss_kib", mib),
            ("VmHWM MiB", "hwm_kib", mib),
            ("VmRSS split, MiB", "split"),
            ("one /api/v1/status call (curl): ms / VmRSS / VmHWM MiB after", "status_label"),
            ("target VmRSS < 64 MiB", "verdict"),
        ]))

    p = doc.get("p4")
    if p:
        out.append("")
        out.append("4. 1M-connection SYN flood (default bounds: --max-connections 131072, --store-mib 32)")
        out.append(kv(p, [
            ("SYNs replayed (tcpreplay pps)", "replay_label"),
            ("ring packets / ring drops", "ring_label"),
            ("capture.packets decoded", "packets"),
            ("tracker.open after", "tracker_open"),
            ("tracker.tcp_connections", "tcp_connections"),
            ("tracker.evicted", "evicted"),
            ("store connection records / dropped_records", "store_label"),
            ("store dropped_records (all tables)", "store_dropped_all"),
            ("peak VmHWM MiB before any API call", "hwm_before_api_kib", mib),
            ("peak VmHWM MiB after status calls", "hwm_kib", mib),
            ("VmRSS MiB after", "rss_kib", mib),
            ("agent alive / /healthz", "alive_label"),
            ("seconds: replay / until agent idle", "time_label"),
        ]))

    p = doc.get("p5")
    if p:
        out.append("")
        out.append(f"5. Interface churn: {p.get('pairs', '?')} veth pairs added and deleted per round "
                   f"in batches of {p.get('batch', '?')}, {p.get('rounds_n', '?')} rounds")
        rows = []
        for r in p.get("rounds", []):
            rows.append([str(r.get("label")), r.get("fds"), mib(r.get("rss_kib")),
                         r.get("links_added"), r.get("links_removed"),
                         r.get("api_interfaces"), r.get("ip_links"), r.get("seconds")])
        out.append(table(rows, header=["when", "agent fds", "VmRSS MiB", "links_added",
                                       "links_removed", "/api/v1/interfaces", "ip -o link", "churn s"]))
        out.append(kv(p, [
            ("peak interfaces seen by API during churn", "peak_api_interfaces"),
            ("fd leak / interface-count mismatch", "verdict"),
        ]))

    notes = doc.get("notes")
    if notes:
        out.append("")
        out.append("Notes:")
        items = notes if isinstance(notes, list) else [notes]
        for n in items:
            out.append(f"  - {n}")
    print("\n".join(out))


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "get" and args:
        cmd_get(args)
    elif cmd == "pcap" and len(args) == 2:
        cmd_pcap(args)
    elif cmd == "report" and len(args) == 2:
        cmd_report(args)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
