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
 *            connect() is a CLOSE with oldstate SYN_SENT and no CONNECT);
 *   LISTEN   CLOSE -> TCP_LISTEN, in listen(): who serves on a port, so an
 *            accepted socket has its process from its first event;
 *   UNLISTEN TCP_LISTEN -> CLOSE: that listener closed (or its listen()
 *            failed: the port was taken).
 * Reservation failures on the ring buffer are counted in `lost`.
 */
#include "podwire_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "conn_event.h"

char LICENSE[] SEC("license") = "GPL";

/* The program never wakes the reader: it reads on its own clock, paced by
 * the rate it sees (crates/ebpf: ConnProbe::next_poll). Waking
 * it, even once per 512 events per CPU, measured 120 ns more per run here
 * (a quarter of the program), and asking the ring how full it is
 * (bpf_ringbuf_query) as much again. 8192 events of 128 bytes. */
#define RING_BYTES (1024 * 1024)

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
	__uint(max_entries, RING_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* Never read or written. The event is otherwise only a pointer into the ring
 * buffer, which leaves its type out of the object's BTF; this puts it there
 * (as one unused 8-byte .bss slot), so that crates/ebpf/tests/layout.rs can
 * check ConnEvent field by field against the layout clang compiled. */
struct conn_event *podwire_conn_event_layout __attribute__((unused));

static __always_inline void count_lost(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&lost, &zero);

	if (n)
		*n += 1; /* per-CPU slot: no other writer */
}

/* Who is running: the process behind a connect() or a close(). `btf`
 * (constant per hook): reach the thread group leader through the typed
 * task pointer (plain loads; one helper call copies the name) rather than
 * through bpf_probe_read_kernel at every step. */
static __always_inline void who(struct sock_info *si, int btf)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	long n;

	si->pid = pid_tgid >> 32;
	si->tid = (__u32)pid_tgid;
	si->cgroup_id = bpf_get_current_cgroup_id();
	/* The process's name, not the thread's; the thread's if that fails. */
	if (btf) {
		struct task_struct *task = bpf_get_current_task_btf();

		n = bpf_probe_read_kernel(&si->comm, sizeof(si->comm), task->group_leader->comm);
		if (n == 0 && si->comm[0])
			return;
	} else {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		if (BPF_CORE_READ_STR_INTO(&si->comm, task, group_leader, comm) > 0)
			return;
	}
	bpf_get_current_comm(&si->comm, sizeof(si->comm));
}

/* One state change, whichever hook saw it. Under tp_btf `tcp` is the
 * socket as a typed kernel pointer and `tp` is NULL: fields are plain
 * loads (CO-RE-relocated, fault-checked by the JIT) instead of one helper
 * call each. Under the classic tracepoint `tp` is its record and `tcp` is
 * NULL. Both are constant per hook once inlined, so each entry point
 * compiles to one straight path. */
struct transition {
	const void *sk;
	const struct tcp_sock *tcp;
	const struct trace_event_raw_inet_sock_set_state *tp;
	int oldstate;
	int newstate;
};

static __always_inline void addresses(struct conn_event *ev, const struct transition *t)
{
	const struct trace_event_raw_inet_sock_set_state *ctx = t->tp;

	if (!t->tcp) {
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
		return;
	}
	/* Typed: the tcp_sock pointer reaches inet_sock (its first member),
	 * which a plain struct sock pointer may not read beyond itself. */
	const struct sock *sk = (const struct sock *)t->tcp;

	/* inet_sport, not skc_num: skc_num is already 0 when a socket that
	 * went through TIME_WAIT reaches TCP_CLOSE. */
	ev->sport = bpf_ntohs(((const struct inet_sock *)t->tcp)->inet_sport);
	/* listen() announces the state before it sets inet_sport (an
	 * explicit bind() has already set the port number). */
	if (!ev->sport && t->newstate == TCP_LISTEN)
		ev->sport = sk->__sk_common.skc_num;
	ev->dport = bpf_ntohs(sk->__sk_common.skc_dport);
	ev->family = sk->__sk_common.skc_family;
	if (ev->family == AF_INET) {
		__be32 s = sk->__sk_common.skc_rcv_saddr;
		__be32 d = sk->__sk_common.skc_daddr;

		__builtin_memcpy(ev->saddr, &s, 4);
		__builtin_memcpy(ev->daddr, &d, 4);
	} else {
		__be32 *s = (__be32 *)ev->saddr;
		__be32 *d = (__be32 *)ev->daddr;

		for (int i = 0; i < 4; i++) {
			s[i] = sk->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			d[i] = sk->__sk_common.skc_v6_daddr.in6_u.u6_addr32[i];
		}
	}
}

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
	addresses(ev, t);
	if (si) {
		ev->start_ns = si->start_ns;
		ev->pid = si->pid;
		ev->tid = si->tid;
		ev->cgroup_id = si->cgroup_id;
		__builtin_memcpy(ev->comm, si->comm, sizeof(ev->comm));
	}
	if (kind == CONN_EVENT_CLOSE && t->tcp) {
		const struct tcp_sock *tp = t->tcp;

		ev->bytes_acked = tp->bytes_acked;
		ev->bytes_received = tp->bytes_received;
		ev->srtt_us = tp->srtt_us >> 3;
		ev->total_retrans = tp->total_retrans;
	} else if (kind == CONN_EVENT_CLOSE) {
		const struct tcp_sock *tp = t->sk;

		ev->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
		ev->bytes_received = BPF_CORE_READ(tp, bytes_received);
		ev->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
		ev->total_retrans = BPF_CORE_READ(tp, total_retrans);
	}
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
	return 0;
}

static __always_inline int handle(const struct transition *t)
{
	__u64 key = (__u64)t->sk;
	int oldstate = t->oldstate;
	int newstate = t->newstate;
	int btf = t->tcp != 0;
	struct sock_info *known;
	struct sock_info si = {};

	if (newstate == TCP_SYN_SENT) {
		si.start_ns = bpf_ktime_get_ns();
		who(&si, btf);
		bpf_map_update_elem(&socks, &key, &si, BPF_ANY);
		return 0;
	}

	if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_SENT) {
		known = bpf_map_lookup_elem(&socks, &key);
		if (known)
			si = *known;
		return emit(t, CONN_EVENT_CONNECT, bpf_ktime_get_ns(), known ? &si : 0);
	}

	if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV) {
		si.start_ns = bpf_ktime_get_ns();
		bpf_map_update_elem(&socks, &key, &si, BPF_ANY);
		return emit(t, CONN_EVENT_ACCEPT, si.start_ns, &si);
	}

	/* FIN_WAIT1 and LAST_ACK are entered from close()/shutdown() in process
	 * context: the first chance to learn who owns an accepted socket. */
	if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK) {
		known = bpf_map_lookup_elem(&socks, &key);
		if (known && known->pid == 0)
			who(known, btf);
		return 0;
	}

	/* listen(), and a listener's close, run in the owner's process. */
	if (newstate == TCP_LISTEN || (newstate == TCP_CLOSE && oldstate == TCP_LISTEN)) {
		who(&si, btf);
		return emit(t, newstate == TCP_LISTEN ? CONN_EVENT_LISTEN : CONN_EVENT_UNLISTEN,
			    bpf_ktime_get_ns(), &si);
	}

	if (newstate == TCP_CLOSE) {
		known = bpf_map_lookup_elem(&socks, &key);
		/* A socket never seen connecting or accepted (one that existed
		 * before load): nothing to report. */
		if (!known)
			return 0;
		si = *known;
		bpf_map_delete_elem(&socks, &key);
		return emit(t, CONN_EVENT_CLOSE, bpf_ktime_get_ns(), &si);
	}
	return 0;
}

/* The transitions handle() acts on, decided from the hook's arguments
 * alone. The others return before touching anything: -> SYN_RECV (an
 * accepted socket being born), ESTABLISHED -> CLOSE_WAIT and FIN_WAIT1 ->
 * FIN_WAIT2: 3 of the 10 hits of a connection with both ends on this
 * host. */
static __always_inline int wanted(int oldstate, int newstate)
{
	switch (newstate) {
	case TCP_SYN_SENT:
	case TCP_FIN_WAIT1:
	case TCP_LAST_ACK:
	case TCP_LISTEN:
	case TCP_CLOSE:
		return 1;
	case TCP_ESTABLISHED:
		return oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV;
	}
	return 0;
}

/* Preferred: a BTF-typed raw tracepoint on the same event. Its arguments
 * are the kernel's own (sk, oldstate, newstate), with no copy into a
 * trace record, and `sk` is a typed pointer: the socket's fields are read
 * with plain loads, only for the transitions that are reported. A kernel
 * without BTF-typed tracepoints (before 5.5) refuses to load it, and the
 * loader falls back to the classic tracepoint below. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(btf_inet_sock_set_state, const struct sock *sk, int oldstate, int newstate)
{
	if (!wanted(oldstate, newstate))
		return 0;
	/* NULL unless a full TCP socket (MPTCP, SCTP, ... use this hook too). */
	const struct tcp_sock *tcp = bpf_skc_to_tcp_sock((void *)sk);

	if (!tcp)
		return 0;
	__u16 family = sk->__sk_common.skc_family;

	if (family != AF_INET && family != AF_INET6)
		return 0;
	struct transition t = {
		.sk = sk, .tcp = tcp, .tp = 0, .oldstate = oldstate, .newstate = newstate
	};
	return handle(&t);
}

/* Fallback: the classic tracepoint (stable ABI since 4.16). */
SEC("tracepoint/sock/inet_sock_set_state")
int inet_sock_set_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	struct transition t = {
		.sk = ctx->skaddr, .tcp = 0, .tp = ctx, .oldstate = ctx->oldstate,
		.newstate = ctx->newstate
	};

	if (!wanted(t.oldstate, t.newstate))
		return 0;
	if (ctx->protocol != IPPROTO_TCP || (ctx->family != AF_INET && ctx->family != AF_INET6))
		return 0;
	return handle(&t);
}
