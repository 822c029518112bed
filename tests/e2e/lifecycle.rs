//! The certificate lifecycle against the real daemons: a CA rotation (start, finish,
//! drop-old) keeps the real registry and the real buildkitd accepting pushes from the
//! real buildctl at every phase, for a client with the trust files bkenv writes and for
//! one that keeps its own copy (only the old CA before `--finish`, only the new CA after
//! `--drop-old`); `status --probe` sees a renewed certificate only once its daemon
//! restarted; `trust install` makes host-side clients (curl through the system store,
//! skopeo through `/etc/docker/certs.d`) trust the registry, and `uninstall` undoes it.
//! A restart is the harness's stop and start of the service's process, as
//! `docker compose restart` does.

use crate::buildkit::{ClientOpts, ClientTls, context, dotenv};
use crate::env::{CLIENT_TIMEOUT, Env, Up};
use crate::good::examples;
use crate::sandbox::{WAIT, run_for};
use std::fs;
use std::path::Path;

/// `buildctl build` pushed to the registry buildkitd dials, with `.env`'s files or a
/// client's own `tls`; the image comes back through the host-side name.
fn push(up: &Up, env: &Env, tls: Option<&ClientTls>, tag: &str) -> (bool, String) {
    let vars = dotenv(env);
    let image = format!("{}/lifecycle:{tag}", vars["DOCKER_REGISTRY"]);
    let ctx = context("scratch", &format!("pushed at {tag}\n"));
    let work = tempfile::tempdir().expect("work");
    let meta = work.path().join("metadata.json");
    let opts = ClientOpts {
        tls,
        ..Default::default()
    };
    let (ok, out) = up.buildctl_build_as(env, &opts, &ctx, &image, &meta, &[]);
    if !ok {
        return (false, out);
    }
    match up.pull_file(
        env,
        "localhost:5005",
        &format!("lifecycle:{tag}"),
        "hello.txt",
    ) {
        Ok((text, _)) if text == ctx.content => (true, out),
        Ok((text, _)) => (false, format!("pulled {text:?}")),
        Err(e) => (false, e),
    }
}

fn pushes(up: &Up, env: &Env, tls: Option<&ClientTls>, tag: &str) {
    let (ok, out) = push(up, env, tls, tag);
    assert!(ok, "push {tag}:\n{out}\n{}", up.logs());
}

/// `bkenv ARGS --format json` in the namespace; the parsed document and the exit status.
fn bkenv_json(up: &Up, args: &[&str]) -> (bool, serde_json::Value) {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let (ok, out, err) = up.bkenv(&all);
    let doc = serde_json::from_str(&out)
        .unwrap_or_else(|e| panic!("bkenv {args:?}: not JSON ({e}): {out}\n{err}"));
    (ok, doc)
}

fn services(doc: &serde_json::Value) -> Vec<String> {
    doc["restart"]["services"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Restarts what bkenv said to restart: registries first, so buildkitd comes back in a
/// namespace that has never seen the old registry process.
fn restart(up: &mut Up, env: &Env, names: &[String]) {
    let mut names = names.to_vec();
    names.sort_by_key(|n| n.contains("buildkit"));
    for n in &names {
        up.restart(env, n)
            .unwrap_or_else(|log| panic!("restart {n}: {log}"));
    }
}

/// `rotate-ca ARGS`, then the restarts it names (which it returns).
fn rotate(up: &mut Up, env: &Env, args: &[&str]) -> Vec<String> {
    let dir = env.root().to_str().expect("path").to_string();
    let mut all = vec!["rotate-ca", dir.as_str()];
    all.extend(args);
    let (ok, doc) = bkenv_json(up, &all);
    assert!(ok, "rotate-ca {args:?}: {doc}");
    let names = services(&doc);
    restart(up, env, &names);
    names
}

fn copy(from: &Path, to: &Path) -> std::path::PathBuf {
    fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    to.to_path_buf()
}

/// `curl` of the registry's `/v2/`: (TLS verified, output). It trusts only `ca` when
/// given, else the system store (what `trust install` writes into).
fn curl_v2(up: &Up, ca: Option<&Path>) -> (bool, String) {
    let mut c = up.client("curl");
    c.args([
        "-sS",
        "--max-time",
        "15",
        "-o",
        "/dev/null",
        "-w",
        "HTTP %{http_code}",
    ]);
    if let Some(ca) = ca {
        c.arg("--cacert").arg(ca);
    }
    c.arg("https://localhost:5005/v2/");
    run_for(&mut c, CLIENT_TIMEOUT)
}

#[test]
fn ca_rotation_keeps_real_pushes_working_at_every_phase() {
    if !crate::buildkit::present() {
        return;
    }
    // Mutual TLS: buildkitd checks client certificates against the bundle too.
    let env = Env::init(Some(&examples("mtls")));
    let mut up = env.up();
    assert!(up.refused.is_none(), "registry: {:?}", up.refused);
    up.start_buildkitd(&env)
        .unwrap_or_else(|log| panic!("buildkitd: {log}"));
    // A client that keeps the copies it got before the rotation: the old CA only.
    let keep = tempfile::tempdir().expect("keep");
    let k = keep.path();
    let old = ClientTls {
        ca: copy(&env.path("client/ca.crt"), &k.join("old-ca.crt")),
        pair: Some((
            copy(&env.path("client/client.crt"), &k.join("old-client.crt")),
            copy(&env.path("client/client.key"), &k.join("old-client.key")),
        )),
    };
    pushes(&up, &env, None, "before");

    // Start: trust files hold old + new; buildkitd reloads its CA bundle.
    assert_eq!(rotate(&mut up, &env, &[]), ["buildkitd"]);
    pushes(&up, &env, None, "started");
    pushes(&up, &env, Some(&old), "started-old-client");
    let (ok, out) = curl_v2(&up, Some(&old.ca));
    assert!(
        ok && out.ends_with("HTTP 401"),
        "old CA only, before --finish: {out}"
    );

    // Finish: every leaf from the new CA; the daemons serve them after the restart.
    assert_eq!(
        rotate(&mut up, &env, &["--finish"]),
        ["buildkitd", "registry"]
    );
    pushes(&up, &env, None, "finished");
    // A client with only the old CA fails now, as the rotation says it will.
    let (ok, out) = push(&up, &env, Some(&old), "finished-old-client");
    assert!(
        !ok && out.contains("certificate signed by unknown authority"),
        "old CA only, after --finish:\n{out}"
    );
    let (ok, out) = curl_v2(&up, Some(&old.ca));
    assert!(!ok, "old CA only, after --finish: {out}");
    // A host-side bundle kept as it was before `--finish` (the old CA only): skopeo
    // through it fails, as doctor's BK216 predicts for that directory.
    let stale = env.copy();
    fs::copy(&old.ca, stale.path("certs.d/localhost:5005/ca.crt")).expect("stale bundle");
    let (ok, out, err) = up.bkenv(&[
        "doctor",
        stale.root().to_str().expect("path"),
        "--format",
        "json",
    ]);
    let codes: Vec<String> = crate::env::findings(&out)
        .into_iter()
        .map(|f| f.code)
        .collect();
    assert!(
        !ok && codes == ["BK216"],
        "doctor on the stale bundle: {out}{err}"
    );
    let (ok, out) = up.inspect_raw_at(
        &stale.path("certs.d/localhost:5005"),
        &env.path("docker/config.json"),
        "localhost:5005/lifecycle:finished",
    );
    assert!(
        !ok && out.contains("certificate signed by unknown authority"),
        "skopeo through the stale bundle: {out}"
    );
    // Its client certificate (from the old CA) is still accepted through the bundle.
    let bundle_with_old_pair = ClientTls {
        ca: env.path("client/ca.crt"),
        pair: old.pair.clone(),
    };
    pushes(
        &up,
        &env,
        Some(&bundle_with_old_pair),
        "finished-old-client-cert",
    );

    // Drop the old CA: a client with only the new CA works.
    assert_eq!(rotate(&mut up, &env, &["--drop-old"]), ["buildkitd"]);
    let new = ClientTls {
        ca: copy(&env.path("ca/ca.crt"), &k.join("new-ca.crt")),
        pair: Some((env.path("client/client.crt"), env.path("client/client.key"))),
    };
    pushes(&up, &env, Some(&new), "dropped-new-client");
    pushes(&up, &env, None, "dropped");
    let (ok, out) = push(
        &up,
        &env,
        Some(&bundle_with_old_pair),
        "dropped-old-client-cert",
    );
    assert!(
        !ok,
        "the old CA's client certificate is refused once it is dropped:\n{out}"
    );
    let dir = env.root().to_str().expect("path");
    let (ok, doc) = bkenv_json(&up, &["status", dir, "--probe"]);
    assert!(ok, "status --probe after the rotation: {doc}");
    assert!(doc.get("rotation").is_none(), "{doc}");
}

#[test]
fn status_probe_sees_a_renewed_certificate_only_after_the_restart() {
    if !crate::buildkit::present() {
        return;
    }
    let env = Env::init(None);
    let mut up = env.up();
    assert!(up.refused.is_none(), "registry: {:?}", up.refused);
    up.start_buildkitd(&env)
        .unwrap_or_else(|log| panic!("buildkitd: {log}"));
    let dir = env.root().to_str().expect("path");
    let served = |doc: &serde_json::Value| -> Vec<(String, Option<bool>, Option<String>)> {
        doc["certificates"]
            .as_array()
            .expect("certificates")
            .iter()
            .filter(|c| c.get("served").is_some())
            .map(|c| {
                (
                    c["file"].as_str().unwrap_or_default().to_string(),
                    c["served"]["matches_disk"].as_bool(),
                    c["served"]["fingerprint"].as_str().map(String::from),
                )
            })
            .collect()
    };
    let (ok, doc) = bkenv_json(&up, &["status", dir, "--probe"]);
    assert!(ok, "{doc}");
    let before = served(&doc);
    assert_eq!(before.len(), 2, "buildkitd and the registry: {doc}");
    assert!(before.iter().all(|(_, m, _)| *m == Some(true)), "{doc}");

    let (ok, doc) = bkenv_json(&up, &["renew", dir, "--force"]);
    assert!(ok, "{doc}");
    assert_eq!(services(&doc), ["buildkitd", "registry"]);
    // Renewed but not restarted: the daemons still serve what they loaded at start.
    let (ok, doc) = bkenv_json(&up, &["status", dir, "--probe"]);
    assert!(!ok, "status exits 1: {doc}");
    let stale = served(&doc);
    for ((file, matches, fp), (_, _, old_fp)) in stale.iter().zip(&before) {
        assert_eq!(*matches, Some(false), "{file}: {doc}");
        assert_eq!(fp, old_fp, "{file} still serves the old certificate");
    }
    assert_eq!(services(&doc), ["buildkitd", "registry"], "{doc}");
    let (_, human, _) = up.bkenv(&["status", dir, "--probe"]);
    assert!(
        human.contains("restart buildkitd registry") && human.contains("OTHER"),
        "{human}"
    );

    restart(&mut up, &env, &services(&doc));
    let (ok, doc) = bkenv_json(&up, &["status", dir, "--probe"]);
    assert!(ok, "{doc}");
    for (file, matches, fp) in served(&doc) {
        assert_eq!(matches, Some(true), "{file}: {doc}");
        let on_disk = bkenv::pki::read_certs(&fs::read(env.path(&file)).expect("cert"))
            .expect("cert")
            .remove(0)
            .fingerprint();
        assert_eq!(
            fp.as_deref(),
            Some(on_disk.as_str()),
            "{file} serves the renewed certificate"
        );
    }
    pushes(&up, &env, None, "renewed");
}

/// Overlays over the host namespace's `/etc` and `/usr/local/share/ca-certificates`, so
/// `trust install` writes the real paths while the machine's stay untouched (its
/// `/etc/hosts` is bound again on top, as the network's names need it).
fn private_etc(up: &Up) {
    let dir = up.net.dir.path();
    let d = dir.display();
    let script = format!(
        "set -e\n\
         for x in etc local; do mkdir -p {d}/ov-$x/upper {d}/ov-$x/work; done\n\
         mount -t overlay overlay -o lowerdir=/etc,upperdir={d}/ov-etc/upper,workdir={d}/ov-etc/work /etc\n\
         mount -t overlay overlay -o lowerdir=/usr/local/share/ca-certificates,upperdir={d}/ov-local/upper,workdir={d}/ov-local/work /usr/local/share/ca-certificates\n\
         mount --bind '{}' /etc/hosts\n\
         mkdir -p /etc/docker\n",
        up.net.hosts_file().display()
    );
    let (ok, out) = run_for(up.net.cmd("sh").arg("-c").arg(&script), WAIT);
    assert!(ok, "overlays: {out}");
}

/// `skopeo inspect` with the system's own certificate directories (no `--cert-dir`):
/// `/etc/docker/certs.d/<host:port>` is one of them.
fn skopeo_default_trust(up: &Up, env: &Env) -> (bool, String) {
    let mut c = up.client("skopeo");
    c.args([
        "--command-timeout",
        "45s",
        "inspect",
        "--raw",
        "--tls-verify=true",
    ])
    .arg("--authfile")
    .arg(env.path("docker/config.json"))
    .arg("docker://localhost:5005/lifecycle:trusted");
    run_for(&mut c, CLIENT_TIMEOUT)
}

#[test]
fn trust_install_makes_host_side_clients_trust_the_registry() {
    if !crate::tools_present() || crate::support::tool("update-ca-certificates").is_none() {
        return;
    }
    let env = Env::init(None);
    let up = env.up();
    assert!(up.refused.is_none(), "registry: {:?}", up.refused);
    private_etc(&up);
    let work = tempfile::tempdir().expect("work");
    let image = crate::oci::write_layout(&work.path().join("layout"));
    let (ok, out) = up.push_ref(
        &env,
        "localhost:5005",
        &work.path().join("layout"),
        "lifecycle:trusted",
    );
    assert!(ok, "push: {out}");
    let (ok, out) = curl_v2(&up, None);
    assert!(!ok, "not trusted before the install: {out}");
    let (ok, out) = skopeo_default_trust(&up, &env);
    assert!(
        !ok && out.contains("certificate signed by unknown authority"),
        "{out}"
    );

    let dir = env.root().to_str().expect("path");
    let (ok, out, err) = up.bkenv(&["trust", "install", dir, "--yes"]);
    assert!(ok, "{out}{err}");
    let (ok, out) = curl_v2(&up, None);
    assert!(
        ok && out.ends_with("HTTP 401"),
        "curl through the system store: {out}"
    );
    let (ok, raw) = skopeo_default_trust(&up, &env);
    assert!(ok, "skopeo through /etc/docker/certs.d: {raw}");
    assert_eq!(
        crate::buildkit::digest(raw.trim_end().as_bytes()),
        image.manifest_digest
    );

    let (ok, out, err) = up.bkenv(&["trust", "uninstall", dir, "--yes"]);
    assert!(ok, "{out}{err}");
    let (ok, out) = curl_v2(&up, None);
    assert!(!ok, "no longer trusted: {out}");
    let (ok, out) = skopeo_default_trust(&up, &env);
    assert!(!ok, "no longer trusted: {out}");
}
