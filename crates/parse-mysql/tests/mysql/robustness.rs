//! Synthetic conversations for what the captures do not show, limits, and
//! inputs that are cut, corrupt or not MySQL at all.

use podwire_mysql::{MysqlConfig, MysqlParser};
use podwire_parse::Direction::{ToClient, ToServer};
use podwire_parse::{Status, StreamParser};
use podwire_record::{Outcome, Timestamp};

use crate::util::*;

/// A HandshakeResponse41 with a clear-text auth response, as the
/// `mysql_clear_password` plugin sends, and `CLIENT_DEPRECATE_EOF`.
fn clear_text_login() -> Vec<u8> {
    // CLIENT_MYSQL | CONNECT_WITH_DB | PROTOCOL_41 | SECURE_CONNECTION |
    // PLUGIN_AUTH | PLUGIN_AUTH_LENENC_CLIENT_DATA | DEPRECATE_EOF
    let caps: u32 = 0x1 | 0x8 | 0x200 | 0x8000 | 0x8_0000 | 0x20_0000 | 0x100_0000;
    let mut p = caps.to_le_bytes().to_vec();
    p.extend_from_slice(&[0, 0, 0, 1, 45]);
    p.extend_from_slice(&[0; 23]);
    p.extend_from_slice(b"alice\0\x07hunter2shop\0mysql_clear_password\0");
    packet(1, &p)
}

fn deprecate_eof_session() -> Conv {
    Conv::new()
        .server(0, &greeting())
        .client(1, &clear_text_login())
        // Switch to the clear-text plugin; the client sends the password again.
        .server(2, &packet(2, b"\xfemysql_clear_password\0"))
        .client(3, &packet(3, b"hunter2\0"))
        .server(4, &packet(4, b"\x00\x00\x00\x02\x00\x00\x00"))
        .client(10, &packet(0, b"\x03SELECT 1"))
        // Column count, one definition, one row, and the 0xFE OK that ends
        // the rows when EOF packets are deprecated.
        .server(
            12,
            &[
                packet(1, b"\x01"),
                packet(
                    2,
                    b"\x03def\0\0\0\x011\0\x0c\x3f\0\x01\0\0\0\x08\x81\0\0\0\0",
                ),
                packet(3, b"\x011"),
                packet(4, b"\xfe\x00\x00\x02\x00\x00\x00"),
            ]
            .concat(),
        )
}

#[test]
fn clear_text_password_never_reaches_a_record() {
    let r = deprecate_eof_session().run();
    assert!(!r.json().contains("hunter2"));
    let login = r.bodies()[0];
    assert_eq!(
        (login.user.as_deref(), login.database.as_deref()),
        (Some("alice"), Some("shop"))
    );
    assert_eq!(
        (login.outcome, login.latency_ms),
        (Some(Outcome::Ok), Some(1.0))
    );
}

#[test]
fn rows_end_with_an_ok_when_eof_is_deprecated() {
    let r = deprecate_eof_session().run();
    let q = r.bodies()[1];
    assert_eq!(
        (q.columns, q.rows, q.outcome),
        (Some(1), Some(1), Some(Outcome::Ok))
    );
    assert_eq!(q.latency_ms, Some(2.0));
    assert_eq!(r.stats.unexpected_packets, 0);
}

#[test]
fn a_statement_over_16_mib_spans_continuation_packets() {
    // 0xFFFFFF bytes, then 10 more: two fragments, one command.
    let mut text = b"\x03SELECT '".to_vec();
    text.resize(0xFF_FFFF + 10, b'x');
    let mut wire = packet(0, &text[..0xFF_FFFF]);
    wire.extend(packet(1, &text[0xFF_FFFF..]));
    let mut conv = Conv::new()
        .server(0, &greeting())
        .client(1, &clear_text_login());
    conv = conv.server(2, &packet(2, b"\x00\x00\x00\x02\x00\x00\x00"));
    for piece in wire.chunks(65_536) {
        conv = conv.client(3, piece);
    }
    let r = conv
        .server(4, &packet(1, b"\x00\x00\x00\x02\x00\x00\x00"))
        .run();
    let q = r.bodies()[1];
    // Cut at max_packet_bytes, the literal masked all the same.
    assert_eq!(q.statement.as_deref(), Some("SELECT ?"));
    assert!(q.truncated);
    assert_eq!(q.outcome, Some(Outcome::Ok));
    assert_eq!(r.stats.packets_cut, 1);
}

#[test]
fn forgotten_statements_execute_without_text() {
    let config = MysqlConfig {
        max_prepared_statements: 0,
        ..MysqlConfig::default()
    };
    let r = run_with(&config, &fixture("prepared"));
    let execs: Vec<_> = r
        .bodies()
        .into_iter()
        .filter(|b| b.command == "STMT_EXECUTE")
        .map(|b| (b.operation.as_str(), b.statement.as_deref(), b.rows))
        .collect();
    assert_eq!(
        execs,
        [("EXECUTE", None, Some(1)), ("EXECUTE", None, Some(1))]
    );
    assert_eq!(r.stats.unknown_statements, 2);
}

#[test]
fn pipelined_commands_pair_in_order() {
    let both = [packet(0, b"\x03SELECT 1"), packet(0, b"\x0e")].concat();
    let r = Conv::new()
        .client(0, &both)
        .server(1, &packet(1, b"\xff\x7a\x04#42S02nope"))
        .server(2, &packet(1, b"\x00\x00\x00\x02\x00\x00\x00"))
        .run_mid_stream(&MysqlConfig::default());
    let got: Vec<_> = r
        .bodies()
        .iter()
        .map(|b| (b.operation.as_str(), b.outcome))
        .collect();
    assert_eq!(
        got,
        [
            ("SELECT", Some(Outcome::Error)),
            ("PING", Some(Outcome::Ok))
        ]
    );
}

#[test]
fn too_many_pending_commands_fail_the_parse() {
    let config = MysqlConfig {
        max_pending_commands: 1,
        ..MysqlConfig::default()
    };
    let both = [packet(0, b"\x03SELECT 1"), packet(0, b"\x0e")].concat();
    let r = Conv::new().client(0, &both).run_mid_stream(&config);
    assert_eq!(r.status, Status::Failed);
    assert_eq!(r.stats.pending_overflows, 1);
    assert_eq!(r.events.len(), 1);
}

#[test]
fn a_small_packet_limit_cuts_statements_not_the_parse() {
    let config = MysqlConfig {
        max_packet_bytes: 16,
        ..MysqlConfig::default()
    };
    let r = run_with(&config, &bytewise(&fixture("query")));
    let q = r.bodies()[1];
    assert_eq!(q.statement.as_deref(), Some("SELECT id, name"));
    assert!(q.truncated);
    assert_eq!((q.rows, q.columns), (Some(2), Some(3)));
}

#[test]
fn every_cut_of_every_fixture_is_survived() {
    for (_, steps) in all_connections() {
        for n in 0..steps.len() {
            let mut cut = steps[..n].to_vec();
            if let Some(Step::Data(dir, ts, bytes)) = steps.get(n) {
                cut.push(Step::Data(*dir, *ts, bytes[..bytes.len() / 2].to_vec()));
            }
            let r = run(&cut);
            // Every command seen is emitted at the end, answered or not.
            assert!(r
                .events
                .iter()
                .all(|e| e.body.latency_ms.is_none_or(|l| l >= 0.0)));
        }
    }
}

/// A small deterministic generator, so failures reproduce.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

#[test]
fn corrupted_fixtures_never_panic() {
    let mut rng = Lcg(7);
    for name in FIXTURES {
        let steps = fixture(name);
        for _ in 0..200 {
            let mut steps = steps.clone();
            for _ in 0..1 + rng.next() % 4 {
                let i = rng.next() as usize % steps.len();
                if let Step::Data(_, _, bytes) = &mut steps[i] {
                    if !bytes.is_empty() {
                        let at = rng.next() as usize % bytes.len();
                        bytes[at] = rng.next() as u8;
                    }
                }
            }
            let mut parser = MysqlParser::new(&MysqlConfig::default());
            let mut out = Vec::new();
            for step in &steps {
                if let Step::Data(dir, ts, bytes) = step {
                    if parser.data(*dir, *ts, bytes, &mut out) != Status::Continue {
                        break;
                    }
                }
            }
            parser.finish(Timestamp(0), &mut out);
            let n = out.len();
            parser.finish(Timestamp(0), &mut out);
            assert_eq!(out.len(), n, "finish twice emits once");
        }
    }
}

#[test]
fn garbage_never_panics() {
    let mut rng = Lcg(42);
    for round in 0..300 {
        let mut parser = if round % 2 == 0 {
            MysqlParser::new(&MysqlConfig::default())
        } else {
            MysqlParser::mid_stream(&MysqlConfig::default())
        };
        let mut out = Vec::new();
        for _ in 0..20 {
            let len = rng.next() as usize % 300;
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let dir = if rng.next() & 1 == 0 {
                ToServer
            } else {
                ToClient
            };
            if rng.next() & 7 == 0 {
                let _ = parser.gap(dir, Timestamp(1), rng.next() % 100, &mut out);
            }
            if parser.data(dir, Timestamp(1), &bytes, &mut out) != Status::Continue {
                break;
            }
        }
        parser.finish(Timestamp(2), &mut out);
    }
}

#[test]
fn data_after_the_end_is_ignored() {
    let steps = fixture("ssl");
    let mut parser = MysqlParser::new(&MysqlConfig::default());
    let mut out = Vec::new();
    let mut last = Status::Continue;
    for step in &steps {
        if let Step::Data(dir, ts, bytes) = step {
            last = parser.data(*dir, *ts, bytes, &mut out);
        }
    }
    assert_eq!(last, Status::Done);
    assert_eq!(out.len(), 1);
    let _ = ms(0);
}
