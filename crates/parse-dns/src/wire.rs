//! One DNS message (RFC 1035 §4.1) from its wire bytes.
//!
//! The parse is forgiving in a specific way: the header and the first
//! question are what a record needs (id, name, type), so once they are read
//! the message is returned, and anything wrong later (a truncated answer, a
//! bad pointer in the additional section) only sets
//! [`DnsMessage::malformed`]. This is what tshark does: it still shows the
//! query name and id of a message it flags as malformed.
//!
//! Work and memory are bounded by the message: every loop consumes input or
//! stops, names are capped (see `names.rs`), and at most
//! [`MAX_ANSWERS`] answers are decoded; later ones are stepped over.

use crate::names::{read_name, skip_name};
use crate::rdata;
use crate::{qtype_name, DnsError};
use podwire_record::DnsAnswer;

/// Most answer records decoded per message; the rest are skipped (still
/// validated), so one message cannot produce an unbounded record.
pub const MAX_ANSWERS: usize = 64;

const HEADER_LEN: usize = 12;
const TYPE_OPT: u16 = 41;
/// Fixed part of a resource record after its owner name.
const RR_FIXED: usize = 10;

/// The (first) question of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// Presentation form, no trailing dot; the root is `.`.
    pub name: String,
    /// RR type asked for; see [`qtype_name`].
    pub qtype: u16,
    /// Class, `1` (IN) almost always; mDNS sets the top bit.
    pub qclass: u16,
}

/// What podwire keeps of one DNS message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsMessage {
    pub id: u16,
    /// The QR bit: a response rather than a query.
    pub response: bool,
    /// 0 query, 1 inverse query, 2 status, 4 notify, 5 update.
    pub opcode: u8,
    /// The TC bit: the answer did not fit (the client will retry over TCP).
    pub truncated: bool,
    /// Response code, with the EDNS extended bits (RFC 6891 §6.1.3) when an
    /// OPT record was read; see [`crate::rcode_name`].
    pub rcode: u16,
    /// The first question; `None` when the message has none (QDCOUNT 0).
    pub question: Option<Question>,
    /// The answer section (not authority or additional), at most
    /// [`MAX_ANSWERS`], in wire order.
    pub answers: Vec<DnsAnswer>,
    /// Header and question were read but a later section was not parseable;
    /// `answers` holds those read before the fault.
    pub malformed: bool,
}

/// The fixed 12-byte header.
#[derive(Clone, Copy, Debug)]
struct Header {
    id: u16,
    flags: u16,
    qdcount: u16,
    ancount: u16,
    nscount: u16,
    arcount: u16,
}

impl Header {
    fn read(buf: &[u8]) -> Option<Header> {
        let h = buf.get(..HEADER_LEN)?;
        let w = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        Some(Header {
            id: w(0),
            flags: w(2),
            qdcount: w(4),
            ancount: w(6),
            nscount: w(8),
            arcount: w(10),
        })
    }
    fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
}

/// Parses one DNS message (a UDP payload, or one TCP frame without its
/// length prefix).
///
/// Errors only when the header or the first question cannot be read; see
/// [`DnsMessage::malformed`] for faults after that. Never panics.
pub fn parse(buf: &[u8]) -> Result<DnsMessage, DnsError> {
    let h = Header::read(buf).ok_or(DnsError::TooShort { len: buf.len() })?;
    let mut msg = DnsMessage {
        id: h.id,
        response: h.flags & 0x8000 != 0,
        opcode: h.opcode(),
        truncated: h.flags & 0x0200 != 0,
        rcode: h.flags & 0x000f,
        question: None,
        answers: Vec::new(),
        malformed: false,
    };
    let mut pos = HEADER_LEN;
    if h.qdcount > 0 {
        let (question, next) = read_question(buf, pos)?;
        msg.question = Some(question);
        pos = next;
    }
    msg.malformed = read_sections(buf, pos, &h, &mut msg).is_none();
    Ok(msg)
}

/// Reads the question at `pos`; returns it and the offset after it.
fn read_question(buf: &[u8], pos: usize) -> Result<(Question, usize), DnsError> {
    let (name, pos) = read_name(buf, pos).map_err(DnsError::BadQuestionName)?;
    let fixed = buf.get(pos..pos + 4).ok_or(DnsError::TruncatedQuestion)?;
    let qtype = u16::from_be_bytes([fixed[0], fixed[1]]);
    let qclass = u16::from_be_bytes([fixed[2], fixed[3]]);
    Ok((
        Question {
            name,
            qtype,
            qclass,
        },
        pos + 4,
    ))
}

/// Everything after the first question. `None` at the first fault; what was
/// read until then is kept in `msg`.
fn read_sections(buf: &[u8], mut pos: usize, h: &Header, msg: &mut DnsMessage) -> Option<()> {
    for _ in 1..h.qdcount {
        pos = skip_name(buf, pos).ok()? + 4;
        if pos > buf.len() {
            return None;
        }
    }
    for i in 0..h.ancount {
        let rr = Rr::read(buf, pos)?;
        if (i as usize) < MAX_ANSWERS {
            let (name, _) = read_name(buf, pos).ok()?;
            msg.answers.push(DnsAnswer {
                name,
                rtype: qtype_name(rr.rtype),
                ttl: rr.ttl,
                data: rdata::present(buf, rr.rdata, rr.rdlen, rr.rtype),
            });
        }
        pos = rr.next;
    }
    for _ in 0..h.nscount {
        pos = Rr::read(buf, pos)?.next;
    }
    let mut opt_seen = false;
    for _ in 0..h.arcount {
        let rr = Rr::read(buf, pos)?;
        // Only the first OPT counts (a second one is a FORMERR anyway).
        if rr.rtype == TYPE_OPT && !opt_seen {
            opt_seen = true;
            // TTL of OPT: extended RCODE (8 bits) | version | flags.
            msg.rcode |= ((rr.ttl >> 24) as u16) << 4;
        }
        pos = rr.next;
    }
    Some(())
}

/// The fixed fields of one resource record, with its RDATA located.
struct Rr {
    rtype: u16,
    ttl: u32,
    rdata: usize,
    rdlen: usize,
    next: usize,
}

impl Rr {
    /// Steps over the RR at `pos`; `None` if it runs past the message.
    fn read(buf: &[u8], pos: usize) -> Option<Rr> {
        let fixed_at = skip_name(buf, pos).ok()?;
        let f = buf.get(fixed_at..fixed_at + RR_FIXED)?;
        let rdlen = u16::from_be_bytes([f[8], f[9]]) as usize;
        let rdata = fixed_at + RR_FIXED;
        if rdata + rdlen > buf.len() {
            return None;
        }
        Some(Rr {
            rtype: u16::from_be_bytes([f[0], f[1]]),
            ttl: u32::from_be_bytes([f[4], f[5], f[6], f[7]]),
            rdata,
            rdlen,
            next: rdata + rdlen,
        })
    }
}

/// A cheap test of whether a UDP payload on a port that is not 53 is DNS:
/// a sane header (opcode 0..=5, exactly one question, record counts that fit
/// the length), a question name that parses, and a known class.
///
/// For classifying unknown UDP flows, so it prefers false negatives: random
/// bytes pass with a probability well under 1 in 10^6.
pub fn looks_like_dns(payload: &[u8]) -> bool {
    let Some(h) = Header::read(payload) else {
        return false;
    };
    if h.opcode() > 5 || h.qdcount != 1 {
        return false;
    }
    // Smallest question: root name (1) + type + class; smallest RR: 11.
    let records = h.ancount as usize + h.nscount as usize + h.arcount as usize;
    if HEADER_LEN + 5 + records * (1 + RR_FIXED) > payload.len() {
        return false;
    }
    let Ok((q, _)) = read_question(payload, HEADER_LEN) else {
        return false;
    };
    // IN, CH, HS, NONE, ANY; mDNS uses the top bit (unicast response).
    matches!(q.qclass & 0x7fff, 1 | 3 | 4 | 254 | 255)
}
