/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one record tls.bpf.c writes to its ring buffer: plaintext that went
 * through SSL_write or came out of SSL_read, with the socket it belongs to.
 * Mirrored once in Rust by crates/ebpf/src/tls_event.rs (TlsEvent); both
 * sides assert the header's size. Rules as in conn_event.h.
 *
 * A record is the header followed by `size` bytes of plaintext (the record
 * is exactly that long: the ring holds what was copied, not the maximum).
 */
#ifndef PODWIRE_TLS_EVENT_H
#define PODWIRE_TLS_EVENT_H

/* Plaintext bytes one record carries at most; a call that moved more is
 * sent as several records (offset), up to TLS_MAX_CHUNKS of them. */
#define TLS_CHUNK 16384
#define TLS_MAX_CHUNKS 4

/* tls_event.op */
#define TLS_OP_WRITE 1 /* SSL_write(_ex): the process sent this */
#define TLS_OP_READ 2  /* SSL_read(_ex): the process received this */

/* tls_event.flags */
#define TLS_FD_CACHED 1 /* the call made no syscall: the fd is the one this
                         * SSL object used last */
#define TLS_GO 2        /* from Go's crypto/tls; `ssl` is the *tls.Conn */

struct tls_event {
	__u64 ts_ns;      /* bpf_ktime_get_ns() at the call's return (CLOCK_MONOTONIC) */
	__u64 ssl;        /* the SSL object: joins the calls of one session */
	__u32 pid;        /* tgid */
	__u32 tid;
	__u32 len;        /* bytes the call moved in all (always complete) */
	__u32 offset;     /* where this record's bytes start within them */
	__u32 size;       /* bytes of plaintext after the header */
	__s32 fd;         /* the socket's descriptor in pid; -1 if not known */
	__u8 saddr[16];   /* local address: IPv4 in the first 4 bytes */
	__u8 daddr[16];   /* remote address */
	__u16 sport;      /* local port, host byte order; 0: no TCP socket found */
	__u16 dport;      /* remote port, host byte order */
	__u16 family;     /* AF_INET or AF_INET6; 0 if not known */
	__u8 op;          /* TLS_OP_* */
	__u8 flags;       /* TLS_FD_CACHED, TLS_GO */
	char comm[16];    /* the process's name */
};

_Static_assert(sizeof(struct tls_event) == 96, "tls_event size: update TlsEvent in crates/ebpf");

#endif
