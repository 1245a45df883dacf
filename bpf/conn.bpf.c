/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP connection lifecycle from tracepoint sock/inet_sock_set_state
 * (tcplife-style). A tracepoint, not a kprobe/fentry, because those are not
 * allowed on every node, while this tracepoint is stable ABI since 4.16.
 * Two entry points share one handler: the BTF-typed raw tracepoint
 * (tp_btf, cheaper, needs no tracefs) is tried first, the classic
 * tracepoint is the fallback; the loader attaches exactly one.
 *
 * Emits a conn_event (conn_event.h) on:
 *   CONNECT  TCP_SYN_SENT -> TCP_ESTABLISHED: pid/comm/cgroup and start time
 *            are taken earlier, at -> TCP_SYN_SENT, which runs in connect()
 *            but before the local port is chosen (sport is still 0 there);
 *   ACCEPT   TCP_SYN_RECV -> TCP_ESTABLISHED: runs in softirq, so no pid
 *            (it is filled in at close if the owner calls close());
 *   CLOSE    -> TCP_CLOSE: with the socket's final RFC 4898 counters, for
 *            sockets seen at SYN_SENT or accept (a refused or timed-out
 *            connect() is a CLOSE with oldstate SYN_SENT and no CONNECT).
 * Reservation failures on the ring buffer are counted in `lost`.
 */
#include "podwire_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "conn_event.h"

char LICENSE[] SEC("license") = "GPL";

/* What is known about a socket between its first event and its close. */
struct sock_info {
	__u64 start_ns;
	__u64 cgroup_id;
	__u32 pid;
	__u32 tid;
	char comm[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct sock_info);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);

	if (n)
		*n += 1; /* per-CPU slot: no other writer */
}

static __always_inline void who(struct sock_info *si)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	si->pid = pid_tgid >> 32;
	si->tid = (__u32)pid_tgid;
	si->cgroup_id = bpf_get_current_cgroup_id();
	/* The process's name, not the thread's; the thread's if that fails. */
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ_STR_INTO(&si->comm, task, group_leader, comm) <= 0)
		bpf_get_current_comm(&si->comm, sizeof(si->comm));
}

/* One state change, whichever hook saw it. */
struct transition {
	const void *sk;
	int oldstate;
	int newstate;
	__u16 sport;  /* host byte order */
	__u16 dport;  /* host byte order */
	__u16 family;
	__u16 protocol;
	__u8 saddr[16];
	__u8 daddr[16];
};

static __always_inline int emit(const struct transition *t, __u8 kind, __u64 now,
				const struct sock_info *si)
{
	struct conn_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

	if (!ev) {
		count_lost();
		return 0;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = now;
	ev->skaddr = (__u64)t->sk;
	ev->kind = kind;
	ev->oldstate = (__u8)t->oldstate;
	ev->sport = t->sport;
	ev->dport = t->dport;
	ev->family = t->family;
	__builtin_memcpy(ev->saddr, t->saddr, sizeof(ev->saddr));
	__builtin_memcpy(ev->daddr, t->daddr, sizeof(ev->daddr));
	if (si) {
		ev->start_ns = si->start_ns;
		ev->pid = si->pid;
		ev->tid = si->tid;
		ev->cgroup_id = si->cgroup_id;
		__builtin_memcpy(ev->comm, si->comm, sizeof(ev->comm));
	}
	if (kind == CONN_EVENT_CLOSE) {
		const struct tcp_sock *tp = t->sk;

		ev->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
		ev->bytes_received = BPF_CORE_READ(tp, bytes_received);
		ev->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
		ev->total_retrans = BPF_CORE_READ(tp, total_retrans);
	}
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

static __always_inline int handle(const struct transition *t)
{
	__u64 key = (__u64)t->sk;
	int oldstate = t->oldstate;
	int newstate = t->newstate;
	__u64 now = bpf_ktime_get_ns();
	struct sock_info *known;
	struct sock_info si = {};

	if (t->protocol != IPPROTO_TCP || (t->family != AF_INET && t->family != AF_INET6))
		return 0;

	if (newstate == TCP_SYN_SENT) {
		si.start_ns = now;
		who(&si);
		bpf_map_update_elem(&socks, &key, &si, BPF_ANY);
		return 0;
	}

	if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_SENT) {
		known = bpf_map_lookup_elem(&socks, &key);
		if (known)
			si = *known;
		return emit(t, CONN_EVENT_CONNECT, now, known ? &si : 0);
	}

	if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV) {
		si.start_ns = now;
		bpf_map_update_elem(&socks, &key, &si, BPF_ANY);
		return emit(t, CONN_EVENT_ACCEPT, now, &si);
	}

	/* FIN_WAIT1 and LAST_ACK are entered from close()/shutdown() in process
	 * context: the first chance to learn who owns an accepted socket. */
	if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK) {
		known = bpf_map_lookup_elem(&socks, &key);
		if (known && known->pid == 0)
			who(known);
		return 0;
	}

	if (newstate == TCP_CLOSE) {
		known = bpf_map_lookup_elem(&socks, &key);
		/* A socket never seen connecting or accepted (e.g. a listener,
		 * or one that existed before load): nothing to report. */
		if (!known)
			return 0;
		si = *known;
		bpf_map_delete_elem(&socks, &key);
		return emit(t, CONN_EVENT_CLOSE, now, &si);
	}
	return 0;
}

/* Preferred: a BTF-typed raw tracepoint on the same event. Its arguments
 * are the kernel's own (sk, oldstate, newstate), with no copy into a
 * trace record; the addresses are read from the socket through CO-RE. A
 * kernel without BTF-typed tracepoints (before 5.5) refuses to load it,
 * and the loader falls back to the classic tracepoint below. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(btf_inet_sock_set_state, const struct sock *sk, int oldstate, int newstate)
{
	struct transition t = {};

	t.sk = sk;
	t.oldstate = oldstate;
	t.newstate = newstate;
	t.protocol = BPF_CORE_READ(sk, sk_protocol);
	t.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	t.sport = bpf_ntohs(BPF_CORE_READ((const struct inet_sock *)sk, inet_sport));
	t.dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (t.family == AF_INET) {
		__be32 s = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__be32 d = BPF_CORE_READ(sk, __sk_common.skc_daddr);

		__builtin_memcpy(t.saddr, &s, 4);
		__builtin_memcpy(t.daddr, &d, 4);
	} else {
		BPF_CORE_READ_INTO(&t.saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&t.daddr, sk, __sk_common.skc_v6_daddr);
	}
	return handle(&t);
}

/* Fallback: the classic tracepoint (stable ABI since 4.16). */
SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct transition t = {};

	t.sk = ctx->skaddr;
	t.oldstate = ctx->oldstate;
	t.newstate = ctx->newstate;
	t.protocol = ctx->protocol;
	t.family = ctx->family;
	t.sport = ctx->sport;
	t.dport = ctx->dport;
	if (t.family == AF_INET) {
		bpf_probe_read_kernel(&t.saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(&t.daddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(&t.saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(&t.daddr, 16, ctx->daddr_v6);
	}
	return handle(&t);
}
