//! The link monitor against `ip link`: the initial dump, then notifications
//! for links added, removed, changed, enslaved and released.

use crate::lab::{root, Netns};
use podwire_capture_live::{Link, LinkEvent, LinkMonitor};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Polls until `done(events)` holds, for at most 2 s.
fn poll_until(
    mon: &mut LinkMonitor,
    events: &mut Vec<LinkEvent>,
    what: &str,
    done: impl Fn(&[LinkEvent]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        mon.poll(events).expect("poll");
        if done(events) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {what} within 2 s; got {events:#?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn added<'e>(events: &'e [LinkEvent], name: &str) -> Option<&'e Link> {
    events.iter().rev().find_map(|e| match e {
        LinkEvent::Added(link) if link.name == name => Some(link),
        _ => None,
    })
}

fn removed(events: &[LinkEvent], index: u32, name: &str) -> bool {
    events.contains(&LinkEvent::Removed {
        index,
        name: name.into(),
    })
}

fn by_name(mon: &LinkMonitor) -> BTreeMap<String, Link> {
    mon.links().map(|l| (l.name.clone(), l.clone())).collect()
}

#[test]
fn dump_then_add_delete_and_down_follow_ip_link() {
    let Some(_serial) = root("creating network namespaces") else {
        return;
    };
    let ns = Netns::veth_pair();
    let mut mon = ns.enter(LinkMonitor::open).expect("open monitor");

    let table = by_name(&mon);
    assert_eq!(table.keys().collect::<Vec<_>>(), ["a", "b", "lo"]);
    let lo = &table["lo"];
    assert_eq!(
        (lo.index, lo.kind.as_deref(), lo.hatype, lo.up),
        (ns.ifindex("lo"), None, libc::ARPHRD_LOOPBACK, true)
    );
    for name in ["a", "b"] {
        let l = &table[name];
        assert_eq!(l.index, ns.ifindex(name));
        assert_eq!(l.kind.as_deref(), Some("veth"), "{name}");
        assert!(l.up && l.running, "{l:?}");
        assert_eq!(
            (l.hatype, l.mtu, l.master, l.link_netnsid),
            (libc::ARPHRD_ETHER, 1500, None, None),
            "{name}"
        );
    }

    let mut events = Vec::new();
    ns.ip(&[
        "link", "add", "name", "c", "type", "veth", "peer", "name", "d",
    ]);
    poll_until(&mut mon, &mut events, "Added c and d", |e| {
        added(e, "c").is_some() && added(e, "d").is_some()
    });
    let c = added(&events, "c").cloned().expect("c");
    let d = added(&events, "d").cloned().expect("d");
    assert_eq!(
        (c.index, c.kind.as_deref(), c.up),
        (ns.ifindex("c"), Some("veth"), false)
    );
    assert_eq!(mon.get(d.index), Some(&d));

    events.clear();
    ns.ip(&["link", "del", "dev", "c"]);
    poll_until(&mut mon, &mut events, "Removed c and d", |e| {
        removed(e, c.index, "c") && removed(e, d.index, "d")
    });
    assert_eq!((mon.get(c.index), mon.get(d.index)), (None, None));

    events.clear();
    ns.ip(&["link", "set", "dev", "a", "down"]);
    poll_until(&mut mon, &mut events, "Added a (down)", |e| {
        added(e, "a").is_some_and(|a| !a.up)
    });
    let a = &by_name(&mon)["a"];
    assert!(!a.up && !a.running, "{a:?}");
    // The peer keeps its admin state but loses its carrier (reported by the
    // kernel's link watcher, up to a second later).
    poll_until(&mut mon, &mut events, "b without carrier", |e| {
        added(e, "b").is_some_and(|b| !b.running)
    });
    let b = &by_name(&mon)["b"];
    assert!(b.up && !b.running, "{b:?}");
    assert_eq!(mon.malformed(), 0);
}

#[test]
fn veth_peer_in_another_namespace_carries_its_netnsid() {
    let Some(_serial) = root("creating network namespaces") else {
        return;
    };
    let (ns, other) = (Netns::new(), Netns::new());
    let mut mon = ns.enter(LinkMonitor::open).expect("open monitor");
    let mut events = Vec::new();
    ns.ip(&[
        "link",
        "add",
        "name",
        "e",
        "type",
        "veth",
        "peer",
        "name",
        "f",
        "netns",
        &other.name,
    ]);
    poll_until(&mut mon, &mut events, "Added e", |e| {
        added(e, "e").is_some()
    });
    let e = added(&events, "e").expect("e");
    // `ip netns list-id` prints "nsid N (iproute2 netns name: NAME)".
    let ids = ns.ip(&["netns", "list-id"]);
    let nsid: i32 = ids
        .lines()
        .find(|l| l.contains(&other.name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no nsid for {} in {ids:?}", other.name));
    assert_eq!(e.link_netnsid, Some(nsid));
    assert!(!by_name(&mon).contains_key("f"), "the peer lives elsewhere");
}

#[test]
fn leaving_a_bridge_is_a_change_not_a_removal() {
    let Some(_serial) = root("creating network namespaces") else {
        return;
    };
    let ns = Netns::new();
    let mut mon = ns.enter(LinkMonitor::open).expect("open monitor");
    let mut events = Vec::new();
    ns.ip(&["link", "add", "name", "br0", "type", "bridge"]);
    ns.ip(&[
        "link", "add", "name", "c", "type", "veth", "peer", "name", "d",
    ]);
    ns.ip(&["link", "set", "dev", "c", "master", "br0"]);
    let br0 = ns.ifindex("br0");
    poll_until(&mut mon, &mut events, "c enslaved", |e| {
        added(e, "c").is_some_and(|c| c.master == Some(br0))
    });
    assert_eq!(
        added(&events, "br0").and_then(|b| b.kind.as_deref()),
        Some("bridge")
    );

    events.clear();
    ns.ip(&["link", "set", "dev", "c", "nomaster"]);
    poll_until(&mut mon, &mut events, "c released", |e| {
        added(e, "c").is_some_and(|c| c.master.is_none())
    });
    // The bridge also sends an AF_BRIDGE RTM_DELLINK for the port; the
    // interface itself is still there.
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, LinkEvent::Removed { .. })),
        "{events:#?}"
    );
    assert!(mon.get(ns.ifindex("c")).is_some());
}
