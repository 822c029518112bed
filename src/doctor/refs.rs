//! Image references: Dockerfile `FROM` lines, CI `--output`/`--export-cache` options, and
//! the registry host BuildKit derives from a reference (`reference.Domain`).

use super::parsed::ImageRef;
use std::collections::BTreeMap;

/// The registry host of a normalized reference, port included (`docker.io` for Hub).
pub fn registry_host(reference: &str) -> String {
    let name = reference.split('@').next().unwrap_or(reference);
    match name.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            if first == "index.docker.io" {
                "docker.io".to_string()
            } else {
                first.to_string()
            }
        }
        _ => "docker.io".to_string(),
    }
}

/// Substitutes `$NAME`, `${NAME}` and `${NAME:-default}` from `args`; unknown names
/// become empty, as BuildKit does.
pub(crate) fn substitute(text: &str, args: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                out.push_str(&rest[i..]);
                return out;
            };
            let inner = &body[..end];
            let (name, default) = match inner.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (inner, None),
            };
            match (args.get(name), default) {
                (Some(v), _) if !v.is_empty() => out.push_str(v),
                (_, Some(d)) => out.push_str(d),
                (Some(v), None) => out.push_str(v),
                (None, None) => {}
            }
            rest = &body[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if let Some(v) = args.get(&after[..len]) {
                out.push_str(v);
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    out
}

/// `FROM` references of a Dockerfile, skipping stage names and `scratch`.
pub fn dockerfile_refs(text: &str) -> Vec<ImageRef> {
    dockerfile_refs_with(text, &BTreeMap::new())
}

/// `FROM` references with `--build-arg` values overriding the `ARG` defaults, as the
/// build at hand will see them.
pub(crate) fn dockerfile_refs_with(
    text: &str,
    build_args: &BTreeMap<String, String>,
) -> Vec<ImageRef> {
    let mut args = BTreeMap::new();
    let mut stages: Vec<String> = Vec::new();
    let mut refs = Vec::new();
    let mut seen_from = false;
    for (i, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(first) = words.first() else { continue };
        if first.eq_ignore_ascii_case("ARG") && !seen_from {
            for w in &words[1..] {
                let (k, v) = w.split_once('=').unwrap_or((w, ""));
                let v = build_args
                    .get(k)
                    .map_or(v.trim_matches('"'), String::as_str);
                args.insert(k.to_string(), v.to_string());
            }
        }
        if !first.eq_ignore_ascii_case("FROM") {
            continue;
        }
        seen_from = true;
        let rest: Vec<&str> = words[1..]
            .iter()
            .copied()
            .filter(|w| !w.starts_with("--"))
            .collect();
        let Some(image) = rest.first() else { continue };
        let reference = substitute(image, &args);
        if let (Some(as_kw), Some(name)) = (rest.get(1), rest.get(2))
            && as_kw.eq_ignore_ascii_case("AS")
        {
            stages.push(name.to_ascii_lowercase());
        }
        if reference.trim_start_matches(':').is_empty() || reference.starts_with(':') {
            refs.push(ImageRef {
                reference: String::new(),
                line: i + 1,
                role: "from-blank",
                options: Some((*image).to_string()),
            });
            continue;
        }
        if reference.is_empty()
            || reference == "scratch"
            || stages[..stages.len().saturating_sub(usize::from(rest.len() > 2))]
                .contains(&reference.to_ascii_lowercase())
        {
            continue;
        }
        refs.push(ImageRef {
            reference,
            line: i + 1,
            role: "from",
            options: None,
        });
    }
    refs
}

/// Registry references in a CI file: `--output`/`--export-cache`/`--import-cache`
/// (buildctl) and `--cache-to`/`--cache-from` (buildx) option strings with `type=registry`
/// or `type=image`. References containing unresolved variables are skipped.
pub fn ci_refs(text: &str) -> Vec<ImageRef> {
    let mut refs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let tokens: Vec<&str> = line
            .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .filter(|t| !t.is_empty())
            .collect();
        for (j, tok) in tokens.iter().enumerate() {
            let (flag, value) = match tok.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v)),
                _ => (*tok, None),
            };
            let role = match flag {
                "--output" | "-o" => "output",
                "--export-cache" | "--cache-to" => "export-cache",
                "--import-cache" | "--cache-from" => "import-cache",
                _ => continue,
            };
            let Some(opts) = value.or_else(|| tokens.get(j + 1).copied()) else {
                continue;
            };
            let fields: Vec<(&str, &str)> = opts
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .collect();
            let ty = fields.iter().find(|(k, _)| *k == "type").map(|(_, v)| *v);
            if !matches!(ty, Some("registry" | "image")) {
                continue;
            }
            for (k, v) in &fields {
                if matches!(*k, "ref" | "name") {
                    for r in v.split(';') {
                        if r.contains('$') || r.is_empty() {
                            continue;
                        }
                        refs.push(ImageRef {
                            reference: r.to_string(),
                            line: i + 1,
                            role,
                            options: Some(opts.to_string()),
                        });
                    }
                }
            }
        }
    }
    refs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(registry_host("alpine"), "docker.io");
        assert_eq!(registry_host("library/alpine:3"), "docker.io");
        assert_eq!(registry_host("registry:5000/app:1"), "registry:5000");
        assert_eq!(
            registry_host("gitlab.example.com:443/g/dependency_proxy/containers/alpine"),
            "gitlab.example.com:443"
        );
        assert_eq!(registry_host("localhost/x@sha256:abc"), "localhost");
    }

    #[test]
    fn dockerfile_from_lines() {
        let df = "ARG BASE=registry:5000/base\nARG TAG\nFROM --platform=$BUILDPLATFORM ${BASE}:${TAG:-1} AS build\nFROM build AS test\nFROM alpine@sha256:0123\nFROM scratch\n";
        let refs = dockerfile_refs(df);
        let got: Vec<(&str, usize)> = refs
            .iter()
            .map(|r| (r.reference.as_str(), r.line))
            .collect();
        assert_eq!(
            got,
            vec![("registry:5000/base:1", 3), ("alpine@sha256:0123", 5)]
        );
    }

    #[test]
    fn ci_options() {
        let ci = "script:\n  - buildctl build --output type=image,name=registry:5000/app:1,push=true --export-cache type=registry,ref=registry:5000/app:cache,mode=max\n  - docker buildx build --cache-to=type=registry,ref=$CI_REGISTRY_IMAGE:c .\n";
        let refs = ci_refs(ci);
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[1].role, "export-cache");
        assert_eq!(refs[1].line, 2);
    }
}
