//! Reading one message's elements: the size, the header, then the body.
//!
//! A request header names its API and version, which decide everything
//! after: the header's own version, and how the body (and later the
//! response's body) is read. A response header carries only the correlation
//! id, so the response is read with what its request said; one without a
//! waiting request cannot be read and is skipped by its size.

use podwire_parse::Direction;
use podwire_record::Kafka;

use crate::apis::{self, FETCH, PRODUCE, SASL_HANDSHAKE};
use crate::exchange::Exchange;
use crate::walk::{note_error, Kind, Step, Walk};
use crate::wire::{text, Cur, Read};
use crate::{KafkaEvent, KafkaParser};

/// Newest Produce and Fetch versions whose bodies are walked.
const PRODUCE_MAX: i16 = 13;
const FETCH_MAX: i16 = 18;

/// What the next element of a direction is.
#[derive(Clone, Debug)]
pub(crate) enum Phase {
    /// A message's 4-byte size.
    Size,
    /// Framing lost: waiting for a segment that starts like a message.
    Hunt,
    /// The request header, or the response's correlation id.
    Header,
    /// A response header's tagged fields (header v1).
    HeaderTags { key: i16, version: i16 },
    /// A Produce or Fetch body.
    Walk(Walk),
    /// A response's top-level error code, this many bytes into the body.
    TopError {
        offset: usize,
        key: i16,
        version: i16,
    },
    /// The rest of the message is skipped.
    Skip,
}

impl KafkaParser {
    /// Reads and applies the next element of `dir` from `b`.
    pub(crate) fn step(
        &mut self,
        dir: Direction,
        b: &[u8],
        out: &mut Vec<KafkaEvent>,
    ) -> Read<Step> {
        let mut c = Cur::new(b);
        let phase = self.side(dir).phase.clone();
        match phase {
            Phase::Size => {
                let size = c.i32()?;
                // A request header takes at least 8 bytes, a response's 4.
                let min = if dir == Direction::ToServer { 8 } else { 4 };
                match u64::try_from(size) {
                    Ok(s) if s >= min && s <= self.config.max_message_bytes => {
                        let side = self.side(dir);
                        side.msg_size = s;
                        side.msg_left = s;
                        side.corr = None;
                        side.truncated = false;
                        side.phase = Phase::Header;
                    }
                    _ => {
                        self.stats.desyncs += 1;
                        self.side(dir).reset(Phase::Hunt);
                    }
                }
            }
            Phase::Hunt | Phase::Skip => {
                let left = self.side(dir).msg_left;
                self.side(dir).phase = Phase::Skip;
                return Ok(Step {
                    consumed: 0,
                    skip: left,
                });
            }
            Phase::Header => match dir {
                Direction::ToServer => self.request_header(&mut c, out)?,
                Direction::ToClient => {
                    let corr = c.i32()?;
                    self.response_header(corr, out);
                }
            },
            Phase::HeaderTags { key, version } => {
                c.tagged()?;
                self.side(dir).phase = response_body(key, version);
            }
            Phase::TopError {
                offset,
                key,
                version,
            } => {
                c.take(offset)?;
                let code = c.i16()?;
                let corr = self.side(dir).corr;
                if let Some(e) = corr.and_then(|corr| self.exchanges.get_mut(corr)) {
                    note_error(&mut e.kafka, code);
                }
                if key == SASL_HANDSHAKE && version == 0 && code == 0 {
                    self.sasl_raw = true;
                }
                self.side(dir).phase = Phase::Skip;
            }
            Phase::Walk(mut walk) => {
                let corr = self.side(dir).corr;
                let exchange = match dir {
                    Direction::ToServer => self.exchanges.newest_mut(),
                    Direction::ToClient => corr.and_then(|corr| self.exchanges.get_mut(corr)),
                };
                let Some(e) = exchange else {
                    self.side(dir).phase = Phase::Skip;
                    return Ok(Step::default());
                };
                let step = walk.step(b, &mut e.kafka, &self.config, &mut self.stats)?;
                if e.kafka.acks == Some(0) {
                    e.no_response = true;
                }
                self.side(dir).phase = if walk.done() {
                    Phase::Skip
                } else {
                    Phase::Walk(walk)
                };
                return Ok(step);
            }
        }
        Ok(Step {
            consumed: c.pos(),
            skip: 0,
        })
    }

    /// A request header: the exchange starts here.
    fn request_header(&mut self, c: &mut Cur<'_>, out: &mut Vec<KafkaEvent>) -> Read<()> {
        let key = c.i16()?;
        let version = c.i16()?;
        let known = apis::api(key);
        if self.sasl_raw {
            let plausible = known.is_some_and(|a| {
                (0..=a.max.saturating_add(apis::VERSION_SLACK)).contains(&version)
            });
            if !plausible {
                // A raw SASL token: no header, nothing to read or keep.
                self.stats.sasl_tokens += 1;
                self.client.phase = Phase::Skip;
                return Ok(());
            }
        }
        let corr = c.i32()?;
        let header = apis::request_header_version(key, version);
        let client_id = if header >= 1 {
            // Nullable non-compact string even in header v2.
            c.string(false)?
        } else {
            None
        };
        if header >= 2 {
            c.tagged()?;
        }
        if key < 0 || version < 0 {
            return Err(crate::wire::Short::Bad);
        }
        self.sasl_raw = false;
        self.requests_seen = true;
        self.stats.requests += 1;
        let kafka = Kafka {
            operation: apis::operation(key),
            api_key: key,
            api_version: version,
            correlation_id: corr,
            client_id: client_id.map(|id| text(id, self.config.max_string_bytes).into_owned()),
            request_bytes: self.client.msg_size.saturating_add(4),
            ..Kafka::default()
        };
        let ex = Exchange::new(self.client.msg_ts, kafka);
        self.exchanges.push(ex, &mut self.stats, out);
        self.client.corr = Some(corr);
        let flexible = apis::flexible(key, version);
        self.client.phase = match (key, known) {
            (PRODUCE, _) if version <= PRODUCE_MAX => {
                Phase::Walk(Walk::new(Kind::ProduceRequest, version, flexible))
            }
            (FETCH, _) if version <= FETCH_MAX => {
                Phase::Walk(Walk::new(Kind::FetchRequest, version, flexible))
            }
            (_, Some(a)) if version > a.max => {
                self.stats.unknown_versions += 1;
                Phase::Skip
            }
            _ => Phase::Skip,
        };
        Ok(())
    }

    /// A response's correlation id: pairs it, or marks it an orphan.
    fn response_header(&mut self, corr: i32, out: &mut Vec<KafkaEvent>) {
        let side = &self.server;
        let (ts, bytes) = (side.msg_ts, side.msg_size.saturating_add(4));
        let paired = self
            .exchanges
            .response_start(corr, ts, bytes, &mut self.stats, out);
        let Some((key, version)) = paired else {
            if self.sasl_raw {
                self.stats.sasl_tokens += 1;
            } else {
                self.stats.orphan_responses += 1;
            }
            self.server.phase = Phase::Skip;
            return;
        };
        self.stats.responses += 1;
        self.server.corr = Some(corr);
        self.server.phase = if apis::response_header_flexible(key, version) {
            Phase::HeaderTags { key, version }
        } else {
            response_body(key, version)
        };
    }
}

/// How a response body of `key` and `version` is read.
fn response_body(key: i16, version: i16) -> Phase {
    let flexible = apis::flexible(key, version);
    match key {
        PRODUCE if version <= PRODUCE_MAX => {
            Phase::Walk(Walk::new(Kind::ProduceResponse, version, flexible))
        }
        FETCH if version <= FETCH_MAX => {
            Phase::Walk(Walk::new(Kind::FetchResponse, version, flexible))
        }
        _ if apis::api(key).is_some_and(|a| version > a.max) => Phase::Skip,
        _ => match apis::error_offset(key, version) {
            Some(offset) => Phase::TopError {
                offset,
                key,
                version,
            },
            None => Phase::Skip,
        },
    }
}
