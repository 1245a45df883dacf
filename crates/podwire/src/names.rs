//! Names for remote addresses, from what this host itself looked up.
//!
//! An address outside the cluster is named by the DNS answers clients
//! received (the name asked for, not the CNAME target) and by the TLS SNI a
//! client sent to it. One address often serves many names (a CDN, a cloud
//! load balancer), so the name is first the one *this* client resolved or
//! sent, and only then the one any client on the host last learned. Names
//! are learned from records as they pass, so a record gets the name known
//! at that moment. The cache is bounded; the oldest names are forgotten
//! first.
//!
//! Some addresses are never named this way ([`nameable`]): loopback and
//! unspecified addresses (resolvers that block a name answer 127.0.0.1 or
//! 0.0.0.0, and one such answer would otherwise name every loopback
//! endpoint of the host, clients included), link-local, multicast and
//! broadcast ones. None of them is where a name leads: each means
//! "here", "nowhere" or "everyone on this link", whoever asked. The host's
//! own addresses are named as the host instead (`host`).

use podwire_record::{Body, Endpoint, Record};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::net::IpAddr;

/// Whose name: one client's (`Some(client)`), or any client's (`None`).
type Key = (Option<IpAddr>, IpAddr);

/// (client, IP) -> domain, bounded.
pub struct NameCache {
    max: usize,
    names: FxHashMap<Key, String>,
    order: VecDeque<Key>,
    forgotten: u64,
}

/// Remote addresses named at once, by the agent and by `read --serve`.
pub const MAX_NAMES: usize = 65_536;

impl NameCache {
    pub fn new(max: usize) -> NameCache {
        NameCache {
            max: max.max(1),
            names: FxHashMap::default(),
            order: VecDeque::new(),
            forgotten: 0,
        }
    }

    /// Names forgotten to stay within the bound.
    pub fn forgotten(&self) -> u64 {
        self.forgotten
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Learns from a record (DNS answers, TLS SNI), then names its endpoints.
    pub fn process(&mut self, rec: &mut Record) {
        match &rec.body {
            Body::Dns(d) if d.rcode.as_deref() == Some("NOERROR") => {
                let asked = d.name.trim_end_matches('.').to_string();
                for a in &d.answers {
                    if a.rtype == "A" || a.rtype == "AAAA" {
                        if let Ok(ip) = a.data.parse::<IpAddr>() {
                            self.learn((Some(rec.client.ip), ip), &asked);
                            self.learn((None, ip), &asked);
                        }
                    }
                }
            }
            Body::Tls(t) => {
                if let Some(sni) = &t.sni {
                    self.learn((Some(rec.client.ip), rec.server.ip), sni);
                    self.learn((None, rec.server.ip), sni);
                }
            }
            _ => {}
        }
        let client = rec.client.ip;
        self.name(None, &mut rec.client);
        self.name(Some(client), &mut rec.server);
    }

    fn learn(&mut self, ip: Key, name: &str) {
        if name.is_empty() || !nameable(ip.1) {
            return;
        }
        if let Some(old) = self.names.get_mut(&ip) {
            if old != name {
                name.clone_into(old);
            }
            return;
        }
        while self.names.len() >= self.max {
            match self.order.pop_front() {
                Some(old) => {
                    if self.names.remove(&old).is_some() {
                        self.forgotten += 1;
                    }
                }
                None => break,
            }
        }
        self.names.insert(ip, name.to_string());
        self.order.push_back(ip);
    }

    /// Names `ep` as `client` knows it, else as anyone does.
    fn name(&self, client: Option<IpAddr>, ep: &mut Endpoint) {
        if !nameable(ep.ip) {
            return;
        }
        let own = client.and_then(|c| self.names.get(&(Some(c), ep.ip)));
        if let Some(n) = own.or_else(|| self.names.get(&(None, ep.ip))) {
            ep.identity.get_or_insert_with(Box::default).domain = Some(n.clone());
        }
    }
}

/// Whether a DNS answer or a TLS SNI may name `ip` (see the module docs).
pub fn nameable(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(a) => {
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_link_local()
                || a.is_multicast()
                || a.is_broadcast())
        }
        IpAddr::V6(a) => {
            !(a.is_loopback()
                || a.is_unspecified()
                || a.is_unicast_link_local()
                || a.is_multicast())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use podwire_record::{Dns, DnsAnswer, DnsTransport, Http, Timestamp, Tls};

    fn rec(client: &str, server: &str, body: Body) -> Record {
        Record::new(
            Timestamp(1),
            Endpoint::new(client.parse().unwrap(), 40000),
            Endpoint::new(server.parse().unwrap(), 443),
            body,
        )
    }

    fn dns(name: &str, answers: &[(&str, &str)]) -> Body {
        Body::Dns(Dns {
            transport: DnsTransport::Udp,
            id: 1,
            name: name.into(),
            qtype: "A".into(),
            rcode: Some("NOERROR".into()),
            answers: answers
                .iter()
                .map(|(t, d)| DnsAnswer {
                    name: "x".into(),
                    rtype: t.to_string(),
                    ttl: 60,
                    data: d.to_string(),
                })
                .collect(),
            latency_ms: None,
        })
    }

    fn http() -> Body {
        Body::Http(Http {
            version: "HTTP/1.1".into(),
            ..Http::default()
        })
    }

    #[test]
    fn dns_answer_names_later_records_by_the_asked_name() {
        let mut n = NameCache::new(10);
        let mut q = rec(
            "10.0.0.1",
            "10.0.0.53",
            dns(
                "www.example.com.",
                &[("CNAME", "edge.cdn.net."), ("A", "93.184.216.34")],
            ),
        );
        n.process(&mut q);
        let mut r = rec("10.0.0.1", "93.184.216.34", http());
        n.process(&mut r);
        let id = r.server.identity.unwrap();
        assert_eq!(id.domain.as_deref(), Some("www.example.com"));
        assert!(r.client.identity.is_none());
    }

    #[test]
    fn a_shared_address_is_named_as_each_client_resolved_it() {
        let mut n = NameCache::new(100);
        let cdn = "151.101.1.1";
        for (client, name) in [("10.0.0.1", "a.example."), ("10.0.0.2", "b.example.")] {
            let mut q = rec(client, "10.0.0.53", dns(name, &[("A", cdn)]));
            n.process(&mut q);
        }
        for (client, want) in [
            ("10.0.0.1", "a.example"),
            ("10.0.0.2", "b.example"),
            ("10.0.0.3", "b.example"),
        ] {
            let mut r = rec(client, cdn, http());
            n.process(&mut r);
            assert_eq!(
                r.server.identity.unwrap().domain.as_deref(),
                Some(want),
                "{client}"
            );
        }
    }

    #[test]
    fn sni_names_the_server() {
        let mut n = NameCache::new(10);
        let mut t = rec(
            "10.0.0.1",
            "192.0.2.7",
            Body::Tls(Tls {
                sni: Some("api.example.org".into()),
                ..Tls::default()
            }),
        );
        n.process(&mut t);
        assert_eq!(
            t.server.identity.unwrap().domain.as_deref(),
            Some("api.example.org")
        );
    }

    #[test]
    fn nxdomain_and_unparsable_answers_teach_nothing() {
        let mut n = NameCache::new(10);
        let mut q = rec(
            "10.0.0.1",
            "10.0.0.53",
            dns("a.example.", &[("A", "not-an-ip")]),
        );
        n.process(&mut q);
        assert_eq!(n.len(), 0);
    }

    #[test]
    fn blocking_answers_name_no_local_endpoint() {
        let mut n = NameCache::new(100);
        for (name, ip) in [
            ("ads.example.", "127.0.0.1"),
            ("track.example.", "0.0.0.0"),
            ("v6.example.", "::1"),
            ("zero6.example.", "::"),
            ("ll.example.", "169.254.169.254"),
            ("mc.example.", "224.0.0.251"),
            ("bc.example.", "255.255.255.255"),
            ("mapped.example.", "::ffff:127.0.0.1"),
        ] {
            let mut q = rec("10.0.0.1", "10.0.0.53", dns(name, &[("A", ip)]));
            n.process(&mut q);
        }
        let mut t = rec(
            "127.0.0.1",
            "127.0.0.1",
            Body::Tls(Tls {
                sni: Some("local.example".into()),
                ..Tls::default()
            }),
        );
        n.process(&mut t);
        assert_eq!(n.len(), 0, "nothing learned");
        for ip in ["127.0.0.1", "0.0.0.0", "::1", "169.254.169.254"] {
            let mut r = rec(ip, ip, http());
            n.process(&mut r);
            assert!(
                r.client.identity.is_none() && r.server.identity.is_none(),
                "{ip}"
            );
        }
    }

    #[test]
    fn bounded_oldest_forgotten_first() {
        let mut n = NameCache::new(6);
        for i in 0..5u8 {
            let ip = format!("192.0.2.{i}");
            let mut q = rec(
                "10.0.0.1",
                "10.0.0.53",
                dns(&format!("h{i}."), &[("A", &ip)]),
            );
            n.process(&mut q);
        }
        assert_eq!(
            n.len(),
            6,
            "three answers, each for its client and for anyone"
        );
        assert_eq!(n.forgotten(), 4);
        let mut r = rec("10.0.0.1", "192.0.2.0", http());
        n.process(&mut r);
        assert!(r.server.identity.is_none(), "oldest was forgotten");
        let mut r = rec("10.0.0.1", "192.0.2.4", http());
        n.process(&mut r);
        assert_eq!(r.server.identity.unwrap().domain.as_deref(), Some("h4"));
    }
}
