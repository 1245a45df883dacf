/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The few kernel types conn.bpf.c needs, instead of a generated vmlinux.h
 * (multi-megabyte and derived from one kernel build). Struct layouts here are
 * NOT the kernel's: `preserve_access_index` makes clang emit CO-RE
 * relocations by field name, and the loader (aya) rewrites every offset
 * against the running kernel's BTF (/sys/kernel/btf/vmlinux). So list only
 * the fields read, with the kernel's names and types.
 */
#ifndef PODWIRE_TYPES_H
#define PODWIRE_TYPES_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

/* UAPI constants (linux/bpf.h cannot be included with -target bpf alone:
 * it pulls in the host's asm/types.h). */
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_LRU_HASH 9
#define BPF_MAP_TYPE_RINGBUF 27
#define BPF_ANY 0
/* bpf_ringbuf_submit flag */
#define BPF_RB_NO_WAKEUP 1

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define SOCK_STREAM 1

/* include/net/tcp_states.h */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9
#define TCP_LISTEN 10

struct trace_entry {
	unsigned short type;
	unsigned char flags;
	unsigned char preempt_count;
	int pid;
} __attribute__((preserve_access_index));

/* Context of tracepoint sock/inet_sock_set_state
 * (/sys/kernel/tracing/events/sock/inet_sock_set_state/format). */
struct trace_event_raw_inet_sock_set_state {
	struct trace_entry ent;
	const void *skaddr;
	int oldstate;
	int newstate;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 protocol;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
} __attribute__((preserve_access_index));

/* The socket as the hooks see it: only the fields read, by name (CO-RE
 * finds them inside the kernel's anonymous unions). */
struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
} __attribute__((preserve_access_index));

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u16 sk_protocol;
} __attribute__((preserve_access_index));

/* The local port as the classic tracepoint reads it: skc_num is already
 * 0 when a socket that went through TIME_WAIT reaches TCP_CLOSE. */
struct inet_sock {
	__be16 inet_sport;
} __attribute__((preserve_access_index));

/* For the process name: a thread's comm can differ from its process's
 * (dig's "isc-net-0000"), the thread group leader's is the program's. And
 * (tls.bpf.c) for a descriptor's open file. */
struct files_struct;
struct task_struct {
	struct task_struct *group_leader;
	char comm[16];
	struct files_struct *files;
} __attribute__((preserve_access_index));

/* A descriptor to its socket: task->files->fdt->fd[n]->private_data is the
 * struct socket of a socket's file. */
struct file {
	void *private_data;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct socket {
	short type;
	struct sock *sk;
} __attribute__((preserve_access_index));

/* Context of the classic tracepoints syscalls/sys_enter_* (their format
 * files: the syscall's arguments as 8-byte slots after the number). Not in
 * BTF, stable ABI: no CO-RE. */
struct syscall_enter {
	__u64 common;
	int syscall_nr;
	int pad;
	__u64 args[6];
};

/* User registers at a uprobe: the x86-64 kernel struct pt_regs (its own
 * name here, so bpf_tracing.h's definitions do not apply). */
struct uregs {
	unsigned long r15;
	unsigned long r14;
	unsigned long r13;
	unsigned long r12;
	unsigned long bp;
	unsigned long bx;
	unsigned long r11;
	unsigned long r10;
	unsigned long r9;
	unsigned long r8;
	unsigned long ax;
	unsigned long cx;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	unsigned long orig_ax;
	unsigned long ip;
	unsigned long cs;
	unsigned long flags;
	unsigned long sp;
	unsigned long ss;
};

/* RFC 4898 counters kept by the kernel per TCP socket. */
struct tcp_sock {
	__u64 bytes_received;
	__u64 bytes_acked;
	__u32 srtt_us; /* smoothed RTT, microseconds << 3 */
	__u32 total_retrans;
} __attribute__((preserve_access_index));

#endif
