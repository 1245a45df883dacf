//! Walking Produce and Fetch bodies without holding them.
//!
//! A Produce request or Fetch response can be megabytes, nearly all of it
//! record payload. The walk reads the body as a sequence of small elements:
//! the fields before the topic array, each topic's name and partition count,
//! each partition's fields up to its record set, each record batch's header
//! (61 bytes for a v2 batch, 17 to learn a v0/v1 message's size), and the
//! tagged fields after them. Everything between batch headers is skipped by
//! count, so what is buffered is at most one element, never a message.
//!
//! Each step either reads a whole element and applies it, or reads nothing
//! (`Short::Need`) and changes nothing, so a step can be retried when more
//! bytes came. Loops inside an element stop at the buffer's end.

use podwire_record::proto::kafka::{KafkaPartition, KafkaTopic};
use podwire_record::Kafka;

use crate::apis::error_name;
use crate::wire::{text, uuid_text, Cur, Read};
use crate::{KafkaConfig, KafkaStats};

/// Which body is walked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    ProduceRequest,
    ProduceResponse,
    FetchRequest,
    FetchResponse,
}

impl Kind {
    /// Whether this body carries record sets.
    fn has_records(self) -> bool {
        matches!(self, Kind::ProduceRequest | Kind::FetchResponse)
    }
}

/// Where in the body the next element starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    Prefix,
    TopicHead,
    Partition,
    Records,
    PartitionTail,
    TopicTail,
    Done,
}

/// A walk through one Produce or Fetch body.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Walk {
    kind: Kind,
    version: i16,
    flexible: bool,
    at: At,
    topics_left: u32,
    parts_left: u32,
    records_left: u64,
    /// Index of the current topic and partition in the record's lists, when
    /// they are listed.
    topic: Option<usize>,
    part: Option<usize>,
}

/// What a step read: bytes consumed from the element's start, then bytes
/// to skip after them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Step {
    pub consumed: usize,
    pub skip: u64,
}

impl Step {
    fn read(consumed: usize) -> Self {
        Step { consumed, skip: 0 }
    }
}

impl Walk {
    pub(crate) fn new(kind: Kind, version: i16, flexible: bool) -> Self {
        Walk {
            kind,
            version,
            flexible,
            at: At::Prefix,
            topics_left: 0,
            parts_left: 0,
            records_left: 0,
            topic: None,
            part: None,
        }
    }

    /// The topic array has been walked; the rest of the body is not needed.
    pub(crate) fn done(&self) -> bool {
        self.at == At::Done
    }

    /// Topics are named by id from v13 on (Produce and Fetch alike).
    fn topic_ids(&self) -> bool {
        self.version >= 13
    }

    /// Reads and applies the next element from `b`.
    pub(crate) fn step(
        &mut self,
        b: &[u8],
        k: &mut Kafka,
        cfg: &KafkaConfig,
        stats: &mut KafkaStats,
    ) -> Read<Step> {
        let mut c = Cur::new(b);
        match self.at {
            At::Prefix => self.prefix(&mut c, k)?,
            At::TopicHead => self.topic_head(&mut c, k, cfg)?,
            At::Partition => self.partition(&mut c, k, cfg)?,
            At::Records => return self.batch(&mut c, k, stats),
            At::PartitionTail => {
                if self.flexible {
                    c.tagged()?;
                }
                self.next_partition();
            }
            At::TopicTail => {
                if self.flexible {
                    c.tagged()?;
                }
                self.next_topic();
            }
            At::Done => {}
        }
        Ok(Step::read(c.pos()))
    }

    fn prefix(&mut self, c: &mut Cur<'_>, k: &mut Kafka) -> Read<()> {
        let (v, flex) = (self.version, self.flexible);
        let mut acks = None;
        let mut error = 0;
        match self.kind {
            Kind::ProduceRequest => {
                if v >= 3 {
                    c.string(flex)?; // transactional_id
                }
                acks = Some(c.i16()?);
                c.i32()?; // timeout_ms
            }
            Kind::ProduceResponse => {}
            Kind::FetchRequest => {
                if v <= 14 {
                    c.i32()?; // replica_id
                }
                c.take(8)?; // max_wait_ms, min_bytes
                if v >= 3 {
                    c.i32()?; // max_bytes
                }
                if v >= 4 {
                    c.i8()?; // isolation_level
                }
                if v >= 7 {
                    c.take(8)?; // session_id, session_epoch
                }
            }
            Kind::FetchResponse => {
                if v >= 1 {
                    c.i32()?; // throttle_time_ms
                }
                if v >= 7 {
                    error = c.i16()?;
                    c.i32()?; // session_id
                }
            }
        }
        let topics = c.array_len(flex)?;
        // Applied only once the whole element was read.
        if acks.is_some() {
            k.acks = acks;
        }
        note_error(k, error);
        if self.kind.has_records() {
            k.records.get_or_insert(0);
            k.record_bytes.get_or_insert(0);
        }
        self.topics_left = topics;
        self.next_topic();
        Ok(())
    }

    fn topic_head(&mut self, c: &mut Cur<'_>, k: &mut Kafka, cfg: &KafkaConfig) -> Read<()> {
        let (name, id) = if self.topic_ids() {
            (None, Some(c.uuid()?))
        } else {
            (c.string(self.flexible)?, None)
        };
        let parts = c.array_len(self.flexible)?;
        let name = name.map(|n| text(n, cfg.max_string_bytes));
        let id = id.as_ref().map(uuid_text);
        let found = k
            .topics
            .iter()
            .position(|t| t.name.as_deref() == name.as_deref() && t.id == id);
        self.topic = match found {
            Some(i) => Some(i),
            None if k.topics.len() < cfg.max_topics => {
                k.topics.push(KafkaTopic {
                    name: name.map(|n| n.into_owned()),
                    id,
                    ..KafkaTopic::default()
                });
                Some(k.topics.len() - 1)
            }
            None => {
                k.truncated = true;
                None
            }
        };
        if self.kind.has_records() {
            if let Some(t) = self.topic.and_then(|i| k.topics.get_mut(i)) {
                t.records.get_or_insert(0);
                t.record_bytes.get_or_insert(0);
            }
        }
        self.topics_left = self.topics_left.saturating_sub(1);
        self.parts_left = parts;
        self.next_partition();
        Ok(())
    }

    fn partition(&mut self, c: &mut Cur<'_>, k: &mut Kafka, cfg: &KafkaConfig) -> Read<()> {
        let (v, flex) = (self.version, self.flexible);
        let index = c.i32()?;
        let mut error = 0;
        let mut records = None;
        match self.kind {
            Kind::ProduceRequest => records = Some(c.bytes_len(flex)?),
            Kind::ProduceResponse => {
                error = c.i16()?;
                c.i64()?; // base_offset
                if v >= 2 {
                    c.i64()?; // log_append_time_ms
                }
                if v >= 5 {
                    c.i64()?; // log_start_offset
                }
                if v >= 8 {
                    for _ in 0..c.array_len(flex)? {
                        c.i32()?; // batch_index
                        c.string(flex)?; // batch_index_error_message
                        if flex {
                            c.tagged()?;
                        }
                    }
                    c.string(flex)?; // error_message
                }
                if flex {
                    c.tagged()?;
                }
            }
            Kind::FetchRequest => {
                if v >= 9 {
                    c.i32()?; // current_leader_epoch
                }
                c.i64()?; // fetch_offset
                if v >= 12 {
                    c.i32()?; // last_fetched_epoch
                }
                if v >= 5 {
                    c.i64()?; // log_start_offset
                }
                c.i32()?; // partition_max_bytes
                if flex {
                    c.tagged()?;
                }
            }
            Kind::FetchResponse => {
                error = c.i16()?;
                c.i64()?; // high_watermark
                if v >= 4 {
                    c.i64()?; // last_stable_offset
                }
                if v >= 5 {
                    c.i64()?; // log_start_offset
                }
                if v >= 4 {
                    for _ in 0..c.array_len(flex)? {
                        c.take(16)?; // producer_id, first_offset
                        if flex {
                            c.tagged()?;
                        }
                    }
                }
                if v >= 11 {
                    c.i32()?; // preferred_read_replica
                }
                records = Some(c.bytes_len(flex)?);
            }
        }
        self.parts_left = self.parts_left.saturating_sub(1);
        self.part = None;
        if let Some(t) = self.topic.and_then(|i| k.topics.get_mut(i)) {
            let found = t.partitions.iter().position(|p| p.partition == index);
            self.part = match found {
                Some(i) => Some(i),
                None if t.partitions.len() < cfg.max_partitions => {
                    t.partitions.push(KafkaPartition {
                        partition: index,
                        ..KafkaPartition::default()
                    });
                    Some(t.partitions.len() - 1)
                }
                None => {
                    k.truncated = true;
                    None
                }
            };
            if let Some(p) = self.part.and_then(|i| t.partitions.get_mut(i)) {
                if error != 0 {
                    p.error = Some(error_name(error));
                }
            }
        }
        note_error(k, error);
        match records {
            Some(len) => {
                let len = len.unwrap_or(0);
                self.add(k, 0, len);
                self.records_left = len;
                self.at = At::Records;
            }
            None => self.next_partition(),
        }
        Ok(())
    }

    /// One record batch (or v0/v1 message) header, then its rest skipped.
    fn batch(&mut self, c: &mut Cur<'_>, k: &mut Kafka, stats: &mut KafkaStats) -> Read<Step> {
        let left = self.records_left;
        if left == 0 {
            self.at = At::PartitionTail;
            return Ok(Step::default());
        }
        // baseOffset (8), batchLength (4), partitionLeaderEpoch or crc (4), magic (1).
        const PROBE: usize = 17;
        // ... attributes, lastOffsetDelta, timestamps, producer id and epoch,
        // baseSequence, then recordCount at 57.
        const V2_HEADER: usize = 61;
        let partial = |w: &mut Walk, stats: &mut KafkaStats| {
            // A batch cut by the broker at the fetch size, or nonsense:
            // nothing of it is counted, its bytes are skipped.
            stats.partial_batches += 1;
            w.records_left = 0;
            w.at = At::PartitionTail;
            Ok(Step {
                consumed: 0,
                skip: left,
            })
        };
        if left < PROBE as u64 {
            return partial(self, stats);
        }
        let probe = c.take(PROBE)?;
        let size = i32::from_be_bytes([probe[8], probe[9], probe[10], probe[11]]);
        let magic = probe[16];
        let entry = match u64::try_from(size) {
            Ok(s) if 12 + s <= left => 12 + s,
            _ => return partial(self, stats),
        };
        let count = if magic >= 2 {
            if entry < V2_HEADER as u64 {
                return partial(self, stats);
            }
            let rest = c.take(V2_HEADER - PROBE)?;
            let n = i32::from_be_bytes([rest[40], rest[41], rest[42], rest[43]]);
            u64::try_from(n).unwrap_or(0)
        } else {
            1
        };
        self.add(k, count, 0);
        self.records_left = left - entry;
        let consumed = c.pos();
        Ok(Step {
            consumed,
            skip: entry.saturating_sub(consumed as u64),
        })
    }

    /// Adds records and record-set bytes to the partition, topic and totals.
    fn add(&self, k: &mut Kafka, records: u64, bytes: u64) {
        let add = |r: &mut Option<u64>, b: &mut Option<u64>| {
            *r = Some(r.unwrap_or(0).saturating_add(records));
            *b = Some(b.unwrap_or(0).saturating_add(bytes));
        };
        add(&mut k.records, &mut k.record_bytes);
        if let Some(t) = self.topic.and_then(|i| k.topics.get_mut(i)) {
            add(&mut t.records, &mut t.record_bytes);
            if let Some(p) = self.part.and_then(|i| t.partitions.get_mut(i)) {
                add(&mut p.records, &mut p.record_bytes);
            }
        }
    }

    fn next_partition(&mut self) {
        self.at = if self.parts_left > 0 {
            At::Partition
        } else {
            At::TopicTail
        };
    }

    fn next_topic(&mut self) {
        self.at = if self.topics_left > 0 {
            At::TopicHead
        } else {
            At::Done
        };
    }
}

/// Keeps the first non-zero error code of a response.
pub(crate) fn note_error(k: &mut Kafka, code: i16) {
    if code != 0 && k.error.is_none() {
        k.error = Some(podwire_record::ProtoError {
            code: Some(error_name(code)),
            message: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk_all(w: &mut Walk, mut b: &[u8], k: &mut Kafka) -> Result<(), crate::wire::Short> {
        let cfg = KafkaConfig::default();
        let mut stats = KafkaStats::default();
        let mut skip = 0u64;
        for _ in 0..1000 {
            if w.done() {
                return Ok(());
            }
            let s = w.step(b, k, &cfg, &mut stats)?;
            b = &b[s.consumed..];
            skip += s.skip;
            let n = usize::try_from(skip).unwrap().min(b.len());
            b = &b[n..];
            skip -= n as u64;
        }
        panic!("no end");
    }

    #[test]
    fn produce_v3_request_counts_a_v2_batch() {
        // Produce v3: transactional_id null, acks 1, timeout, one topic "t"
        // with partition 0 and one 70-byte batch of 2 records.
        let mut b = vec![0xff, 0xff, 0, 1, 0, 0, 0x75, 0x30, 0, 0, 0, 1, 0, 1, b't'];
        b.extend([0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 70]);
        let mut batch = vec![0u8; 70];
        batch[8..12].copy_from_slice(&58i32.to_be_bytes());
        batch[16] = 2;
        batch[57..61].copy_from_slice(&2i32.to_be_bytes());
        b.extend(batch);
        let mut k = Kafka::default();
        let mut w = Walk::new(Kind::ProduceRequest, 3, false);
        walk_all(&mut w, &b, &mut k).unwrap();
        assert_eq!(k.acks, Some(1));
        assert_eq!((k.records, k.record_bytes), (Some(2), Some(70)));
        assert_eq!(k.topics[0].name.as_deref(), Some("t"));
        assert_eq!(k.topics[0].partitions[0].records, Some(2));
    }
}
