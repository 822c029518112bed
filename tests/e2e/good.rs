//! Good environments: the default spec and every example with a local registry are
//! accepted by docker-compose, the real registry, skopeo and curl through every name, and
//! the real buildkitd started from the compose file builds and pushes through them.

use crate::env::Env;
use crate::oci;
use std::path::Path;

pub fn examples(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
        .join("bkenv.toml")
}

/// Push and pull through every name of the push registry; TLS and `/v2/` through every
/// name of every registry (the mirror's upstream is unreachable, so it gets no pulls).
/// `unreachable` names are left out (each has its own ignored test naming the bug).
fn good_path(spec: Option<&str>, unreachable: &[&str]) {
    if !crate::tools_present() {
        return;
    }
    let spec_path = spec.map(examples);
    let env = Env::init(spec_path.as_deref());
    let (ok, out) = env.compose_config();
    assert!(ok, "docker-compose config: {out}");

    let mut up = env.up();
    assert!(up.refused.is_none(), "registry: {:?}", up.refused);
    let work = tempfile::tempdir().expect("work");
    let image = oci::write_layout(&work.path().join("layout"));
    let reg = env.push_reg();
    // skopeo (containers/image) cannot reference an IPv6 literal (`[::1]:5005/app`); those
    // names are checked with curl and openssl below.
    for name in reg.names.iter().filter(|n| !n.starts_with('[')) {
        let (ok, out) = up.push(&env, name, &work.path().join("layout"));
        assert!(ok, "push through {name}: {out}\n{}", up.logs());
        let (ok, raw) = up.inspect_raw(&env, name);
        assert!(ok, "inspect through {name}: {raw}");
        let digest = format!(
            "sha256:{}",
            ring::digest::digest(&ring::digest::SHA256, raw.trim_end().as_bytes())
                .as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        assert_eq!(digest, image.manifest_digest, "manifest through {name}");
        let pulled = work
            .path()
            .join(format!("pulled-{}", name.replace([':', '[', ']'], "_")));
        let (ok, out) = up.pull(&env, name, &pulled);
        assert!(ok, "pull through {name}: {out}\n{}", up.logs());
        let layer = std::fs::read(pulled.join(image.layer_digest.trim_start_matches("sha256:")))
            .unwrap_or_else(|e| panic!("pulled layer through {name}: {e}"));
        assert_eq!(layer, image.layer, "layer through {name}");
    }
    for r in &env.regs {
        for name in r
            .names
            .iter()
            .filter(|n| !unreachable.contains(&n.as_str()))
        {
            let url = format!("https://{name}/v2/");
            let creds = env.credentials(name);
            if r.username.is_some() {
                assert!(creds.is_some(), "config.json has no entry for {name}");
                let (_, out) = up.curl(&env, &url, None);
                assert!(
                    out.ends_with("HTTP 401"),
                    "{url} without credentials: {out}"
                );
            }
            let (ok, out) = up.curl(&env, &url, creds.as_deref());
            assert!(ok && out.ends_with("HTTP 200"), "{url}: {out}");
            let (ok, out) = up.s_client(&env, name);
            assert!(ok, "openssl s_client {name}: {out}");
        }
        // bkenv probe, connecting as BuildKit and host-side clients would, agrees.
        let names: Vec<&str> = r
            .names
            .iter()
            .map(String::as_str)
            .filter(|n| !unreachable.contains(n))
            .collect();
        let (ok, findings) = up.probe(&env, &names, false);
        assert!(
            ok && findings.is_empty(),
            "bkenv probe {names:?}: {findings:#?}"
        );
    }
    if crate::buildkit::present() {
        crate::builds::build_and_push(&env, &mut up, spec.unwrap_or("default"));
    }
}

#[test]
fn default_spec_works_with_real_clients() {
    good_path(None, &[]);
}

#[test]
fn minimal_example_works_with_real_clients() {
    good_path(Some("minimal"), &[]);
}

#[test]
fn mtls_example_works_with_real_clients() {
    good_path(Some("mtls"), &[]);
}

#[test]
fn rootless_example_works_with_real_clients() {
    good_path(Some("rootless"), &[]);
}

#[test]
fn mirror_example_works_with_real_clients() {
    good_path(Some("mirror"), &[]);
}

/// Docker publishes `127.0.0.1:5005:5000` on IPv4 loopback only, so `[::1]:5005` needs its
/// own binding; init now refuses a loopback name without one, and the example has it.
#[test]
fn mtls_example_ipv6_loopback_name_is_reachable() {
    if !crate::tools_present() {
        return;
    }
    let env = Env::init(Some(&examples("mtls")));
    let up = env.up();
    assert!(up.refused.is_none(), "registry: {:?}", up.refused);
    let creds = env.credentials("[::1]:5005");
    let (ok, out) = up.curl(&env, "https://[::1]:5005/v2/", creds.as_deref());
    assert!(ok && out.ends_with("HTTP 200"), "{out}");
}
