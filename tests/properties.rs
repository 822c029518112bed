//! Property tests: for generated specs, `init` either succeeds and writes certificates
//! that the real openssl verifies for every name and that doctor finds nothing wrong
//! with, or fails with an error naming a field.

mod support;

use proptest::prelude::*;
use std::fmt::Write;

#[derive(Debug, Clone)]
struct Gen {
    service: String,
    extra_name: String,
    port: u16,
    host_port: u16,
    ipv6: bool,
    mtls: bool,
    mirror: bool,
    key_type: &'static str,
}

fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,10}[a-z0-9]"
}

fn specs() -> impl Strategy<Value = Gen> {
    (
        label(),
        prop_oneof![
            label(),
            (label(), label()).prop_map(|(a, b)| format!("{a}.{b}.test"))
        ],
        1u16..=65535,
        1024u16..=65535,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just("ecdsa-p256"), Just("ecdsa-p384"), Just("ed25519")],
    )
        .prop_map(
            |(service, extra_name, port, host_port, ipv6, mtls, mirror, key_type)| Gen {
                service,
                extra_name,
                port,
                host_port,
                ipv6,
                mtls,
                mirror,
                key_type,
            },
        )
}

fn spec(g: &Gen) -> String {
    let mut s = format!(
        "[pki]\nkey_type = \"{}\"\n\n[buildkitd]\nimage = \"moby/buildkit:v0.23.2\"\nlisten = [\"tcp://0.0.0.0:1234\"]\n\
         host = \"tcp://localhost:1234\"\nnames = [\"{}\"]\nmtls = {}\n\n[[registry]]\nservice = \"{}\"\nport = {}\n",
        g.key_type, g.extra_name, g.mtls, g.service, g.port
    );
    let loopback = if g.ipv6 {
        format!("[::1]:{}", g.host_port)
    } else {
        format!("127.0.0.1:{}", g.host_port)
    };
    let _ = writeln!(
        s,
        "names = [\"{}:{}\", \"{loopback}\", \"{}:443\"]",
        g.service, g.port, g.extra_name
    );
    // Each loopback name needs a published port bound to its address.
    let bind = if g.ipv6 { "[::1]" } else { "127.0.0.1" };
    let _ = writeln!(
        s,
        "publish = [\"{bind}:{}:{}\"]\n\n[registry.auth]\nusername = \"u\"",
        g.host_port, g.port
    );
    if g.mirror {
        let _ = writeln!(
            s,
            "\n[mirror]\nservice = \"m{}\"\nimage = \"registry:2.8.3\"\nnames = [\"m{}:5000\"]",
            g.service, g.service
        );
    }
    s
}

static SUCCEEDED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn init_succeeds_and_openssl_agrees_or_fails_clearly(g in specs()) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bkenv.toml"), spec(&g)).unwrap();
        match support::run_init(&support::options(dir.path())) {
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.contains("invalid spec:") || msg.contains("bkenv.toml"), "unclear error: {msg}");
                // A refused run writes nothing but the spec it was given.
                prop_assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
            }
            Ok(outcome) => {
                SUCCEEDED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let report = bkenv::doctor::run(dir.path(), &bkenv::doctor::DoctorInputs::default(), support::NOW).unwrap();
                let codes: Vec<&str> = report.findings.iter().map(|f| f.code()).collect();
                prop_assert!(codes.is_empty(), "doctor on a generated environment: {:?}\n{}", codes, spec(&g));
                let Some(openssl) = support::tool("openssl") else { return Ok(()) };
                for reg in outcome.env.registries.iter().filter(|r| r.local().is_some()) {
                    let svc = &reg.local().unwrap().service;
                    for n in &reg.names {
                        let host = n.name.host.to_string();
                        prop_assert!(support::openssl_verify(&openssl, dir.path(), &format!("{svc}/certs/registry.crt"), &host, "sslserver").0, "{svc}: {host}");
                    }
                    let leaf = format!("{svc}/certs/registry.crt");
                    prop_assert!(!support::openssl_verify(&openssl, dir.path(), &leaf, "not-in-spec.example", "sslserver").0, "{}", leaf);
                }
                prop_assert!(support::openssl_verify(&openssl, dir.path(), "buildkit/certs/server.crt", &g.extra_name, "sslserver").0);
                prop_assert_eq!(dir.path().join("client/client.crt").exists(), g.mtls);
            }
        }
    }
}

#[test]
fn most_generated_specs_are_valid() {
    // Guards the property above against passing vacuously (every spec rejected).
    init_succeeds_and_openssl_agrees_or_fails_clearly();
    let ok = SUCCEEDED.load(std::sync::atomic::Ordering::Relaxed);
    assert!(ok >= 12, "only {ok} of 24 generated specs were valid");
}
