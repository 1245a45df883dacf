/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The floor of phase 1 (bench/agent.sh): an empty program on the hook
 * bpf/conn.bpf.c uses. What it costs per run is what any program there
 * costs before doing anything: the tracepoint's call into BPF, the
 * recursion guard, RCU, the indirect call, and bpf_stats' own clock reads.
 */
#include "podwire_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(hook_floor, const struct sock *sk, int oldstate, int newstate)
{
	return 0;
}
