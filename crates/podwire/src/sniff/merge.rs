//! Several live pcapng streams into one, in timestamp order.
//!
//! Each stream (one per pod) is read by its own thread through the same
//! bounded, fuzzed pcapng reader `podwire read` uses; packets come here
//! over one channel. Streams are live, so "the earliest packet of all" is
//! only known once every stream has something queued, or has ended. A
//! quiet pod would then hold everyone's packets back, so a packet is also
//! written once it has waited [`MERGE_WINDOW`]: later packets of a quiet
//! stream that are older than what was written stay in arrival order
//! (Wireshark reorders on request; nothing is lost). Each stream becomes
//! one interface of the output, named after its pod.

use podwire_capture::{FileReader, InterfaceInfo, PcapNgWriter};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a packet waits for the other streams before it is written.
pub const MERGE_WINDOW: Duration = Duration::from_millis(500);
/// Packets held at most (all streams): beyond it the oldest go out.
const MAX_HELD: usize = 65_536;

/// What a stream reader thread reports.
pub enum Event {
    Packet {
        stream: usize,
        ts_ns: u64,
        orig_len: u32,
        data: Vec<u8>,
    },
    End {
        stream: usize,
        /// Why the stream ended early (`None`: it ended cleanly).
        error: Option<String>,
        /// The agent's closing statistics (received, dropped, why it ended).
        stats: Option<podwire_capture::InterfaceStats>,
    },
}

/// A `Read` over byte chunks arriving on a channel (EOF when it closes).
pub struct ChunkReader {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl ChunkReader {
    pub fn new(rx: Receiver<Vec<u8>>) -> ChunkReader {
        ChunkReader {
            rx,
            chunk: Vec::new(),
            at: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.chunk.len() {
            match self.rx.recv() {
                Ok(c) => {
                    self.chunk = c;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Reads one stream's pcapng and reports its packets (run on a thread).
pub fn read_stream(stream: usize, input: impl Read, events: SyncSender<Event>) {
    let mut stats = None;
    let error = (|| {
        let mut reader = FileReader::new(input).map_err(|e| e.to_string())?;
        let result = read_packets(stream, &mut reader, &events);
        stats = reader.statistics().first().cloned();
        result
    })()
    .err();
    let _ = events.send(Event::End {
        stream,
        error,
        stats,
    });
}

fn read_packets(
    stream: usize,
    reader: &mut FileReader<impl Read>,
    events: &SyncSender<Event>,
) -> Result<(), String> {
    {
        while let Some(f) = reader.next_frame().map_err(|e| e.to_string())? {
            let event = Event::Packet {
                stream,
                ts_ns: f.ts.nanos(),
                orig_len: f.orig_len,
                data: f.data.to_vec(),
            };
            if events.send(event).is_err() {
                return Ok(());
            }
        }
        match reader.warnings().total() {
            0 => Ok(()),
            n => Err(format!("{n} malformed blocks in the stream")),
        }
    }
}

/// One output interface per stream.
pub struct StreamInfo {
    pub name: String,
    pub description: String,
    pub snaplen: u32,
}

/// Per-stream totals, for the summary.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    pub packets: u64,
    pub bytes: u64,
    pub error: Option<String>,
    /// What the agent said at the end of its stream.
    pub agent: Option<podwire_capture::InterfaceStats>,
}

struct Held {
    ts_ns: u64,
    orig_len: u32,
    data: Vec<u8>,
    arrived: Instant,
}

/// Merges until every stream has ended or `stop` is set; returns totals.
pub fn merge(
    streams: &[StreamInfo],
    events: Receiver<Event>,
    out: impl Write,
    stop: &Arc<AtomicBool>,
) -> io::Result<Vec<Totals>> {
    let mut w = PcapNgWriter::new(out, concat!("podwire sniff ", env!("CARGO_PKG_VERSION")))?;
    for s in streams {
        w.interface(&InterfaceInfo {
            linktype: 1,
            snaplen: s.snaplen,
            name: &s.name,
            description: &s.description,
        })?;
    }
    w.get_mut().flush()?;
    let mut queues: Vec<VecDeque<Held>> = streams.iter().map(|_| VecDeque::new()).collect();
    let mut ended = vec![false; streams.len()];
    let mut totals = vec![Totals::default(); streams.len()];
    let mut held = 0usize;
    loop {
        let all_ended = ended.iter().all(|&e| e);
        if all_ended && held == 0 {
            break;
        }
        match events.recv_timeout(Duration::from_millis(50)) {
            Ok(Event::Packet {
                stream,
                ts_ns,
                orig_len,
                data,
            }) => {
                if let Some(q) = queues.get_mut(stream) {
                    q.push_back(Held {
                        ts_ns,
                        orig_len,
                        data,
                        arrived: Instant::now(),
                    });
                    held += 1;
                }
            }
            Ok(Event::End {
                stream,
                error,
                stats,
            }) => {
                if let Some(e) = ended.get_mut(stream) {
                    *e = true;
                    totals[stream].error = error;
                    totals[stream].agent = stats;
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => ended.iter_mut().for_each(|e| *e = true),
        }
        if stop.load(Ordering::Relaxed) {
            ended.iter_mut().for_each(|e| *e = true);
        }
        let mut wrote = false;
        // Write while the earliest head may go: every live stream has a
        // packet queued (so nothing earlier can still come), or it waited
        // long enough, or too much is held.
        while let Some(i) = earliest(&queues) {
            let complete = queues.iter().zip(&ended).all(|(q, &e)| e || !q.is_empty());
            let waited = queues[i]
                .front()
                .is_some_and(|h| h.arrived.elapsed() >= MERGE_WINDOW);
            if !(complete || waited || held > MAX_HELD) {
                break;
            }
            let Some(h) = queues[i].pop_front() else {
                break;
            };
            held -= 1;
            w.packet(i as u32, h.ts_ns, h.orig_len, &h.data)?;
            totals[i].packets += 1;
            totals[i].bytes += h.data.len() as u64;
            wrote = true;
        }
        if wrote {
            w.get_mut().flush()?;
        }
    }
    // The agents' counts, so the merged file still says what was dropped.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    for (i, t) in totals.iter().enumerate() {
        if let Some(a) = &t.agent {
            w.statistics(
                i as u32,
                now,
                a.received.unwrap_or(t.packets),
                a.dropped.unwrap_or(0),
                a.comment.as_deref().unwrap_or(""),
            )?;
        }
    }
    w.get_mut().flush()?;
    Ok(totals)
}

/// The stream whose queued head is the earliest packet.
fn earliest(queues: &[VecDeque<Held>]) -> Option<usize> {
    queues
        .iter()
        .enumerate()
        .filter_map(|(i, q)| q.front().map(|h| (i, h.ts_ns)))
        .min_by_key(|&(_, ts)| ts)
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;

    fn packet(stream: usize, ts_ns: u64) -> Event {
        Event::Packet {
            stream,
            ts_ns,
            orig_len: 60,
            data: vec![stream as u8; 60],
        }
    }

    fn info(name: &str) -> StreamInfo {
        StreamInfo {
            name: name.into(),
            description: String::new(),
            snaplen: 0,
        }
    }

    #[test]
    fn interleaved_streams_come_out_in_time_order() {
        let (tx, rx) = sync_channel(100);
        for (s, ts) in [(0, 10), (0, 30), (1, 20), (1, 40), (0, 50)] {
            tx.send(packet(s, ts)).unwrap();
        }
        tx.send(Event::End {
            stream: 0,
            error: None,
            stats: Some(podwire_capture::InterfaceStats {
                interface: 0,
                received: Some(5),
                dropped: Some(2),
                comment: Some("duration reached".into()),
            }),
        })
        .unwrap();
        tx.send(Event::End {
            stream: 1,
            error: None,
            stats: None,
        })
        .unwrap();
        let mut out = Vec::new();
        let stop = Arc::new(AtomicBool::new(false));
        let totals = merge(&[info("a/p0"), info("a/p1")], rx, &mut out, &stop).unwrap();
        assert_eq!((totals[0].packets, totals[1].packets), (3, 2));
        let mut r = FileReader::new(&out[..]).unwrap();
        let mut got = Vec::new();
        while let Some(f) = r.next_frame().unwrap() {
            got.push((f.interface, f.ts.nanos()));
        }
        assert_eq!(got, vec![(0, 10), (1, 20), (0, 30), (1, 40), (0, 50)]);
        // The agent's drop count survives the merge, on its interface.
        let st = r.statistics();
        assert_eq!(st.len(), 1);
        assert_eq!((st[0].interface, st[0].dropped), (0, Some(2)));
    }

    #[test]
    fn a_quiet_stream_holds_others_back_only_for_the_window() {
        let (tx, rx) = sync_channel(100);
        tx.send(packet(0, 10)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let start = Instant::now();
        let closer = std::thread::spawn(move || {
            std::thread::sleep(MERGE_WINDOW * 3);
            tx.send(Event::End {
                stream: 0,
                error: None,
                stats: None,
            })
            .unwrap();
            tx.send(Event::End {
                stream: 1,
                error: None,
                stats: None,
            })
            .unwrap();
        });
        let (pipe_tx, pipe_rx) = std::sync::mpsc::channel::<Instant>();
        struct Stamp(std::sync::mpsc::Sender<Instant>, usize);
        impl Write for Stamp {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.1 += b.len();
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                let _ = self.0.send(Instant::now());
                Ok(())
            }
        }
        merge(&[info("p0"), info("p1")], rx, Stamp(pipe_tx, 0), &stop).unwrap();
        closer.join().unwrap();
        let flushes: Vec<Duration> = pipe_rx.try_iter().map(|t| t - start).collect();
        // Header flush, then the packet once the window passed, well before the end.
        assert!(flushes.len() >= 2, "{flushes:?}");
        assert!(
            flushes[1] >= MERGE_WINDOW && flushes[1] < MERGE_WINDOW * 2,
            "{flushes:?}"
        );
    }

    #[test]
    fn chunk_reader_joins_chunks() {
        let (tx, rx) = std::sync::mpsc::channel();
        tx.send(vec![1, 2]).unwrap();
        tx.send(vec![]).unwrap();
        tx.send(vec![3]).unwrap();
        drop(tx);
        let mut all = Vec::new();
        ChunkReader::new(rx).read_to_end(&mut all).unwrap();
        assert_eq!(all, [1, 2, 3]);
    }
}
