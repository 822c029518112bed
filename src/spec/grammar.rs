//! The grammars of spec values that reach generated files as text: image references,
//! buildkitd listen addresses, publish addresses and the mirror's upstream URL. A value
//! is checked against its grammar here; the renderers still escape it for their format.

use crate::hostport::{HostPort, parse_host};

/// An image reference as distribution's `reference.ReferenceRegexp` defines it
/// (distribution/reference `regexp.go`): `[domain[:port]/]path[:tag][@digest]`, path
/// components of lowercase letters and digits joined by `.`, `_`, `__` or dashes.
pub(super) fn image_reference(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 255 + 128 + 80 {
        return Err("is empty or too long for an image reference".into());
    }
    let (name, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest {
        digest_ok(d).map_err(|why| format!("has an invalid digest `{d}`: {why}"))?;
    }
    // The tag is after the last `:` that follows the last `/` (a domain port comes before).
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    if let Some(t) = tag {
        let ok = !t.is_empty()
            && t.len() <= 128
            && t.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !ok {
            return Err(format!(
                "has an invalid tag `{t}` (letters, digits, `_`, `.`, `-`, at most 128)"
            ));
        }
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 {
        let first = parts[0];
        if first.contains('.') || first.contains(':') || first == "localhost" {
            HostPort::parse(first).map_err(|e| format!("has an invalid registry host: {e}"))?;
            parts.remove(0);
        }
    }
    if name.len() > 255 {
        return Err("has a name longer than 255 characters".into());
    }
    for p in parts {
        if !path_component_ok(p) {
            return Err(format!(
                "has an invalid path component `{p}` (lowercase letters and digits, joined by `.`, `_`, `__` or `-`)"
            ));
        }
    }
    Ok(())
}

fn path_component_ok(p: &str) -> bool {
    let b = p.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(&b[0]) || !b.last().is_some_and(alnum) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(&b[i]) {
            i += 1;
            continue;
        }
        // A separator run: `.`, `_`, `__` or one or more `-`, between alphanumerics.
        let start = i;
        while i < b.len() && !alnum(&b[i]) {
            i += 1;
        }
        let sep = &p[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-')) {
            return false;
        }
    }
    true
}

fn digest_ok(d: &str) -> Result<(), &'static str> {
    let (alg, hex) = d.split_once(':').ok_or("no `algorithm:` prefix")?;
    let alg_ok = !alg.is_empty()
        && alg.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '.' | '_' | '-')
        });
    if !alg_ok {
        return Err("bad algorithm");
    }
    if hex.len() < 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("the encoded part must be at least 32 hex digits");
    }
    Ok(())
}

/// A buildkitd `--addr`: `tcp://HOST:PORT`, `unix:///absolute/path` or `fd://[N]`.
pub(super) fn listen_address(s: &str) -> Result<(), String> {
    if let Some(rest) = s.strip_prefix("tcp://") {
        let hp = HostPort::parse(rest).map_err(|e| e.to_string())?;
        if hp.port.is_none() {
            return Err(format!("`{s}` needs a port, e.g. tcp://0.0.0.0:1234"));
        }
        return Ok(());
    }
    if let Some(path) = s.strip_prefix("unix://") {
        let ok = path.starts_with('/')
            && path.len() <= 107
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'));
        if !ok {
            return Err(format!(
                "`{s}`: a unix socket path must be absolute and contain only letters, digits, `/`, `.`, `_` and `-`"
            ));
        }
        return Ok(());
    }
    if let Some(fd) = s.strip_prefix("fd://") {
        if fd.chars().all(|c| c.is_ascii_digit()) {
            return Ok(());
        }
        return Err(format!("`{s}`: fd:// takes a descriptor number or nothing"));
    }
    Err(format!(
        "`{s}` has no scheme; buildkitd fails with \"address {s} does not contain proto\". Write `tcp://{s}` or `unix://{s}`"
    ))
}

/// The address part of a publish entry: an IPv4 address, or an IPv6 address with or
/// without brackets.
pub(super) fn publish_ip(s: &str) -> Result<(), String> {
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse::<std::net::IpAddr>()
        .map(|_| ())
        .map_err(|_| format!("`{s}` is not an IP address"))
}

/// The mirror's upstream: `https://HOST[:PORT][/path]` (or `http://`).
pub(super) fn upstream_url(s: &str) -> Result<(), String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("`{s}` must start with https:// (or http://)"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    HostPort::parse(authority).map_err(|e| e.to_string())?;
    let path_ok = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-' | '~'));
    if !path_ok {
        return Err(format!(
            "`{s}`: the path may contain only letters, digits, `/`, `.`, `_`, `-` and `~`"
        ));
    }
    Ok(())
}

/// A compose service name: a DNS label-style host name (it is also a certificate SAN).
pub(super) fn service_name(s: &str) -> Result<(), String> {
    parse_host(s, s).map(|_| ()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_follow_distributions_grammar() {
        for ok in [
            "registry:2.8.3",
            "moby/buildkit:v0.23.2-rootless",
            "docker.io/library/registry:2",
            "localhost:5000/a/b__c.d-e:tag",
            "ghcr.io/o/r@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            image_reference(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "registry:2.8.3\n    pid: host",
            "Registry:2",
            "registry:",
            "reg istry",
            "a//b",
            "a:b:c",
            "\"x\"",
            "registry:2 # c",
            "x@sha256:short",
        ] {
            assert!(image_reference(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses_and_urls() {
        listen_address("tcp://0.0.0.0:1234").unwrap();
        listen_address("unix:///run/buildkit/buildkitd.sock").unwrap();
        listen_address("fd://").unwrap();
        for bad in [
            "tcp://0.0.0.0",
            "unix:///a b",
            "unix://rel",
            "x:1",
            "tcp://h:1\n- x",
        ] {
            assert!(listen_address(bad).is_err(), "{bad:?}");
        }
        publish_ip("127.0.0.1").unwrap();
        publish_ip("[::1]").unwrap();
        assert!(publish_ip("127.0.0.1\"\n").is_err());
        upstream_url("https://registry-1.docker.io").unwrap();
        upstream_url("https://mirror.example:8443/v2-proxy").unwrap();
        for bad in ["ftp://x", "https://x y", "https://x/\nkey: v", "https://"] {
            assert!(upstream_url(bad).is_err(), "{bad:?}");
        }
    }
}
