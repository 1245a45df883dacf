//! Records from captured connections. Every value asserted here was checked
//! against tshark 4.0's dissection of the same capture (`tests/data/*.pcap`,
//! `tshark -d tcp.port==33069,mysql -Y mysql -T fields -e mysql.version
//! -e mysql.user -e mysql.schema -e mysql.command -e mysql.query
//! -e mysql.stmt_id -e mysql.num_fields -e mysql.error_code -e mysql.sqlstate
//! -e mysql.error.message -e mysql.affected_rows -e mysql.warnings`), except
//! where a test says why tshark cannot tell.

use podwire_mysql::MysqlConfig;
use podwire_parse::Status;
use podwire_record::Outcome;

use crate::util::*;

const VERSION: &str = "10.11.19-MariaDB-0+deb12u1";

#[test]
fn login_carries_user_database_and_version() {
    // tshark: greeting "5.5.5-10.11.19-MariaDB-0+deb12u1", login user=u db=shop, OK.
    let r = run(&fixture("query"));
    let login = r.bodies()[0];
    assert_eq!(
        (login.command.as_str(), login.operation.as_str()),
        ("CONNECT", "CONNECT")
    );
    assert_eq!(login.user.as_deref(), Some("u"));
    assert_eq!(login.database.as_deref(), Some("shop"));
    assert_eq!(login.server_version.as_deref(), Some(VERSION));
    assert_eq!(login.outcome, Some(Outcome::Ok));
    // Greeting at ...686833000 is not the login; the login's response at
    // ...687110000 (frame 8) follows the login at ...686941000.
    assert_eq!(r.events[0].ts.0, 1_796_624_492_686_941_000);
    assert_eq!(login.latency_ms, Some(0.169));
    // Carried on every record.
    assert!(r
        .bodies()
        .iter()
        .all(|b| b.user.as_deref() == Some("u") && b.server_version.as_deref() == Some(VERSION)));
}

#[test]
fn query_with_a_result_set() {
    // tshark: Query (3), 3 fields; response packets 1..8 are the column
    // count, 3 definitions, EOF, 2 rows, EOF.
    let r = run(&fixture("query"));
    assert_eq!(
        r.summary(),
        vec![
            ("CONNECT", "CONNECT", None),
            (
                "QUERY",
                "SELECT",
                Some("SELECT id, name, price FROM items WHERE name = ? OR price > ?")
            ),
            ("QUIT", "QUIT", None),
        ]
    );
    let q = r.bodies()[1];
    assert_eq!((q.results, q.columns, q.rows), (Some(1), Some(3), Some(2)));
    assert_eq!(
        (q.outcome, q.warnings, q.affected_rows),
        (Some(Outcome::Ok), Some(0), None)
    );
    assert_eq!(q.latency_ms, Some(1.097));
    // QUIT has no answer.
    assert_eq!(r.bodies()[2].outcome, None);
    assert_eq!(r.status, Status::Continue);
}

#[test]
fn error_with_code_and_sqlstate() {
    // tshark: error_code 1146, sqlstate 42S02, "Table 'shop.nosuch' doesn't exist".
    let r = run(&fixture("error"));
    let q = r.bodies()[1];
    assert_eq!(
        q.statement.as_deref(),
        Some("SELECT * FROM nosuch WHERE id = ?")
    );
    assert_eq!(q.outcome, Some(Outcome::Error));
    let e = q.error.as_ref().unwrap();
    assert_eq!(e.code.as_deref(), Some("1146"));
    assert_eq!(
        e.message.as_deref(),
        Some("Table 'shop.nosuch' doesn't exist")
    );
    assert_eq!(q.sqlstate.as_deref(), Some("42S02"));
    assert_eq!((q.rows, q.columns), (None, None));
}

#[test]
fn error_message_is_cut_at_the_configured_length() {
    let config = MysqlConfig {
        max_error_len: 5,
        ..MysqlConfig::default()
    };
    let r = run_with(&config, &fixture("error"));
    let e = r.bodies()[1].error.as_ref().unwrap();
    assert_eq!(e.message.as_deref(), Some("Table"));
}

#[test]
fn failed_login_is_a_connect_error_and_ends_the_parse() {
    // tshark: login user=u (no db), error 1045, 28000.
    let r = run(&fixture("auth_fail"));
    assert_eq!(r.events.len(), 1);
    let login = r.bodies()[0];
    assert_eq!(login.operation, "CONNECT");
    assert_eq!(login.database, None);
    assert_eq!(login.outcome, Some(Outcome::Error));
    assert_eq!(login.error.as_ref().unwrap().code.as_deref(), Some("1045"));
    assert_eq!(login.sqlstate.as_deref(), Some("28000"));
    assert_eq!(
        login.error.as_ref().unwrap().message.as_deref(),
        Some("Access denied for user 'u'@'localhost' (using password: YES)")
    );
    assert_eq!(r.status, Status::Done);
}

#[test]
fn init_db_sets_the_database_of_later_records() {
    // tshark: Use Database (2) schema "shop", OK; the queries around it.
    let r = run(&fixture("use_db"));
    let dbs: Vec<_> = r
        .bodies()
        .iter()
        .map(|b| (b.operation.as_str(), b.database.as_deref()))
        .collect();
    assert_eq!(
        dbs,
        vec![
            ("CONNECT", None),
            ("SELECT", None),
            ("INIT_DB", Some("shop")),
            ("SELECT", Some("shop")),
            ("QUIT", Some("shop")),
        ]
    );
    assert_eq!(r.bodies()[2].outcome, Some(Outcome::Ok));
    // A command without a result set reports no affected rows.
    assert_eq!(r.bodies()[2].affected_rows, None);
}

#[test]
fn multi_statement_results_are_one_record() {
    // tshark: one Query, then two TABULAR responses (1 field each) and an
    // OK with 0 affected rows: SERVER_MORE_RESULTS_EXISTS chained them.
    let r = run(&fixture("multi"));
    assert_eq!(r.events.len(), 3);
    let q = r.bodies()[1];
    assert_eq!(
        q.statement.as_deref(),
        Some("SELECT ?; SELECT name FROM shop.items WHERE id < ?; UPDATE shop.items SET price = price WHERE id = ?")
    );
    assert_eq!(q.operation, "SELECT");
    // 1 row + 2 rows; columns of the first result set.
    assert_eq!(
        (q.results, q.columns, q.rows, q.affected_rows),
        (Some(3), Some(1), Some(3), Some(0))
    );
    assert_eq!(q.outcome, Some(Outcome::Ok));
}

#[test]
fn local_infile_content_is_counted() {
    // tshark: the server asks for the file (0xFB, shown as 0 fields), the
    // client sends 38 bytes and an empty packet (tshark: "Malformed"), a
    // MariaDB progress report follows (tshark: "Error 65535", which is not
    // an error), then OK with 3 affected rows.
    let r = run(&fixture("infile"));
    let q = r.bodies()[1];
    assert_eq!(q.operation, "LOAD");
    assert_eq!(q.infile_bytes, Some(38));
    assert_eq!((q.outcome, q.error.as_ref()), (Some(Outcome::Ok), None));
    assert_eq!(
        (q.results, q.affected_rows, q.rows),
        (Some(1), Some(3), None)
    );
    assert_eq!(r.stats.unexpected_packets, 0);
}

#[test]
fn compressed_protocol_is_decoded() {
    // tshark 4.0 does not undo compression (it shows the compressed
    // response as a 96-field result); Python's zlib.decompress of it gives
    // a column count of 2, two definitions, EOF, one row, EOF.
    let r = run(&fixture("compress"));
    assert!(r.stats.compressed);
    assert_eq!(
        r.summary(),
        vec![
            ("CONNECT", "CONNECT", None),
            (
                "QUERY",
                "SELECT",
                Some("SELECT id, name FROM items WHERE id = ?")
            ),
            ("QUIT", "QUIT", None),
        ]
    );
    let q = r.bodies()[1];
    assert_eq!(
        (q.columns, q.rows, q.outcome),
        (Some(2), Some(1), Some(Outcome::Ok))
    );
}

#[test]
fn ssl_request_ends_the_parse() {
    // tshark: "Response: SSL Handshake user=" then TLS.
    let r = run(&fixture("ssl"));
    assert_eq!(r.status, Status::Done);
    assert_eq!(r.summary(), vec![("CONNECT", "SSL", None)]);
    assert!(r.stats.tls);
    assert_eq!(r.bodies()[0].server_version.as_deref(), Some(VERSION));
}

#[test]
fn prepared_statement_text_by_id() {
    // tshark: Prepare Statement "SELECT name, price FROM items WHERE id = ?"
    // answered with stmt_id 1, 2 fields, 1 parameter; Reset, Execute
    // (stmt_id 1, 2 fields) twice; Close Statement (no answer).
    let r = run(&fixture("prepared"));
    let text = Some("SELECT name, price FROM items WHERE id = ?");
    let ops: Vec<_> = r
        .bodies()
        .iter()
        .map(|b| (b.command.as_str(), b.operation.as_str(), b.statement_id))
        .collect();
    assert_eq!(
        ops,
        vec![
            ("CONNECT", "CONNECT", None),
            ("QUERY", "SET", None),
            ("QUERY", "SET", None),
            ("PING", "PING", None),
            ("STMT_PREPARE", "PREPARE", Some(1)),
            ("STMT_RESET", "STMT_RESET", Some(1)),
            ("STMT_EXECUTE", "SELECT", Some(1)),
            ("STMT_RESET", "STMT_RESET", Some(1)),
            ("STMT_EXECUTE", "SELECT", Some(1)),
            ("STMT_CLOSE", "STMT_CLOSE", Some(1)),
            ("QUIT", "QUIT", None),
        ]
    );
    let prepare = r.bodies()[4];
    assert_eq!(
        (prepare.statement.as_deref(), prepare.columns),
        (text, Some(2))
    );
    for exec in [r.bodies()[6], r.bodies()[8]] {
        assert_eq!(exec.statement.as_deref(), text);
        // Binary rows: one each (ids 2 and 3).
        assert_eq!(
            (exec.columns, exec.rows, exec.outcome),
            (Some(2), Some(1), Some(Outcome::Ok))
        );
    }
    assert_eq!(r.bodies()[9].outcome, None);
    assert_eq!(r.stats.unknown_statements, 0);
}

#[test]
fn pymysql_session() {
    // tshark: SET NAMES, SET AUTOCOMMIT = 0, a SELECT of 1 field, UPDATE
    // (0 affected rows: the price was already 1.50), COMMIT, Ping, Quit.
    let r = run(&fixture("pymysql"));
    let ops: Vec<_> = r.bodies().iter().map(|b| b.operation.as_str()).collect();
    assert_eq!(
        ops,
        ["CONNECT", "SET", "SET", "SELECT", "UPDATE", "COMMIT", "PING", "QUIT"]
    );
    let select = r.bodies()[3];
    assert_eq!(
        select.statement.as_deref(),
        Some("SELECT name FROM items WHERE price < ?")
    );
    assert_eq!((select.columns, select.rows), (Some(1), Some(4)));
    let update = r.bodies()[4];
    assert_eq!(
        update.statement.as_deref(),
        Some("UPDATE items SET price = ? WHERE name = ?")
    );
    assert_eq!((update.affected_rows, update.rows), (Some(0), None));
}

#[test]
fn literals_shown_only_when_asked() {
    let config = MysqlConfig {
        show_secrets: true,
        ..MysqlConfig::default()
    };
    let r = run_with(&config, &fixture("query"));
    assert_eq!(
        r.bodies()[1].statement.as_deref(),
        Some("SELECT id, name, price FROM items WHERE name = 'apple' OR price > 2")
    );
    let masked = run(&fixture("query"));
    assert!(!masked.json().contains("apple"));
}

#[test]
fn long_statements_are_cut_and_counted() {
    let config = MysqlConfig {
        max_statement_len: 10,
        ..MysqlConfig::default()
    };
    let r = run_with(&config, &fixture("query"));
    let q = r.bodies()[1];
    assert_eq!(q.statement.as_deref(), Some("SELECT id,"));
    assert!(q.truncated);
    assert_eq!(r.stats.statements_truncated, 1);
}

#[test]
fn auth_data_never_reaches_a_record() {
    for (name, steps) in all_connections() {
        let r = run(&steps);
        let json = r.json();
        // The plugin name sits right after the auth response in the login.
        assert!(!json.contains("mysql_native_password"), "{name}");
        assert!(!json.contains("secretpw"), "{name}");
        assert!(!json.contains("_client_name"), "{name}: connect attributes");
    }
}

#[test]
fn byte_by_byte_gives_the_same_records() {
    for (name, steps) in all_connections() {
        let whole = run(&steps);
        let split = run(&bytewise(&steps));
        assert_eq!(whole.events, split.events, "{name}");
    }
}

#[test]
fn mysqlslap_connections() {
    // Two connections. tshark: the first sends 13 queries (DROP SCHEMA,
    // CREATE SCHEMA, CREATE TABLE, 9 INSERTs, DROP SCHEMA), a Use Database
    // and a Quit; the second 10 queries (5 INSERT, 5 SELECT) and a Quit.
    // mysqlslap ends each query with a NUL, which records leave out.
    let streams = fixture_streams("slap");
    assert_eq!(streams.len(), 2);
    let setup = run(&streams[0]);
    let ops: Vec<_> = setup
        .bodies()
        .iter()
        .map(|b| b.operation.as_str())
        .collect();
    let mut expect = vec!["CONNECT", "DROP", "CREATE", "INIT_DB", "CREATE"];
    expect.extend(["INSERT"; 9]);
    expect.extend(["DROP", "QUIT"]);
    assert_eq!(ops, expect);
    let insert = setup.bodies()[5];
    assert_eq!(
        insert.statement.as_deref(),
        Some("INSERT INTO t1 VALUES (?,?)")
    );
    assert_eq!(insert.affected_rows, Some(1));
    // The schema tracker reports the dropped default database gone.
    assert_eq!(setup.bodies()[15].database, None);

    let load = run(&streams[1]);
    assert_eq!(load.bodies()[0].database.as_deref(), Some("mysqlslap"));
    let selects: Vec<_> = load
        .bodies()
        .iter()
        .filter(|b| b.operation == "SELECT")
        .map(|b| (b.statement.as_deref(), b.columns, b.rows))
        .collect();
    // Each SELECT sees the 9 rows of the setup and one more per INSERT.
    let select = Some("SELECT intcol1,charcol1 FROM t1");
    assert_eq!(
        selects,
        (10..15)
            .map(|n| (select, Some(2), Some(n)))
            .collect::<Vec<_>>()
    );
    for r in [&setup, &load] {
        assert_eq!(r.stats, Default::default());
        assert!(r
            .bodies()
            .iter()
            .all(|b| b.outcome == Some(podwire_record::Outcome::Ok) || b.command == "QUIT"));
    }
}

/// mysqldump wraps statements in executable comments, which the server
/// runs (`/*!40100 SET @@SQL_MODE='' */`, MariaDB's `/*M!100100 ... */`,
/// `LOCK TABLES ... READ /*!32311 LOCAL */`); tshark's `mysql.query` shows
/// them as sent. They were masked as comments: an empty statement named
/// `OTHER`, and `LOCAL` or `SQL_NO_CACHE` left out of the statement.
#[test]
fn mysqldump_executable_comments_are_statements() {
    let r = run(&fixture("dump"));
    let queries: Vec<(&str, &str)> = r
        .bodies()
        .into_iter()
        .filter(|b| b.command == "QUERY")
        .map(|b| (b.operation.as_str(), b.statement.as_deref().unwrap_or("-")))
        .collect();
    assert_eq!(
        queries[..4],
        [
            ("SET", "SET @@SQL_MODE=?"),
            ("SET", "SET TIME_ZONE=?"),
            ("SET", "SET @@MAX_STATEMENT_TIME=?"),
            ("SET", "SET WAIT_TIMEOUT=DEFAULT"),
        ]
    );
    assert!(queries.contains(&("LOCK", "LOCK TABLES `items` READ LOCAL")));
    assert!(queries
        .iter()
        .any(|q| q.1.starts_with("SELECT SQL_NO_CACHE `id`, `name`")));
    // tshark: 25 queries, none failed.
    assert_eq!(queries.len(), 25);
    assert!(r.bodies().iter().all(|b| b.error.is_none()));
}

/// mysql-connector-python streams a file-like parameter with
/// COM_STMT_SEND_LONG_DATA before the execute. tshark shows it as a command
/// of its own (13 commands on this connection); it had no record, so the
/// commands disagreed. Its 20000 bytes are counted nowhere and kept nowhere.
#[test]
fn send_long_data_is_a_command_without_answer() {
    let r = run(&fixture("long_data"));
    let commands: Vec<&str> = r.summary().iter().map(|s| s.0).skip(1).collect();
    assert_eq!(
        commands,
        [
            "QUERY",
            "QUERY",
            "PING",
            "STMT_PREPARE",
            "STMT_RESET",
            "STMT_SEND_LONG_DATA",
            "STMT_EXECUTE",
            "STMT_CLOSE",
            "STMT_PREPARE",
            "STMT_RESET",
            "STMT_EXECUTE",
            "QUERY",
            "QUIT",
        ]
    );
    let long = r.bodies()[6];
    assert_eq!(long.operation, "STMT_SEND_LONG_DATA");
    assert_eq!(
        long.statement.as_deref(),
        Some("INSERT INTO items (id, name, b) VALUES (?, ?, ?)")
    );
    assert_eq!(long.statement_id, r.bodies()[7].statement_id);
    assert_eq!((long.outcome, long.latency_ms), (None, None));
    // The execute that used the data inserted its row.
    assert_eq!(r.bodies()[7].affected_rows, Some(1));
    assert!(!r.json().contains("zzzz"));
}
