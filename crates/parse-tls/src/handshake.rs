//! Handshake messages out of handshake-record fragments.
//!
//! A handshake message may span several records (a certificate chain larger
//! than 16 KiB, or a client that fragments on purpose) and one record may
//! carry several messages (ServerHello, Certificate, ServerHelloDone in one).
//! A message that lies whole inside the fragment at hand is passed on as a
//! borrowed slice; only a message cut by a record or segment boundary is
//! copied, into a buffer bounded by the configured limit.

use podwire_record::Timestamp;

const HEADER_LEN: usize = 4;

/// ClientHello, ServerHello, ... (RFC 8446, 4).
pub(crate) const CLIENT_HELLO: u8 = 1;
pub(crate) const SERVER_HELLO: u8 = 2;
pub(crate) const CERTIFICATE: u8 = 11;
pub(crate) const SERVER_HELLO_DONE: u8 = 14;

/// One complete handshake message.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Message<'a> {
    pub msg_type: u8,
    pub body: &'a [u8],
    /// Capture time of the packet carrying the message's first byte.
    pub ts: Timestamp,
}

/// What the consumer of messages wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// This direction has told all it will: stop reading it.
    Stop,
}

/// A message declares more bytes than the buffer may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TooLarge {
    pub len: usize,
}

/// Handshake reassembly state of one direction.
#[derive(Debug, Default)]
pub(crate) struct HandshakeReader {
    /// A message cut by a fragment boundary, header included.
    partial: Vec<u8>,
    partial_ts: Timestamp,
}

impl HandshakeReader {
    /// Feeds the body bytes of a handshake record, calling `on_message` for
    /// each message completed; stops early when it returns [`Flow::Stop`] or
    /// an error. A message of more than `limit` bytes (header included) that
    /// would have to be buffered is [`TooLarge`].
    pub(crate) fn feed<E>(
        &mut self,
        mut data: &[u8],
        ts: Timestamp,
        limit: usize,
        mut on_message: impl FnMut(Message<'_>) -> Result<Flow, E>,
    ) -> Result<Flow, E>
    where
        E: From<TooLarge>,
    {
        while !data.is_empty() {
            if self.partial.is_empty() {
                // Whole messages straight from the input: the common case.
                if let Some((msg_type, total)) = header(data) {
                    if let Some((msg, rest)) = data.split_at_checked(total) {
                        data = rest;
                        let body = msg.get(HEADER_LEN..).unwrap_or_default();
                        if on_message(Message { msg_type, body, ts })? == Flow::Stop {
                            return Ok(Flow::Stop);
                        }
                        continue;
                    }
                    if total > limit {
                        return Err(TooLarge { len: total }.into());
                    }
                    self.partial.reserve_exact(total);
                }
                self.partial_ts = ts;
            }
            // Complete the buffered header first, then the body.
            let want = match header(&self.partial) {
                Some((_, total)) if total > limit => return Err(TooLarge { len: total }.into()),
                Some((_, total)) => total,
                None => HEADER_LEN,
            };
            let (taken, rest) =
                data.split_at(want.saturating_sub(self.partial.len()).min(data.len()));
            self.partial.extend_from_slice(taken);
            data = rest;
            if let Some((msg_type, total)) = header(&self.partial) {
                if self.partial.len() == total {
                    let body = self.partial.get(HEADER_LEN..).unwrap_or_default();
                    let flow = on_message(Message {
                        msg_type,
                        body,
                        ts: self.partial_ts,
                    })?;
                    self.partial.clear();
                    if flow == Flow::Stop {
                        return Ok(Flow::Stop);
                    }
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// Drops any buffered message and its memory.
    pub(crate) fn reset(&mut self) {
        self.partial = Vec::new();
    }
}

/// Type and total length (header included) of the message starting `bytes`.
fn header(bytes: &[u8]) -> Option<(u8, usize)> {
    match *bytes {
        [msg_type, a, b, c, ..] => {
            let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
            Some((msg_type, HEADER_LEN + len))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` and returns (type, body) of every message.
    fn messages(chunks: &[&[u8]], limit: usize) -> Result<Vec<(u8, Vec<u8>)>, TooLarge> {
        let mut reader = HandshakeReader::default();
        let mut out = Vec::new();
        for chunk in chunks {
            reader.feed(chunk, Timestamp(0), limit, |m| {
                out.push((m.msg_type, m.body.to_vec()));
                Ok::<_, TooLarge>(Flow::Continue)
            })?;
        }
        Ok(out)
    }

    #[test]
    fn several_messages_in_one_fragment() {
        let data = [2, 0, 0, 1, 0xaa, 14, 0, 0, 0];
        let got = messages(&[&data], 100).unwrap();
        assert_eq!(got, vec![(2, vec![0xaa]), (14, vec![])]);
    }

    #[test]
    fn message_split_anywhere_reassembles() {
        let data = [11, 0, 0, 3, 1, 2, 3, 14, 0, 0, 0];
        for cut in 1..data.len() {
            let (a, b) = data.split_at(cut);
            let got = messages(&[a, b], 100).unwrap();
            assert_eq!(got, vec![(11, vec![1, 2, 3]), (14, vec![])], "cut at {cut}");
        }
    }

    #[test]
    fn oversized_partial_message_is_refused() {
        let data = [11, 0, 0x10, 0, 1, 2];
        assert_eq!(messages(&[&data], 1000), Err(TooLarge { len: 0x1004 }));
        // A header arriving in pieces is checked as soon as it is whole.
        assert_eq!(
            messages(&[&data[..2], &data[2..]], 1000),
            Err(TooLarge { len: 0x1004 })
        );
    }

    #[test]
    fn timestamp_is_that_of_the_first_byte() {
        let mut reader = HandshakeReader::default();
        let mut seen = Vec::new();
        for (i, chunk) in [&[1u8, 0][..], &[0, 1], &[7]].iter().enumerate() {
            reader
                .feed(chunk, Timestamp(i as u64), 100, |m| {
                    seen.push(m.ts);
                    Ok::<_, TooLarge>(Flow::Continue)
                })
                .unwrap();
        }
        assert_eq!(seen, vec![Timestamp(0)]);
    }
}
