//! The proxy a Go program picks for a registry request: `http.ProxyFromEnvironment`, the
//! rules of `golang.org/x/net/http/httpproxy`. BuildKit's registry resolver
//! (`util/resolver`) and the clients' token fetch (`session/auth/authprovider`, through
//! `cleanhttp`) both use it, each with its own process environment.
//!
//! The rules, as Go applies them:
//! - `HTTPS_PROXY` for `https` requests, `HTTP_PROXY` for `http`; each upper-case name
//!   wins over the lower-case one when it is non-empty (`getEnvAny`); `ALL_PROXY` is
//!   never read. A value without a scheme is read as `http://value`.
//! - `localhost` and loopback addresses never go through a proxy.
//! - `NO_PROXY` is a comma list, each entry trimmed and lower-cased, nothing else
//!   (quotes stay part of the entry): `*` matches everything; `a.b.c.d/n` and `v6/n` are
//!   CIDR ranges for IP literals; `ip`, `ip:port`, `[v6]:port` match one address;
//!   `name`, `name:port` match the name and its subdomains; `.name` and `*.name` match
//!   subdomains only. An entry with a port matches only that port, and the request's
//!   port is always known (`443` for https, `80` for http when the name has none).

use std::net::IpAddr;

/// The proxy settings of one process environment, after Go's precedence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProxyEnv {
    /// `(variable, value)` of the proxy for `http` requests.
    pub http: Option<(String, String)>,
    /// `(variable, value)` of the proxy for `https` requests.
    pub https: Option<(String, String)>,
    /// `(variable, value)` of the bypass list.
    pub no_proxy: Option<(String, String)>,
}

/// The first non-empty of `names`, as Go's `getEnvAny`.
fn any(get: &impl Fn(&str) -> Option<String>, names: [&str; 2]) -> Option<(String, String)> {
    names
        .into_iter()
        .find_map(|n| get(n).filter(|v| !v.is_empty()).map(|v| (n.to_string(), v)))
}

impl ProxyEnv {
    /// Reads the settings through `get` (a variable's value, if set).
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<String>) -> ProxyEnv {
        ProxyEnv {
            http: any(&get, ["HTTP_PROXY", "http_proxy"]),
            https: any(&get, ["HTTPS_PROXY", "https_proxy"]),
            no_proxy: any(&get, ["NO_PROXY", "no_proxy"]),
        }
    }

    /// The `(variable, proxy)` a request to `host` (bare, IPv6 without brackets) and
    /// `port` goes through, or `None` when it goes direct.
    pub(crate) fn proxy_for(
        &self,
        https: bool,
        host: &str,
        port: u16,
    ) -> Option<&(String, String)> {
        let proxy = if https { &self.https } else { &self.http }.as_ref()?;
        let bypass = self.no_proxy.as_ref().map_or("", |(_, v)| v.as_str());
        use_proxy(bypass, host, port).then_some(proxy)
    }
}

/// Go's `useProxy`: whether a request to `host:port` goes through the proxy given the
/// `NO_PROXY` value `no_proxy`.
pub(crate) fn use_proxy(no_proxy: &str, host: &str, port: u16) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let ip = host.parse::<IpAddr>().ok();
    if host == "localhost" || ip.is_some_and(|ip| loopback(&ip)) {
        return false;
    }
    let port = port.to_string();
    !entries(no_proxy)
        .iter()
        .any(|e| e.matches(&host, &port, ip))
}

/// Go's `net.IP.IsLoopback`, which reads an IPv4-mapped IPv6 address as IPv4.
fn loopback(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
        IpAddr::V4(v4) => v4.is_loopback(),
    }
}

/// One parsed `NO_PROXY` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    All,
    Cidr(IpAddr, u8),
    Ip(IpAddr, Option<String>),
    /// `.suffix`, an optional port, and whether the bare name matches too.
    Domain(String, Option<String>, bool),
}

impl Entry {
    fn matches(&self, host: &str, port: &str, ip: Option<IpAddr>) -> bool {
        let port_ok = |p: &Option<String>| p.as_deref().is_none_or(|p| p == port);
        match self {
            Entry::All => true,
            Entry::Cidr(net, bits) => ip.is_some_and(|ip| in_cidr(*net, *bits, ip)),
            Entry::Ip(want, p) => ip.is_some_and(|ip| same_ip(*want, ip)) && port_ok(p),
            // Go tries the domain entries on IP literals too (a suffix of the text).
            Entry::Domain(suffix, p, bare) => {
                (host.ends_with(suffix.as_str()) || (*bare && host == &suffix[1..])) && port_ok(p)
            }
        }
    }
}

/// Go's `net.IP.Equal`: an IPv4 address equals its IPv4-mapped IPv6 form.
fn same_ip(a: IpAddr, b: IpAddr) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    canon(a) == canon(b)
}

fn in_cidr(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    let (a, b, width): (u128, u128, u8) = match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n).into(), u32::from(i).into(), 32),
        (IpAddr::V4(n), IpAddr::V6(i)) => match i.to_ipv4_mapped() {
            Some(i) => (u32::from(n).into(), u32::from(i).into(), 32),
            None => return false,
        },
        (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(i), 128),
        (IpAddr::V6(_), IpAddr::V4(_)) => return false,
    };
    if bits == 0 {
        return true;
    }
    let shift = width - bits.min(width);
    (a >> shift) == (b >> shift)
}

/// Go's `net.ParseCIDR` for `addr/bits` (no zone, bits within the address width).
fn parse_cidr(p: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = p.split_once('/')?;
    let ip: IpAddr = addr.parse().ok()?;
    if bits.is_empty() || !bits.bytes().all(|b| b.is_ascii_digit()) || bits.len() > 3 {
        return None;
    }
    let bits: u8 = bits.parse().ok()?;
    let width = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= width).then_some((ip, bits))
}

/// Go's `net.SplitHostPort`: `host:port` or `[host]:port`; `None` when Go errs (no
/// port, too many colons, misplaced brackets). The host keeps no brackets.
fn split_host_port(p: &str) -> Option<(&str, &str)> {
    let i = p.rfind(':')?;
    let (host, port) = (&p[..i], &p[i + 1..]);
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']')?;
        return (!inner.contains('[') && !inner.contains(']')).then_some((inner, port));
    }
    (!host.contains(':') && !host.contains('[') && !host.contains(']') && !port.contains(']'))
        .then_some((host, port))
}

/// Parses a `NO_PROXY` value as Go's `config.init` does.
fn entries(no_proxy: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    for p in no_proxy.split(',') {
        let p = p.trim().to_ascii_lowercase();
        if p.is_empty() {
            continue;
        }
        if p == "*" {
            return vec![Entry::All];
        }
        if let Some((net, bits)) = parse_cidr(&p) {
            out.push(Entry::Cidr(net, bits));
            continue;
        }
        let (host, port) = match split_host_port(&p) {
            Some(("", _)) => continue,
            Some((h, port)) => (h, Some(port.to_string())),
            None => (p.as_str(), None),
        };
        if let Ok(ip) = host.parse::<IpAddr>() {
            out.push(Entry::Ip(ip, port));
            continue;
        }
        if host.is_empty() {
            continue;
        }
        let host = host
            .strip_prefix('*')
            .filter(|h| h.starts_with('.'))
            .unwrap_or(host);
        let (suffix, bare) = match host.strip_prefix('.') {
            Some(_) => (host.to_string(), false),
            None => (format!(".{host}"), true),
        };
        out.push(Entry::Domain(suffix, port, bare));
    }
    out
}

/// The entries of a `NO_PROXY` value that hold quote characters, which Go keeps (and
/// so never match): what compose's list syntax (`- NO_PROXY="a,b"`) leaves in a value.
pub(crate) fn quoted_entries(no_proxy: &str) -> Vec<&str> {
    no_proxy
        .split(',')
        .map(str::trim)
        .filter(|e| e.contains(['"', '\'']))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(no_proxy: &str, host: &str, port: u16) -> bool {
        !use_proxy(no_proxy, host, port)
    }

    #[test]
    fn names_suffixes_and_wildcards() {
        assert!(direct("registry", "registry", 5000));
        assert!(direct("example.com", "registry.example.com", 443));
        assert!(direct("example.com", "example.com", 443));
        assert!(!direct("example.com", "notexample.com", 443));
        assert!(direct(".example.com", "r.example.com", 443));
        assert!(!direct(".example.com", "example.com", 443));
        assert!(direct("*.example.com", "r.example.com", 443));
        assert!(!direct("*.example.com", "example.com", 443));
        assert!(direct(" Registry , other", "registry", 443));
        assert!(direct("*", "anything", 1));
        assert!(direct("a,*", "anything", 1));
        assert!(!direct("", "registry", 443));
        assert!(!direct("registry.", "registry", 443));
    }

    #[test]
    fn ports_must_match_when_given() {
        assert!(direct("registry:5000", "registry", 5000));
        assert!(!direct("registry:5000", "registry", 443));
        assert!(!direct("registry:443", "registry", 5000));
        assert!(direct("10.0.0.5:5000", "10.0.0.5", 5000));
        assert!(!direct("10.0.0.5:5000", "10.0.0.5", 5001));
        assert!(direct("[fd00::5]:5000", "fd00::5", 5000));
        assert!(!direct("[fd00::5]:5000", "fd00::5", 443));
    }

    #[test]
    fn ip_literals_and_cidr() {
        assert!(direct("10.0.0.0/8", "10.1.2.3", 5000));
        assert!(!direct("10.0.0.0/8", "11.1.2.3", 5000));
        assert!(direct("172.16.0.0/12", "172.31.255.1", 443));
        assert!(!direct("172.16.0.0/12", "172.32.0.1", 443));
        assert!(direct("fd00::/8", "fd12::1", 443));
        assert!(direct("fd00::5", "fd00::5", 443));
        assert!(direct("0.0.0.0/0", "8.8.8.8", 443));
        // A CIDR range never matches a name, even one that resolves into it.
        assert!(!direct("10.0.0.0/8", "registry", 443));
        // Unbracketed IPv6 is an address, not `host:port`.
        assert!(direct("fd00::1", "fd00::1", 443));
        // A domain entry is a suffix of the text, IP literals included (as in Go).
        assert!(direct("0.0.5", "10.0.0.5", 443));
    }

    #[test]
    fn loopback_and_localhost_never_use_a_proxy() {
        assert!(direct("", "localhost", 5000));
        assert!(direct("", "127.0.0.1", 5000));
        assert!(direct("", "127.9.9.9", 5000));
        assert!(direct("", "::1", 5000));
        assert!(direct("", "::ffff:127.0.0.1", 5000));
        assert!(!direct("", "localhost.localdomain", 5000));
    }

    #[test]
    fn quotes_stay_in_the_entries() {
        assert!(!direct("\"registry,localhost\"", "registry", 5000));
        assert!(direct("\"registry,localhost\",registry", "registry", 5000));
        assert_eq!(
            quoted_entries("\"registry,localhost\""),
            vec!["\"registry", "localhost\""]
        );
        assert!(quoted_entries("registry").is_empty());
    }

    #[test]
    fn precedence_of_the_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            ProxyEnv::from_lookup(move |k| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            })
        };
        let env = vars(&[
            ("HTTPS_PROXY", ""),
            ("https_proxy", "http://lower:3128"),
            ("NO_PROXY", "other"),
            ("no_proxy", "registry"),
        ]);
        // An empty upper-case value yields to the lower-case one; a non-empty one wins.
        assert_eq!(
            env.proxy_for(true, "registry", 5000),
            Some(&("https_proxy".to_string(), "http://lower:3128".to_string()))
        );
        assert_eq!(env.proxy_for(false, "registry", 5000), None);
        let all_only = vars(&[("ALL_PROXY", "http://p:1")]);
        assert_eq!(all_only.proxy_for(true, "registry", 443), None);
    }
}
