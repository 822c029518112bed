//! Image references round-trip through doctor's parsers: a generated reference
//! (`host:port/ns/repo:tag@sha256:...`, digest-only, Docker Hub short names, IPv6 hosts)
//! written into a Dockerfile `FROM` line or a CI `--output`/`--export-cache` option comes
//! back unchanged, and `registry_host` names the registry BuildKit would dial.
//!
//! `doctor::refs` has no full reference parser (it does not split tag and digest), so the
//! round trip is through the extractors plus `registry_host`/`strip_port`.

use bkenv::doctor::refs::{ci_refs, dockerfile_refs, registry_host};
use bkenv::hostport::strip_port;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Ref {
    /// `None` for a Docker Hub short name.
    host: Option<(String, Option<u16>)>,
    path: Vec<String>,
    tag: Option<String>,
    digest: Option<String>,
}

impl Ref {
    fn host_port(&self) -> Option<String> {
        self.host.as_ref().map(|(h, p)| match p {
            Some(p) => format!("{h}:{p}"),
            None => h.clone(),
        })
    }
    fn render(&self) -> String {
        let mut s = String::new();
        if let Some(h) = self.host_port() {
            s.push_str(&h);
            s.push('/');
        }
        s.push_str(&self.path.join("/"));
        if let Some(t) = &self.tag {
            s.push(':');
            s.push_str(t);
        }
        if let Some(d) = &self.digest {
            s.push_str("@sha256:");
            s.push_str(d);
        }
        s
    }
}

fn component() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9._-]{0,8}[a-z0-9])?".prop_filter("no double separators", |s| {
        !s.contains("..") && !s.contains("__")
    })
}

fn host() -> impl Strategy<Value = (String, Option<u16>)> {
    prop_oneof![
        // A registry host needs a dot, a port or to be localhost to not be a Hub namespace.
        ("[a-z][a-z0-9-]{0,8}", "[a-z]{2,5}").prop_map(|(a, b)| (format!("{a}.{b}"), None)),
        ("[a-z][a-z0-9-]{0,8}", 1u16..=65535).prop_map(|(a, p)| (a, Some(p))),
        Just(("localhost".to_string(), None)),
        (0u8..=255, 0u8..=255, 1u16..=65535)
            .prop_map(|(a, b, p)| (format!("10.{a}.{b}.1"), Some(p))),
        (1u16..=0xffff, 1u16..=65535).prop_map(|(g, p)| (format!("[fd00::{g:x}]"), Some(p))),
    ]
}

fn reference() -> impl Strategy<Value = Ref> {
    (
        prop::option::of(host()),
        prop::collection::vec(component(), 1..4),
        prop::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
        prop::option::of("[0-9a-f]{64}"),
    )
        .prop_filter("scratch is not an image", |(h, p, t, d)| {
            !(h.is_none() && t.is_none() && d.is_none() && p.len() == 1 && p[0] == "scratch")
        })
        // Without a host, a first component with a dot (or `localhost`) *is* the host
        // (`reference.Domain`): a Hub name's namespace never has one.
        .prop_filter("a Hub namespace has no dot", |(h, p, _, _)| {
            h.is_some() || p.len() == 1 || !(p[0].contains('.') || p[0] == "localhost")
        })
        .prop_map(|(host, path, tag, digest)| Ref {
            host,
            path,
            tag,
            digest,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn references_round_trip(r in reference()) {
        let text = r.render();
        let host = registry_host(&text);
        match r.host_port() {
            Some(h) => {
                prop_assert_eq!(&host, &h);
                let bare = &r.host.as_ref().unwrap().0;
                prop_assert_eq!(strip_port(&host), bare.as_str());
            }
            None => prop_assert_eq!(host.as_str(), "docker.io"),
        }

        let df = dockerfile_refs(&format!("FROM {text} AS build\nFROM build\n"));
        prop_assert_eq!(df.len(), 1);
        prop_assert_eq!(&df[0].reference, &text);
        prop_assert_eq!(df[0].line, 1);

        let ci = ci_refs(&format!(
            "buildctl build --output type=image,name={text},push=true --export-cache=type=registry,ref={text}\n"
        ));
        let got: Vec<&str> = ci.iter().map(|r| r.reference.as_str()).collect();
        prop_assert_eq!(got, vec![text.as_str(), text.as_str()]);
    }

    #[test]
    fn arg_substitution_round_trips(r in reference()) {
        let text = r.render();
        let df = dockerfile_refs(&format!("ARG BASE={text}\nFROM ${{BASE}}\nFROM ${{NOPE:-{text}}}\n"));
        let got: Vec<&str> = df.iter().map(|r| r.reference.as_str()).collect();
        prop_assert_eq!(got, vec![text.as_str(), text.as_str()]);
    }
}

#[test]
fn docker_hub_names() {
    for (r, host) in [
        ("alpine", "docker.io"),
        ("library/alpine:3.20", "docker.io"),
        ("index.docker.io/library/alpine", "docker.io"),
        ("docker.io/moby/buildkit:v0.20.0", "docker.io"),
        ("alpine@sha256:0123", "docker.io"),
        ("user/repo@sha256:0123", "docker.io"),
        ("[::1]:5000/app:1", "[::1]:5000"),
    ] {
        assert_eq!(registry_host(r), host, "{r}");
    }
}
