//! Builds with the real BuildKit through generated environments: buildkitd started from
//! the compose file, `buildctl` and the buildx remote driver configured only from
//! `.env`, `client/` and `docker/config.json`, images pushed through the name buildkitd
//! dials and pulled back with skopeo through the host-side name.

use crate::buildkit::{Context, cache_args, context, digest, dotenv};
use crate::container::{self, Extra};
use crate::env::{EXTERNAL_IP, Env, InitAs, Up, host_of};
use crate::good::examples;
use crate::oci;
use crate::sandbox::{Service, WAIT, run_for};
use std::fs;
use std::process::Command;

/// The name a host-side client uses for the registry buildkitd pushes to as `dialled`:
/// its loopback name, or the name itself when it has none (an external registry).
pub fn host_side_name(env: &Env, dialled: &str) -> String {
    let names = env
        .regs
        .iter()
        .find(|r| r.names.iter().any(|n| n == dialled))
        .map(|r| r.names.clone())
        .unwrap_or_default();
    names
        .into_iter()
        .find(|n| {
            let h = host_of(n);
            h == "localhost"
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
        .filter(|n| !n.starts_with('[')) // skopeo cannot reference `[::1]:5005/x`
        .unwrap_or_else(|| dialled.to_string())
}

/// `buildctl build` of `ctx` pushed as `registry/repo_tag`, pulled back through the
/// host-side name: the file comes back, and the manifest is the one buildctl reported.
pub fn build_pull(
    env: &Env,
    up: &Up,
    ctx: &Context,
    repo_tag: &str,
    extra: &[String],
) -> (String, Vec<String>) {
    let vars = dotenv(env);
    let registry = &vars["DOCKER_REGISTRY"];
    let host_side = host_side_name(env, registry);
    let work = tempfile::tempdir().expect("work");
    let metadata = work.path().join("metadata.json");
    let image = format!("{registry}/{repo_tag}");
    let (ok, out) = up.buildctl_build(env, ctx, &image, &metadata, extra);
    assert!(
        ok,
        "buildctl build --output name={image},push=true:\n{out}\n{}",
        up.logs()
    );
    let (text, layers) = up
        .pull_file(env, &host_side, repo_tag, "hello.txt")
        .unwrap_or_else(|e| panic!("{e}\n{}", up.logs()));
    assert_eq!(text, ctx.content, "{repo_tag} through {host_side}");
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(&metadata).expect("metadata")).expect("metadata JSON");
    let (ok, raw) = up.inspect_raw_ref(env, &host_side, repo_tag);
    assert!(ok, "inspect {repo_tag}: {raw}");
    assert_eq!(
        meta["containerimage.digest"].as_str(),
        Some(digest(raw.trim_end().as_bytes()).as_str()),
        "the manifest pulled through {host_side} is the one buildctl pushed"
    );
    (out, layers)
}

/// buildkitd from the compose file; a build with the registry cache `init` prints
/// (exported with `image-manifest=true,oci-mediatypes=true`, then imported into an
/// emptied daemon); one push through the buildx remote driver.
pub fn build_and_push(env: &Env, up: &mut Up, label: &str) {
    up.start_buildkitd(env)
        .unwrap_or_else(|log| panic!("buildkitd ({label}): {log}"));
    let vars = dotenv(env);
    let registry = vars["DOCKER_REGISTRY"].clone();
    let host_side = host_side_name(env, &registry);
    let cache = format!("{registry}/bkenv-e2e:buildcache");
    let ctx = context(
        "scratch",
        &format!("built by buildctl in the {label} environment\n"),
    );
    build_pull(env, up, &ctx, "bkenv-e2e:buildctl", &cache_args(&cache));

    // The cache is an OCI image manifest whose config is BuildKit's cache config.
    let (ok, raw) = up.inspect_raw_ref(env, &host_side, "bkenv-e2e:buildcache");
    assert!(ok, "cache manifest: {raw}");
    let m: serde_json::Value = serde_json::from_str(raw.trim_end()).expect("cache manifest");
    assert_eq!(
        m["mediaType"], "application/vnd.oci.image.manifest.v1+json",
        "{raw}"
    );
    assert_eq!(
        m["config"]["mediaType"], "application/vnd.buildkit.cacheconfig.v0",
        "{raw}"
    );
    // An emptied daemon takes the COPY step from the registry cache.
    let (ok, out) = up.buildctl(env, &["prune".into(), "--all".into()]);
    assert!(ok, "buildctl prune: {out}");
    let (out, _) = build_pull(env, up, &ctx, "bkenv-e2e:imported", &cache_args(&cache));
    assert!(
        out.contains(&format!("importing cache manifest from {cache}")),
        "{out}"
    );
    let copy_cached = out
        .lines()
        .filter(|l| l.contains("COPY hello.txt"))
        .filter_map(|l| l.split_whitespace().next())
        .any(|step| out.lines().any(|l| l.trim() == format!("{step} CACHED")));
    assert!(
        copy_cached,
        "COPY not taken from the imported cache:\n{out}"
    );

    let bx = context(
        "scratch",
        &format!("built by buildx in the {label} environment\n"),
    );
    let (ok, out) = up.buildx_push(env, &bx, &format!("{registry}/bkenv-e2e:buildx"));
    assert!(ok, "{out}\n{}", up.logs());
    let (text, _) = up
        .pull_file(env, &host_side, "bkenv-e2e:buildx", "hello.txt")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(text, bx.content);
}

/// The mirror serves a `FROM docker.io/...` pull: its storage is seeded by running the
/// same registry once without `proxy` (a proxy refuses pushes) and pushing a base image,
/// then it runs with its generated config (its upstream unreachable) and buildkitd
/// builds `FROM` that image. The mirror's log shows buildkitd fetching the base layer,
/// and the pushed image carries it.
#[test]
fn mirror_example_serves_the_base_image_to_buildkitd() {
    if !crate::buildkit::present() {
        return;
    }
    let env = Env::init(Some(&examples("mirror")));
    let mut up = env.up();
    assert!(up.refused.is_none(), "registry: {:?}", up.refused);
    let mirror = env
        .regs
        .iter()
        .find(|r| r.upstream.is_some())
        .expect("a mirror")
        .clone();
    let config_in = bkenv::model::layout::REG_CONFIG_IN;
    let generated: Service = up.compose.services[&mirror.service].clone();
    up.registries.retain(|c| c.name != mirror.service);

    // Seed: the same service, its config without the `proxy` section.
    let work = tempfile::tempdir().expect("work");
    let config = env.read(&format!("{}/config.yml", mirror.service));
    let mut seed_config = String::new();
    let mut in_proxy = false;
    for line in config.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_proxy = line.starts_with("proxy:");
        }
        if !in_proxy {
            seed_config.push_str(line);
            seed_config.push('\n');
        }
    }
    assert_ne!(seed_config, config, "a proxy section in {config}");
    let seed_path = work.path().join("seed-config.yml");
    fs::write(&seed_path, &seed_config).expect("seed config");
    let mut seed_svc = generated.clone();
    for v in seed_svc.volumes.iter_mut() {
        if v.split(':').nth(1) == Some(config_in) {
            *v = format!("{}:{config_in}:ro", seed_path.display());
        }
    }
    let host_name = mirror
        .names
        .iter()
        .find(|n| host_of(n) == "localhost")
        .expect("a host-side mirror name")
        .clone();
    let base = oci::write_layout(&work.path().join("base"));
    {
        let seed = up
            .start(&env, &mirror.service, &seed_svc)
            .unwrap_or_else(|e| panic!("seed mirror: {e}"));
        let (ok, out) = up.push_ref(
            &env,
            &host_name,
            &work.path().join("base"),
            "library/bkenv-base:1",
        );
        assert!(ok, "seeding the mirror: {out}\n{}", seed.log_text());
    }
    let proxy = up
        .start(&env, &mirror.service, &generated)
        .unwrap_or_else(|e| panic!("mirror: {e}"));
    assert!(proxy.log_text().contains("proxy"), "{}", proxy.log_text());
    up.start_buildkitd(&env)
        .unwrap_or_else(|log| panic!("buildkitd: {log}"));
    let ctx = context("bkenv-base:1", "built on a base image from the mirror\n");
    let (_, layers) = build_pull(&env, &up, &ctx, "bkenv-e2e:mirrored", &[]);
    assert!(
        layers.contains(&base.layer_digest),
        "the base layer {} is in the pushed image: {layers:?}",
        base.layer_digest
    );
    let log = proxy.log_text();
    for uri in [
        "/v2/library/bkenv-base/manifests/1".to_string(),
        format!("/v2/library/bkenv-base/blobs/{}", base.layer_digest),
    ] {
        assert!(log.contains(&uri), "the mirror served {uri}:\n{log}");
    }
}

/// The external-registry example, against a stand-in registry at its name whose
/// certificate comes from a CA the test makes (the example ships `corp-ca.crt` without
/// a key): bkenv trusts that CA for buildkitd and host-side clients.
#[test]
fn external_registry_example_pushes_to_a_stand_in() {
    if !crate::buildkit::present() {
        return;
    }
    let pki = tempfile::tempdir().expect("pki");
    let openssl = |args: &[&str]| {
        let (ok, out) = run_for(
            Command::new("openssl").args(args).current_dir(pki.path()),
            WAIT,
        );
        assert!(ok, "openssl {args:?}: {out}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "30",
        "-subj",
        "/CN=corp test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout",
        "ca.key",
        "-out",
        "corp-ca.crt",
    ]);
    fs::write(
        pki.path().join("leaf.ext"),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:registry.corp.example\n",
    )
    .expect("ext");
    fs::create_dir_all(pki.path().join("certs")).expect("certs");
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=registry.corp.example",
        "-keyout",
        "certs/registry.key",
        "-out",
        "leaf.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "corp-ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "30",
        "-sha256",
        "-extfile",
        "leaf.ext",
        "-out",
        "certs/registry.crt",
    ]);
    let password = "corp-e2e-password";
    let ca = pki.path().join("corp-ca.crt");
    let (env, (ok, out)) = Env::init_as(
        Some(&examples("external-registry")),
        &InitAs {
            files: vec![("corp-ca.crt", ca.as_path())],
            env: vec![("CORP_REGISTRY_PASSWORD", password)],
            uid: None,
        },
    );
    assert!(ok, "bkenv init: {out}");
    let name = env.external.first().expect("an external registry").clone();
    let (user, _) = env
        .credentials(&name)
        .and_then(|c| {
            c.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        })
        .expect("credentials for the external registry");
    let mut up = env.up();

    // The stand-in: the real registry with TLS from the test's CA and htpasswd auth.
    fs::create_dir_all(pki.path().join("auth")).expect("auth");
    let hash = bcrypt::hash(password, 5).expect("bcrypt");
    fs::write(pki.path().join("auth/htpasswd"), format!("{user}:{hash}\n")).expect("htpasswd");
    let port = name.rsplit_once(':').map_or("443", |(_, p)| p);
    fs::write(
        pki.path().join("config.yml"),
        format!(
            "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\n\
             http:\n  addr: :{port}\n  tls:\n    certificate: /certs/registry.crt\n    key: /certs/registry.key\n\
             auth:\n  htpasswd:\n    realm: corp\n    path: /auth/htpasswd\n"
        ),
    )
    .expect("config");
    let p = pki.path().display();
    let svc = Service {
        image: "registry:2.8.3".into(),
        command: None,
        entrypoint: None,
        user: None,
        environment: None,
        ports: Vec::new(),
        volumes: vec![
            format!("{p}/config.yml:/etc/docker/registry/config.yml:ro"),
            format!("{p}/certs:/certs:ro"),
            format!("{p}/auth:/auth:ro"),
        ],
    };
    let _corp = container::start(
        &up.net,
        pki.path(),
        "corp-registry",
        &svc,
        EXTERNAL_IP,
        &Extra::default(),
    )
    .unwrap_or_else(|e| panic!("stand-in registry: {e}"));
    build_and_push(&env, &mut up, "external-registry");
}

/// `bkenv init --rootless` run by uid 1000 (the rootless image's user): the key is that
/// user's already, and the environment starts and pushes.
#[test]
fn rootless_environment_made_by_uid_1000_starts_and_pushes() {
    if !crate::buildkit::present() {
        return;
    }
    let (env, (ok, out)) = Env::init_as(
        Some(&examples("rootless")),
        &InitAs {
            uid: Some(1000),
            ..InitAs::default()
        },
    );
    assert!(ok, "bkenv init as uid 1000: {out}");
    assert!(!out.contains("chown"), "nothing to fix as uid 1000: {out}");
    let key = fs::metadata(env.path("buildkit/certs/server.key")).expect("key");
    assert_key_private_to(&key, 1000);
    let mut up = env.up();
    build_and_push(&env, &mut up, "rootless (init as uid 1000)");
}

/// Run by a user who is neither root nor uid 1000, init cannot hand the key over: it
/// says so with the exact command, the daemon indeed cannot read the key, and after
/// that command the environment starts and pushes.
#[test]
fn rootless_environment_made_by_another_user_names_the_fix() {
    if !crate::buildkit::present() {
        return;
    }
    let (env, (ok, out)) = Env::init_as(
        Some(&examples("rootless")),
        &InitAs {
            uid: Some(1001),
            ..InitAs::default()
        },
    );
    assert!(ok, "bkenv init as uid 1001: {out}");
    let key_path = env.path("buildkit/certs/server.key");
    let fix = format!("sudo chown 1000:1000 {}", key_path.display());
    assert!(out.contains(&format!("Run `{fix}`")), "{out}");
    assert_key_private_to(&fs::metadata(&key_path).expect("key"), 1001);
    let mut up = env.up();
    let err = up
        .start_buildkitd(&env)
        .expect_err("buildkitd cannot read the key");
    assert!(
        err.contains("open /etc/buildkit/certs/server.key: permission denied"),
        "{err}"
    );
    // The printed command, as the administrator runs it (the test is root already).
    let (ok, out) = run_for(
        Command::new("sh")
            .arg("-c")
            .arg(fix.trim_start_matches("sudo ")),
        WAIT,
    );
    assert!(ok, "{fix}: {out}");
    assert_key_private_to(&fs::metadata(&key_path).expect("key"), 1000);
    build_and_push(&env, &mut up, "rootless (init as uid 1001)");
}

fn assert_key_private_to(meta: &fs::Metadata, uid: u32) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert_eq!(meta.uid(), uid, "owner of buildkit/certs/server.key");
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o600,
        "never readable by others"
    );
}
