//! Wire details of the registry auth dance: challenges, URLs, tokens, Go-style quoting.

use super::Credential;
use base64::Engine;

pub(crate) fn basic(cred: &Credential) -> String {
    let raw = format!("{}:{}", cred.username, cred.password);
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

pub(crate) fn token_of(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["token", "access_token"].iter().find_map(|k| {
        v.get(k)?
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string)
    })
}

/// Bytes as Go's `%q` prints them in `malformed HTTP response %q`.
pub(crate) fn go_quote(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'"' | b'\\' => s.push_str(&format!("\\{}", b as char)),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `https://host[:port]/path?q` into (https, authority, path-and-query).
pub(crate) fn parse_url(url: &str) -> Option<(bool, String, String)> {
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        (false, url.strip_prefix("http://")?)
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path
    };
    (!authority.is_empty()).then(|| (https, authority.to_string(), path))
}

/// `Bearer realm="https://x/token",service="x"` into ("bearer", params).
pub(crate) fn parse_challenge(h: &str) -> Option<(String, Vec<(String, String)>)> {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    if scheme.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let key: String =
            std::iter::from_fn(|| chars.next_if(|c| *c != '=' && *c != ',')).collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                value = std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                    .collect::<String>()
                    .trim()
                    .to_string();
            }
        }
        params.push((key.trim().to_ascii_lowercase(), value));
    }
    Some((scheme.to_ascii_lowercase(), params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_challenges_and_urls() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://r.test/jwt/auth",service="dependency_proxy",scope="a,b""#,
        )
        .unwrap();
        assert_eq!(s, "bearer");
        assert_eq!(p[0], ("realm".into(), "https://r.test/jwt/auth".into()));
        assert_eq!(p[2], ("scope".into(), "a,b".into()));
        let (s, p) = parse_challenge("Basic realm=reg").unwrap();
        assert_eq!((s.as_str(), p[0].1.as_str()), ("basic", "reg"));
        assert_eq!(
            parse_url("https://r.test:8443/t?x=1"),
            Some((true, "r.test:8443".into(), "/t?x=1".into()))
        );
        assert_eq!(
            parse_url("http://r.test"),
            Some((false, "r.test".into(), "/".into()))
        );
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(go_quote(b"\x15\x03\"A"), r#""\x15\x03\"A""#);
    }
}
