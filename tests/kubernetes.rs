//! The Kubernetes form of an environment (`[kubernetes]`, `examples/kubernetes`): what
//! `kubectl kustomize` (or `kustomize build`) renders from the generated directory is
//! validated strictly and offline against the Kubernetes API schemas (the pinned
//! `kubernetes-validate`, installed by `.ci/run`), and read back: every Service DNS form
//! of buildkitd in its certificate (checked by openssl), each tls Secret a matching pair,
//! no key outside a Secret, every projected item present. Without the tools these tests
//! skip loudly (and fail under `CI=true`).

mod support;

use base64::Engine;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const NAMESPACE: &str = "buildkit";

fn example_spec() -> String {
    fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/kubernetes/bkenv.toml"
    ))
    .expect("example spec")
}

/// `kubectl kustomize DIR`, or `kustomize build DIR` where only kustomize exists.
fn kustomize(dir: &Path) -> Option<(bool, String)> {
    if let Some(kubectl) = support::tool_or("kubectl", "install kubectl (see .ci/run)") {
        let out = Command::new(kubectl)
            .arg("kustomize")
            .arg(dir)
            .output()
            .expect("kubectl");
        let ok = out.status.success();
        let text = if ok {
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            String::from_utf8_lossy(&out.stderr).into_owned()
        };
        return Some((ok, text));
    }
    None
}

fn validator() -> Option<PathBuf> {
    support::tool_or(
        "kubernetes-validate",
        "install the pinned checkers (.ci/requirements.txt, see .ci/run)",
    )
}

/// `kubernetes-validate --strict` on `yaml`: (success, output).
fn validate(validator: &Path, yaml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("rendered.yaml");
    fs::write(&file, yaml).expect("write");
    support::run(
        Command::new(validator)
            .args(["--strict", "--quiet", "--no-warn"])
            .arg(&file),
    )
}

/// The rendered objects, one JSON value per YAML document.
fn objects(yaml: &str) -> Vec<Value> {
    yaml.split("\n---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str::<Value>(d).expect("rendered YAML parses"))
        .collect()
}

fn find<'a>(objs: &'a [Value], kind: &str, prefix: &str) -> &'a Value {
    objs.iter()
        .find(|o| {
            o["kind"] == kind
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(prefix))
        })
        .unwrap_or_else(|| panic!("no {kind} {prefix}*"))
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        // kustomize folds long values over lines.
        .decode(
            v.as_str()
                .expect("base64 string")
                .split_whitespace()
                .collect::<String>(),
        )
        .expect("base64")
}

#[test]
fn example_manifests_validate_strictly_offline_and_a_planted_mistake_does_not() {
    let (Some(validator), Some(_)) = (
        validator(),
        support::tool_or("kubectl", "install kubectl (see .ci/run)"),
    ) else {
        return;
    };
    let (dir, _) = support::fresh(Some(&example_spec()));
    let (ok, yaml) = kustomize(&dir.path().join("kubernetes")).expect("kustomize");
    assert!(ok, "kustomize:\n{yaml}");
    let (ok, out) = validate(&validator, &yaml);
    assert!(ok, "kubernetes-validate --strict:\n{out}\n{yaml}");
    // Every object kind the environment needs is there, in the namespace.
    let objs = objects(&yaml);
    for (kind, name) in [
        ("Namespace", NAMESPACE),
        ("Deployment", "buildkitd"),
        ("Service", "buildkitd"),
        ("Deployment", "registry"),
        ("Service", "registry"),
        ("Secret", "buildkitd-tls-"),
        ("Secret", "registry-tls-"),
        ("Secret", "registry-htpasswd-"),
        ("ConfigMap", "bkenv-ca-"),
        ("ConfigMap", "buildkitd-config-"),
        ("ConfigMap", "registry-config-"),
    ] {
        let o = find(&objs, kind, name);
        if kind != "Namespace" {
            assert_eq!(o["metadata"]["namespace"], NAMESPACE, "{kind} {name}");
        }
    }
    // The checker is not one that accepts anything: a misspelt field fails strictly.
    let planted = yaml.replacen("readinessProbe:", "readynessProbe:", 1);
    assert_ne!(planted, yaml);
    let (ok, out) = validate(&validator, &planted);
    assert!(!ok, "strict validation accepted an unknown field:\n{out}");
}

#[test]
fn every_service_name_is_in_the_certificates_and_the_pairs_match() {
    let (Some(openssl), Some(_)) = (
        support::tool("openssl"),
        support::tool_or("kubectl", "install kubectl (see .ci/run)"),
    ) else {
        return;
    };
    let (dir, _) = support::fresh(Some(&example_spec()));
    let (ok, yaml) = kustomize(&dir.path().join("kubernetes")).expect("kustomize");
    assert!(ok, "{yaml}");
    let objs = objects(&yaml);
    let scratch = tempfile::tempdir().expect("tempdir");
    let domain = "cluster.local";
    for (svc, extra) in [
        (
            "buildkitd",
            vec!["buildkit.example.com", "localhost", "127.0.0.1", "::1"],
        ),
        ("registry", vec!["registry.example.com"]),
    ] {
        let secret = find(&objs, "Secret", &format!("{svc}-tls-"));
        assert_eq!(secret["type"], "kubernetes.io/tls");
        let (crt, key) = (
            b64(&secret["data"]["tls.crt"]),
            b64(&secret["data"]["tls.key"]),
        );
        fs::write(scratch.path().join("tls.crt"), &crt).unwrap();
        fs::write(scratch.path().join("tls.key"), &key).unwrap();
        // The certificate is the one init wrote, signed by the environment's CA...
        let leaf = dir.path().join(format!("kubernetes/secrets/{svc}/tls.crt"));
        assert_eq!(fs::read(&leaf).unwrap(), crt);
        let names = [
            svc.to_string(),
            format!("{svc}.{NAMESPACE}"),
            format!("{svc}.{NAMESPACE}.svc"),
            format!("{svc}.{NAMESPACE}.svc.{domain}"),
        ];
        for name in names.iter().map(String::as_str).chain(extra) {
            let (ok, out) = support::openssl_verify(
                &openssl,
                dir.path(),
                &format!("kubernetes/secrets/{svc}/tls.crt"),
                name,
                "sslserver",
            );
            assert!(ok, "{svc}: `{name}` not verified:\n{out}");
        }
        // ...and a name the Service does not answer to is refused (the check can fail).
        let (ok, _) = support::openssl_verify(
            &openssl,
            dir.path(),
            &format!("kubernetes/secrets/{svc}/tls.crt"),
            &format!("{svc}.other.svc"),
            "sslserver",
        );
        assert!(!ok, "{svc}: a foreign namespace's name verified");
        // The key is the certificate's.
        let pubkey = |args: &[&str], file: &str| {
            let (ok, out) = support::run(
                Command::new(&openssl)
                    .args(args)
                    .arg(scratch.path().join(file))
                    .args(["-pubout"]),
            );
            assert!(ok, "{out}");
            out
        };
        let from_cert = {
            let (ok, out) = support::run(
                Command::new(&openssl)
                    .args(["x509", "-noout", "-pubkey", "-in"])
                    .arg(scratch.path().join("tls.crt")),
            );
            assert!(ok, "{out}");
            out
        };
        assert_eq!(pubkey(&["pkey", "-in"], "tls.key"), from_cert, "{svc} pair");
    }
    // No private key outside a Secret; the CA key nowhere.
    let ca_key = fs::read_to_string(dir.path().join("ca/ca.key")).unwrap();
    for o in objs.iter().filter(|o| o["kind"] != "Secret") {
        let text = serde_json::to_string(o).unwrap();
        assert!(
            !text.contains("PRIVATE KEY"),
            "a key outside a Secret: {text}"
        );
    }
    assert!(
        !yaml.contains(ca_key.lines().nth(1).unwrap()),
        "the CA key reached a manifest"
    );
}

#[test]
fn projected_items_exist_and_the_rootless_user_can_read_its_key() {
    let Some(_) = support::tool_or("kubectl", "install kubectl (see .ci/run)") else {
        return;
    };
    let (dir, _) = support::fresh(Some(&example_spec()));
    let (ok, yaml) = kustomize(&dir.path().join("kubernetes")).expect("kustomize");
    assert!(ok, "{yaml}");
    let objs = objects(&yaml);
    let deploy = find(&objs, "Deployment", "buildkitd");
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsUser"], 1000);
    assert_eq!(pod["securityContext"]["fsGroup"], 1000);
    let certs = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "certs")
        .expect("certs volume");
    // 0440: group fsGroup (the daemon's user) reads, others do not.
    assert_eq!(certs["projected"]["defaultMode"], 0o440);
    // Every key a volume projects exists in the object it names (kustomize rewrote the
    // hashed names).
    for src in certs["projected"]["sources"].as_array().unwrap() {
        let (kind, s) = if src["secret"].is_object() {
            ("Secret", &src["secret"])
        } else {
            ("ConfigMap", &src["configMap"])
        };
        let obj = find(&objs, kind, s["name"].as_str().unwrap());
        assert_eq!(obj["metadata"]["name"], s["name"]);
        for item in s["items"].as_array().unwrap() {
            let key = item["key"].as_str().unwrap();
            assert!(
                obj["data"][key].is_string(),
                "{kind} {} lacks {key}",
                s["name"]
            );
        }
    }
    // buildkitd.toml names exactly the files the volume projects.
    let config = find(&objs, "ConfigMap", "buildkitd-config-");
    let toml = config["data"]["buildkitd.toml"].as_str().unwrap();
    for f in [
        "/etc/buildkit/certs/server.crt",
        "/etc/buildkit/certs/server.key",
        "/etc/buildkit/certs/ca.crt",
    ] {
        assert!(toml.contains(f), "{f} not in buildkitd.toml");
    }
    let container = &pod["containers"][0];
    assert!(container["args"].as_array().unwrap().contains(&Value::from(
        "--config=/home/user/.config/buildkit/buildkitd.toml"
    )));
    assert_eq!(
        container["readinessProbe"]["exec"]["command"],
        serde_json::json!([
            "buildctl",
            "--addr",
            "unix:///run/user/1000/buildkit/buildkitd.sock",
            "debug",
            "workers"
        ])
    );
    // The secretGenerator's sources are private and never committed.
    for f in ["buildkitd/tls.key", "registry/tls.key", "registry/htpasswd"] {
        let mode = fs::metadata(dir.path().join("kubernetes/secrets").join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let gitignore = fs::read_to_string(dir.path().join(".gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l == "kubernetes/secrets/"));
}

#[test]
fn containerd_hosts_toml_per_registry_name_with_ipv6_bracketed() {
    let spec = example_spec().replace(
        "\"registry.example.com:5000\"]",
        "\"registry.example.com:5000\", \"[fd00::5]:5000\"]",
    );
    let (dir, _) = support::fresh(Some(&spec));
    let certs_d = dir.path().join("kubernetes/containerd/certs.d");
    let v6 = fs::read_to_string(certs_d.join("[fd00::5]:5000/hosts.toml")).unwrap();
    let doc: toml_edit::DocumentMut = v6.parse().unwrap();
    assert_eq!(doc["server"].as_str(), Some("https://[fd00::5]:5000"));
    assert_eq!(
        doc["host"]["https://[fd00::5]:5000"]["ca"].as_str(),
        Some("/etc/containerd/certs.d/[fd00::5]:5000/ca.crt")
    );
    assert_eq!(
        fs::read(certs_d.join("[fd00::5]:5000/ca.crt")).unwrap(),
        fs::read(dir.path().join("ca/ca.crt")).unwrap()
    );
    // Loopback names are the node itself: none.
    assert!(!certs_d.join("localhost:5005").exists());
    assert!(
        certs_d
            .join("registry.example.com:5000/hosts.toml")
            .is_file()
    );
}

#[test]
fn bad_kubernetes_values_are_refused_naming_the_field() {
    for (from, to, field) in [
        (
            "namespace = \"buildkit\"",
            "namespace = \"Build_Kit\"",
            "kubernetes.namespace",
        ),
        (
            "namespace = \"buildkit\"",
            "namespace = \"a\\n- b\"",
            "kubernetes.namespace",
        ),
        (
            "cluster_domain = \"cluster.local\"",
            "cluster_domain = \"cluster.local.\"",
            "kubernetes.cluster_domain",
        ),
        (
            "[[registry]]\nservice = \"registry\"",
            "[[registry]]\nservice = \"reg_1\"",
            "service",
        ),
        (", \"tcp://0.0.0.0:1234\"]", "]", "buildkitd.listen"),
    ] {
        let spec = example_spec().replace(from, to);
        assert_ne!(spec, example_spec(), "{from}");
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("bkenv.toml"), &spec).unwrap();
        let err = support::run_init(&support::options(dir.path()))
            .expect_err(to)
            .to_string();
        assert!(err.contains(field), "{to}: {err}");
        assert!(!dir.path().join("kubernetes").exists(), "{to}: wrote files");
    }
}

#[test]
fn a_compose_environment_gaining_kubernetes_needs_a_new_ca() {
    let base = example_spec();
    let compose_only = base
        .split("[buildkitd]")
        .nth(1)
        .map(|rest| format!("[buildkitd]{rest}"))
        .unwrap();
    let (dir, _) = support::fresh(Some(&compose_only));
    fs::write(dir.path().join("bkenv.toml"), &base).unwrap();
    let err = support::run_init(&support::options(dir.path()))
        .expect_err("the CA's constraints do not cover the Service names")
        .to_string();
    assert!(err.contains("outside the CA's name constraints"), "{err}");
    assert!(err.contains("--new-ca"), "{err}");
    let mut opts = support::options(dir.path());
    opts.new_ca = true;
    support::run_init(&opts).expect("--new-ca covers the new names");
    assert!(dir.path().join("kubernetes/kustomization.yaml").is_file());
}
