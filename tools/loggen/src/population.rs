//! The visitor population: who sends the normal traffic.
//!
//! Built once from its own random stream, so seed 42 always has the same
//! visitors whatever the other options. Addresses are unique per visitor, so
//! "distinct client addresses" equals "distinct visitors seen", and they never
//! collide with DDoS addresses, so an attacker's per-second count is exactly
//! the injected burst.

use std::collections::HashSet;

use crate::agents::{AgentKind, AGENTS};
use crate::rng::{Cumulative, Rng};

/// One visitor.
#[derive(Clone, Debug)]
pub struct Visitor {
    /// Client address as Apache writes `%h`: IPv4, IPv6 or a resolved host name.
    pub addr: String,
    /// Index into [`AGENTS`].
    pub agent: u16,
    /// HTTP-auth user (`%u`), for the few staff members; `None` writes `-`.
    pub user: Option<&'static str>,
}

impl Visitor {
    /// Kind of client.
    pub fn kind(&self) -> AgentKind {
        AGENTS[self.agent as usize].kind
    }
}

/// User names of staff visitors (back-office behind HTTP authentication).
const STAFF: &[&str] = &["admin", "jsmith", "mwagner", "ops", "lchen"];

/// Well-known reverse-DNS names of crawlers (`HostnameLookups On`).
const CRAWLER_HOSTS: &[(&str, &str)] = &[("crawl-66-249-66-", ".googlebot.com"), ("msnbot-157-55-39-", ".search.msn.com")];

/// Access-provider domains for resolved client names.
const ISP_DOMAINS: &[&str] =
    &["dip0.t-ipconnect.example.de", "dyn.telecom.example.net", "cable.example-isp.com", "adsl.example.fr", "mobile.example-carrier.net"];

/// The population.
#[derive(Debug)]
pub struct Population {
    visitors: Vec<Visitor>,
}

impl Population {
    /// `n` visitors avoiding the `reserved` addresses.
    pub fn new(n: u32, rng: &mut Rng, reserved: &[String]) -> Self {
        let agent_table = Cumulative::new(AGENTS.iter().map(|a| a.weight as u64));
        // Membership only: iteration order of a HashSet is never used.
        let mut taken: HashSet<String> = reserved.iter().cloned().collect();
        let mut visitors = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let agent = agent_table.sample(rng) as u16;
            let kind = AGENTS[agent as usize].kind;
            let addr = loop {
                let a = random_client_addr(rng, kind);
                if !taken.contains(&a) {
                    break a;
                }
            };
            taken.insert(addr.clone());
            let user = (kind == AgentKind::Browser && rng.ratio(1, 150)).then(|| *rng.pick(STAFF));
            visitors.push(Visitor { addr, agent, user });
        }
        Population { visitors }
    }

    /// Number of visitors.
    pub fn len(&self) -> usize {
        self.visitors.len()
    }

    /// Visitor `i`.
    #[inline]
    pub fn get(&self, i: u32) -> &Visitor {
        &self.visitors[i as usize]
    }

    /// All visitors, in creation order.
    pub fn all(&self) -> &[Visitor] {
        &self.visitors
    }
}

/// A random client address: 90% IPv4, 6% IPv6, 4% host names (crawlers
/// resolve to their well-known reverse-DNS names more often).
pub fn random_client_addr(rng: &mut Rng, kind: AgentKind) -> String {
    let roll = rng.below(100);
    if kind == AgentKind::Crawler && roll < 30 {
        let (prefix, suffix) = *rng.pick(CRAWLER_HOSTS);
        return format!("{prefix}{}{suffix}", rng.range(1, 254));
    }
    match roll {
        0..=89 => random_public_ipv4(rng),
        90..=95 => random_ipv6(rng),
        _ => {
            let ip = random_public_ipv4(rng);
            let dashed = ip.replace('.', "-");
            match rng.below(3) {
                0 => format!("p{:08x}.{}", rng.bits() as u32, ISP_DOMAINS[0]),
                1 => format!("{dashed}.{}", rng.pick(&ISP_DOMAINS[1..])),
                _ => format!("host-{dashed}.{}", rng.pick(&ISP_DOMAINS[1..])),
            }
        }
    }
}

/// A random globally routable IPv4 address (no private, loopback, link-local,
/// CGNAT, multicast or reserved ranges; documentation ranges are left to
/// attackers so they stand out when reading a file).
pub fn random_public_ipv4(rng: &mut Rng) -> String {
    loop {
        let v = rng.bits() as u32;
        let [a, b, c, d] = v.to_be_bytes();
        let private = a == 0
            || a == 10
            || a == 127
            || a >= 224
            || (a == 100 && (64..128).contains(&b))
            || (a == 169 && b == 254)
            || (a == 172 && (16..32).contains(&b))
            || (a == 192 && b == 168)
            || (a == 192 && b == 0)
            || (a == 198 && (b == 18 || b == 19 || b == 51))
            || (a == 203 && b == 0 && c == 113);
        if !private && d != 0 && d != 255 {
            return format!("{a}.{b}.{c}.{d}");
        }
    }
}

/// A random global-unicast IPv6 address in canonical text form (lower case,
/// no leading zeros, longest zero run as `::` when there is one).
pub fn random_ipv6(rng: &mut Rng) -> String {
    const PREFIXES: &[u16] = &[0x2001, 0x2003, 0x2a00, 0x2a01, 0x2a02, 0x2600, 0x2605, 0x2804, 0x2c0f];
    let mut groups = [0u16; 8];
    groups[0] = *rng.pick(PREFIXES);
    for g in groups.iter_mut().skip(1) {
        *g = rng.bits() as u16;
    }
    if groups[0] == 0x2001 && groups[1] == 0x0db8 {
        groups[1] = 0x4860; // keep out of the documentation prefix
    }
    // Half of the addresses are SLAAC/privacy style with zeros in the middle
    // of the prefix, as routers hand them out (e.g. 2a02:8108:1c0:2d00::1a2b).
    if rng.ratio(1, 2) {
        groups[4] = 0;
        groups[5] = 0;
        groups[6] = 0;
    }
    format_ipv6(&groups)
}

/// RFC 5952 text form of eight 16-bit groups.
pub fn format_ipv6(groups: &[u16; 8]) -> String {
    // Longest run of at least two zero groups (first one on ties).
    let (mut best_at, mut best_len) = (8, 0);
    let mut i = 0;
    while i < 8 {
        if groups[i] == 0 {
            let start = i;
            while i < 8 && groups[i] == 0 {
                i += 1;
            }
            if i - start > best_len && i - start >= 2 {
                best_at = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let hex = |gs: &[u16]| gs.iter().map(|g| format!("{g:x}")).collect::<Vec<_>>().join(":");
    if best_len == 0 {
        hex(groups)
    } else {
        format!("{}::{}", hex(&groups[..best_at]), hex(&groups[best_at + best_len..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    #[test]
    fn ipv6_text_is_canonical() {
        assert_eq!(format_ipv6(&[0x2a02, 0x8108, 0x1c0, 0x2d00, 0, 0, 0, 0x1a2b]), "2a02:8108:1c0:2d00::1a2b");
        assert_eq!(format_ipv6(&[0x2001, 0, 0, 1, 0, 0, 0, 1]), "2001:0:0:1::1");
        assert_eq!(format_ipv6(&[0x2001, 0, 1, 1, 1, 1, 1, 1]), "2001:0:1:1:1:1:1:1");
        assert_eq!(format_ipv6(&[0x2001, 1, 1, 1, 1, 1, 0, 0]), "2001:1:1:1:1:1::");
    }

    #[test]
    fn addresses_are_unique_and_avoid_reserved_ones() {
        let mut rng = Rng::new(5, Stream::Population);
        let reserved = vec!["1.2.3.4".to_string()];
        let p = Population::new(3000, &mut rng, &reserved);
        let set: HashSet<&str> = p.all().iter().map(|v| v.addr.as_str()).collect();
        assert_eq!(set.len(), 3000);
        assert!(!set.contains("1.2.3.4"));
        assert!(set.iter().any(|a| a.contains(':')), "some IPv6");
        assert!(set.iter().any(|a| a.ends_with(".net") || a.ends_with(".com")), "some host names");
    }
}
