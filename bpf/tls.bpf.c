/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plaintext from inside TLS: uprobes on OpenSSL's (and BoringSSL's)
 * SSL_write, SSL_read and their _ex variants, each with a uretprobe, copy
 * what the call moved once it returns, with the socket it went through.
 * Go's crypto/tls has its own programs (go_tls_*, below).
 *
 * Which socket: the SSL object does not say without reading OpenSSL's
 * private structs (whose layout changes between versions), but the
 * syscall under the call does. While a thread is inside an SSL call
 * (`calls`, by thread), the syscall tracepoints of the calls a BIO makes
 * (write, writev, sendto, sendmsg and their read sides) note the
 * descriptor it used; that descriptor, followed through the
 * task's file table to its struct socket, gives the connection's
 * addresses (CO-RE reads). A call that made no syscall (SSL_read served
 * from a buffered record, SSL_write after a previous one flushed nothing)
 * uses the descriptor its SSL object used last (`ssl_fds`).
 *
 * Cost where there is no TLS: the syscall tracepoints run for every
 * write/read of every process; they do one hash lookup by thread and
 * return. The uprobes run only in processes that map the probed library.
 *
 * Bounds: TLS_CHUNK bytes per record, TLS_MAX_CHUNKS records per call;
 * each record says the call's full length, so what was not copied is
 * known. Records the ring had no room for are counted in `lost`.
 */
#include "podwire_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "tls_event.h"

char LICENSE[] SEC("license") = "GPL";

/* 4 MiB: at 16 KiB a record, 256 full records; a request of a few hundred
 * bytes takes a few hundred. */
#define RING_BYTES (4 * 1024 * 1024)

/* An SSL call in progress. */
struct call {
	__u64 ssl;
	__u64 buf;
	__u64 len_ptr; /* _ex: where the call writes the byte count; 0 otherwise */
	__s32 fd;      /* from the syscall under the call; -1 until then */
	__u32 op;
};

struct ssl_key {
	__u64 ssl;
	__u32 pid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct call);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ssl_key);
	__type(value, __s32);
} ssl_fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RING_BYTES);
} events SEC(".maps");

/* One record being put together (too big for the stack). */
struct scratch {
	struct tls_event ev;
	__u8 data[TLS_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

/* [0] records the ring had no room for, [1] calls with no socket found,
 * [2] calls whose thread was not recorded at entry (the `calls` table was
 * full; for Go, `go_calls` is an LRU and forgets the oldest instead),
 * [3] calls left alone because their cgroup is excluded. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

static __always_inline void count(__u32 what)
{
	__u64 *n = bpf_map_lookup_elem(&lost, &what);

	if (n)
		*n += 1;
}

/* cgroups (by id) whose processes' plaintext is never read: the agent
 * fills it from --tls-plaintext-exclude-namespaces (the containers of the
 * pods in those namespaces). Checked at each call's entry, so an excluded
 * call is neither recorded nor copied. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} skip_cgroups SEC(".maps");

static __always_inline int excluded(void)
{
	__u64 cgroup = bpf_get_current_cgroup_id();

	if (!bpf_map_lookup_elem(&skip_cgroups, &cgroup))
		return 0;
	count(3);
	return 1;
}

static __always_inline int enter(struct uregs *regs, __u32 op, int ex)
{
	if (excluded())
		return 0;
	__u64 tid = bpf_get_current_pid_tgid();
	struct call c = {
		.ssl = regs->di,
		.buf = regs->si,
		.len_ptr = ex ? regs->cx : 0,
		.fd = -1,
		.op = op,
	};

	if (bpf_map_update_elem(&calls, &tid, &c, BPF_ANY))
		count(2);
	return 0;
}

/* The descriptor's socket, into the record's address fields. */
static __always_inline void socket_of(struct tls_event *ev, int fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file = 0;
	struct socket *sock;
	struct sock *sk;

	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
	if (!file)
		return;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return;
	ev->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (ev->family == AF_INET) {
		BPF_CORE_READ_INTO(&ev->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(&ev->daddr, sk, __sk_common.skc_daddr);
	} else if (ev->family == AF_INET6) {
		BPF_CORE_READ_INTO(&ev->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&ev->daddr, sk, __sk_common.skc_v6_daddr);
	} else {
		ev->family = 0;
		return;
	}
	ev->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	ev->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
}

/* One call's plaintext, `len` bytes at `buf` in the user's memory, as up
 * to TLS_MAX_CHUNKS records. */
static __always_inline int output(__u64 tid, __u64 ssl, __u64 buf, __u64 len, __s32 fd, __u32 op,
				  __u32 flags)
{
	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch, &zero);

	if (!s)
		return 0;
	__builtin_memset(&s->ev, 0, sizeof(s->ev));
	s->ev.ts_ns = bpf_ktime_get_ns();
	s->ev.ssl = ssl;
	s->ev.pid = tid >> 32;
	s->ev.tid = (__u32)tid;
	s->ev.len = len;
	s->ev.fd = fd;
	s->ev.op = op;
	s->ev.flags = flags;
	socket_of(&s->ev, fd);
	if (!s->ev.family)
		count(1);
	{
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		if (BPF_CORE_READ_STR_INTO(&s->ev.comm, task, group_leader, comm) <= 0)
			bpf_get_current_comm(&s->ev.comm, sizeof(s->ev.comm));
	}

	for (__u32 i = 0; i < TLS_MAX_CHUNKS; i++) {
		__u64 off = (__u64)i * TLS_CHUNK;
		__u64 n;

		if (off >= len)
			break;
		n = len - off;
		if (n > TLS_CHUNK)
			n = TLS_CHUNK;
		s->ev.offset = off;
		s->ev.size = n;
		if (bpf_probe_read_user(s->data, n, (void *)(buf + off)))
			s->ev.size = 0;
		n = s->ev.size;
		if (n > TLS_CHUNK)
			n = TLS_CHUNK;
		if (bpf_ringbuf_output(&events, s, sizeof(s->ev) + n, BPF_RB_NO_WAKEUP))
			count(0);
	}
	return 0;
}

static __always_inline int leave(struct uregs *regs)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct call *c = bpf_map_lookup_elem(&calls, &tid);
	struct ssl_key key = {};
	/* Both return an int: the upper half of rax is not part of it
	 * (SSL_read's -1 would read as 4294967295). */
	int ret = (int)regs->ax;
	__u64 len = 0;
	__u32 flags = 0;
	__s32 fd;

	if (!c)
		return 0;
	struct call call = *c;

	bpf_map_delete_elem(&calls, &tid);
	if (call.len_ptr) {
		if (ret != 1 || bpf_probe_read_user(&len, sizeof(len), (void *)call.len_ptr))
			return 0;
	} else {
		if (ret <= 0)
			return 0;
		len = ret;
	}
	if (len == 0 || len > 0xffffffffULL)
		return 0;

	key.ssl = call.ssl;
	key.pid = tid >> 32;
	fd = call.fd;
	if (fd >= 0) {
		bpf_map_update_elem(&ssl_fds, &key, &fd, BPF_ANY);
	} else {
		__s32 *known = bpf_map_lookup_elem(&ssl_fds, &key);

		if (known) {
			fd = *known;
			flags = TLS_FD_CACHED;
		}
	}
	return output(tid, call.ssl, call.buf, len, fd, call.op, flags);
}

/*
 * Go's crypto/tls: (*Conn).Read and (*Conn).Write, in programs built by Go
 * 1.17 or later for x86-64 (the register ABI: the receiver in rax, the
 * slice's pointer and length in rbx and rcx; the byte count returned in
 * rax; the running goroutine in r14 throughout).
 *
 * No uretprobe: it swaps the return address on the stack, and Go moves
 * goroutine stacks as they grow, which would crash the program. The agent
 * puts Read's return probe on each of its `ret` instructions instead; Write
 * is read at entry (see go_enter). A goroutine may block in Read and resume
 * on another thread, so a call is kept by its goroutine (pid and g), not by
 * thread.
 *
 * The socket: Go does its syscalls wherever its scheduler runs them, so
 * the descriptor comes from the connection itself, through fields whose
 * offsets have not moved since Go 1.12: tls.Conn.conn (a net.Conn
 * interface: type word, then data) -> *net.TCPConn -> conn.fd (*netFD,
 * first field) -> pfd (poll.FD, first field) -> Sysfd, after the 16-byte
 * fdMutex. A net.Conn that is not a *net.TCPConn gives a number that
 * socket_of checks is a TCP socket of this process, else it is counted
 * with the calls whose socket was not found.
 */
struct go_key {
	__u64 g;
	__u32 pid;
	__u32 pad;
};

struct go_call {
	__u64 conn;
	__u64 buf;
	__u32 op;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_key);
	__type(value, struct go_call);
} go_calls SEC(".maps");

static __always_inline __s32 go_fd(__u64 conn)
{
	__u64 data = 0, netfd = 0;
	__s64 fd = -1;

	if (bpf_probe_read_user(&data, sizeof(data), (void *)(conn + 8)) || !data)
		return -1;
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (void *)data) || !netfd)
		return -1;
	if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(netfd + 16)))
		return -1;
	return fd >= 0 && fd < 0x7fffffff ? (__s32)fd : -1;
}

static __always_inline int go_enter(struct uregs *regs, __u32 op)
{
	if (excluded())
		return 0;
	__u64 tid = bpf_get_current_pid_tgid();

	/* Write's plaintext is all there at entry (Write sends the whole
	 * slice or fails): read it now, before the bytes reach the socket. At
	 * the return it could come after the peer's answer, read by another
	 * goroutine on another CPU, and the parser would see the response
	 * before its request. */
	if (op == TLS_OP_WRITE) {
		__u64 len = regs->cx;

		if (len == 0 || len > 0xffffffffULL)
			return 0;
		return output(tid, regs->ax, regs->bx, len, go_fd(regs->ax), TLS_OP_WRITE, TLS_GO);
	}
	struct go_key key = { .g = regs->r14, .pid = tid >> 32 };
	struct go_call c = { .conn = regs->ax, .buf = regs->bx, .op = op };

	if (bpf_map_update_elem(&go_calls, &key, &c, BPF_ANY))
		count(2);
	return 0;
}

static __always_inline int go_leave(struct uregs *regs)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct go_key key = { .g = regs->r14, .pid = tid >> 32 };
	struct go_call *c = bpf_map_lookup_elem(&go_calls, &key);
	__s64 n = (__s64)regs->ax;

	if (!c)
		return 0;
	struct go_call call = *c;

	bpf_map_delete_elem(&go_calls, &key);
	if (n <= 0 || n > 0xffffffffLL)
		return 0;
	return output(tid, call.conn, call.buf, n, go_fd(call.conn), call.op, TLS_GO);
}

/* The descriptor under an SSL call in progress on this thread. */
static __always_inline int syscall_fd(struct syscall_enter *ctx)
{
	__u64 tid = bpf_get_current_pid_tgid();
	struct call *c = bpf_map_lookup_elem(&calls, &tid);

	if (c && c->fd < 0)
		c->fd = (__s32)ctx->args[0];
	return 0;
}

SEC("uprobe/SSL_write")
int ssl_write(struct uregs *regs) { return enter(regs, TLS_OP_WRITE, 0); }

SEC("uprobe/SSL_write_ex")
int ssl_write_ex(struct uregs *regs) { return enter(regs, TLS_OP_WRITE, 1); }

SEC("uprobe/SSL_read")
int ssl_read(struct uregs *regs) { return enter(regs, TLS_OP_READ, 0); }

SEC("uprobe/SSL_read_ex")
int ssl_read_ex(struct uregs *regs) { return enter(regs, TLS_OP_READ, 1); }

SEC("uretprobe/SSL_any")
int ssl_return(struct uregs *regs) { return leave(regs); }

SEC("uprobe/go_tls_write")
int go_tls_write(struct uregs *regs) { return go_enter(regs, TLS_OP_WRITE); }

SEC("uprobe/go_tls_read")
int go_tls_read(struct uregs *regs) { return go_enter(regs, TLS_OP_READ); }

/* On each `ret` of Read (not a uretprobe: see the Go section above). */
SEC("uprobe/go_tls_return")
int go_tls_return(struct uregs *regs) { return go_leave(regs); }

SEC("tracepoint/syscalls/sys_enter_write")
int enter_write(struct syscall_enter *ctx) { return syscall_fd(ctx); }

SEC("tracepoint/syscalls/sys_enter_sendto")
int enter_sendto(struct syscall_enter *ctx) { return syscall_fd(ctx); }

SEC("tracepoint/syscalls/sys_enter_read")
int enter_read(struct syscall_enter *ctx) { return syscall_fd(ctx); }

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int enter_recvfrom(struct syscall_enter *ctx) { return syscall_fd(ctx); }

SEC("tracepoint/syscalls/sys_enter_writev")
int enter_writev(struct syscall_enter *ctx) { return syscall_fd(ctx); }

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int enter_sendmsg(struct syscall_enter *ctx) { return syscall_fd(ctx); }

SEC("tracepoint/syscalls/sys_enter_readv")
int enter_readv(struct syscall_enter *ctx) { return syscall_fd(ctx); }

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int enter_recvmsg(struct syscall_enter *ctx) { return syscall_fd(ctx); }
