/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one record conn.bpf.c writes to its ring buffer. Mirrored once in Rust
 * by crates/ebpf/src/event.rs (ConnEvent); both sides assert the size, so a
 * change here that is not made there fails the build, and
 * crates/ebpf/tests/layout.rs checks each field's offset and size against
 * this object's BTF.
 *
 * Rules: fixed-width fields, explicit padding, no bool or enum, naturally
 * aligned (no implicit padding anywhere).
 */
#ifndef PODWIRE_CONN_EVENT_H
#define PODWIRE_CONN_EVENT_H

/* conn_event.kind */
#define CONN_EVENT_CONNECT 1 /* client: SYN_SENT -> ESTABLISHED; pid etc.
                              * from connect(), start_ns = SYN sent */
#define CONN_EVENT_ACCEPT 2  /* server: SYN_RECV -> ESTABLISHED (softirq) */
#define CONN_EVENT_CLOSE 3   /* any side: -> TCP_CLOSE, with final counters */
#define CONN_EVENT_LISTEN 4  /* CLOSE -> LISTEN, in listen(): who serves on
                              * saddr:sport (a wildcard address for any);
                              * daddr/dport zero, no start_ns */
#define CONN_EVENT_UNLISTEN 5 /* LISTEN -> CLOSE: that listener is gone (or
                               * its listen() failed: port taken) */

struct conn_event {
	__u64 ts_ns;          /* bpf_ktime_get_ns() at the event (CLOCK_MONOTONIC) */
	__u64 start_ns;       /* CONNECT: SYN sent; CLOSE: its CONNECT's start_ns
	                       * or its ACCEPT's ts_ns; 0 if not seen */
	__u64 skaddr;         /* kernel socket address: joins events of one socket */
	__u64 cgroup_id;      /* cgroup v2 id of pid; 0 if not known */
	/* CLOSE: the kernel's RFC 4898 counters, in sequence space: a SYN (active
	 * open only) and FIN count 1 each once acked/received, so a client that
	 * sent 10000 bytes and closed cleanly reports bytes_acked 10002. */
	__u64 bytes_acked;    /* CLOSE: tcp_sock.bytes_acked */
	__u64 bytes_received; /* CLOSE: tcp_sock.bytes_received */
	__u32 pid;            /* tgid of the owning process; 0 if not known */
	__u32 tid;            /* thread id; 0 if not known */
	__u32 srtt_us;        /* CLOSE: smoothed RTT, microseconds */
	__u32 total_retrans;  /* CLOSE: segments retransmitted */
	__u8 saddr[16];       /* local address: IPv4 in the first 4 bytes */
	__u8 daddr[16];       /* remote address: IPv4 in the first 4 bytes */
	__u16 sport;          /* local port, host byte order */
	__u16 dport;          /* remote port, host byte order */
	__u16 family;         /* AF_INET (2) or AF_INET6 (10) */
	__u8 kind;            /* CONN_EVENT_* */
	__u8 oldstate;        /* TCP state before this transition */
	char comm[16];        /* task comm of pid; empty if not known */
};

_Static_assert(sizeof(struct conn_event) == 120, "conn_event size: update ConnEvent in crates/ebpf");

#endif
