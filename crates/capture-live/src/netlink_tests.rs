//! Hand-built rtnetlink messages, laid out as the kernel lays them out.

use super::*;

fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    a.extend_from_slice(&kind.to_ne_bytes());
    a.extend_from_slice(payload);
    a.resize(align4(a.len()), 0);
    a
}

fn message(ty: u16, family: u8, index: i32, flags: u32, attrs: &[Vec<u8>]) -> Vec<u8> {
    let mut m = vec![0u8; NLMSG_HDRLEN];
    m.push(family);
    m.push(0);
    m.extend_from_slice(&libc::ARPHRD_ETHER.to_ne_bytes());
    m.extend_from_slice(&index.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&0xffff_ffffu32.to_ne_bytes());
    for a in attrs {
        m.extend_from_slice(a);
    }
    let len = m.len() as u32;
    m[0..4].copy_from_slice(&len.to_ne_bytes());
    m[4..6].copy_from_slice(&ty.to_ne_bytes());
    m
}

const UP_RUNNING: u32 =
    (libc::IFF_UP | libc::IFF_BROADCAST | libc::IFF_RUNNING | libc::IFF_LOWER_UP) as u32;

/// A veth end enslaved to a bridge, with its peer in namespace id 3.
fn veth() -> Vec<u8> {
    message(
        libc::RTM_NEWLINK,
        libc::AF_UNSPEC as u8,
        7,
        UP_RUNNING,
        &[
            attr(libc::IFLA_IFNAME, b"veth1a2b\0"),
            attr(libc::IFLA_MTU, &1450u32.to_ne_bytes()),
            attr(libc::IFLA_MASTER, &4u32.to_ne_bytes()),
            attr(libc::IFLA_LINK_NETNSID, &3i32.to_ne_bytes()),
            attr(libc::IFLA_LINK, &2u32.to_ne_bytes()),
            // An attribute we do not read, with the nested flag set.
            attr(
                libc::IFLA_AF_SPEC | libc::NLA_F_NESTED as u16,
                &[1, 2, 3, 4, 5],
            ),
            attr(
                libc::IFLA_LINKINFO | libc::NLA_F_NESTED as u16,
                &attr(libc::IFLA_INFO_KIND, b"veth\0"),
            ),
        ],
    )
}

#[test]
fn new_veth_link() {
    let link = match parse_link_message(&veth()) {
        Ok(Some(LinkMessage::New(link))) => link,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        link,
        Link {
            index: 7,
            name: "veth1a2b".into(),
            kind: Some("veth".into()),
            up: true,
            running: true,
            hatype: libc::ARPHRD_ETHER,
            mtu: 1450,
            master: Some(4),
            link_netnsid: Some(3),
            link: Some(2),
        }
    );
}

#[test]
fn down_link_without_kind() {
    let msg = message(
        libc::RTM_NEWLINK,
        0,
        1,
        0,
        &[attr(libc::IFLA_IFNAME, b"lo\0")],
    );
    let Ok(Some(LinkMessage::New(link))) = parse_link_message(&msg) else {
        panic!()
    };
    assert_eq!(
        (link.name.as_str(), link.kind, link.up, link.running),
        ("lo", None, false, false)
    );
}

#[test]
fn deleted_link() {
    let msg = message(
        libc::RTM_DELLINK,
        0,
        9,
        0,
        &[attr(libc::IFLA_IFNAME, b"c\0")],
    );
    assert_eq!(
        parse_link_message(&msg),
        Ok(Some(LinkMessage::Deleted {
            index: 9,
            name: "c".into()
        }))
    );
}

#[test]
fn bridge_port_messages_and_other_types_are_ignored() {
    let port = message(
        libc::RTM_DELLINK,
        libc::AF_BRIDGE as u8,
        7,
        0,
        &[attr(libc::IFLA_IFNAME, b"veth1a2b\0")],
    );
    assert_eq!(parse_link_message(&port), Ok(None));
    let addr = message(libc::RTM_NEWADDR, 0, 7, 0, &[]);
    assert_eq!(parse_link_message(&addr), Ok(None));
}

#[test]
fn malformed_messages_are_errors() {
    let nameless = message(libc::RTM_NEWLINK, 0, 3, 0, &[]);
    assert_eq!(parse_link_message(&nameless), Err(ParseError::MissingName));
    let negative = message(
        libc::RTM_NEWLINK,
        0,
        -2,
        0,
        &[attr(libc::IFLA_IFNAME, b"x\0")],
    );
    assert_eq!(parse_link_message(&negative), Err(ParseError::BadIndex(-2)));
    let short_mtu = message(libc::RTM_NEWLINK, 0, 3, 0, &[attr(libc::IFLA_MTU, &[1, 2])]);
    assert_eq!(
        parse_link_message(&short_mtu),
        Err(ParseError::BadAttributeSize {
            kind: libc::IFLA_MTU,
            len: 2
        })
    );
    let mut overrun = veth();
    let at = NLMSG_HDRLEN + IFINFO_LEN;
    overrun[at..at + 2].copy_from_slice(&500u16.to_ne_bytes());
    assert_eq!(parse_link_message(&overrun), Err(ParseError::BadAttribute));
    let mut tiny_attr = veth();
    tiny_attr[at..at + 2].copy_from_slice(&2u16.to_ne_bytes());
    assert_eq!(
        parse_link_message(&tiny_attr),
        Err(ParseError::BadAttribute)
    );
}

#[test]
fn every_truncation_is_an_error() {
    let msg = veth();
    for cut in 0..msg.len() {
        assert!(parse_link_message(&msg[..cut]).is_err(), "cut at {cut}");
    }
}

#[test]
fn a_datagram_splits_into_messages() {
    let mut dgram = veth();
    dgram.extend_from_slice(&message(
        libc::RTM_DELLINK,
        0,
        9,
        0,
        &[attr(libc::IFLA_IFNAME, b"c\0")],
    ));
    let types: Vec<u16> = messages(&dgram).map(|m| m.unwrap().0.ty).collect();
    assert_eq!(types, [libc::RTM_NEWLINK, libc::RTM_DELLINK]);
    // A length running past the datagram ends the walk with one error.
    let mut bad = veth();
    bad.extend_from_slice(&[0xff, 0xff, 0, 0, 0, 0]);
    let items: Vec<_> = messages(&bad).collect();
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok() && items[1].is_err());
}

#[test]
fn garbage_never_panics() {
    let base = veth();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for round in 0..20_000 {
        let mut m = if round % 3 == 0 {
            (0..(next() % 200))
                .map(|_| next() as u8)
                .collect::<Vec<u8>>()
        } else {
            base.clone()
        };
        for _ in 0..(1 + next() % 8) {
            if !m.is_empty() {
                let at = (next() as usize) % m.len();
                m[at] = next() as u8;
            }
        }
        let cut = (next() as usize) % (m.len() + 1);
        let _ = parse_link_message(&m[..cut]);
        for (_, msg) in messages(&m[..cut]).flatten() {
            let _ = parse_link_message(msg);
        }
    }
}
