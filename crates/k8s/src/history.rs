//! Who held an IP address when: the part of naming that must be right in
//! time.
//!
//! Pod IPs are reused. A name table keyed by IP alone (k8spacket's) relabels
//! an old pod's connections with whoever holds the address now, so this
//! keeps, per address, the holders over time as intervals `[from, until)`
//! and answers "who held it at `ts`". A record is named when it is stored,
//! which for a long connection is long after it started, so the answer must
//! come from history, not from the present.
//!
//! Intervals come from what the API server says: a holder starts at its
//! object's creation (second precision) or when the previous holder
//! released the address, whichever is later, and ends when the object is
//! deleted or stops holding it. Watch events arrive after the fact, so a
//! lookup a little before the first holder or a little after the last one
//! ended still gets it (see [`EARLY`] and [`LATE`]). Memory is bounded:
//! ended intervals are forgotten after a retention, each address keeps at
//! most [`MAX_PER_IP`] holders, and new addresses beyond `max_ips` are
//! refused and counted.

use rustc_hash::FxHashMap;
use std::net::IpAddr;

/// A holder is found this long before its interval starts when nobody held
/// the address before (watch events lag the first packets).
pub const EARLY: u64 = 60_000_000_000;
/// A holder is found this long after it released the address when nobody
/// took it since (a connection's last packets, delayed delete events).
pub const LATE: u64 = 30_000_000_000;
/// Holders remembered per address.
pub const MAX_PER_IP: usize = 8;

#[derive(Clone, Debug)]
struct Holding<T> {
    from: u64,
    until: Option<u64>,
    /// Which object holds it (the object's uid, hashed).
    key: u64,
    who: T,
}

/// Per address, its holders over time (ns since the epoch).
#[derive(Debug)]
pub struct IpHistory<T> {
    max_ips: usize,
    retention: u64,
    by_ip: FxHashMap<IpAddr, Vec<Holding<T>>>,
    /// Addresses refused because `max_ips` were known.
    pub refused: u64,
    /// Holders forgotten before their retention ran out (`MAX_PER_IP`).
    pub evicted: u64,
}

impl<T: Clone> IpHistory<T> {
    pub fn new(max_ips: usize, retention_ns: u64) -> IpHistory<T> {
        IpHistory {
            max_ips: max_ips.max(1),
            retention: retention_ns,
            by_ip: FxHashMap::default(),
            refused: 0,
            evicted: 0,
        }
    }

    /// Addresses with any history.
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// `key` holds `ip` since `from` (or since the last holder let go, if
    /// later). Holding again refreshes `who` (labels, owners change).
    /// Another holder still holding the address is ended where this one
    /// begins: the API server gave the address to someone else, so the old
    /// holder evidently let go.
    pub fn hold(&mut self, ip: IpAddr, key: u64, who: T, from: u64) {
        if !self.by_ip.contains_key(&ip) && self.by_ip.len() >= self.max_ips {
            self.refused += 1;
            return;
        }
        let list = self.by_ip.entry(ip).or_default();
        if let Some(h) = list.iter_mut().rev().find(|h| h.key == key) {
            if h.until.is_none() {
                h.who = who;
                return;
            }
        }
        let mut start = from;
        if let Some(last) = list.last_mut() {
            start = start.max(last.from.saturating_add(1));
            if let Some(until) = last.until {
                start = start.max(until);
            }
            match last.until {
                Some(u) if u <= start => {}
                _ => last.until = Some(start),
            }
        }
        list.push(Holding {
            from: start,
            until: None,
            key,
            who,
        });
        if list.len() > MAX_PER_IP {
            list.remove(0);
            self.evicted += 1;
        }
    }

    /// `key` stopped holding `ip` at `at`.
    pub fn release(&mut self, ip: IpAddr, key: u64, at: u64) {
        if let Some(list) = self.by_ip.get_mut(&ip) {
            for h in list
                .iter_mut()
                .filter(|h| h.key == key && h.until.is_none())
            {
                h.until = Some(at.max(h.from));
            }
        }
    }

    /// Ends every interval of `key` that is still open (the object is gone).
    pub fn release_all(&mut self, ips: &[IpAddr], key: u64, at: u64) {
        for ip in ips {
            self.release(*ip, key, at);
        }
    }

    /// Who held `ip` at `ts`.
    pub fn at(&self, ip: IpAddr, ts: u64) -> Option<&T> {
        let list = self.by_ip.get(&ip)?;
        // The last holder that started at or before ts.
        let i = list.iter().rposition(|h| h.from <= ts);
        match i {
            None => list
                .first()
                .filter(|h| h.from - ts <= EARLY)
                .map(|h| &h.who),
            Some(i) => {
                let h = &list[i];
                match h.until {
                    None => Some(&h.who),
                    Some(u) if ts < u => Some(&h.who),
                    Some(u) => {
                        // In a gap after h: h if it just let go, the next
                        // holder if it is about to start.
                        if ts - u <= LATE {
                            Some(&h.who)
                        } else {
                            list.get(i + 1)
                                .filter(|n| n.from - ts <= EARLY)
                                .map(|n| &n.who)
                        }
                    }
                }
            }
        }
    }

    /// Forgets intervals that ended more than the retention before `now`.
    pub fn prune(&mut self, now: u64) {
        let horizon = now.saturating_sub(self.retention);
        self.by_ip.retain(|_, list| {
            list.retain(|h| h.until.is_none_or(|u| u >= horizon));
            !list.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn ip() -> IpAddr {
        "10.244.1.7".parse().unwrap()
    }

    #[test]
    fn a_reused_address_names_each_moment_by_its_holder() {
        let mut h = IpHistory::new(10, 3600 * S);
        h.hold(ip(), 1, "old", 100 * S);
        h.release(ip(), 1, 200 * S);
        h.hold(ip(), 2, "new", 199 * S); // created before the old one was gone
        assert_eq!(h.at(ip(), 150 * S), Some(&"old"));
        assert_eq!(
            h.at(ip(), 199 * S + 5),
            Some(&"old"),
            "new starts at release"
        );
        assert_eq!(h.at(ip(), 200 * S), Some(&"new"));
        assert_eq!(h.at(ip(), 10_000 * S), Some(&"new"));
    }

    #[test]
    fn a_new_holder_ends_an_open_one() {
        let mut h = IpHistory::new(10, 3600 * S);
        h.hold(ip(), 1, "old", 100 * S);
        h.hold(ip(), 2, "new", 300 * S); // the delete was missed
        assert_eq!(h.at(ip(), 299 * S), Some(&"old"));
        assert_eq!(h.at(ip(), 301 * S), Some(&"new"));
    }

    #[test]
    fn holding_again_refreshes_without_a_new_interval() {
        let mut h = IpHistory::new(10, 3600 * S);
        h.hold(ip(), 1, "v1", 100 * S);
        h.hold(ip(), 1, "v2", 150 * S);
        assert_eq!(h.at(ip(), 120 * S), Some(&"v2"));
    }

    #[test]
    fn grace_before_the_first_and_after_the_last() {
        let mut h = IpHistory::new(10, 3600 * S);
        h.hold(ip(), 1, "p", 100 * S);
        h.release(ip(), 1, 200 * S);
        assert_eq!(h.at(ip(), 100 * S - EARLY), Some(&"p"));
        assert_eq!(h.at(ip(), 100 * S - EARLY - 1), None);
        assert_eq!(h.at(ip(), 200 * S + LATE), Some(&"p"));
        assert_eq!(h.at(ip(), 200 * S + LATE + 1), None);
    }

    #[test]
    fn a_gap_between_holders_goes_to_the_nearer_one_within_grace() {
        let mut h = IpHistory::new(10, 3600 * S);
        h.hold(ip(), 1, "a", 100 * S);
        h.release(ip(), 1, 200 * S);
        h.hold(ip(), 2, "b", 1000 * S);
        assert_eq!(h.at(ip(), 210 * S), Some(&"a"));
        assert_eq!(h.at(ip(), 600 * S), None);
        assert_eq!(h.at(ip(), 990 * S), Some(&"b"));
    }

    #[test]
    fn bounded_in_addresses_holders_and_time() {
        let mut h = IpHistory::new(2, 100 * S);
        h.hold("10.0.0.1".parse().unwrap(), 1, "a", S);
        h.hold("10.0.0.2".parse().unwrap(), 2, "b", S);
        h.hold("10.0.0.3".parse().unwrap(), 3, "c", S);
        assert_eq!((h.len(), h.refused), (2, 1));

        let mut h = IpHistory::new(10, 100 * S);
        for k in 0..(MAX_PER_IP as u64 + 3) {
            h.hold(ip(), k, k, k * 10 * S);
        }
        assert_eq!(h.evicted, 3);
        h.release(ip(), MAX_PER_IP as u64 + 2, 500 * S);
        h.prune(700 * S);
        assert!(h.is_empty(), "every interval ended before the horizon");
    }
}
