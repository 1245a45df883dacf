//! The startup phase: parameters, authentication, SSL and GSS negotiation,
//! cancel requests.

use podwire_parse::Status;
use podwire_record::Outcome;

use crate::util::{events, run_fixture};

#[test]
fn startup_parameters_ride_on_every_record() {
    let events = events("simple");
    assert_eq!(events[0].body.operation, "STARTUP");
    assert_eq!(events[0].body.auth.as_deref(), Some("sasl"));
    assert_eq!(events[0].body.outcome, Some(Outcome::Ok));
    assert!(events[0].body.latency_ms.is_some_and(|l| l > 0.0));
    for e in &events {
        assert_eq!(e.body.user.as_deref(), Some("app"));
        assert_eq!(e.body.database.as_deref(), Some("appdb"));
        assert_eq!(e.body.application.as_deref(), Some("podwire-test"));
        assert!(e.body.backend_pid.is_some());
    }
}

#[test]
fn passwords_are_never_recorded() {
    let runs = run_fixture("passwords");
    let auth: Vec<_> = runs.iter().map(|r| r.events[0].body.auth.clone()).collect();
    assert_eq!(
        auth,
        [
            Some("password".into()),
            Some("md5".into()),
            Some("sasl".into())
        ]
    );
    for r in &runs {
        for e in &r.events {
            let json = serde_json::to_string(&e.body).unwrap();
            for secret in ["Cl3arTextPw", "Md5Passw0rd", "wrong"] {
                assert!(!json.contains(secret), "{secret} in {json}");
            }
        }
    }
    // The cleartext password is on the wire: the parser never read it.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/passwords.txt"
    ))
    .unwrap();
    assert!(text.contains(&hex("Cl3arTextPw")));
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn failed_authentication_is_an_error_on_startup() {
    let runs = run_fixture("passwords");
    let failed = &runs[2].events;
    assert_eq!(failed.len(), 1);
    let b = &failed[0].body;
    assert_eq!(b.operation, "STARTUP");
    assert_eq!(b.outcome, Some(Outcome::Error));
    assert_eq!(b.severity.as_deref(), Some("FATAL"));
    assert_eq!(
        b.error.as_ref().and_then(|e| e.code.as_deref()),
        Some("28P01")
    );
}

#[test]
fn ssl_accepted_ends_the_parse() {
    let runs = run_fixture("ssl_accepted");
    assert_eq!(runs[0].status, Status::Done);
    assert_eq!(runs[0].events.len(), 1);
    let b = &runs[0].events[0].body;
    assert_eq!(
        (b.operation.as_ref(), b.tag.as_deref()),
        ("SSL", Some("accepted"))
    );
}

#[test]
fn ssl_refused_goes_on_in_plaintext() {
    let runs = run_fixture("ssl_refused");
    assert_eq!(runs[0].status, Status::Continue);
    let ops: Vec<_> = runs[0]
        .events
        .iter()
        .map(|e| e.body.operation.as_ref())
        .collect();
    assert_eq!(ops, ["SSL", "STARTUP", "SELECT"]);
    assert_eq!(runs[0].events[0].body.tag.as_deref(), Some("refused"));
}

#[test]
fn cancel_names_the_backend_and_the_query_fails() {
    let runs = run_fixture("cancel");
    let query = &runs[0].events[1].body;
    assert_eq!(
        query.error.as_ref().and_then(|e| e.code.as_deref()),
        Some("57014")
    );
    assert_eq!(runs[1].status, Status::Done);
    let cancel = &runs[1].events[0].body;
    assert_eq!(cancel.operation, "CANCEL");
    assert_eq!(cancel.backend_pid, query.backend_pid);
}
