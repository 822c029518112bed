//! Live probes against real rustls servers on 127.0.0.1, one per failure class.

mod servers;

use bkenv::probe::{
    ClientTrust, Credential, Endpoint, EndpointKind, ProbeOptions, ProbeReport, Transport, Trust,
    probe_all,
};
use rcgen::{BasicConstraints, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, NameConstraints};
use rustls::pki_types::CertificateDer;
use servers::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

const NAME: &str = "registry.test:443";

fn opts(secs: u64) -> ProbeOptions {
    ProbeOptions {
        timeout: Duration::from_secs(secs),
        now: None,
        credential_helpers: None,
    }
}

fn registry(server: &Server, ca: &Ca) -> Endpoint {
    Endpoint {
        name: NAME.into(),
        connect_to: server.connect_to(),
        kind: EndpointKind::Registry {
            credential: None,
            credential_keys_elsewhere: vec![],
            client_identity: None,
            helper: None,
            docker_config: "~/.docker/config.json".into(),
            // The client machine trusts the CA too, unless a test says otherwise.
            client_trust: ClientTrust::Cas(vec![ca.der().clone()]),
        },
        trust: Trust::Cas(vec![ca.der().clone()]),
        transport: Transport::Https,
    }
}

fn with_cred(mut ep: Endpoint, user: &str, pass: &str, elsewhere: &[&str]) -> Endpoint {
    let EndpointKind::Registry { client_trust, .. } = &ep.kind else {
        panic!("a registry endpoint");
    };
    ep.kind = EndpointKind::Registry {
        client_identity: None,
        helper: None,
        docker_config: "~/.docker/config.json".into(),
        client_trust: client_trust.clone(),
        credential: (!user.is_empty()).then(|| Credential {
            username: user.into(),
            password: pass.into(),
        }),
        credential_keys_elsewhere: elsewhere.iter().map(|s| s.to_string()).collect(),
    };
    ep
}

fn probe(ep: Endpoint) -> ProbeReport {
    probe_with(ep, &|_: &[CertificateDer<'_>]| None)
}

fn probe_with(
    ep: Endpoint,
    signer: &(dyn Fn(&[CertificateDer<'_>]) -> Option<String> + Sync),
) -> ProbeReport {
    let mut reports = probe_all(&[ep], &opts(2), signer);
    let report = reports.remove(0);
    for f in &report.findings {
        assert!(
            bkenv::catalog::lookup(f.code()).is_some(),
            "{} not in catalog",
            f.code()
        );
    }
    report
}

/// Asserts exactly one finding with `code` whose help mentions `fix`.
fn expect(report: &ProbeReport, code: &str, fix: &str) -> bkenv::diag::Finding {
    let codes: Vec<_> = report.findings.iter().map(|f| f.code()).collect();
    assert_eq!(codes, [code], "{report:#?}");
    let f = report.findings[0].clone();
    let help = f.help.clone().unwrap_or_default();
    assert!(help.contains(fix), "help {help:?} should name {fix:?}");
    assert!(
        f.message.contains(&report.endpoint) || f.message.contains("registry.test"),
        "{}",
        f.message
    );
    f
}

fn tls_registry(id: &Identity) -> Server {
    Server::https(server_config(id, &[], None), |_| ok())
}

#[test]
fn healthy_registry_reports_only_facts() {
    let ca = ca("Env CA");
    let server = tls_registry(&leaf(&ca, &["registry.test"]));
    let r = probe(registry(&server, &ca));
    assert!(r.findings.is_empty(), "{r:#?}");
    assert_eq!(r.facts.tls_version.as_deref(), Some("TLS 1.3"));
    assert_eq!(r.facts.presented_sans, ["DNS:registry.test"]);
    assert_eq!(r.facts.http_status, Some(200));
    assert_eq!(r.facts.auth.as_deref(), Some("none"));
}

#[test]
fn unknown_authority_names_the_env_ca_that_signed() {
    let (ca1, ca2) = (ca("Env CA one"), ca("Env CA two"));
    let id = leaf(&ca1, &["registry.test"]);
    let leaf_der = id.0[0].clone();
    let server = tls_registry(&id);
    let signer = move |chain: &[CertificateDer<'_>]| {
        (chain.first().map(|c| c.as_ref()) == Some(leaf_der.as_ref()))
            .then(|| "CA `Env CA one`".to_string())
    };
    let r = probe_with(registry(&server, &ca2), &signer);
    let f = expect(&r, "BK705", "ca = [");
    assert!(f.message.contains("Env CA one"), "{}", f.message);
    assert_eq!(
        f.prevents.as_deref(),
        Some("x509: certificate signed by unknown authority")
    );
}

#[test]
fn name_mismatch_lists_sans_and_name() {
    let ca = ca("Env CA");
    let server = tls_registry(&leaf(&ca, &["other.test"]));
    let f = expect(&probe(registry(&server, &ca)), "BK706", "DNS:registry.test");
    assert!(f.message.contains("DNS:other.test"), "{}", f.message);
    assert_eq!(
        f.prevents.as_deref(),
        Some("x509: certificate is valid for DNS:other.test, not registry.test")
    );
}

#[test]
fn ip_dialled_needs_an_ip_san() {
    let ca = ca("Env CA");
    let server = tls_registry(&leaf(&ca, &["localhost"]));
    let mut ep = registry(&server, &ca);
    ep.name = server.addr.to_string();
    ep.connect_to = None;
    let r = probe(ep);
    let f = expect(&r, "BK706", "IP:127.0.0.1");
    assert!(f.prevents.unwrap().contains("doesn't contain any IP SANs"));
}

#[test]
fn cn_only_certificate() {
    let ca = ca("Env CA");
    let server = tls_registry(&leaf(&ca, &[]));
    let f = expect(
        &probe(registry(&server, &ca)),
        "BK707",
        "SAN for `registry.test`",
    );
    assert!(f.message.contains("CN=leaf"), "{}", f.message);
}

#[test]
fn expired_certificate_gives_dates() {
    let ca = ca("Env CA");
    let id = leaf_with(&ca, &["registry.test"], |p| {
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    });
    let server = tls_registry(&id);
    let f = expect(&probe(registry(&server, &ca)), "BK708", "validity");
    assert!(f.message.contains("expired on 2001-01-01"), "{}", f.message);
}

#[test]
fn wrong_intermediate_is_an_incomplete_chain() {
    let root = ca("Env Root");
    let inter = intermediate("Env Intermediate", &root);
    let other = intermediate("Other Intermediate", &root);
    let (mut chain, key) = leaf(&inter, &["registry.test"]);
    chain.push(other.der().clone());
    let server = tls_registry(&(chain, key));
    let f = expect(&probe(registry(&server, &root)), "BK709", "full chain");
    assert!(f.message.contains("Env Intermediate"), "{}", f.message);
}

#[test]
fn lone_leaf_from_an_unknown_issuer_is_unknown_authority_with_a_chain_note() {
    let root = ca("Env Root");
    let inter = intermediate("Env Intermediate", &root);
    let server = tls_registry(&leaf(&inter, &["registry.test"]));
    let f = expect(&probe(registry(&server, &root)), "BK705", "ca = [");
    assert!(
        f.notes.iter().any(|n| n.contains("intermediate CA")),
        "{:?}",
        f.notes
    );
}

#[test]
fn client_auth_only_eku() {
    let ca = ca("Env CA");
    let id = leaf_with(&ca, &["registry.test"], |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    });
    let server = tls_registry(&id);
    expect(&probe(registry(&server, &ca)), "BK710", "serverAuth");
}

#[test]
fn ca_certificate_as_server_certificate() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["registry.test".to_string()]).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = p.self_signed(&key).unwrap();
    let server = Server::https(
        server_config(&(vec![cert.der().clone()], key_der(&key)), &[], None),
        |_| ok(),
    );
    let mut ep = registry(&server, &ca("unused"));
    ep.trust = Trust::Cas(vec![cert.der().clone()]);
    expect(&probe(ep), "BK711", "leaf (CA:FALSE)");
}

#[test]
fn name_constraint_violation() {
    let ca = ca_with("Constrained CA", |p| {
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName("allowed.test".into())],
            excluded_subtrees: vec![],
        });
    });
    let server = tls_registry(&leaf(&ca, &["registry.test"]));
    expect(
        &probe(registry(&server, &ca)),
        "BK712",
        "permitted subtrees",
    );
}

#[test]
fn plain_http_server_on_tls_probe() {
    let server = Server::start(|mut s| {
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf);
        let _ = s.write_all(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    });
    let f = expect(
        &probe(registry(&server, &ca("Env CA"))),
        "BK703",
        "http = true",
    );
    assert_eq!(
        f.prevents.as_deref(),
        Some("http: server gave HTTP response to HTTPS client")
    );
}

#[test]
fn tls_server_where_buildkit_speaks_plain_http() {
    let ca = ca("Env CA");
    let server = tls_registry(&leaf(&ca, &["registry.test"]));
    let mut ep = registry(&server, &ca);
    ep.transport = Transport::PlainHttp;
    expect(&probe(ep), "BK704", "http = false");
}

#[test]
fn refused_connection_is_unreachable() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ca = ca("Env CA");
    let mut ep = registry(&tls_registry(&leaf(&ca, &["registry.test"])), &ca);
    ep.connect_to = Some(format!("127.0.0.1:{port}"));
    let f = expect(&probe(ep), "BK701", "publish port");
    assert!(f.prevents.unwrap().contains("connection refused"));
}

#[test]
fn not_a_registry() {
    let ca = ca("Env CA");
    let server = Server::https(
        server_config(&leaf(&ca, &["registry.test"]), &[], None),
        |_| ("404 Not Found", vec![], "nope".into()),
    );
    expect(&probe(registry(&server, &ca)), "BK716", "/v2/");
}

fn basic_registry(ca: &Ca) -> Server {
    Server::https(
        server_config(&leaf(ca, &["registry.test"]), &[], None),
        |req| {
            // "alice:s3cret"
            match req.authorization.as_deref() {
                Some("Basic YWxpY2U6czNjcmV0") => ok(),
                _ => challenge("Basic realm=\"registry\""),
            }
        },
    )
}

#[test]
fn basic_auth_right_and_wrong_password() {
    let ca = ca("Env CA");
    let server = basic_registry(&ca);
    let r = probe(with_cred(registry(&server, &ca), "alice", "s3cret", &[]));
    assert!(r.findings.is_empty(), "{r:#?}");
    assert_eq!(r.facts.auth.as_deref(), Some("basic"));
    let r = probe(with_cred(registry(&server, &ca), "alice", "wrong", &[]));
    let f = expect(&r, "BK717", "docker login registry.test:443");
    assert!(
        f.message.contains("alice") && !f.message.contains("wrong"),
        "{}",
        f.message
    );
    expect(
        &probe(registry(&server, &ca)),
        "BK719",
        "docker login registry.test:443",
    );
}

#[test]
fn no_password_over_plain_http() {
    let server = Server::http(|_| challenge("Basic realm=\"registry\""));
    let mut ep = with_cred(registry(&server, &ca("Env CA")), "alice", "s3cret", &[]);
    ep.transport = Transport::PlainHttp;
    let f = expect(&probe(ep), "BK720", "http = true");
    assert!(!f.message.contains("s3cret"));
}

/// GitLab's dependency proxy: tokens only for Basic credentials, 403 for anonymous.
fn bearer_registry(ca: &Ca) -> Server {
    Server::https(
        server_config(&leaf(ca, &["registry.test"]), &[], None),
        |req| {
            // GitLab's JwtController takes no OAuth POST: 404, and BuildKit falls back.
            if req.method == "POST" {
                return ("404 Not Found", vec![], "{}".into());
            }
            if req.path.starts_with("/jwt/auth") {
                assert!(
                    req.path.contains("service=dependency_proxy"),
                    "{}",
                    req.path
                );
                return match req.authorization.as_deref() {
                    Some("Basic YWxpY2U6czNjcmV0") => {
                        ("200 OK", vec![], r#"{"token":"t0k"}"#.into())
                    }
                    Some(_) => ("401 Unauthorized", vec![], "{}".into()),
                    None => ("403 Forbidden", vec![], "{}".into()),
                };
            }
            match req.authorization.as_deref() {
                Some("Bearer t0k") => ok(),
                _ => challenge(
                    r#"Bearer realm="https://registry.test/jwt/auth",service="dependency_proxy""#,
                ),
            }
        },
    )
}

#[test]
fn dependency_proxy_trap_end_to_end() {
    let ca = ca("Env CA");
    let server = bearer_registry(&ca);
    // Credentials stored under `registry.test`; BuildKit looks up `registry.test:443`.
    let r = probe(with_cred(
        registry(&server, &ca),
        "",
        "",
        &["registry.test"],
    ));
    let f = expect(&r, "BK718", "docker login registry.test:443");
    assert!(
        f.message.contains("`registry.test`") && f.message.contains("`registry.test:443`"),
        "{}",
        f.message
    );
    let prevents = f.prevents.unwrap();
    assert!(
        prevents.contains("failed to fetch anonymous token") && prevents.ends_with("403 Forbidden"),
        "{prevents}"
    );
    assert!(
        prevents.contains("https://registry.test/jwt/auth?service=dependency_proxy"),
        "{prevents}"
    );

    let r = probe(with_cred(registry(&server, &ca), "alice", "s3cret", &[]));
    assert!(r.findings.is_empty(), "{r:#?}");
    assert_eq!(r.facts.auth.as_deref(), Some("bearer"));
    let r = probe(with_cred(registry(&server, &ca), "alice", "nope", &[]));
    expect(&r, "BK717", "config.json");
    expect(&probe(registry(&server, &ca)), "BK719", "docker login");
}

#[test]
fn black_holed_endpoint_costs_one_timeout() {
    let ca = ca("Env CA");
    let healthy: Vec<Server> = (0..5)
        .map(|_| tls_registry(&leaf(&ca, &["registry.test"])))
        .collect();
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut eps: Vec<Endpoint> = healthy.iter().map(|s| registry(s, &ca)).collect();
    let mut holed = registry(&healthy[0], &ca);
    holed.connect_to = Some(hole.local_addr().unwrap().to_string());
    eps.insert(2, holed);
    let timeout = Duration::from_secs(1);
    let start = Instant::now();
    let reports = probe_all(
        &eps,
        &ProbeOptions {
            timeout,
            ..ProbeOptions::default()
        },
        &|_| None,
    );
    let elapsed = start.elapsed();
    assert!(elapsed < timeout.mul_f64(2.5), "took {elapsed:?}");
    for (i, r) in reports.iter().enumerate() {
        let codes: Vec<_> = r.findings.iter().map(|f| f.code()).collect();
        assert_eq!(codes, if i == 2 { vec!["BK701"] } else { vec![] }, "{r:#?}");
    }
    drop(hole);
}

/// A TLS server that answers the HTTP/2 preface with an empty SETTINGS frame.
fn buildkitd_server(id: &Identity, alpn: &[&[u8]], client_ca: Option<&Ca>) -> Server {
    let cfg = server_config(id, alpn, client_ca);
    Server::start(move |sock| {
        let Ok(conn) = rustls::ServerConnection::new(cfg.clone()) else {
            return;
        };
        let mut tls = rustls::StreamOwned::new(conn, sock);
        let mut buf = [0u8; 33];
        if tls.read_exact(&mut buf).is_ok() {
            let _ = tls.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    })
}

fn buildkitd(server: &Server, ca: &Ca, identity: Option<Identity>) -> Endpoint {
    Endpoint {
        name: format!("buildkitd.test:{}", server.port()),
        connect_to: server.connect_to(),
        kind: EndpointKind::Buildkitd {
            client_identity: identity,
        },
        trust: Trust::Cas(vec![ca.der().clone()]),
        transport: Transport::Https,
    }
}

#[test]
fn buildkitd_must_select_h2() {
    let ca = ca("Env CA");
    let id = leaf(&ca, &["buildkitd.test"]);
    let with_h2 = buildkitd_server(&id, &[b"h2"], None);
    let r = probe(buildkitd(&with_h2, &ca, None));
    assert!(r.findings.is_empty(), "{r:#?}");
    assert_eq!(r.facts.alpn.as_deref(), Some("h2"));
    let without = buildkitd_server(&id, &[], None);
    let f = expect(&probe(buildkitd(&without, &ca, None)), "BK715", "v0.17");
    assert_eq!(
        f.prevents.as_deref(),
        Some("credentials: cannot check peer: missing selected ALPN property")
    );
}

#[test]
fn buildkitd_mtls_without_and_with_wrong_client_cert() {
    let ca = ca("Env CA");
    let server = buildkitd_server(&leaf(&ca, &["buildkitd.test"]), &[b"h2"], Some(&ca));
    let f = expect(&probe(buildkitd(&server, &ca, None)), "BK713", "--tlscert");
    assert_eq!(
        f.prevents.as_deref(),
        Some("remote error: tls: certificate required")
    );
    // In words, as the TLS alert is named: not rustls's `CertificateRequired`.
    assert!(
        f.message
            .ends_with("none was offered (TLS alert \"certificate required\")"),
        "{}",
        f.message
    );

    let stranger = self::ca("Stranger CA");
    let id = leaf_with(&stranger, &["client"], |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    });
    let f = expect(
        &probe(buildkitd(&server, &ca, Some(id))),
        "BK714",
        "--tlscert",
    );
    assert!(f.message.contains("(TLS alert \""), "{}", f.message);

    let good = leaf_with(&ca, &["client"], |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    });
    let r = probe(buildkitd(&server, &ca, Some(good)));
    assert!(r.findings.is_empty(), "{r:#?}");
}

#[test]
fn mtls_registry_without_client_cert() {
    let ca = ca("Env CA");
    let server = Server::https(
        server_config(&leaf(&ca, &["registry.test"]), &[], Some(&ca)),
        |_| ok(),
    );
    expect(&probe(registry(&server, &ca)), "BK713", "keypair");

    // With buildkitd's keypair the registry answers.
    let r = probe(with_keypair(registry(&server, &ca), &ca));
    assert!(r.findings.is_empty(), "{r:#?}");
}

/// The endpoint as buildkitd reaches it with a `keypair` (clientAuth) signed by `ca`.
fn with_keypair(mut ep: Endpoint, ca: &Ca) -> Endpoint {
    let id = leaf_with(ca, &["buildkitd"], |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    });
    ep.kind = EndpointKind::Registry {
        credential: None,
        credential_keys_elsewhere: vec![],
        client_identity: Some(id),
        helper: None,
        docker_config: "~/.docker/config.json".into(),
        client_trust: ClientTrust::Cas(vec![ca.der().clone()]),
    };
    ep
}

/// The trap of mTLS registries with token auth: buildkitd presents its keypair to the
/// registry, but the token realm is fetched by buildctl/buildx, which present none.
#[test]
fn mtls_token_realm_gets_no_client_certificate() {
    let ca = ca("Env CA");
    let server = Server::https(
        server_config(&leaf(&ca, &["registry.test"]), &[], Some(&ca)),
        |req| {
            if req.path.starts_with("/token") {
                return ("200 OK", vec![], r#"{"token":"t"}"#.into());
            }
            match req.authorization.as_deref() {
                Some("Bearer t") => ok(),
                _ => challenge(r#"Bearer realm="https://registry.test/token",service="r""#),
            }
        },
    );
    let r = probe(with_keypair(registry(&server, &ca), &ca));
    assert!(
        r.facts
            .steps
            .iter()
            .any(|s| s.starts_with("GET /v2/ -> 401")),
        "{r:#?}"
    );
    let f = r.findings.first().expect("a finding for the token realm");
    assert_eq!(f.code(), "BK713", "{f:#?}");
    assert!(f.message.contains("token"), "{f:#?}");
    assert!(
        f.help
            .as_deref()
            .is_some_and(|h| h.contains("BUILDKIT_NO_CLIENT_TOKEN")),
        "{f:#?}"
    );
}

/// A token server that takes BuildKit's OAuth POST (distribution's token server, Harbor,
/// Quay): the password grant is what buildctl/buildx send first, with a secret.
fn oauth_registry(ca: &Ca, post_status: &'static str) -> Server {
    Server::https(
        server_config(&leaf(ca, &["registry.test"]), &[], None),
        move |req| {
            if req.path.starts_with("/token") {
                if req.method == "POST" {
                    assert!(req.path == "/token", "{}", req.path);
                    let form = &req.body;
                    assert!(form.contains("grant_type=password"), "{form}");
                    assert!(form.contains("client_id=buildkit-client"), "{form}");
                    assert!(form.contains("service=registry.test"), "{form}");
                    if post_status != "200 OK" {
                        return (post_status, vec![], "{}".into());
                    }
                    return if form.contains("username=alice") && form.contains("password=s3cret") {
                        ("200 OK", vec![], r#"{"access_token":"oauth"}"#.into())
                    } else {
                        ("401 Unauthorized", vec![], "{}".into())
                    };
                }
                // GET with Basic: only reached after a POST that falls back.
                return match req.authorization.as_deref() {
                    Some("Basic YWxpY2U6czNjcmV0") => {
                        ("200 OK", vec![], r#"{"token":"basic"}"#.into())
                    }
                    _ => ("401 Unauthorized", vec![], "{}".into()),
                };
            }
            match req.authorization.as_deref() {
                Some("Bearer oauth" | "Bearer basic") => ok(),
                _ => challenge(
                    r#"Bearer realm="https://registry.test/token",service="registry.test""#,
                ),
            }
        },
    )
}

#[test]
fn oauth_post_first_then_the_fallbacks_buildkit_takes() {
    let ca = ca("Env CA");
    // The POST grant works: no GET with Basic is needed.
    let server = oauth_registry(&ca, "200 OK");
    let r = probe(with_cred(registry(&server, &ca), "alice", "s3cret", &[]));
    assert!(r.findings.is_empty(), "{r:#?}");
    let steps = &r.facts.steps;
    assert!(
        steps.contains(&"POST token (OAuth) -> 200".to_string()),
        "{steps:?}"
    );
    assert!(
        !steps.iter().any(|s| s.starts_with("GET token")),
        "{steps:?}"
    );

    // A wrong password: POST 401, GET with Basic 401, and the finding quotes the GET.
    let f = expect(
        &probe(with_cred(registry(&server, &ca), "alice", "nope", &[])),
        "BK717",
        "config.json",
    );
    assert!(
        f.prevents
            .as_deref()
            .is_some_and(|p| p.contains("from GET request to")),
        "{f:#?}"
    );

    // A token server that answers the POST with 400 (not a fallback status): BuildKit
    // stops there, and so does the probe.
    let server = oauth_registry(&ca, "400 Bad Request");
    let f = expect(
        &probe(with_cred(registry(&server, &ca), "alice", "s3cret", &[])),
        "BK721",
        "BUILDKIT_NO_CLIENT_TOKEN",
    );
    let prevents = f.prevents.unwrap_or_default();
    assert!(
        prevents.ends_with(
            "unexpected status from POST request to https://registry.test/token: 400 Bad Request"
        ),
        "{prevents}"
    );
}

/// buildkitd without `[grpc.tls]` speaks plaintext gRPC: like grpc-go's server, it sends
/// its HTTP/2 SETTINGS frame, then reads the ClientHello as a bogus preface and hangs
/// up. The probe names that (BK703, as buildctl's `first record does not look like a TLS
/// handshake`), rather than "cannot classify" (BK722).
#[test]
fn plaintext_grpc_where_tls_is_expected() {
    let server = Server::start(|mut s| {
        // SETTINGS (type 4) on stream 0 with MAX_FRAME_SIZE, then WINDOW_UPDATE.
        let _ = s.write_all(&[
            0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0x40, 0, 0, 0, 4, 8, 0, 0, 0, 0, 0, 0, 0, 0x0e,
            0xff,
        ]);
        let mut buf = [0u8; 512];
        let _ = s.read(&mut buf);
    });
    let f = expect(
        &probe(buildkitd(&server, &ca("Env CA"), None)),
        "BK703",
        "[grpc.tls]",
    );
    assert!(f.message.contains("gRPC without TLS"), "{}", f.message);
    assert_eq!(
        f.prevents.as_deref(),
        Some(
            "transport: authentication handshake failed: tls: first record does not look like a TLS handshake"
        )
    );
}

/// Two CAs with one name (everyone's default used to be `bkenv development CA`): BK705
/// names the key that signed and the key of each trusted CA, so the message reads as
/// two different CAs rather than a contradiction.
#[test]
fn unknown_authority_tells_same_named_cas_apart() {
    let (signing, trusted) = (ca("bkenv development CA"), ca("bkenv development CA"));
    let id = leaf_with(&signing, &["registry.test"], |p| {
        p.use_authority_key_identifier_extension = true;
    });
    let server = tls_registry(&id);
    let f = expect(&probe(registry(&server, &trusted)), "BK705", "ca = [");
    let key_id = |c: &Ca| {
        bkenv::pki::CertFacts::from_der(c.der())
            .expect("CA")
            .key_id()
    };
    let (signed, trusts) = (key_id(&signing), key_id(&trusted));
    assert_ne!(signed, trusts);
    assert_eq!(
        f.message,
        format!(
            "registry registry.test:443 presents a certificate issued by `bkenv development CA` ({signed}), which is not among the system roots and the configured CA `bkenv development CA` ({trusts})"
        )
    );
}

fn client_trust(mut ep: Endpoint, trust: ClientTrust) -> Endpoint {
    if let EndpointKind::Registry { client_trust, .. } = &mut ep.kind {
        *client_trust = trust;
    }
    ep
}

/// buildctl and buildx fetch registry tokens themselves, with the client's trust store:
/// a realm only buildkitd's `ca` trusts passes the daemon's check and fails the client's
/// (`x509: certificate signed by unknown authority` on the push). With
/// `BUILDKIT_NO_CLIENT_TOKEN=1` buildkitd fetches it, with its own trust.
#[test]
fn token_realm_is_verified_with_the_clients_trust_not_the_daemons() {
    let ca = ca("Env CA");
    // The realm on a server of its own, addressed by IP.
    let realm = Server::https(server_config(&leaf(&ca, &["127.0.0.1"]), &[], None), |_| {
        ("200 OK", vec![], r#"{"token":"t"}"#.into())
    });
    let realm_port = realm.port();
    let server = Server::https(
        server_config(&leaf(&ca, &["registry.test"]), &[], None),
        move |req| match req.authorization.as_deref() {
            Some("Bearer t") => ok(),
            _ => challenge(&format!(
                r#"Bearer realm="https://127.0.0.1:{realm_port}/token",service="r""#
            )),
        },
    );
    // The client machine does not trust the environment's CA.
    let other = ca_der_of("Some other CA");
    let r = probe(client_trust(
        registry(&server, &ca),
        ClientTrust::Cas(vec![other]),
    ));
    let f = r
        .findings
        .first()
        .expect("the realm is untrusted by the client");
    assert_eq!(f.code(), "BK705", "{r:#?}");
    assert!(f.message.contains("token realm"), "{}", f.message);
    assert!(
        f.message.contains("given to the client as SSL_CERT_FILE"),
        "{}",
        f.message
    );
    assert!(
        f.help
            .as_deref()
            .is_some_and(|h| h.contains("fetched by the client")),
        "{f:#?}"
    );
    // buildkitd fetching the token (BUILDKIT_NO_CLIENT_TOKEN=1) trusts its `ca`.
    let r = probe(client_trust(registry(&server, &ca), ClientTrust::Daemon));
    assert!(r.findings.is_empty(), "{r:#?}");
    // And a client that trusts the CA too.
    let r = probe(client_trust(
        registry(&server, &ca),
        ClientTrust::Cas(vec![ca.der().clone()]),
    ));
    assert!(r.findings.is_empty(), "{r:#?}");
}

fn ca_der_of(cn: &str) -> CertificateDer<'static> {
    ca(cn).der().clone()
}

/// The token server accepts the credentials and issues a token, but the registry does
/// not accept the token server's tokens: BK717 says so instead of blaming the password.
#[test]
fn token_issued_but_registry_still_refuses_is_not_bad_credentials() {
    let ca = ca("Env CA");
    let server = Server::https(
        server_config(&leaf(&ca, &["registry.test"]), &[], None),
        |req| {
            if req.path.starts_with("/token") {
                return match req.authorization.as_deref() {
                    Some("Basic YWxpY2U6czNjcmV0") => (
                        "200 OK",
                        vec![],
                        r#"{"token":"signed-by-another-key"}"#.into(),
                    ),
                    _ => ("401 Unauthorized", vec![], "{}".into()),
                };
            }
            challenge(r#"Bearer realm="https://registry.test/token",service="registry.test""#)
        },
    );
    let f = expect(
        &probe(with_cred(registry(&server, &ca), "alice", "s3cret", &[])),
        "BK717",
        "rootcertbundle",
    );
    assert!(
        f.message.contains("issued a token for user `alice`")
            && f.message.contains("the credentials are fine"),
        "{}",
        f.message
    );
    // A wrong password is still about the credentials, and names the config.json given.
    let mut ep = with_cred(registry(&server, &ca), "alice", "wrong", &[]);
    if let EndpointKind::Registry { docker_config, .. } = &mut ep.kind {
        *docker_config = "ci/docker/config.json".into();
    }
    let f = expect(&probe(ep), "BK717", "in ci/docker/config.json");
    assert!(
        f.message.contains("rejects the credentials"),
        "{}",
        f.message
    );
}

/// A fake `docker-credential-NAME` in a directory of its own, answering `get` from a
/// shell script; the directory is the PATH the probe searches.
fn helper_dir(name: &str, script: &str) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(format!("docker-credential-{name}"));
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("helper");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("mode");
    dir
}

fn with_helper(mut ep: Endpoint, name: &str) -> Endpoint {
    if let EndpointKind::Registry { helper, .. } = &mut ep.kind {
        *helper = Some(name.into());
    }
    ep
}

fn probe_helpers(ep: Endpoint, path: Option<&Path>) -> ProbeReport {
    let options = ProbeOptions {
        timeout: Duration::from_secs(2),
        credential_helpers: path.map(|p| p.as_os_str().to_owned()),
        ..ProbeOptions::default()
    };
    probe_all(&[ep], &options, &|_| None).remove(0)
}

/// credHelpers/credsStore: without the opt-in the helper is never run and the note says
/// the credentials were not checked (not "none configured"); with it, the helper is asked
/// as the docker CLI asks it (the server on stdin), and its answer meets the registry.
#[test]
fn credential_helpers_are_asked_only_when_allowed() {
    let ca = ca("Env CA");
    let server = Server::https(
        server_config(&leaf(&ca, &["registry.test"]), &[], None),
        |req| match req.authorization.as_deref() {
            Some("Basic YWxpY2U6czNjcmV0") => ok(),
            _ => challenge("Basic realm=\"registry\""),
        },
    );
    let marker = tempfile::tempdir().expect("tempdir");
    let ran = marker.path().join("ran");
    // Records its stdin, then answers like docker-credential-pass.
    let good = helper_dir(
        "test",
        &format!(
            "cat > {}\necho '{{\"ServerURL\":\"registry.test:443\",\"Username\":\"alice\",\"Secret\":\"s3cret\"}}'",
            ran.display()
        ),
    );
    let r = probe_helpers(with_helper(registry(&server, &ca), "test"), None);
    let codes: Vec<_> = r.findings.iter().map(|f| f.code()).collect();
    assert_eq!(codes, ["BK724"], "{r:#?}");
    assert!(r.findings[0].message.contains("docker-credential-test"));
    assert!(!ran.exists(), "the helper must not run without the opt-in");

    let r = probe_helpers(
        with_helper(registry(&server, &ca), "test"),
        Some(good.path()),
    );
    assert!(r.findings.is_empty(), "{r:#?}");
    assert_eq!(
        std::fs::read_to_string(&ran).expect("the helper ran"),
        "registry.test:443"
    );
    assert!(
        !format!("{r:?}").contains("s3cret"),
        "the secret never shows"
    );

    // A helper whose secret the registry rejects: BK717, the secret not printed.
    let wrong = helper_dir(
        "test",
        r#"echo '{"ServerURL":"registry.test:443","Username":"alice","Secret":"stale-secret"}'"#,
    );
    let r = probe_helpers(
        with_helper(registry(&server, &ca), "test"),
        Some(wrong.path()),
    );
    assert_eq!(r.findings.len(), 1, "{r:#?}");
    assert_eq!(r.findings[0].code(), "BK717");
    assert!(!format!("{r:?}").contains("stale-secret"));

    // No entry for the host: the client goes on without credentials.
    let none = helper_dir(
        "test",
        "echo 'credentials not found in native keychain'; exit 1",
    );
    let r = probe_helpers(
        with_helper(registry(&server, &ca), "test"),
        Some(none.path()),
    );
    assert_eq!(r.findings.len(), 1, "{r:#?}");
    assert_eq!(r.findings[0].code(), "BK719");
    assert!(
        r.findings[0].message.contains("`docker-credential-test`")
            && r.findings[0].message.contains("has no credentials"),
        "{}",
        r.findings[0].message
    );

    // A failing helper, a missing one, a name outside the grammar, one that hangs.
    let broken = helper_dir("test", "echo 'store is locked' >&1; exit 3");
    let hangs = helper_dir("test", "sleep 30");
    let cases: [(&str, &Path, &str); 4] = [
        (
            "test",
            broken.path(),
            "exit status 3, out: `store is locked`",
        ),
        ("absent", good.path(), "executable file not found in $PATH"),
        ("../test", good.path(), "is not a credential helper name"),
        ("test", hangs.path(), "did not answer within 2s"),
    ];
    for (name, dir, says) in cases {
        let r = probe_helpers(with_helper(registry(&server, &ca), name), Some(dir));
        assert_eq!(r.findings.len(), 1, "{name}: {r:#?}");
        let f = &r.findings[0];
        assert_eq!(f.code(), "BK725", "{name}: {f:#?}");
        assert!(f.message.contains(says), "{name}: {}", f.message);
    }
}
