/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP connection lifecycle from tracepoint sock/inet_sock_set_state
 * (tcplife-style). A tracepoint, not a kprobe/fentry, because those are not
 * allowed on every node, while this tracepoint is stable ABI since 4.16.
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

static __always_inline int emit(struct trace_event_raw_inet_sock_set_state *ctx,
				__u8 kind, __u64 now, const struct sock_info *si,
				const void *sk)
{
	struct conn_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);

	if (!ev) {
		count_lost();
		return 0;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = now;
	ev->skaddr = (__u64)sk;
	ev->kind = kind;
	ev->oldstate = (__u8)ctx->oldstate;
	ev->sport = ctx->sport;
	ev->dport = ctx->dport;
	ev->family = ctx->family;
	if (ev->family == AF_INET) {
		bpf_probe_read_kernel(&ev->saddr, 4, ctx->saddr);
		bpf_probe_read_kernel(&ev->daddr, 4, ctx->daddr);
	} else {
		bpf_probe_read_kernel(&ev->saddr, 16, ctx->saddr_v6);
		bpf_probe_read_kernel(&ev->daddr, 16, ctx->daddr_v6);
	}
	if (si) {
		ev->start_ns = si->start_ns;
		ev->pid = si->pid;
		ev->tid = si->tid;
		ev->cgroup_id = si->cgroup_id;
		__builtin_memcpy(ev->comm, si->comm, sizeof(ev->comm));
	}
	if (kind == CONN_EVENT_CLOSE) {
		const struct tcp_sock *tp = sk;

		ev->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
		ev->bytes_received = BPF_CORE_READ(tp, bytes_received);
		ev->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
		ev->total_retrans = BPF_CORE_READ(tp, total_retrans);
	}
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	const void *sk = ctx->skaddr;
	__u64 key = (__u64)sk;
	int oldstate = ctx->oldstate;
	int newstate = ctx->newstate;
	__u16 family = ctx->family;
	__u64 now = bpf_ktime_get_ns();
	struct sock_info *known;
	struct sock_info si = {};

	if (ctx->protocol != IPPROTO_TCP || (family != AF_INET && family != AF_INET6))
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
		return emit(ctx, CONN_EVENT_CONNECT, now, known ? &si : 0, sk);
	}

	if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV) {
		si.start_ns = now;
		bpf_map_update_elem(&socks, &key, &si, BPF_ANY);
		return emit(ctx, CONN_EVENT_ACCEPT, now, &si, sk);
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
		return emit(ctx, CONN_EVENT_CLOSE, now, &si, sk);
	}
	return 0;
}
