//! Many links coming and going while the monitor polls, and notifications
//! lost to a full socket buffer: the table must end exactly as `ip` sees it,
//! the event stream must replay to the same table, and nothing may leak.

use crate::lab::{root, Netns};
use podwire_capture_live::{Link, LinkEvent, LinkMonitor};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Applies events to a copy of the table, as a consumer would.
fn replay(table: &mut BTreeMap<u32, Link>, events: &mut Vec<LinkEvent>) {
    for event in events.drain(..) {
        match event {
            LinkEvent::Added(link) => {
                table.insert(link.index, link);
            }
            LinkEvent::Removed { index, .. } => {
                table.remove(&index);
            }
        }
    }
}

fn table(mon: &LinkMonitor) -> BTreeMap<u32, Link> {
    mon.links().map(|l| (l.index, l.clone())).collect()
}

fn names(mon: &LinkMonitor) -> BTreeSet<String> {
    mon.links().map(|l| l.name.clone()).collect()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Starts `ip -n NS -batch -` on `script`.
fn ip_batch(ns: &Netns, script: &str) -> std::process::Child {
    let mut child = Command::new("ip")
        .args(["-n", &ns.name, "-batch", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("spawn ip");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write script");
    child
}

#[test]
fn churn_of_200_veth_pairs_keeps_the_table_exact_and_leaks_nothing() {
    let Some(_serial) = root("creating network namespaces") else {
        return;
    };
    let ns = Netns::new();
    let fds_before = open_fds();
    {
        let mut mon = ns.enter(LinkMonitor::open).expect("open monitor");
        let mut shadow = table(&mon);
        let mut events = Vec::new();
        let mut script = String::new();
        for i in 0..200 {
            script += &format!("link add name vc{i} type veth peer name vd{i}\n");
        }
        for i in (0..200).filter(|i| i % 4 != 0) {
            script += &format!("link del dev vc{i}\n");
        }
        for i in (0..200).step_by(8) {
            script += &format!("link set dev vc{i} up\nlink set dev vd{i} up\n");
        }
        let mut child = ip_batch(&ns, &script);
        while child.try_wait().expect("wait").is_none() {
            mon.poll(&mut events).expect("poll");
            replay(&mut shadow, &mut events);
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(child.wait().expect("wait").success());
        // Every notification is queued by the time `ip` exits.
        mon.poll(&mut events).expect("poll");
        replay(&mut shadow, &mut events);

        let expected: BTreeSet<String> = std::iter::once("lo".to_string())
            .chain(
                (0..200)
                    .filter(|i| i % 4 == 0)
                    .flat_map(|i| [format!("vc{i}"), format!("vd{i}")]),
            )
            .collect();
        assert_eq!(ns.link_names(), expected);
        assert_eq!(names(&mon), expected);
        assert_eq!(shadow, table(&mon), "events replay to the table");
        assert!(mon
            .links()
            .filter(|l| l.name.starts_with("vc"))
            .all(|l| l.up == l.name[2..].parse::<u32>().is_ok_and(|i| i % 8 == 0)));
        assert_eq!(mon.malformed(), 0);
        eprintln!("churn: {} resyncs", mon.resyncs());
    }
    assert_eq!(open_fds(), fds_before, "file descriptors leaked");
}

#[test]
fn lost_notifications_are_recovered_by_a_resync() {
    let Some(_serial) = root("creating network namespaces") else {
        return;
    };
    let ns = Netns::new();
    let mut mon = ns.enter(LinkMonitor::open).expect("open monitor");
    // The smallest buffer the kernel allows overflows after a few messages.
    let tiny: libc::c_int = 1;
    // SAFETY: a valid int option value on a socket we hold open.
    let rc = unsafe {
        libc::setsockopt(
            mon.fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&tiny as *const libc::c_int).cast(),
            4,
        )
    };
    assert_eq!(rc, 0);
    let mut shadow = table(&mon);
    let mut events = Vec::new();

    let adds: String = (0..100)
        .map(|i| format!("link add name vc{i} type veth peer name vd{i}\n"))
        .collect();
    assert!(ip_batch(&ns, &adds).wait().expect("wait").success());
    mon.poll(&mut events).expect("poll");
    assert!(
        mon.resyncs() >= 1,
        "the burst should have overflowed the buffer"
    );
    let added: BTreeSet<String> = events
        .iter()
        .filter_map(|e| match e {
            LinkEvent::Added(l) => Some(l.name.clone()),
            LinkEvent::Removed { .. } => None,
        })
        .collect();
    assert_eq!(added.len(), 200, "every new link announced");
    replay(&mut shadow, &mut events);
    assert_eq!(names(&mon), ns.link_names());
    assert_eq!(shadow, table(&mon));

    let resyncs = mon.resyncs();
    let dels: String = (0..100).map(|i| format!("link del dev vc{i}\n")).collect();
    assert!(ip_batch(&ns, &dels).wait().expect("wait").success());
    mon.poll(&mut events).expect("poll");
    assert!(mon.resyncs() > resyncs);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, LinkEvent::Removed { .. }))
            .count(),
        200
    );
    replay(&mut shadow, &mut events);
    assert_eq!(names(&mon), BTreeSet::from(["lo".to_string()]));
    assert_eq!(shadow, table(&mon));
}
