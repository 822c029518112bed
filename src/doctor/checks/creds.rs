//! BK4xx: registry credentials: config.json keys, helpers, htpasswd.

use super::Ctx;
use super::registry_uses::usages;
use crate::diag::{Edit, Finding, Fix, Location};
use crate::doctor::parsed::{DockerConfigFile, HtpasswdFile};
use crate::hostport::strip_port;
use base64::Engine;
use std::collections::BTreeSet;

crate::diag::checks! {
    BK401 {
        slug: "docker-config-invalid-json",
        severity: Error,
        fixable: false,
        title: "Docker config.json is not valid JSON",
        prevents: "error getting credentials: invalid character",
    }
    BK402 {
        slug: "auth-field-invalid",
        severity: Error,
        fixable: false,
        title: "An `auth` field is not base64 of `user:password`",
        prevents: "error getting credentials - err: invalid auth configuration file",
    }
    BK403 {
        slug: "credentials-key-mismatch",
        severity: Error,
        fixable: true,
        title: "config.json has credentials for the host but not under the exact host:port BuildKit looks up",
        prevents: "failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized",
    }
    BK404 {
        slug: "credentials-missing",
        severity: Error,
        fixable: false,
        title: "A registry that requires authentication has no credentials in config.json",
        prevents: "failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized",
    }
    BK405 {
        slug: "creds-store-shadows-auths",
        severity: Warning,
        fixable: false,
        title: "`credsStore`/`credHelpers` take precedence over `auths` entries",
        prevents: "",
    }
    BK406 {
        slug: "cred-helper-missing",
        severity: Error,
        fixable: false,
        title: "A credential helper named in config.json is not on PATH",
        prevents: "error getting credentials - err: exec: \"docker-credential-X\": executable file not found in $PATH",
    }
    BK407 {
        slug: "htpasswd-not-bcrypt",
        severity: Error,
        fixable: false,
        title: "An htpasswd entry is not bcrypt; the registry accepts bcrypt only",
        prevents: "401 Unauthorized",
    }
    BK408 {
        slug: "password-does-not-verify",
        severity: Error,
        fixable: false,
        title: "A config.json password does not verify against the registry's htpasswd",
        prevents: "401 Unauthorized",
    }
    BK409 {
        slug: "htpasswd-bcrypt-cost-unusable",
        severity: Error,
        fixable: false,
        title: "An htpasswd entry's bcrypt cost makes every request slow (above 14) or every login fail (outside 4-31)",
        prevents: "401 Unauthorized",
    }
}

/// Seconds the real registry (distribution 2.8, `docker-registry`) took per Basic-auth
/// request at bcrypt cost 10 on the test machine; each step of cost doubles it (measured:
/// cost 12 0.71 s, 14 3.0 s, 16 11.3 s; cost 31 did not answer).
const SECONDS_AT_COST_10: f64 = 0.17;

/// `about 3 min` for a duration in seconds.
fn about(secs: f64) -> String {
    let (n, unit) = if secs < 90.0 {
        (secs, "s")
    } else if secs < 5400.0 {
        (secs / 60.0, "min")
    } else if secs < 2.0 * 86_400.0 {
        (secs / 3600.0, "h")
    } else {
        (secs / 86_400.0, "days")
    };
    if n < 10.0 {
        format!("about {n:.1} {unit}")
    } else {
        format!("about {n:.0} {unit}")
    }
}

/// BK409 for a bcrypt entry bkenv cannot verify: a cost above its cap, or one Go's
/// bcrypt (and so the registry) refuses.
fn bcrypt_cost(h: &HtpasswdFile, user: &str, hash: &str, line: usize, out: &mut Vec<Finding>) {
    use crate::htpasswd::{BCRYPT_COSTS, MAX_VERIFY_COST};
    let Some(cost) = crate::htpasswd::cost(hash) else {
        return;
    };
    let help = "regenerate the entry at cost 10 or lower: `htpasswd -Bbn -C 10 USER PASSWORD` (bkenv init writes cost 5 for passwords it generates, 10 for ones you chose)";
    let finding = if !BCRYPT_COSTS.contains(&cost) {
        Finding::new(
            &BK409,
            format!(
                "htpasswd user `{user}` has bcrypt cost {cost}, outside {}-{}, the costs Go's bcrypt accepts: the registry rejects every password for this user",
                BCRYPT_COSTS.start(),
                BCRYPT_COSTS.end()
            ),
        )
        .prevents("401 Unauthorized")
    } else if cost > MAX_VERIFY_COST {
        let per_request = about(SECONDS_AT_COST_10 * 2f64.powi(cost as i32 - 10));
        Finding::new(
            &BK409,
            format!(
                "htpasswd user `{user}` has bcrypt cost {cost}: the registry re-verifies it on every request, {per_request} of CPU each (bkenv verifies costs up to {MAX_VERIFY_COST} only)"
            ),
        )
        .note("a push makes dozens of requests, and the registry keeps computing after the client gives up")
        .prevents(format!(
            "no error at first: every request with these credentials takes {per_request}; pulls and pushes stall and time out"
        ))
    } else {
        return;
    };
    out.push(finding.at(h.src.loc_line(line)).help(help));
}

/// Location of the object key at `path` (line only; config.json shows no text).
/// What a registry answers a request without credentials, by its auth scheme, and the
/// error BuildKit prints for it: (the answer in words, the error).
fn anonymous_answer(ctx: &Ctx<'_>, host: &str) -> (String, String) {
    match ctx.view.registry_for(host).map(|(r, _)| r) {
        Some(r) if r.token_realm.is_some() => {
            let realm = r.token_realm.as_deref().unwrap_or_default();
            (
                format!("the token server {realm} refuses an anonymous token with `401 Unauthorized`"),
                format!("failed to authorize: failed to fetch anonymous token: unexpected status from GET request to {realm}?scope=...: 401 Unauthorized"),
            )
        }
        Some(r) if r.htpasswd.is_some() => (
            "the registry (Basic auth, htpasswd) answers `401 Unauthorized`".into(),
            format!("unexpected status from HEAD request to https://{host}/v2/...: 401 Unauthorized"),
        ),
        // Not an environment registry: a token flow, as GitLab's and Docker Hub's, refuses
        // the anonymous token (GitLab with 403, distribution's token servers with 401); a
        // Basic-auth registry answers the request itself with 401.
        _ => (
            "the registry refuses: `401 Unauthorized` (Basic auth, or a token server such as distribution's) or `403 Forbidden` (GitLab's token server)".into(),
            "failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://<realm>?scope=...: 403 Forbidden".into(),
        ),
    }
}

/// The location of the key at `path`. config.json holds secrets, so its lines are not
/// shown; a line that holds nothing but the key and the start of its object (or, for
/// `credsStore`/`credHelpers`, a helper's name) is shown, as other files' lines are.
fn key_loc(c: &DockerConfigFile, path: &[&str]) -> Location {
    let mut loc = c.src.loc_opt(c.key_span(path));
    if loc.line_text.is_none()
        && let (Some(span), Some(key)) = (&loc.span, path.last())
        && let Some(line) = c.src.line_text(span.line)
    {
        let quoted = serde_json::Value::from(*key).to_string();
        let rest = line
            .trim()
            .strip_prefix(quoted.as_str())
            .map(str::trim_start);
        let value = rest.and_then(|r| r.strip_prefix(':')).map(str::trim);
        let helper_name = matches!(path.first(), Some(&"credsStore" | &"credHelpers"))
            && value.is_some_and(|v| {
                let v = v.trim_end_matches(',');
                v.len() >= 2
                    && v.starts_with('"')
                    && v.ends_with('"')
                    && v[1..v.len() - 1]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            });
        if value.is_some_and(|v| matches!(v, "{" | "{}" | "{}," | "{ }" | "{ },")) || helper_name {
            loc.line_text = Some(line.to_string());
        }
    }
    loc
}

/// The host a config.json key stands for (legacy `https://host:port/v1/` form included).
pub(crate) fn key_host(key: &str) -> String {
    if key == crate::creds::DOCKER_HUB_KEY {
        return "docker.io".to_string();
    }
    crate::creds::key_host(key).to_string()
}

fn decode(auth: &str) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for h in &ctx.snap.htpasswd {
        for (user, hash, line) in &h.entries {
            if !(hash.starts_with("$2y$") || hash.starts_with("$2a$") || hash.starts_with("$2b$")) {
                out.push(
                    Finding::new(
                        &BK407,
                        format!("htpasswd user `{user}` has a non-bcrypt hash"),
                    )
                    .at(h.src.loc_line(*line))
                    .help("regenerate it with bcrypt: `htpasswd -Bbn USER PASSWORD`"),
                );
            } else {
                bcrypt_cost(h, user, hash, *line, out);
            }
        }
    }
    for c in &ctx.snap.docker_configs {
        config(ctx, c, out);
    }
}

fn config(ctx: &Ctx<'_>, c: &DockerConfigFile, out: &mut Vec<Finding>) {
    let src = &c.src;
    let v = match &c.doc {
        Ok(v) => v,
        Err(e) => {
            let (l, col) = e.line_col.unwrap_or((1, 1));
            out.push(
                Finding::new(
                    &BK401,
                    format!("{} is not valid JSON: {}", src.path.display(), e.message),
                )
                .at(src.loc_line_col(l, col))
                .help(
                    "fix the JSON; every client reading this config ignores all credentials in it",
                ),
            );
            return;
        }
    };
    let empty = serde_json::Map::new();
    let auths = v.get("auths").and_then(|a| a.as_object()).unwrap_or(&empty);
    let helpers = v
        .get("credHelpers")
        .and_then(|a| a.as_object())
        .unwrap_or(&empty);
    let store = v
        .get("credsStore")
        .and_then(|s| s.as_str())
        .filter(|s| !s.is_empty());
    let mut creds = Vec::new();
    for (key, entry) in auths {
        let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) else {
            continue;
        };
        match decode(auth) {
            Some(up) => creds.push((key.clone(), up)),
            None => out.push(
                Finding::new(
                    &BK402,
                    format!("`auth` of `{key}` is not base64 of `user:password`"),
                )
                .at(key_loc(c, &["auths", key]))
                .help("set it to `base64(user:password)`, e.g. with `docker login`"),
            ),
        }
    }
    if let Some(s) = store
        && !auths.is_empty()
        && auths.values().any(|e| e.get("auth").is_some())
    {
        out.push(Finding::new(&BK405, format!("`credsStore: \"{s}\"` is used for every registry; the `auth` values under `auths` are ignored"))
            .at(key_loc(c, &["credsStore"]))
            .help("remove `credsStore` to use the inline `auths`, or store the credentials in the helper"));
    }
    for (host, _) in helpers
        .iter()
        .filter(|(h, _)| auths.get(*h).is_some_and(|e| e.get("auth").is_some()))
    {
        out.push(
            Finding::new(
                &BK405,
                format!("`credHelpers` handles `{host}`, so its `auths` entry is ignored"),
            )
            .at(key_loc(c, &["auths", host]))
            .help("remove one of the two entries"),
        );
    }
    let named: BTreeSet<&str> = store
        .into_iter()
        .chain(helpers.values().filter_map(|h| h.as_str()))
        .collect();
    for h in named
        .into_iter()
        .filter(|h| !ctx.snap.helpers_on_path.contains(*h))
    {
        // The key naming the helper: `credsStore`, or the `credHelpers` entry using it.
        let at = match helpers.iter().find(|(_, v)| v.as_str() == Some(h)) {
            Some((host, _)) if store != Some(h) => key_loc(c, &["credHelpers", host]),
            _ => key_loc(c, &["credsStore"]),
        };
        out.push(Finding::new(&BK406, format!("credential helper `docker-credential-{h}` is not on PATH"))
            .at(at)
            .prevents(format!("error getting credentials - err: exec: \"docker-credential-{h}\": executable file not found in $PATH"))
            .help(format!("install `docker-credential-{h}`, or remove it from config.json")));
    }
    // Key lookups for every registry the environment uses.
    let mut seen = BTreeSet::new();
    for u in usages(ctx) {
        if !seen.insert(u.host.clone()) || helpers.contains_key(&u.host) {
            continue;
        }
        // A `credHelpers` key is matched exactly too: without the port it is never used,
        // and `credsStore` (or nothing) answers instead.
        let helper_near = helpers
            .keys()
            .find(|k| strip_port(&key_host(k)) == strip_port(&u.host));
        if let Some(k) = helper_near {
            let fix = c.key_span(&["credHelpers", k]).map(|span| {
                let quoted = serde_json::Value::from(u.host.as_str()).to_string();
                Fix::safe([Edit::replace(&src.path, span, quoted)])
            });
            let instead = store.map_or("BuildKit asks without credentials".to_string(), |s| {
                format!("`credsStore` (`docker-credential-{s}`) is asked instead")
            });
            out.push(Finding::new(&BK403, format!("config.json names a credential helper under `credHelpers` `{k}`, but BuildKit looks up `{}` (the exact host:port of the reference), so {instead}", u.host))
                .at(key_loc(c, &["credHelpers", k]))
                .note(format!("used at {}:{}", u.location.path.display(), u.location.span.map_or(0, |s| s.line)))
                .help(format!("key the `credHelpers` entry as `{}`", u.host))
                .fix(fix));
            continue;
        }
        if store.is_some() {
            continue;
        }
        if auths.keys().any(|k| k == &u.host || key_host(k) == u.host) {
            continue;
        }
        let near: Vec<&String> = auths
            .keys()
            .filter(|k| strip_port(&key_host(k)) == strip_port(&u.host))
            .collect();
        if let Some(k) = near.first() {
            // Rename exactly the key under `auths`, keeping every other byte.
            let fix = c.key_span(&["auths", k]).map(|span| {
                let quoted = serde_json::Value::from(u.host.as_str()).to_string();
                Fix::safe([Edit::replace(&src.path, span, quoted)])
            });
            let (answer, prevents) = anonymous_answer(ctx, &u.host);
            out.push(Finding::new(&BK403, format!("config.json has credentials under `{k}`, but BuildKit looks up `{}` (the exact host:port of the reference), so it asks without credentials and {answer}", u.host))
                .at(key_loc(c, &["auths", k]))
                .note(format!("used at {}:{}", u.location.path.display(), u.location.span.map_or(0, |s| s.line)))
                .prevents(prevents)
                .help(format!("key the entry as `{}` (`docker login {}`), or add both keys", u.host, u.host))
                .fix(fix));
        } else if ctx
            .view
            .registry_for(&u.host)
            .is_some_and(|(r, _)| r.htpasswd.is_some())
        {
            out.push(
                Finding::new(
                    &BK404,
                    format!(
                        "registry `{}` requires authentication, but {} has no `auths` entry for it",
                        u.host,
                        src.path.display()
                    ),
                )
                .at(u.location.clone())
                .help(format!(
                    "run `docker login {}` with DOCKER_CONFIG pointing at this directory",
                    u.host
                )),
            );
        }
    }
    for (key, (user, pass)) in &creds {
        let Some(h) = htpasswd_for(ctx, &key_host(key)) else {
            continue;
        };
        let ok = h
            .entries
            .iter()
            .find(|(u, _, _)| u == user)
            .map(|(_, hash, _)| crate::htpasswd::verify(pass, hash));
        // An entry above the verification cap (it could take days) or outside bcrypt's
        // costs is not verified: BK409 reports it at the htpasswd line.
        use crate::htpasswd::Verify;
        let ok = match ok {
            Some(Verify::TooCostly(_) | Verify::OutOfRange(_) | Verify::Match) => true,
            Some(Verify::NoMatch | Verify::Unreadable) | None => false,
        };
        if !ok {
            out.push(Finding::new(&BK408, format!("the password for `{user}` under `{key}` does not verify against {}", h.src.path.display()))
                .at(key_loc(c, &["auths", key]))
                .help("log in again with the password the htpasswd file was generated from, or regenerate the htpasswd entry"));
        }
    }
}

/// The htpasswd file of the registry reached by `host`.
fn htpasswd_for<'a>(ctx: &'a Ctx<'_>, host: &str) -> Option<&'a HtpasswdFile> {
    let (r, _) = ctx.view.registry_for(host)?;
    let svc = ctx.view.service(r)?;
    let (path, _) = svc.resolve(r.htpasswd.as_deref()?)?;
    ctx.snap.htpasswd.iter().find(|h| h.src.path == path)
}
