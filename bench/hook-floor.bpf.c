/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The floor of phase 1 (bench/agent.sh): empty programs on the hook
 * bpf/conn.bpf.c uses and on the other hook that sees every TCP
 * connection without kprobes or fentry (a sock_ops program on the root
 * cgroup, where Cilium-style agents hook). What one costs per run is what
 * any program there costs before doing anything: the call into BPF, the
 * recursion guard, RCU, the indirect call, and bpf_stats' own clock reads.
 */
#include "podwire_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(floor_tp_btf, const struct sock *sk, int oldstate, int newstate)
{
	return 0;
}

/* Called for every TCP socket's setup steps (timeouts, window, ECN,
 * connect, established) even before it asks for state callbacks, which a
 * lifecycle probe would need on top. */
struct bpf_sock_ops {
	__u32 op;
} __attribute__((preserve_access_index));

SEC("sockops")
int floor_sockops(struct bpf_sock_ops *ops)
{
	return 1;
}
