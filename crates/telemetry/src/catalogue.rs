//! Every counter and gauge the agent reports about itself, each defined
//! once. A struct per place that counts: its fields are the atomics the
//! code increments, its definitions say how `/metrics`, `/api/v1/status`
//! and the log lines show them. To add one: a field with its [`Def`] in
//! the right struct (or a new struct, listed in [`all`]); the tests check
//! that names and status paths are unique and that every definition
//! reaches both outputs.
//!
//! Names follow `podwire_<what>_<unit>[_total]` (`_total` is added to
//! counters when encoded). Some names predate this catalogue and are kept
//! as dashboards read them, even where the status path says it otherwise.

use crate::Def;

const REFUSED: &str = "API requests refused, by reason: no or unknown token, no grant, token not checkable, over the client's rate, request target too long, too many streams";
const REFUSED_NAME: &str = "podwire_api_requests_refused";

crate::counters! {
    /// What the capture side counts (packet rings, interfaces, the eBPF
    /// probe) and the live stream's losses.
    pub struct Capture {
        /// Frames read from the rings.
        frames = Def::counter("podwire_capture_frames", "capture.frames",
            "Frames read from the capture rings"),
        /// Packets dealt to the trackers.
        packets = Def::counter("podwire_capture_packets", "capture.packets",
            "Packets dealt to the trackers (frames less copies and skipped frames)"),
        /// Copies of a packet already seen on another interface.
        copies = Def::counter("podwire_capture_packets_duplicate", "capture.copies_dropped",
            "Copies of a packet already seen on another interface, skipped"),
        /// Frames that were not TCP/UDP over IP, or loopback's outgoing copies.
        skipped = Def::counter("podwire_capture_frames_skipped", "capture.skipped",
            "Frames that were not TCP or UDP over IP, or loopback's outgoing copies"),
        /// The kernel's count of packets passed to the rings.
        ring_packets = Def::counter("podwire_capture_ring_packets", "capture.ring_packets",
            "Packets the kernel passed to the capture rings (its own count)"),
        /// Packets the kernel dropped because a ring was full.
        ring_drops = Def::counter("podwire_capture_packets_dropped", "capture.ring_drops",
            "Packets the kernel dropped because a capture ring was full").logged(),
        /// Rings that failed (read errors, lost interfaces).
        ring_errors = Def::counter("podwire_capture_ring_errors", "capture.ring_errors",
            "Capture ring errors (a ring could not be opened or read)").logged(),
        /// Netlink errors while following interfaces.
        netlink_errors = Def::counter("podwire_capture_netlink_errors", "capture.netlink_errors",
            "Errors reading interface changes from netlink").logged(),
        /// Interface filter updates the kernel refused.
        filter_errors = Def::counter("podwire_capture_filter_errors", "capture.filter_errors",
            "Ring filter updates the kernel refused").logged(),
        links_added = Def::counter("podwire_capture_links_added", "capture.links_added",
            "Interfaces that appeared in a watched namespace"),
        links_removed = Def::counter("podwire_capture_links_removed", "capture.links_removed",
            "Interfaces that left a watched namespace"),
        /// IP datagrams whose fragments never completed.
        defrag_dropped = Def::counter("podwire_capture_defrag_dropped_datagrams",
            "capture.defrag_dropped", "IP datagrams whose fragments never completed").logged(),
        /// eBPF events the kernel could not queue (ring buffer full).
        ebpf_lost = Def::counter("podwire_ebpf_events_lost", "ebpf.lost",
            "Connection events the kernel could not queue to the agent").logged(),
        ebpf_events = Def::counter("podwire_ebpf_events", "ebpf.events",
            "Connection events read from the eBPF probe"),
        /// Records a live-stream client missed because it read too slowly.
        stream_lagged = Def::counter("podwire_stream_lagged_records", "stream.lagged_records",
            "Records live-stream clients missed by reading too slowly").logged(),
    }
}

crate::counters! {
    /// Figures kept elsewhere (the trackers' statistics, the kernel socket
    /// table, the name cache, the store's queue), set at each scrape.
    pub struct Sampled {
        tracker_open = Def::gauge("podwire_tracked_connections", "tracker.open",
            "Connections the tracker follows now"),
        tracker_tcp = Def::counter("podwire_tracker_tcp_connections", "tracker.tcp_connections",
            "TCP connections the tracker started following"),
        tracker_udp = Def::counter("podwire_tracker_udp_flows", "tracker.udp_flows",
            "UDP flows the tracker started following"),
        tracker_evicted = Def::counter("podwire_tracker_evicted_connections", "tracker.evicted",
            "Connections forgotten early because the tracker's table was full").logged(),
        reassembly_limit_hits = Def::counter("podwire_tracker_reassembly_limit_hits",
            "tracker.reassembly_limit_hits",
            "Times stream reassembly gave up a hole because a buffer limit was reached").logged(),
        reassembly_buffered = Def::gauge("podwire_tracker_reassembly_buffered_bytes",
            "tracker.reassembly_buffered_bytes", "Bytes buffered for stream reassembly now")
            .unit("bytes"),
        dns_malformed = Def::counter("podwire_tracker_dns_malformed_messages",
            "tracker.dns_malformed", "DNS messages that did not parse, or parsed only in part"),
        dns_evicted = Def::counter("podwire_tracker_dns_evicted_queries", "tracker.dns_evicted",
            "DNS queries pushed out of the pairing table unanswered"),
        parsers_failed = Def::counter("podwire_tracker_parser_failures", "tracker.parsers_failed",
            "Connections an application parser gave up on (not the protocol after all, or a limit)"),
        tls_decrypted = Def::counter("podwire_tls_decrypted_connections", "tracker.tls_decrypted",
            "TLS connections decrypted with a key log"),
        tls_no_key = Def::counter("podwire_tls_no_key_connections", "tracker.tls_no_key",
            "TLS connections the key log had no secrets for"),
        tls_unsupported = Def::counter("podwire_tls_unsupported_connections",
            "tracker.tls_unsupported", "TLS connections whose cipher suite cannot be decrypted (CBC, ...)"),
        tls_auth_failed = Def::counter("podwire_tls_auth_failed_records", "tracker.tls_auth_failed",
            "TLS records that failed authentication when decrypted"),
        kernel_sockets = Def::gauge("podwire_ebpf_sockets", "ebpf.sockets",
            "Sockets the kernel socket table holds now"),
        kernel_evicted = Def::counter("podwire_ebpf_sockets_evicted", "ebpf.evicted",
            "Sockets forgotten because the kernel socket table was full").logged(),
        kernel_unclaimed = Def::counter("podwire_ebpf_sockets_unclaimed", "ebpf.unclaimed",
            "Closed sockets no packet record claimed, reported on their own"),
        names_known = Def::gauge("podwire_names_known", "names.known",
            "Addresses the name cache (DNS answers, SNI) holds now"),
        names_forgotten = Def::counter("podwire_names_forgotten", "names.forgotten",
            "Names the name cache forgot to stay within its bound"),
        stream_clients = Def::gauge("podwire_stream_clients", "stream.clients",
            "Live-stream clients now"),
        not_deferred = Def::counter("podwire_requests_not_deferred", "ingest.requests_not_deferred",
            "Request records stored without waiting for the kernel's view of their connection (the waiting queue was full), so possibly without process names").logged(),
        resident_memory = Def::gauge("podwire_resident_memory_bytes", "memory.resident_bytes",
            "The agent's resident memory").unit("bytes"),
    }
}

crate::counters! {
    /// The traffic metrics' own bounds (`podwire-serve`'s `Metrics`).
    pub struct MetricsCounters {
        /// Distinct `(src, dst)` label pairs admitted.
        pairs = Def::gauge("podwire_metrics_pairs", "metrics.pairs",
            "Distinct src/dst label pairs in the traffic metrics"),
        pairs_overflow = Def::counter("podwire_metrics_pairs_overflow", "metrics.pairs_overflow",
            "Observations counted under src/dst \"other\" because the pair cap was reached"),
        labels_overflow = Def::counter("podwire_metrics_labels_overflow",
            "metrics.labels_overflow",
            "Observations counted under operation or gRPC method \"other\" because a label cap was reached"),
        certificates_overflow = Def::counter("podwire_metrics_certificates_overflow",
            "metrics.certificates_overflow",
            "Certificates not exported because the certificate cap was reached"),
    }
}

crate::counters! {
    /// The agent's own API traffic left out (`--observe-self` keeps it).
    pub struct OwnCounters {
        /// Packets that never reached the trackers.
        packets = Def::counter("podwire_own_packets_left_out", "own.packets_left_out",
            "Packets of the agent's own API connections left out of analysis after the packet ring; most never reach it, dropped uncounted by the ring's kernel filter (--observe-self keeps them all)"),
        /// Kernel-only records dropped.
        records = Def::counter("podwire_own_records_left_out", "own.records_left_out",
            "Kernel-only records of the agent's own API sockets left out"),
        /// Packets left out of captures.
        captured = Def::counter("podwire_own_capture_packets_left_out",
            "own.capture_packets_left_out",
            "Packets of the agent's own API connections left out of packet captures"),
        /// Connections not registered (the table was full).
        unregistered = Def::counter("podwire_own_connections_unregistered", "own.unregistered",
            "Own API connections not registered because the table was full (their kernel-only records are kept)").logged(),
    }
}

crate::counters! {
    /// The API's access control.
    pub struct AccessCounters {
        allowed = Def::counter("podwire_api_requests_allowed", "api.access.allowed",
            "API requests access control let through"),
        /// 401: no token, or one nobody holds.
        unauthenticated = Def::counter(REFUSED_NAME, "api.access.unauthenticated", REFUSED)
            .label("reason", "unauthenticated"),
        /// 403: a known caller without the grant.
        forbidden = Def::counter(REFUSED_NAME, "api.access.forbidden", REFUSED)
            .label("reason", "forbidden"),
        /// 503: the token file or the API server could not be asked.
        unavailable = Def::counter(REFUSED_NAME, "api.access.unavailable", REFUSED)
            .label("reason", "unavailable"),
        /// Answers not kept because the cache was full.
        cache_full = Def::counter("podwire_api_access_answers_uncached", "api.access.cache_full",
            "Access answers not cached because the cache was full"),
    }
}

crate::counters! {
    /// The API listener.
    pub struct ListenerCounters {
        accepted = Def::counter("podwire_api_connections_accepted", "api.listener.accepted",
            "API connections accepted"),
        /// Closed at once: the most connections were being served.
        refused_busy = Def::counter("podwire_api_connections_refused",
            "api.listener.refused_busy",
            "API connections closed at once because the most the agent serves were open"),
        /// TLS handshakes that failed or timed out.
        tls_handshake_failures = Def::counter("podwire_api_tls_handshake_failures",
            "api.listener.tls_handshake_failures", "API TLS handshakes that failed or timed out"),
        /// Times the certificate was loaded again after its files changed.
        certificate_reloads = Def::counter("podwire_api_certificate_reloads",
            "api.listener.certificate_reloads",
            "Times the API certificate was loaded again after its files changed"),
    }
}

crate::counters! {
    /// The per-client limits of the API.
    pub struct LimitCounters {
        /// 414: the request target was too long.
        target_too_long = Def::counter(REFUSED_NAME, "api.limits.target_too_long", REFUSED)
            .label("reason", "target_too_long"),
        /// 429: the client address was over its rate.
        rate_limited = Def::counter(REFUSED_NAME, "api.limits.rate_limited", REFUSED)
            .label("reason", "rate_limited"),
        /// 429: as many streams as allowed were open.
        streams_refused = Def::counter(REFUSED_NAME, "api.limits.streams_refused", REFUSED)
            .label("reason", "streams_full"),
        /// Streams ended because their client read too slowly for too long.
        streams_dropped_slow = Def::counter("podwire_api_streams_dropped_slow",
            "api.limits.streams_dropped_slow",
            "Live streams ended because their client read too slowly for too long"),
    }
}

crate::counters! {
    /// Packet captures on demand (`/api/v1/capture`, live agents).
    pub struct CaptureCounters {
        /// Captures streaming now (each holds one of the allowed slots).
        active = Def::gauge("podwire_sniff_active", "captures.active",
            "Packet captures streaming now"),
        started = Def::counter("podwire_sniff_started", "captures.started",
            "Packet captures started"),
        /// Requests refused (unauthenticated, forbidden, invalid, busy).
        refused = Def::counter("podwire_sniff_refused", "captures.refused",
            "Capture requests refused (unauthenticated, forbidden, invalid, too many)"),
        packets = Def::counter("podwire_sniff_packets", "captures.packets",
            "Packets streamed by captures"),
        /// pcapng bytes streamed to clients.
        bytes = Def::counter("podwire_sniff_bytes", "captures.bytes",
            "pcapng bytes streamed by captures").unit("bytes"),
        /// Packets dropped by the kernel or over the rate cap.
        dropped = Def::counter("podwire_sniff_dropped_packets", "captures.dropped",
            "Packets captures lost: ring full, or over the capture rate cap").logged(),
    }
}

const TLS_CALLS: &str = "TLS library calls (SSL_read, SSL_write, Go crypto/tls Read and Write) seen by the plaintext probe, by outcome: parsed on their connection, connection not tracked, socket not found, lost in the kernel, left alone (namespace excluded)";
const TLS_CALLS_NAME: &str = "podwire_tls_plaintext_calls";

crate::counters! {
    /// Plaintext from TLS libraries (`--tls-plaintext`), when it runs.
    pub struct TlsCounters {
        /// Library files probed now.
        libraries = Def::gauge("podwire_tls_plaintext_libraries", "tls_plaintext.libraries",
            "TLS library files the plaintext probe is attached to"),
        /// Calls parsed on a tracked connection (the trackers' count, set
        /// when read).
        parsed = Def::counter(TLS_CALLS_NAME, "tls_plaintext.calls_parsed", TLS_CALLS)
            .label("outcome", "parsed"),
        /// Calls whose connection was not tracked in time (the trackers'
        /// count, set when read).
        untracked = Def::counter(TLS_CALLS_NAME, "tls_plaintext.calls_untracked", TLS_CALLS)
            .label("outcome", "untracked").logged(),
        /// Calls whose socket the probe did not find.
        unattributed = Def::counter(TLS_CALLS_NAME, "tls_plaintext.calls_unattributed",
            TLS_CALLS).label("outcome", "unattributed").logged(),
        /// The kernel side's losses: ring full, calls not followed.
        lost = Def::counter(TLS_CALLS_NAME, "tls_plaintext.calls_lost", TLS_CALLS)
            .label("outcome", "lost").logged(),
        /// Calls left alone: their pod's namespace is excluded.
        excluded = Def::counter(TLS_CALLS_NAME, "tls_plaintext.calls_excluded", TLS_CALLS)
            .label("outcome", "excluded"),
        /// cgroups whose calls are left alone now.
        excluded_cgroups = Def::gauge("podwire_tls_plaintext_excluded_cgroups",
            "tls_plaintext.excluded_cgroups",
            "cgroups of pods in --tls-plaintext-exclude-namespaces, whose TLS calls are not read"),
        /// Files the probe could not attach to.
        refused = Def::counter("podwire_tls_plaintext_libraries_refused",
            "tls_plaintext.libraries_refused",
            "TLS library files the plaintext probe could not attach to").logged(),
    }
}

crate::counters! {
    /// Reverse DNS (`--reverse-dns`), when on.
    pub struct ReverseDnsCounters {
        /// Queries sent.
        queries = Def::counter("podwire_reverse_dns_queries", "reverse_dns.queries",
            "PTR queries sent (--reverse-dns)"),
        /// Addresses not queued because the queue was full.
        dropped = Def::counter("podwire_reverse_dns_dropped", "reverse_dns.dropped",
            "Addresses not looked up because the lookup queue was full").logged(),
    }
}

const CERT_FETCHES: &str = "TLS 1.3 certificate fetches (--tls-cert-fetch), by outcome: a certificate, a failed handshake, not made because the queue or table was full";
const CERT_FETCHES_NAME: &str = "podwire_tls_cert_fetches";

crate::counters! {
    /// TLS 1.3 certificates fetched (`--tls-cert-fetch on`), when on.
    pub struct CertFetchCounters {
        /// Handshakes that gave a certificate.
        fetched = Def::counter(CERT_FETCHES_NAME, "tls_cert_fetch.fetched", CERT_FETCHES)
            .label("outcome", "fetched"),
        /// Handshakes that failed (refused, timed out, not TLS).
        failed = Def::counter(CERT_FETCHES_NAME, "tls_cert_fetch.failed", CERT_FETCHES)
            .label("outcome", "failed"),
        /// Fetches not made: the queue or the table was full.
        skipped = Def::counter(CERT_FETCHES_NAME, "tls_cert_fetch.skipped", CERT_FETCHES)
            .label("outcome", "skipped").logged(),
        /// TLS 1.3 records given a fetched certificate.
        used = Def::counter("podwire_tls_cert_fetched_records", "tls_cert_fetch.records",
            "TLS 1.3 records given a certificate the agent fetched"),
    }
}

/// The definitions every agent and `read --serve` reports.
pub fn always() -> [&'static [Def]; 7] {
    [
        Capture::DEFS,
        Sampled::DEFS,
        MetricsCounters::DEFS,
        OwnCounters::DEFS,
        AccessCounters::DEFS,
        ListenerCounters::DEFS,
        LimitCounters::DEFS,
    ]
}

/// The definitions of optional parts, reported when they run (in both
/// outputs alike).
pub fn optional() -> [&'static [Def]; 4] {
    [
        CaptureCounters::DEFS,
        TlsCounters::DEFS,
        ReverseDnsCounters::DEFS,
        CertFetchCounters::DEFS,
    ]
}

/// Every definition of the catalogue, struct by struct.
pub fn all() -> impl Iterator<Item = &'static [Def]> {
    always().into_iter().chain(optional())
}
