//! Docker `config.json` credentials, looked up exactly as BuildKit's client does
//! (buildkit.md 4.1): `credHelpers[host]`, then `credsStore`, then `auths[host]`, then the
//! legacy pass comparing `host` with each key stripped of scheme and path. The port is
//! part of the identity: `gitlab.example.com` does not match `gitlab.example.com:443`.

use base64::Engine;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DockerConfig {
    #[serde(default)]
    pub auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    pub creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    pub cred_helpers: BTreeMap<String, String>,
}

#[derive(Clone, Default, Deserialize)]
pub struct AuthEntry {
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    pub identity_token: Option<String>,
}

impl std::fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthEntry").finish_non_exhaustive()
    }
}

/// What BuildKit would use for one registry host.
#[derive(Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Inline credentials under `key`.
    Found {
        key: String,
        username: String,
        password: String,
    },
    /// A credential helper (`docker-credential-NAME`) answers for this host.
    Helper { name: String, from_store: bool },
    /// An `auths` entry matched but holds no usable `user:password`.
    Invalid { key: String, reason: String },
    /// Nothing matches; `near` lists keys for the same host under another port or form.
    Missing { near: Vec<String> },
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lookup::Found { key, username, .. } => {
                write!(f, "Found({key}, {username}, <redacted>)")
            }
            Lookup::Helper { name, .. } => write!(f, "Helper({name})"),
            Lookup::Invalid { key, reason } => write!(f, "Invalid({key}: {reason})"),
            Lookup::Missing { near } => write!(f, "Missing(near {near:?})"),
        }
    }
}

/// The key Docker Hub credentials live under.
pub(crate) const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// docker/cli's `ConvertToHostname`: strip scheme and path, keep the port.
pub fn key_host(key: &str) -> &str {
    let rest = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    rest.split('/').next().unwrap_or(rest)
}

/// Whether two `host[:port]` names have the same host (IPv6 brackets aside).
fn same_host(a: &str, b: &str) -> bool {
    use crate::hostport::{strip_port, unbracket};
    unbracket(strip_port(a)) == unbracket(strip_port(b))
}

impl DockerConfig {
    pub fn parse(text: &str) -> Result<DockerConfig, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The credentials BuildKit would send for requests to `host` (`host[:port]`).
    pub fn lookup(&self, host: &str) -> Lookup {
        let hub = matches!(
            host,
            "docker.io" | "index.docker.io" | "registry-1.docker.io"
        );
        let wanted = if hub { DOCKER_HUB_KEY } else { host };
        if let Some(name) = self.cred_helpers.get(wanted) {
            return Lookup::Helper {
                name: name.clone(),
                from_store: false,
            };
        }
        if let Some(name) = &self.creds_store {
            return Lookup::Helper {
                name: name.clone(),
                from_store: true,
            };
        }
        let matched = self.auths.get_key_value(wanted).or_else(|| {
            let legacy = if hub { "index.docker.io" } else { host };
            self.auths.iter().find(|(k, _)| key_host(k) == legacy)
        });
        match matched {
            Some((key, entry)) => decode(key, entry),
            None => Lookup::Missing {
                near: self
                    .auths
                    .keys()
                    .filter(|k| same_host(key_host(k), host))
                    .cloned()
                    .collect(),
            },
        }
    }
}

fn decode(key: &str, entry: &AuthEntry) -> Lookup {
    let invalid = |reason: &str| Lookup::Invalid {
        key: key.to_string(),
        reason: reason.to_string(),
    };
    if let (Some(u), Some(p)) = (&entry.username, &entry.password) {
        return Lookup::Found {
            key: key.into(),
            username: u.clone(),
            password: p.clone(),
        };
    }
    let Some(auth) = entry.auth.as_deref().filter(|a| !a.is_empty()) else {
        return if entry.identity_token.is_some() {
            invalid("holds only an identity token, which bkenv cannot check")
        } else {
            invalid("has no `auth` field")
        };
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(auth.trim()) else {
        return invalid("`auth` is not base64");
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return invalid("`auth` does not decode to text");
    };
    match text.split_once(':') {
        Some((u, p)) if !u.is_empty() => Lookup::Found {
            key: key.into(),
            username: u.into(),
            password: p.into(),
        },
        _ => invalid("`auth` does not decode to `user:password`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(auths: &[(&str, &str)]) -> DockerConfig {
        let auths = auths
            .iter()
            .map(|(k, up)| {
                let auth = base64::engine::general_purpose::STANDARD.encode(up);
                (
                    (*k).to_string(),
                    AuthEntry {
                        auth: Some(auth),
                        ..AuthEntry::default()
                    },
                )
            })
            .collect();
        DockerConfig {
            auths,
            ..DockerConfig::default()
        }
    }

    #[test]
    fn matches_like_buildkit_v0_11_table() {
        // buildkit.md 4.1, tested against BuildKit's own authprovider.
        let c = cfg(&[
            ("gitlab.example.com", "a:1"),
            ("noport.example.com:443", "b:2"),
            ("https://withscheme.example.com:8443/v2/", "c:3"),
            (DOCKER_HUB_KEY, "d:4"),
        ]);
        let found = |h: &str| matches!(c.lookup(h), Lookup::Found { .. });
        assert!(found("gitlab.example.com"));
        assert!(!found("gitlab.example.com:443"));
        assert!(!found("noport.example.com"));
        assert!(found("noport.example.com:443"));
        assert!(found("withscheme.example.com:8443"));
        assert!(!found("withscheme.example.com"));
        assert!(found("registry-1.docker.io"));
        assert_eq!(
            c.lookup("gitlab.example.com:443"),
            Lookup::Missing {
                near: vec!["gitlab.example.com".into()]
            }
        );
    }

    #[test]
    fn helpers_shadow_auths_and_bad_auth_is_invalid() {
        let mut c = cfg(&[("r:5000", "u:p")]);
        c.cred_helpers.insert("r:5000".into(), "ecr-login".into());
        assert!(matches!(
            c.lookup("r:5000"),
            Lookup::Helper {
                from_store: false,
                ..
            }
        ));
        let mut bad = DockerConfig::default();
        bad.auths.insert(
            "r:5000".into(),
            AuthEntry {
                auth: Some("!!!".into()),
                ..AuthEntry::default()
            },
        );
        assert!(matches!(bad.lookup("r:5000"), Lookup::Invalid { .. }));
    }
}
