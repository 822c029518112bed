//! Subject alternative names and RFC 5280 name constraints.

use super::PkiError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// One subject alternative name.
///
/// IP addresses must be IP SANs: clients never match `https://127.0.0.1` against a DNS SAN
/// spelled "127.0.0.1", so [`SanName::from_str`] turns anything that parses as an address
/// into [`SanName::Ip`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SanName {
    /// Lower-case DNS name; may start with a `*.` wildcard label.
    Dns(String),
    Ip(IpAddr),
}

impl fmt::Display for SanName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SanName::Dns(d) => f.write_str(d),
            SanName::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl FromStr for SanName {
    type Err = PkiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Brackets appear when names are copied from URLs such as https://[::1]:5000.
        let bare = s.trim().trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(SanName::Ip(ip));
        }
        let dns = s.trim().trim_end_matches('.').to_ascii_lowercase();
        if valid_dns_name(&dns) {
            Ok(SanName::Dns(dns))
        } else {
            Err(PkiError::InvalidName(s.to_string()))
        }
    }
}

impl Serialize for SanName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SanName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

fn valid_dns_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 253 {
        return false;
    }
    let rest = name.strip_prefix("*.").unwrap_or(name);
    !rest.is_empty()
        && rest.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Permitted (or excluded) subtrees of a name constraints extension, for the name types
/// bkenv issues. An empty list leaves that name type unconstrained, as in RFC 5280.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Permitted {
    /// DNS subtrees: "example.com" covers itself and every subdomain; ".example.com"
    /// covers subdomains only.
    pub dns: Vec<String>,
    /// Networks as (address, prefix length); the address has its host bits cleared.
    pub ip: Vec<(IpAddr, u8)>,
}

impl Permitted {
    pub fn is_empty(&self) -> bool {
        self.dns.is_empty() && self.ip.is_empty()
    }

    /// Every subtree as users read it: DNS names, then networks as `address/prefix`.
    pub fn shown(&self) -> Vec<String> {
        let mut out = self.dns.clone();
        out.extend(self.ip.iter().map(|(ip, p)| format!("{ip}/{p}")));
        out
    }

    /// Parses "10.0.0.0/8" or "::1/128" into a network with host bits cleared.
    pub fn parse_cidr(s: &str) -> Result<(IpAddr, u8), PkiError> {
        let bad = || PkiError::InvalidCidr(s.to_string());
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        Ok((network(addr, prefix), prefix))
    }

    fn matches(&self, name: &SanName) -> bool {
        match name {
            SanName::Dns(d) => self.dns.iter().any(|c| dns_in_subtree(d, c)),
            SanName::Ip(ip) => self.ip.iter().any(|&(net, p)| ip_in_network(*ip, net, p)),
        }
    }

    fn has_type_of(&self, name: &SanName) -> bool {
        match name {
            SanName::Dns(_) => !self.dns.is_empty(),
            SanName::Ip(_) => !self.ip.is_empty(),
        }
    }
}

impl fmt::Display for Permitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dns = self.dns.iter().map(|d| format!("DNS:{d}"));
        let ip = self.ip.iter().map(|(a, p)| format!("IP:{a}/{p}"));
        let all: Vec<String> = dns.chain(ip).collect();
        if all.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&all.join(", "))
        }
    }
}

/// A CA's name constraints as far as DNS and IP names go.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct NameConstraints {
    pub permitted: Permitted,
    pub excluded: Permitted,
    /// Subtrees of other types (directory names, e-mail, URI) that bkenv does not evaluate.
    pub other_subtrees: usize,
}

impl From<Permitted> for NameConstraints {
    fn from(permitted: Permitted) -> Self {
        NameConstraints {
            permitted,
            ..NameConstraints::default()
        }
    }
}

/// Whether a CA with these constraints may vouch for `name` (RFC 5280 §4.2.1.10): the
/// name must fall in a permitted subtree when any exist for its type, and in no excluded one.
pub fn permitted_by(constraints: &NameConstraints, name: &SanName) -> bool {
    let allowed = !constraints.permitted.has_type_of(name) || constraints.permitted.matches(name);
    allowed && !constraints.excluded.matches(name)
}

/// Constraints for a new CA: exactly the spec's names, plus loopback so local tests and
/// port-forwards keep working without reissuing the CA.
pub fn default_permitted(names: &[SanName]) -> Permitted {
    let mut permitted = Permitted {
        dns: Vec::new(),
        ip: vec![
            (IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8),
            (IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
        ],
    };
    for name in names {
        match name {
            SanName::Dns(d) => {
                // A wildcard's subtree is its parent domain.
                let base = d.strip_prefix("*.").unwrap_or(d).to_string();
                if !permitted.dns.contains(&base) {
                    permitted.dns.push(base);
                }
            }
            SanName::Ip(ip) => {
                if !permitted.matches(name) {
                    let prefix = if ip.is_ipv4() { 32 } else { 128 };
                    permitted.ip.push((*ip, prefix));
                }
            }
        }
    }
    permitted
}

fn dns_in_subtree(name: &str, constraint: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let constraint = constraint.to_ascii_lowercase();
    if let Some(suffix) = constraint.strip_prefix('.') {
        return name.len() > suffix.len() + 1 && name.ends_with(&constraint);
    }
    if constraint.is_empty() {
        return true;
    }
    name == constraint
        || (name.len() > constraint.len()
            && name.ends_with(&constraint)
            && name.as_bytes()[name.len() - constraint.len() - 1] == b'.')
}

fn network(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

fn ip_in_network(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    ip.is_ipv4() == net.is_ipv4() && network(ip, prefix) == network(net, prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn san(s: &str) -> SanName {
        s.parse().unwrap()
    }

    #[test]
    fn ip_strings_become_ip_names() {
        assert_eq!(san("127.0.0.1"), SanName::Ip("127.0.0.1".parse().unwrap()));
        assert_eq!(san("[::1]"), SanName::Ip("::1".parse().unwrap()));
        assert_eq!(
            san("Registry.Local."),
            SanName::Dns("registry.local".into())
        );
        assert!("bad name".parse::<SanName>().is_err());
        assert!("-x.example".parse::<SanName>().is_err());
    }

    #[test]
    fn dns_subtrees_follow_rfc5280() {
        let c = NameConstraints::from(Permitted {
            dns: vec!["example.com".into()],
            ip: vec![Permitted::parse_cidr("10.1.2.3/8").unwrap()],
        });
        assert!(permitted_by(&c, &san("example.com")));
        assert!(permitted_by(&c, &san("a.b.example.com")));
        assert!(permitted_by(&c, &san("*.example.com")));
        assert!(!permitted_by(&c, &san("badexample.com")));
        assert!(!permitted_by(&c, &san("example.org")));
        assert!(permitted_by(&c, &san("10.200.0.1")));
        assert!(!permitted_by(&c, &san("11.0.0.1")));
        assert!(!permitted_by(&c, &san("::1")));

        let dot = NameConstraints::from(Permitted {
            dns: vec![".example.com".into()],
            ip: vec![],
        });
        assert!(!permitted_by(&dot, &san("example.com")));
        assert!(permitted_by(&dot, &san("x.example.com")));
        // No IP subtrees: IP names are unconstrained.
        assert!(permitted_by(&dot, &san("192.0.2.1")));
    }

    #[test]
    fn excluded_subtrees_win() {
        let c = NameConstraints {
            permitted: Permitted::default(),
            excluded: Permitted {
                dns: vec!["internal.example".into()],
                ip: vec![Permitted::parse_cidr("192.168.0.0/16").unwrap()],
            },
            other_subtrees: 0,
        };
        assert!(!permitted_by(&c, &san("a.internal.example")));
        assert!(!permitted_by(&c, &san("192.168.1.1")));
        assert!(permitted_by(&c, &san("example.com")));
    }

    #[test]
    fn default_permitted_covers_spec_and_loopback() {
        let names = [
            san("registry"),
            san("*.svc.local"),
            san("10.0.0.5"),
            san("127.0.0.2"),
        ];
        let p = default_permitted(&names);
        assert_eq!(p.dns, vec!["registry".to_string(), "svc.local".to_string()]);
        assert_eq!(p.ip.len(), 3, "{p}");
        let c = NameConstraints::from(p);
        for n in &names {
            assert!(permitted_by(&c, n), "{n}");
        }
        assert!(permitted_by(&c, &san("::1")));
        assert!(!permitted_by(&c, &san("10.0.0.6")));
    }

    #[test]
    fn cidr_parsing_rejects_nonsense() {
        assert!(Permitted::parse_cidr("10.0.0.0").is_err());
        assert!(Permitted::parse_cidr("10.0.0.0/33").is_err());
        assert_eq!(
            Permitted::parse_cidr("::1/128").unwrap(),
            ("::1".parse().unwrap(), 128)
        );
        assert_eq!(
            Permitted::parse_cidr("0.0.0.0/0").unwrap(),
            ("0.0.0.0".parse().unwrap(), 0)
        );
    }
}
