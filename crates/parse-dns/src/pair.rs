//! Query/response pairing: one record per query, with its answer and latency.
//!
//! A DNS exchange is two independent messages linked only by the 16-bit id
//! and the question, so pairing is a table of pending queries keyed by the
//! caller's flow key and the id. The table is bounded ([`DnsConfig`]):
//! queries wait at most `timeout_ns` and at most `max_pending` of them are
//! kept; the oldest is pushed out first and counted. Expiry runs per packet,
//! so insertion order is kept in a queue beside the map and only its front
//! is examined: amortised O(1) per call.
//!
//! Entries answered before they reach the front of the queue are left in it
//! (stale, recognised by a sequence number) and skipped when they surface;
//! the queue is compacted when stale entries outnumber live ones, so its
//! length stays within twice `max_pending` (plus a constant).

use crate::wire::{DnsMessage, Question};
use crate::{qtype_name, rcode_name, DnsConfig};
use podwire_record::{Dns, DnsTransport, Timestamp};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::hash::Hash;

/// One record's worth of DNS: a query with its response, a query that got
/// none, or a response whose query was not seen.
#[derive(Clone, Debug, PartialEq)]
pub struct DnsEvent<K> {
    /// The flow key the messages were given with.
    pub key: K,
    /// When the query was seen; the response's time when no query was.
    pub ts: Timestamp,
    pub dns: Dns,
}

struct Pending {
    ts: Timestamp,
    seq: u64,
    question: Option<Question>,
}

/// Pairs queries with responses by (flow key, id); see the module docs.
pub struct DnsPairer<K> {
    transport: DnsTransport,
    timeout_ns: u64,
    max_pending: usize,
    pending: FxHashMap<(K, u16), Pending>,
    /// Insertion order: key, sequence number, query time.
    order: VecDeque<((K, u16), u64, Timestamp)>,
    next_seq: u64,
    evicted: u64,
    /// Messages without a question that could not be named by a query.
    unnamed: u64,
}

impl<K: Hash + Eq + Clone> DnsPairer<K> {
    /// An empty table. `transport` is written into every record.
    /// A `max_pending` of 0 is taken as 1.
    pub fn new(config: &DnsConfig, transport: DnsTransport) -> Self {
        DnsPairer {
            transport,
            timeout_ns: config.timeout_ns,
            max_pending: config.max_pending.max(1),
            pending: FxHashMap::default(),
            order: VecDeque::new(),
            next_seq: 0,
            evicted: 0,
            unnamed: 0,
        }
    }

    /// Takes one parsed message of flow `key`, seen at `ts`.
    ///
    /// A query is remembered; a retransmission (same key, id and question)
    /// keeps the first one's time. A different question under a pending id
    /// means the earlier query went unanswered: it is emitted as such.
    /// A response is emitted with its pending query (latency = response time
    /// minus query time), or on its own when none matches (latency `None`).
    pub fn message(&mut self, key: K, ts: Timestamp, msg: DnsMessage, out: &mut Vec<DnsEvent<K>>) {
        if msg.question.is_none() && !msg.response {
            // A query that asks nothing names nothing: count it, keep nothing.
            self.unnamed += 1;
            return;
        }
        let k = (key, msg.id);
        if !msg.response {
            if let Some(p) = self.pending.get(&k) {
                if same_question(&p.question, &msg.question) {
                    return;
                }
                if let Some(old) = self.pending.remove(&k) {
                    out.push(self.unanswered(k.clone(), old));
                }
            }
            if self.pending.len() >= self.max_pending {
                self.evict_oldest(out);
            }
            let seq = self.next_seq;
            self.next_seq += 1;
            self.order.push_back((k.clone(), seq, ts));
            self.pending.insert(
                k,
                Pending {
                    ts,
                    seq,
                    question: msg.question,
                },
            );
            self.compact();
            return;
        }
        let matched = match self.pending.get(&k) {
            Some(p) => same_question(&p.question, &msg.question),
            None => false,
        };
        let query = if matched {
            self.pending.remove(&k)
        } else {
            None
        };
        let (key, id) = k;
        let (ts0, latency_ms, question) = match query {
            Some(q) => (
                q.ts,
                Some(q.ts.millis_until(ts)),
                q.question.or(msg.question),
            ),
            None => (ts, None, msg.question),
        };
        let Some(question) = question else {
            // An unmatched response without a question (a FORMERR to junk,
            // say) has nothing to name the record by.
            self.unnamed += 1;
            return;
        };
        out.push(DnsEvent {
            key,
            ts: ts0,
            dns: self.record(
                id,
                Some(question),
                Some(rcode_name(msg.rcode)),
                msg.answers,
                latency_ms,
            ),
        });
    }

    /// Emits, unanswered, the queries pending for longer than the timeout at
    /// `now`. Cheap enough to call for every packet.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<DnsEvent<K>>) {
        while let Some((k, seq, ts)) = self.order.front() {
            let live = self.pending.get(k).is_some_and(|p| p.seq == *seq);
            if live && now.0.saturating_sub(ts.0) <= self.timeout_ns {
                break;
            }
            let Some((k, _, _)) = self.order.pop_front() else {
                break;
            };
            if live {
                if let Some(p) = self.pending.remove(&k) {
                    out.push(self.unanswered(k, p));
                }
            }
        }
    }

    /// End of capture: emits every pending query, unanswered, oldest first.
    pub fn drain(&mut self, out: &mut Vec<DnsEvent<K>>) {
        while let Some((k, seq, _)) = self.order.pop_front() {
            if self.pending.get(&k).is_some_and(|p| p.seq == seq) {
                if let Some(p) = self.pending.remove(&k) {
                    out.push(self.unanswered(k, p));
                }
            }
        }
        self.pending.clear();
    }

    /// Queries pushed out because the table was full, since creation.
    /// Messages dropped because neither they nor a matching query had a
    /// question (nothing to name a record by).
    pub fn unnamed(&self) -> u64 {
        self.unnamed
    }

    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Queries waiting for a response.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    fn evict_oldest(&mut self, out: &mut Vec<DnsEvent<K>>) {
        while let Some((k, seq, _)) = self.order.pop_front() {
            if self.pending.get(&k).is_some_and(|p| p.seq == seq) {
                if let Some(p) = self.pending.remove(&k) {
                    self.evicted += 1;
                    out.push(self.unanswered(k, p));
                }
                return;
            }
        }
    }

    /// Drops stale queue entries once they outnumber live ones; the queue
    /// then holds exactly the live entries, so the O(n) pass is paid for by
    /// the n pushes before the next one.
    fn compact(&mut self) {
        if self.order.len() > 2 * self.pending.len() + 64 {
            let pending = &self.pending;
            self.order
                .retain(|(k, seq, _)| pending.get(k).is_some_and(|p| p.seq == *seq));
        }
    }

    fn unanswered(&self, (key, id): (K, u16), p: Pending) -> DnsEvent<K> {
        DnsEvent {
            key,
            ts: p.ts,
            dns: self.record(id, p.question, None, Vec::new(), None),
        }
    }

    /// The record of a transaction. Queries without a question are never
    /// kept, and responses without one are emitted only with their query's,
    /// so `question` is always there in practice; should it not be, the
    /// name is the root (`.`), never an empty string.
    fn record(
        &self,
        id: u16,
        question: Option<Question>,
        rcode: Option<String>,
        answers: Vec<podwire_record::DnsAnswer>,
        latency_ms: Option<f64>,
    ) -> Dns {
        let (name, qtype) = match question {
            Some(q) => (q.name, qtype_name(q.qtype)),
            None => (".".to_string(), qtype_name(0)),
        };
        Dns {
            transport: self.transport,
            id,
            name,
            qtype,
            rcode,
            answers,
            latency_ms,
        }
    }
}

/// Whether two messages ask the same thing. Names compare without case
/// (resolvers randomise it, and echo it back); a missing question matches
/// anything, since some servers leave it out of error responses.
fn same_question(a: &Option<Question>, b: &Option<Question>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.qtype == b.qtype && a.name.eq_ignore_ascii_case(&b.name),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: u16, response: bool) -> DnsMessage {
        DnsMessage {
            id,
            response,
            opcode: 0,
            truncated: false,
            rcode: 0,
            question: Some(Question {
                name: "a.test".into(),
                qtype: 1,
                qclass: 1,
            }),
            answers: Vec::new(),
            malformed: false,
        }
    }

    #[test]
    fn queue_of_answered_queries_is_compacted() {
        let mut p = DnsPairer::new(&DnsConfig::default(), DnsTransport::Udp);
        let mut out = Vec::new();
        p.message(0u8, Timestamp(0), msg(0, false), &mut out);
        for id in 1..10_000u16 {
            p.message(1u8, Timestamp(1), msg(id, false), &mut out);
            // Checked where the queue grows: right after a query.
            assert!(p.order.len() <= 2 * p.pending.len() + 64);
            p.message(1u8, Timestamp(2), msg(id, true), &mut out);
        }
        assert_eq!(p.pending(), 1);
    }

    /// suricata-verify dns-udp-junkrequest-first: junk with QDCOUNT 0 and
    /// its FORMERR answer once became records with an empty name and type.
    #[test]
    fn messages_without_a_question_make_no_nameless_records() {
        let mut p = DnsPairer::new(&DnsConfig::default(), DnsTransport::Udp);
        let mut out = Vec::new();
        let junk = DnsMessage {
            question: None,
            ..msg(7, false)
        };
        let formerr = DnsMessage {
            question: None,
            rcode: 1,
            ..msg(7, true)
        };
        p.message(0u8, Timestamp(0), junk, &mut out);
        p.message(0u8, Timestamp(1), formerr, &mut out);
        p.drain(&mut out);
        assert!(out.is_empty());
        assert_eq!(p.unnamed(), 2);
        // A FORMERR without a question still pairs with a real query.
        p.message(0u8, Timestamp(2), msg(8, false), &mut out);
        p.message(
            0u8,
            Timestamp(3),
            DnsMessage {
                question: None,
                rcode: 1,
                ..msg(8, true)
            },
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].dns.name, "a.test");
        assert_eq!(out[0].dns.rcode.as_deref(), Some("FORMERR"));
    }
}
