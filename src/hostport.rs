//! Registry and endpoint names as BuildKit sees them: `host[:port]`, with bracketed IPv6.
//!
//! BuildKit keys registry configuration and credentials by the exact `host[:port]` of an
//! image reference, so bkenv treats that string as an identity and never normalises it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The host part of a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    Dns(String),
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Dns(name) => f.write_str(name),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

impl Host {
    /// BuildKit's `docker.MatchLocalhost`: `localhost`, `::1` and `127.0.0.0/8` default to
    /// plain HTTP unless the registry table says `http = false`. Go's `net.IP.IsLoopback`
    /// reads an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) as its IPv4 address
    /// (`To4`), so that is loopback too.
    pub fn is_loopback(&self) -> bool {
        match self {
            Host::Dns(name) => name.eq_ignore_ascii_case("localhost"),
            Host::Ip(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => v4.is_loopback(),
                None => v6.is_loopback(),
            },
            Host::Ip(ip) => ip.is_loopback(),
        }
    }

    /// The name as it appears in a certificate SAN and in TLS SNI (no brackets).
    pub fn san(&self) -> String {
        match self {
            Host::Dns(name) => name.clone(),
            Host::Ip(ip) => ip.to_string(),
        }
    }
}

/// `host[:port]` exactly as written in an image reference or registry key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    pub host: Host,
    pub port: Option<u16>,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

/// Why a name was rejected; the message says how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("`{0}` is empty")]
    Empty(String),
    #[error("`{0}` has a scheme; write only host[:port], e.g. `{1}`")]
    Scheme(String, String),
    #[error("`{0}` has a path; registry names are host[:port] only")]
    Path(String),
    #[error("`{0}`: an IPv6 address with a port needs brackets, e.g. `[{1}]:5000`")]
    UnbracketedIpv6(String, String),
    #[error("`{0}`: port `{1}` is not a number from 1 to 65535 (without leading zeros)")]
    Port(String, String),
    #[error("`{0}`: {1}")]
    Host(String, String),
}

impl HostPort {
    /// Parses `host`, `host:port`, `ip:port`, `[ipv6]` or `[ipv6]:port`.
    pub fn parse(input: &str) -> Result<HostPort, NameError> {
        let raw = input.to_string();
        if input.is_empty() {
            return Err(NameError::Empty(raw));
        }
        if let Some((_, rest)) = input.split_once("://") {
            return Err(NameError::Scheme(raw, rest.trim_end_matches('/').into()));
        }
        if input.contains('/') {
            return Err(NameError::Path(raw));
        }
        if let Some(rest) = input.strip_prefix('[') {
            let (ip, after) = rest
                .split_once(']')
                .ok_or_else(|| NameError::Host(raw.clone(), "unclosed `[`".into()))?;
            let ip: Ipv6Addr = ip.parse().map_err(|_| {
                NameError::Host(raw.clone(), format!("`{ip}` is not an IPv6 address"))
            })?;
            let port = match after {
                "" => None,
                p => Some(parse_port(&raw, p.strip_prefix(':').unwrap_or(p))?),
            };
            return Ok(HostPort {
                host: Host::Ip(IpAddr::V6(ip)),
                port,
            });
        }
        if input.matches(':').count() > 1 {
            let bare = input.rsplit_once(':').map_or(input, |(h, _)| h);
            let shown = if input.parse::<Ipv6Addr>().is_ok() {
                input
            } else {
                bare
            };
            return Err(NameError::UnbracketedIpv6(raw.clone(), shown.into()));
        }
        let (host, port) = match input.split_once(':') {
            Some((h, p)) => (h, Some(parse_port(&raw, p)?)),
            None => (input, None),
        };
        Ok(HostPort {
            host: parse_host(&raw, host)?,
            port,
        })
    }

    /// The port clients actually connect to (HTTPS default when absent).
    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or(443)
    }
}

fn parse_port(raw: &str, p: &str) -> Result<u16, NameError> {
    match p.parse::<u16>() {
        // `05000` is refused, not read as 5000: BuildKit keys registries by the exact
        // string, so a rewritten name would silently stop matching.
        Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) && !p.starts_with('0') => Ok(n),
        _ => Err(NameError::Port(raw.into(), p.into())),
    }
}

/// Parses a bare host: an IPv4 address, an IPv6 address (unbracketed) or a DNS name.
pub fn parse_host(raw: &str, host: &str) -> Result<Host, NameError> {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    if let Ok(ip) = host.parse::<Ipv6Addr>() {
        return Ok(Host::Ip(IpAddr::V6(ip)));
    }
    validate_dns_name(host).map_err(|why| NameError::Host(raw.into(), why))?;
    Ok(Host::Dns(host.to_ascii_lowercase()))
}

/// RFC 1123 host name rules, which Go's x509 and rustls enforce on SANs.
fn validate_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the host name is empty".into());
    }
    if name.len() > 253 {
        return Err(format!(
            "the host name is {} characters long; the limit is 253",
            name.len()
        ));
    }
    // Resolvers (inet_aton, WHATWG URLs) read a name whose last label is a number as an
    // IPv4 address in shorthand: `127.1`, `0x7f.1`, `2130706433` all dial 127.0.0.1, while
    // a certificate would carry them as DNS names no client matches.
    if let Some(last) = name.rsplit('.').next() {
        let hex = last
            .strip_prefix("0x")
            .or_else(|| last.strip_prefix("0X"))
            .is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
        if hex || (!last.is_empty() && last.chars().all(|c| c.is_ascii_digit())) {
            return Err(format!(
                "`{name}` ends in a number, so resolvers read it as an IPv4 address in a shorthand form; \
                 write the address in dotted-quad form (e.g. 127.0.0.1), or use a host name"
            ));
        }
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(
                "the host name has an empty label (`..`, or a leading or trailing dot)".into(),
            );
        }
        if label.len() > 63 {
            return Err(format!(
                "the label `{label}` is {} characters long; the limit is 63",
                label.len()
            ));
        }
        if let Some(bad) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            let hint = if bad == '_' {
                " (use `-` instead of `_`)"
            } else {
                ""
            };
            return Err(format!(
                "the label `{label}` contains `{bad}`{hint}; host names allow letters, digits and `-`"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("the label `{label}` starts or ends with `-`"));
        }
    }
    Ok(())
}

/// Splits `host[:port]` exactly as written, without validating: `[v6]:port`, `host:port`,
/// a bare host, or a bare IPv6 address (which has no port). The host keeps its IPv6
/// brackets; the port is the digits after the last `:` (possibly none, as in `host:`).
/// Use it on names found in files, which [`HostPort::parse`] may rightly refuse.
pub fn split(name: &str) -> (&str, Option<&str>) {
    if name.starts_with('[') {
        return match name.split_once(']') {
            Some((h, after)) => (&name[..h.len() + 1], after.strip_prefix(':')),
            None => (name, None),
        };
    }
    match name.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => (h, Some(p)),
        _ => (name, None),
    }
}

/// The host of `host[:port]` without its port (IPv6 brackets kept), as written.
pub fn strip_port(name: &str) -> &str {
    split(name).0
}

/// A host without the brackets of an IPv6 literal: the form of SANs, SNI and lookups.
pub fn unbracket(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// The host without brackets and the port as a number, as a client dials `name`.
pub fn host_and_port(name: &str) -> (&str, Option<u16>) {
    let (host, port) = split(name);
    (unbracket(host), port.and_then(|p| p.parse().ok()))
}

/// BuildKit's `MatchLocalhost` for a `host[:port]` as written (see [`Host::is_loopback`]).
pub fn is_loopback(name: &str) -> bool {
    let bare = unbracket(strip_port(name));
    parse_host(bare, bare).is_ok_and(|h| h.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_buildkit_uses() {
        let hp = HostPort::parse("registry:5000").unwrap();
        assert_eq!(hp.host, Host::Dns("registry".into()));
        assert_eq!(hp.port, Some(5000));
        assert_eq!(hp.to_string(), "registry:5000");
        let v6 = HostPort::parse("[::1]:5005").unwrap();
        assert!(v6.host.is_loopback());
        assert_eq!(v6.to_string(), "[::1]:5005");
        assert_eq!(v6.host.san(), "::1");
        assert!(HostPort::parse("127.0.0.2:80").unwrap().host.is_loopback());
        // Go's IsLoopback reads the IPv4-mapped form as IPv4 (MatchLocalhost agrees).
        assert!(
            HostPort::parse("[::ffff:127.0.0.1]:5000")
                .unwrap()
                .host
                .is_loopback()
        );
        assert!(
            !HostPort::parse("[::ffff:10.0.0.1]")
                .unwrap()
                .host
                .is_loopback()
        );
        assert!(HostPort::parse("LOCALHOST").unwrap().host.is_loopback());
        assert!(
            !HostPort::parse("host.docker.internal:5000")
                .unwrap()
                .host
                .is_loopback()
        );
    }

    #[test]
    fn rejects_bad_names_with_a_reason() {
        let cases = [
            ("my_registry:5000", "use `-` instead of `_`"),
            ("a..b", "empty label"),
            ("reg:0", "port `0`"),
            ("reg:70000", "port `70000`"),
            ("::1:5000", "needs brackets"),
            ("https://reg:5000", "scheme"),
            ("reg:5000/path", "path"),
            ("-bad", "starts or ends"),
            ("reg:05000", "leading zeros"),
            ("127.1:5000", "ends in a number"),
            ("0x7f.1", "ends in a number"),
            ("2130706433:5000", "ends in a number"),
        ];
        for (input, want) in cases {
            let err = HostPort::parse(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input}: {err}");
        }
        let long = format!("{}.example", "a".repeat(64));
        assert!(
            HostPort::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("limit is 63")
        );
    }

    #[test]
    fn splits_names_as_written() {
        assert_eq!(split("registry:5000"), ("registry", Some("5000")));
        assert_eq!(split("[::1]:5000"), ("[::1]", Some("5000")));
        assert_eq!(split("[::1]"), ("[::1]", None));
        assert_eq!(split("::1"), ("::1", None));
        assert_eq!(split("host:"), ("host", Some("")));
        assert_eq!(split("host:abc"), ("host:abc", None));
        assert_eq!(split(":5000"), ("", Some("5000")));
        assert_eq!(host_and_port("[::1]:5000"), ("::1", Some(5000)));
        assert_eq!(host_and_port("a.test"), ("a.test", None));
        assert_eq!(host_and_port("a.test:99999"), ("a.test", None));
        assert_eq!(unbracket("[::1"), "[::1");
    }

    #[test]
    fn loopback_is_buildkits_rule() {
        for yes in [
            "localhost",
            "LOCALHOST:5000",
            "127.0.0.2:80",
            "[::1]:5005",
            "::1",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "127.foo.example",
            "registry:5000",
            "host.docker.internal",
            "10.0.0.1:5000",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }
}
