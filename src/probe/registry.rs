//! Registry probe: transport, then the `/v2/` auth dance as BuildKit performs it.

use super::auth::{basic, encode, go_quote, parse_challenge, parse_url, token_of};
use super::checks::{BK701, BK704, BK716, BK717, BK718, BK719, BK720, BK721, BK722, BK724, BK725};
use super::helper::{self, Answer};
use super::http::{self, HttpError, Response};
use super::net::{self, Target, describe};
use super::tls::{self, Dial};
use super::tls_explain::{HandshakeFailure, classify_io};
use super::{Credential, EndpointKind, Peer, ProbeReport, Session, Transport};
use crate::diag::Finding;

type Step<T> = Result<T, Box<Finding>>;

pub(crate) fn probe_registry(ctx: &Session<'_>, report: &mut ProbeReport) {
    if let Err(f) = run(ctx, report) {
        report.findings.push(*f);
    }
}

fn run(ctx: &Session<'_>, report: &mut ProbeReport) -> Step<()> {
    let EndpointKind::Registry {
        credential,
        credential_keys_elsewhere: elsewhere,
        helper,
        docker_config: config,
        ..
    } = &ctx.ep.kind
    else {
        return Ok(());
    };
    let https = ctx.ep.transport == Transport::Https;
    let target = Target::new(
        &ctx.ep.name,
        if https { 443 } else { 80 },
        ctx.ep.connect_to.clone(),
    );
    let first = get(ctx, &target, https, Peer::Registry, "/v2/", &[], report)?;
    record(report, "GET /v2/", &first);
    match first.status {
        200 => {
            report.facts.auth = Some("none".into());
            return Ok(());
        }
        401 => {}
        404 => {
            return Err(Box::new(
                Finding::new(
                    &BK716,
                    format!("{} answers GET /v2/ with 404 Not Found: it is not a registry API", describe(Peer::Registry, &target.name)),
                )
                .prevents(format!("unexpected status from HEAD request to {}://{}/v2/: 404 Not Found", if https { "https" } else { "http" }, target.name))
                .help(format!("use the registry's API host:port in image references and `[registry.\"{}\"]`, or route /v2/ to the registry in the reverse proxy", target.name)),
            ));
        }
        _ => return Err(unexpected(&target, "GET /v2/", &first)),
    }
    let header = first.header("WWW-Authenticate").unwrap_or_default();
    let Some((scheme, params)) = parse_challenge(header) else {
        return Err(unexpected(
            &target,
            "GET /v2/ (no usable WWW-Authenticate)",
            &first,
        ));
    };
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    // Credentials config.json leaves to a helper are asked for only now that the
    // registry wants some, as the client asks only when challenged.
    let asked: Option<Credential>;
    let credential: Option<&Credential> = match (credential, helper) {
        (Some(c), _) => Some(c),
        (None, Some(name)) => {
            asked = ask(ctx, name, config, &target, report)?;
            asked.as_ref()
        }
        (None, None) => None,
    };
    let from_helper = helper.as_deref().filter(|_| credential.is_none());
    let refused = |status: String, realm_url: Option<&str>| {
        anonymous_refused(ctx, &target, elsewhere, from_helper, status, realm_url)
    };
    match scheme.as_str() {
        "basic" => {
            report.facts.auth = Some("basic".into());
            let Some(cred) = credential else {
                return Err(refused(status_text(&first), None));
            };
            if !https {
                return Err(plain_password(&target, cred));
            }
            let auth = vec![("Authorization", basic(cred))];
            let resp = get(ctx, &target, https, Peer::Registry, "/v2/", &auth, report)?;
            record(report, "GET /v2/ (Basic)", &resp);
            authorized(&target, &resp, Some(cred), config, || {
                format!(
                    "unexpected status from GET request to https://{}/v2/: {}",
                    target.name,
                    status_text(&resp)
                )
            })
        }
        "bearer" => {
            report.facts.auth = Some("bearer".into());
            let Some(realm) = param("realm") else {
                return Err(unexpected(
                    &target,
                    "GET /v2/ (Bearer challenge without realm)",
                    &first,
                ));
            };
            let Some((realm_https, authority, mut path)) = parse_url(&realm) else {
                return Err(Box::new(
                    Finding::new(
                        &BK721,
                        format!(
                            "{} names an unusable token realm `{realm}`",
                            describe(Peer::Registry, &target.name)
                        ),
                    )
                    .help(
                        "fix the registry's `auth.token.realm`: it must be an absolute http(s) URL",
                    ),
                ));
            };
            let realm_path = path.clone();
            if let Some(service) = param("service") {
                path.push(if path.contains('?') { '&' } else { '?' });
                path.push_str(&format!("service={}", encode(&service)));
            }
            let mut realm_target =
                Target::new(&authority, if realm_https { 443 } else { 80 }, None);
            // Like curl --resolve, the override follows the name, not the request.
            if realm_target.name == target.name {
                realm_target.connect_to = target.connect_to.clone();
            }
            let url_of = |p: &str| {
                format!(
                    "{}://{}{p}",
                    if realm_https { "https" } else { "http" },
                    realm_target.authority(if realm_https { 443 } else { 80 })
                )
            };
            let mut headers = Vec::new();
            if let Some(cred) = credential {
                if !realm_https {
                    return Err(plain_password(&realm_target, cred));
                }
                headers.push(("Authorization", basic(cred)));
            }
            let peer = Peer::TokenRealm {
                registry: &target.name,
            };
            // With a secret, buildctl/buildx first POST an OAuth2 password grant; only a
            // 404, a 401, or a 405 with a username sends them on to GET with Basic
            // (containerd's `FetchTokenWithOAuth` fallback). Any other answer is final.
            let mut posted = None;
            if let Some(cred) = credential.as_ref().filter(|_| realm_https) {
                let mut form = format!(
                    "grant_type=password&username={}&password={}&client_id=buildkit-client",
                    encode(&cred.username),
                    encode(&cred.password)
                );
                if let Some(service) = param("service") {
                    form.push_str(&format!("&service={}", encode(&service)));
                }
                let headers = [(
                    "Content-Type",
                    "application/x-www-form-urlencoded".to_string(),
                )];
                let req = Req {
                    method: "POST",
                    path: &realm_path,
                    headers: &headers,
                    body: form.as_bytes(),
                };
                let post = send(ctx, &realm_target, true, peer, &req, report)?;
                record(report, "POST token (OAuth)", &post);
                let falls_back = matches!(post.status, 401 | 404)
                    || (post.status == 405 && !cred.username.is_empty());
                if !falls_back {
                    posted = Some(post);
                }
            }
            let (tok, method, realm_url) = match posted {
                Some(post) => (post, "POST", url_of(&realm_path)),
                None => {
                    let tok = get(
                        ctx,
                        &realm_target,
                        realm_https,
                        peer,
                        &path,
                        &headers,
                        report,
                    )?;
                    record(report, "GET token", &tok);
                    (tok, "GET", url_of(&path))
                }
            };
            match tok.status {
                200 => {}
                401 | 403 if credential.is_some() => {
                    return Err(Box::new(
                        Finding::new(&BK717, format!("token realm {realm_url} of {} rejects the credentials for user `{}` ({})", target.name, credential.as_ref().map_or("", |c| c.username.as_str()), status_text(&tok)))
                            .prevents(format!("failed to authorize: failed to fetch oauth token: unexpected status from {method} request to {realm_url}: {}", status_text(&tok)))
                            .help(cred_help(&target, config)),
                    ));
                }
                401 | 403 => return Err(refused(status_text(&tok), Some(&realm_url))),
                _ => {
                    return Err(Box::new(
                        Finding::new(&BK721, format!("token realm {realm_url} of {} answered {}", target.name, status_text(&tok)))
                            .prevents(format!("failed to fetch oauth token: unexpected status from {method} request to {realm_url}: {}", status_text(&tok)))
                            .help("fix the token server (the registry's `auth.token` settings) or set `BUILDKIT_NO_CLIENT_TOKEN=1` so buildkitd fetches tokens itself"),
                    ));
                }
            }
            let Some(token) = token_of(&tok.body) else {
                return Err(Box::new(
                    Finding::new(&BK721, format!("token realm {realm_url} of {} answered 200 without a JSON `token` or `access_token`", target.name))
                        .prevents("authorization server did not include a token in the response")
                        .help("point the registry's `auth.token.realm` at the token endpoint, not a web page"),
                ));
            };
            let auth = vec![("Authorization", format!("Bearer {token}"))];
            let resp = get(ctx, &target, https, Peer::Registry, "/v2/", &auth, report)?;
            record(report, "GET /v2/ (Bearer)", &resp);
            if resp.status == 401 && credential.is_none() {
                return Err(refused(status_text(&resp), None));
            }
            if let (401 | 403, Some(cred)) = (resp.status, credential) {
                // The token server accepted the credentials; the registry refuses what
                // it issued: the two do not agree on who signs tokens.
                return Err(Box::new(
                    Finding::new(&BK717, format!("token realm {} issued a token for user `{}`, but registry {} still answers {} with it: the registry does not accept that token server's tokens (the credentials are fine)", url_of(&realm_path), cred.username, target.name, status_text(&resp)))
                        .prevents(format!("unexpected status from HEAD request to https://{}/v2/...: {}", target.name, status_text(&resp)))
                        .help("make the registry trust the token server: `auth.token.rootcertbundle` in its config.yml must hold the certificate the token server signs with, and `auth.token.issuer` and `service` must match what the token server writes into its tokens"),
                ));
            }
            authorized(&target, &resp, credential, config, || {
                format!(
                    "unexpected status from GET request to {}://{}/v2/: {}",
                    if https { "https" } else { "http" },
                    target.name,
                    status_text(&resp)
                )
            })
        }
        other => Err(unexpected(
            &target,
            &format!("GET /v2/ (unknown auth scheme `{other}`)"),
            &first,
        )),
    }
}

fn authorized(
    target: &Target,
    resp: &Response,
    cred: Option<&Credential>,
    config: &str,
    prevents: impl Fn() -> String,
) -> Step<()> {
    match resp.status {
        200 => Ok(()),
        401 | 403 => Err(Box::new(
            Finding::new(
                &BK717,
                format!(
                    "registry {} rejects the credentials for user `{}` ({})",
                    target.name,
                    cred.map_or("", |c| c.username.as_str()),
                    status_text(resp)
                ),
            )
            .prevents(prevents())
            .help(cred_help(target, config)),
        )),
        _ => Err(unexpected(target, "GET /v2/ with credentials", resp)),
    }
}

fn cred_help(target: &Target, config: &str) -> String {
    format!(
        "update the credentials for `{}` in {config} (`docker login {}` with DOCKER_CONFIG set to its directory), or the registry's htpasswd",
        target.name, target.name
    )
}

/// The credentials `docker-credential-NAME` holds for the endpoint, when the caller
/// opted in to running helpers; `Ok(None)` when it has none (the client then goes on
/// without credentials).
fn ask(
    ctx: &Session<'_>,
    name: &str,
    config: &str,
    target: &Target,
    report: &mut ProbeReport,
) -> Step<Option<Credential>> {
    let server = &ctx.ep.name;
    let not_checked = |why: String| {
        Box::new(
            Finding::new(&BK724, format!("registry {} requires credentials, which {config} leaves to `docker-credential-{name}`; {why}, so they were not checked", target.name))
                .help(format!("run with --credential-helpers to ask `docker-credential-{name} get` as buildctl would (only where you trust {config}: it names the program to run)")),
        )
    };
    let Some(path) = &ctx.opts.credential_helpers else {
        return Err(not_checked(
            "bkenv runs credential helpers only with --credential-helpers".into(),
        ));
    };
    match helper::get(name, server, path, ctx.opts.timeout) {
        Ok(Answer::Credential(c)) => {
            report
                .facts
                .steps
                .push(format!("credentials for user `{}` from docker-credential-{name}", c.username));
            Ok(Some(c))
        }
        Ok(Answer::NotFound) => Ok(None),
        Ok(Answer::IdentityToken) => Err(not_checked(format!(
            "it holds an identity token for `{server}`, which bkenv does not exchange"
        ))),
        Err(e) => Err(Box::new(
            Finding::new(
                &BK725,
                format!("credential helper `docker-credential-{name}` gives no credentials for `{server}`: {e}"),
            )
            .prevents(format!("error getting credentials - err: {e}"))
            .help(format!("check `echo {server} | docker-credential-{name} get` on the client machine, or remove the helper from {config}")),
        )),
    }
}

fn anonymous_refused(
    ctx: &Session<'_>,
    target: &Target,
    elsewhere: &[String],
    from_helper: Option<&str>,
    status: String,
    realm_url: Option<&str>,
) -> Box<Finding> {
    let lookup = &ctx.ep.name;
    let prevents = match realm_url {
        Some(url) => format!(
            "failed to authorize: failed to fetch anonymous token: unexpected status from GET request to {url}: {status}"
        ),
        None => format!(
            "unexpected status from GET request to https://{}/v2/: {status}",
            target.name
        ),
    };
    let what = realm_url.map_or(format!("GET /v2/ without credentials ({status})"), |u| {
        format!("an anonymous token ({status} from {u})")
    });
    let config = match &ctx.ep.kind {
        EndpointKind::Registry { docker_config, .. } => docker_config.as_str(),
        EndpointKind::Buildkitd { .. } => super::DEFAULT_DOCKER_CONFIG,
    };
    if let Some(name) = from_helper {
        return Box::new(
            Finding::new(&BK719, format!("registry {} refuses {what}, and `docker-credential-{name}` (named by {config}) has no credentials for `{lookup}`", target.name))
                .prevents(prevents)
                .help(format!("run `docker login {lookup}` so the helper stores credentials for exactly that host:port")),
        );
    }
    if elsewhere.is_empty() {
        return Box::new(
            Finding::new(&BK719, format!("registry {} refuses {what} and no credentials are configured for `{lookup}`", target.name))
                .prevents(prevents)
                .help(format!("run `docker login {lookup}` (exactly the host:port of the image reference) so {config} holds credentials for it")),
        );
    }
    let keys = elsewhere
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Box::new(
        Finding::new(
            &BK718,
            format!("registry {} refuses {what}: config.json holds credentials under {keys}, but BuildKit looks up exactly `{lookup}`", target.name),
        )
        .prevents(prevents)
        .note("BuildKit matches config.json keys by exact host:port, so it fetched the token anonymously")
        .note("the missing `account=` query parameter is a red herring: BuildKit never sends it, even when authenticated")
        .help(format!("store the credentials under `{lookup}`: `docker login {lookup}`, or copy the `auths` entry {keys} to `{lookup}` in {config}")),
    )
}

fn plain_password(target: &Target, cred: &Credential) -> Box<Finding> {
    Box::new(
        Finding::new(
            &BK720,
            format!("{} is plain HTTP and asks for a password: BuildKit would send user `{}`'s password in clear text (the probe did not)", target.name, cred.username),
        )
        .help(format!("serve the registry over TLS and drop `http = true` from `[registry.\"{}\"]` in buildkitd.toml", target.name)),
    )
}

fn unexpected(target: &Target, step: &str, resp: &Response) -> Box<Finding> {
    Box::new(
        Finding::new(
            &BK722,
            format!(
                "registry {}: {step} answered {}",
                target.name,
                status_text(resp)
            ),
        )
        .help(format!(
            "inspect `curl -v https://{}/v2/` and any reverse proxy in front of the registry",
            target.name
        )),
    )
}

fn record(report: &mut ProbeReport, step: &str, resp: &Response) {
    report
        .facts
        .steps
        .push(format!("{step} -> {}", resp.status));
    if step.contains("/v2/") {
        report.facts.http_status = Some(resp.status);
    }
}

fn status_text(resp: &Response) -> String {
    format!("{} {}", resp.status, resp.reason)
        .trim_end()
        .to_string()
}

/// One request of the auth dance.
struct Req<'a> {
    method: &'static str,
    path: &'a str,
    headers: &'a [(&'a str, String)],
    body: &'a [u8],
}

/// One GET on a fresh connection (`Connection: close` keeps the client trivial).
fn get(
    ctx: &Session<'_>,
    target: &Target,
    https: bool,
    peer: Peer<'_>,
    path: &str,
    headers: &[(&str, String)],
    report: &mut ProbeReport,
) -> Step<Response> {
    let req = Req {
        method: "GET",
        path,
        headers,
        body: &[],
    };
    send(ctx, target, https, peer, &req, report)
}

fn send(
    ctx: &Session<'_>,
    target: &Target,
    https: bool,
    peer: Peer<'_>,
    req: &Req<'_>,
    report: &mut ProbeReport,
) -> Step<Response> {
    let Req {
        method,
        path,
        headers,
        body,
    } = *req;
    let authority = target.authority(if https { 443 } else { 80 });
    if https {
        // buildkitd presents its `keypair` to the registry; the token realm is fetched
        // by buildctl/buildx, which present nothing.
        let identity = match (&ctx.ep.kind, peer) {
            (
                EndpointKind::Registry {
                    client_identity, ..
                },
                Peer::Registry,
            ) => client_identity.as_ref(),
            _ => None,
        };
        let dial = Dial {
            alpn: &[b"http/1.1"],
            identity,
        };
        let mut hs = tls::open(ctx, target, peer, &dial, report)?;
        return http::request(&mut hs.stream, method, &authority, path, headers, body)
            .map_err(|e| http_failure(e, target, peer));
    }
    let (mut sock, addr) = net::connect(target, peer, ctx.opts.timeout)?;
    report.facts.connected_to.get_or_insert(addr.to_string());
    match http::request(&mut sock, method, &authority, path, headers, body) {
        Ok(r)
            if r.status == 400
                && String::from_utf8_lossy(&r.body)
                    .to_ascii_lowercase()
                    .contains("https") =>
        {
            Err(speaks_tls(
                target,
                peer,
                format!(
                    "unexpected status from {method} request to http://{}{path}: {}",
                    target.name,
                    status_text(&r)
                ),
            ))
        }
        Ok(r) => Ok(r),
        Err(HttpError::NotHttp(head)) if matches!(head.first(), Some(0x15 | 0x16)) => {
            Err(speaks_tls(
                target,
                peer,
                format!(
                    "net/http: HTTP/1.x transport connection broken: malformed HTTP response {}",
                    go_quote(&head)
                ),
            ))
        }
        Err(e) => {
            let finding = http_failure(e, target, peer);
            // rustls-style servers wait for a whole bogus "record" instead of answering.
            let ambiguous = [&BK722, &BK701].contains(&finding.check);
            if ambiguous && answers_tls(ctx, target) {
                return Err(speaks_tls(
                    target,
                    peer,
                    "net/http: HTTP/1.x transport connection broken: malformed HTTP response"
                        .into(),
                ));
            }
            Err(finding)
        }
    }
}

fn answers_tls(ctx: &Session<'_>, target: &Target) -> bool {
    let Ok((sock, _)) = net::connect(target, Peer::Registry, ctx.opts.timeout) else {
        return false;
    };
    let dial = Dial {
        alpn: &[b"http/1.1"],
        identity: None,
    };
    matches!(
        tls::handshake(sock, target, ctx.trust(Peer::Registry), ctx.opts.now, &dial),
        Ok(_) | Err(HandshakeFailure::Tls(_))
    )
}

fn speaks_tls(target: &Target, peer: Peer<'_>, prevents: String) -> Box<Finding> {
    Box::new(
        Finding::new(&BK704, format!("{} speaks TLS, but BuildKit would use plain HTTP (loopback default or `http = true`)", describe(peer, &target.name)))
            .prevents(prevents)
            .help(format!("set `http = false` (and `ca = [...]`) under `[registry.\"{}\"]` in buildkitd.toml so BuildKit speaks HTTPS, or remove `http = true`", target.name)),
    )
}

fn http_failure(e: HttpError, target: &Target, peer: Peer<'_>) -> Box<Finding> {
    Box::new(match e {
        HttpError::Io(e) => classify_io(&e, target, peer, false),
        HttpError::NotHttp(head) => Finding::new(
            &BK722,
            format!(
                "{} answered with non-HTTP bytes {}",
                describe(peer, &target.name),
                go_quote(&head)
            ),
        ),
        HttpError::Closed => Finding::new(
            &BK722,
            format!(
                "{} closed the connection without answering",
                describe(peer, &target.name)
            ),
        ),
    })
}
