//! buildx builders against the real buildx and the real buildkitd.
//!
//! The fault table: one mutual-TLS environment (`examples/mtls`) with its buildkitd
//! running; per fault, a copy of the environment whose `docker/buildx` store gets one
//! remote builder created by the real `docker buildx create` with one wrong driver-opt.
//! `docker buildx build --push` through it must fail as users see it (`context deadline
//! exceeded`, after buildx's own 20 s: the builds run at once, so the table costs one
//! such wait), and static `bkenv doctor` on the copy must report exactly the fault's
//! code, and `doctor --probe` (dialling as the builder does) the live code of what it
//! sees on the wire. A control builder, made by the copy's generated `buildx/create-remote.sh`,
//! must push, with no finding.
//!
//! Frozen configs: the real `docker buildx create --driver kubernetes --config` (it runs
//! offline with a kubeconfig naming no reachable cluster) stores `buildx/builder.toml`
//! as a docker-container builder would; after `bkenv init --new-ca` doctor must report it.

use crate::buildkit::{bin, context, dotenv};
use crate::env::{Env, Up, findings};
use crate::good::examples;
use crate::sandbox::{run_for, run_split};
use std::path::Path;
use std::process::Command;

/// One planted builder fault: the driver-opts (from the copy's directory and another
/// environment's) and the code doctor must report.
struct Fault {
    name: &'static str,
    opts: fn(&Path, &Path) -> Vec<String>,
    code: &'static str,
    /// What `doctor --probe` sees on the wire, dialling as the builder does; it replaces
    /// the static finding (its twin). `None`: the probe does not dial, the static one stays.
    live: Option<&'static str>,
}

fn good_opts(dir: &Path) -> Vec<String> {
    let d = dir.display();
    vec![
        format!("cacert={d}/client/ca.crt"),
        format!("cert={d}/client/client.crt"),
        format!("key={d}/client/client.key"),
    ]
}

const FAULTS: &[Fault] = &[
    Fault {
        name: "wrong servername",
        opts: |d, _| {
            let mut o = good_opts(d);
            o.push("servername=buildkit.example.com".into());
            o
        },
        code: "BK803",
        live: Some("BK706"),
    },
    Fault {
        name: "missing client pair",
        opts: |d, _| vec![format!("cacert={}/client/ca.crt", d.display())],
        code: "BK804",
        live: Some("BK713"),
    },
    Fault {
        name: "mismatched pair (server key as client key)",
        opts: |d, _| {
            let mut o = good_opts(d);
            o[2] = format!("key={}/buildkit/certs/server.key", d.display());
            o
        },
        code: "BK805",
        live: Some("BK714"),
    },
    Fault {
        name: "CA of another environment",
        opts: |d, other| {
            let mut o = good_opts(d);
            o[0] = format!("cacert={}/client/ca.crt", other.display());
            o
        },
        code: "BK806",
        live: Some("BK705"),
    },
    Fault {
        name: "plain endpoint (no TLS options)",
        opts: |_, _| Vec::new(),
        code: "BK807",
        live: Some("BK704"),
    },
    Fault {
        name: "stale paths (environment moved)",
        opts: |d, _| good_opts(&d.join("moved-away")),
        code: "BK802",
        // buildx cannot read the files either: doctor --probe does not dial as if it could.
        live: None,
    },
];

/// `docker buildx create --driver remote` with `opts` into `env`'s store: (ok, output).
fn create(up: &Up, env: &Env, name: &str, opts: &[String]) -> (bool, String) {
    let host = dotenv(env)["BUILDKIT_HOST"].clone();
    let (mut c, _shim) = up.buildx(env, &env.path("docker"));
    c.args(["buildx", "create", "--name", name, "--driver", "remote"]);
    for o in opts {
        c.args(["--driver-opt", o]);
    }
    c.arg(host);
    run_for(&mut c, crate::env::CLIENT_TIMEOUT)
}

/// Static `bkenv doctor --format json DIR`: the codes, deduplicated.
fn doctor_codes(dir: &Path) -> Vec<String> {
    codes(
        Command::new(assert_cmd::cargo::cargo_bin("bkenv")),
        dir,
        false,
    )
}

/// `bkenv doctor --probe --format json DIR` inside the environment's network: the codes.
fn live_codes(up: &Up, dir: &Path) -> Vec<String> {
    codes(up.client(assert_cmd::cargo::cargo_bin("bkenv")), dir, true)
}

fn codes(mut cmd: Command, dir: &Path, probe: bool) -> Vec<String> {
    cmd.args(["doctor", "--format", "json"]);
    if probe {
        cmd.args(["--probe", "--timeout", "5"]);
    }
    cmd.arg(dir).env("NO_COLOR", "1");
    let (_, json, err) = run_split(&mut cmd, crate::env::CLIENT_TIMEOUT);
    assert!(!json.is_empty(), "bkenv doctor: {err}");
    let mut codes: Vec<String> = findings(&json).into_iter().map(|f| f.code).collect();
    codes.sort();
    codes.dedup();
    codes
}

struct Row {
    fault: &'static str,
    created: bool,
    build_failed: bool,
    build: String,
    expected: &'static str,
    found: Vec<String>,
    live: Vec<String>,
}

#[test]
fn buildx_faults_agree_with_doctor() {
    if !crate::buildkit::present() {
        return;
    }
    let env = Env::init(Some(&examples("mtls")));
    let other = Env::init(None);
    let mut up = env.up();
    up.start_buildkitd(&env)
        .unwrap_or_else(|log| panic!("buildkitd: {log}"));
    let registry = dotenv(&env)["DOCKER_REGISTRY"].clone();
    let (rows, control) = std::thread::scope(|s| {
        let up = &up;
        let control = s.spawn(|| {
            let copy = env.copy();
            // A copy keeps the original's absolute paths in its script: re-run init so
            // the copy's own paths are written, as the script's comment tells users.
            let ctx = context("scratch", "buildx control\n");
            let (ok, out) = up.buildx_push(
                rewired(&copy),
                &ctx,
                &format!("{registry}/bkenv-e2e:bx-control"),
            );
            (
                ok,
                out,
                doctor_codes(copy.root()),
                live_codes(up, copy.root()),
            )
        });
        let handles: Vec<_> = FAULTS
            .iter()
            .enumerate()
            .map(|(i, fault)| {
                let (env, other, registry) = (&env, &other, &registry);
                s.spawn(move || {
                    // Re-run init on the copy, as its scripts' comments tell users to
                    // after moving: its generated files then name its own directory (and
                    // compose network), and the one planted fault is the only one.
                    let copy = env.copy();
                    let copy = rewired(&copy);
                    let name = format!("fault{i}");
                    let opts = (fault.opts)(copy.root(), other.root());
                    let (created, out) = create(up, copy, &name, &opts);
                    let ctx = context("scratch", &format!("buildx fault {i}\n"));
                    let (ok, build) = if created {
                        up.buildx_build(
                            copy,
                            &copy.path("docker"),
                            &name,
                            &ctx,
                            &format!("{registry}/bkenv-e2e:bx{i}"),
                        )
                    } else {
                        (false, out)
                    };
                    Row {
                        fault: fault.name,
                        created,
                        build_failed: !ok && build.contains("context deadline exceeded"),
                        build: build
                            .lines()
                            .rfind(|l| l.contains("ERROR"))
                            .unwrap_or("no error")
                            .to_string(),
                        expected: fault.code,
                        found: doctor_codes(copy.root()),
                        live: live_codes(up, copy.root()),
                    }
                })
            })
            .collect();
        let rows: Vec<Row> = handles
            .into_iter()
            .map(|h| h.join().expect("fault thread"))
            .collect();
        (rows, control.join().expect("control thread"))
    });
    let mut table = String::from(
        "\nbuildx agreement table: the real buildx v0.36.1 (remote driver) against bkenv doctor\n",
    );
    table.push_str(&format!(
        "{:<44} {:<8} {:<50} {:<26} {}\n",
        "fault",
        "create",
        "docker buildx build",
        "doctor (expected: found)",
        "doctor --probe found"
    ));
    table.push_str(&format!(
        "{:<44} {:<8} {:<50} {:<26} {}\n",
        "(control: buildx/create-remote.sh)",
        "ok",
        if control.0 { "pushed" } else { "FAILED" },
        format!("none: {}", control.2.join(",")),
        control.3.join(",")
    ));
    for r in &rows {
        table.push_str(&format!(
            "{:<44} {:<8} {:<50} {:<26} {}\n",
            r.fault,
            if r.created { "accepted" } else { "refused" },
            r.build,
            format!("{}: {}", r.expected, r.found.join(",")),
            r.live.join(",")
        ));
    }
    eprintln!("{table}");
    assert!(control.0, "control build: {}\n{}", control.1, up.logs());
    assert!(
        control.2.is_empty(),
        "control: doctor found {:?}",
        control.2
    );
    assert!(
        control.3.is_empty(),
        "control: doctor --probe found {:?}",
        control.3
    );
    for (r, f) in rows.iter().zip(FAULTS) {
        // One story per builder: the live finding replaces its static twin.
        let want = vec![f.live.unwrap_or(f.code).to_string()];
        assert_eq!(r.live, want, "{}: doctor --probe", r.fault);
    }
    for r in &rows {
        assert!(
            r.created,
            "{}: buildx refused the builder: {}",
            r.fault, r.build
        );
        assert!(
            r.build_failed,
            "{}: the build did not time out: {}",
            r.fault, r.build
        );
        assert_eq!(r.found, vec![r.expected.to_string()], "{}", r.fault);
    }
}

/// `bkenv init` on a copy, so that its generated files name the copy's own paths.
fn rewired(copy: &Env) -> &Env {
    let (ok, out) = run_for(
        Command::new(assert_cmd::cargo::cargo_bin("bkenv"))
            .arg("init")
            .arg(copy.root()),
        crate::env::CLIENT_TIMEOUT,
    );
    assert!(ok, "bkenv init on the copy: {out}");
    copy
}

/// A dummy kubeconfig: `create --driver kubernetes` stores the builder without reaching
/// a cluster.
fn kubeconfig(env: &Env) -> std::path::PathBuf {
    let kubeconfig = env.path("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: default}}]\n\
         current-context: x\n",
    )
    .expect("kubeconfig");
    kubeconfig
}

/// `docker buildx create --driver kubernetes --name NAME --config CONFIG` into `env`'s
/// store, with the real buildx: (ok, output).
fn create_kube(buildx: &Path, env: &Env, name: &str, config: &Path) -> (bool, String) {
    run_for(
        Command::new(buildx)
            .args([
                "create",
                "--name",
                name,
                "--driver",
                "kubernetes",
                "--config",
            ])
            .arg(config)
            .env("DOCKER_CONFIG", env.path("docker"))
            .env("KUBECONFIG", kubeconfig(env)),
        crate::env::CLIENT_TIMEOUT,
    )
}

/// Builder configs with one registry mistake each, stored by the real
/// `create --driver kubernetes --config` (buildx copies the `ca` files and rewrites the
/// paths): doctor reads the tree buildx wrote and names the mistake. The environment's
/// own `buildx/builder.toml` is removed so that the stored config is judged on its own
/// (with it, BK808 says the builder differs from it as well).
#[test]
fn stored_builder_configs_from_the_real_buildx() {
    let Some(buildx) = bin("docker-buildx") else {
        return;
    };
    let other = Env::init(None);
    let cases: &[(&str, String, &str)] = &[
        (
            "http",
            "[registry.\"registry:5000\"]\nhttp = true\n".to_string(),
            "BK812",
        ),
        (
            "insecure",
            "[registry.\"registry:5000\"]\ninsecure = true\n".to_string(),
            "BK813",
        ),
        (
            "otherca",
            format!(
                "[registry.\"registry:5000\"]\nca = [\"{}\"]\n",
                other.path("buildkit/certs/ca.crt").display()
            ),
            "BK814",
        ),
        (
            "noca",
            "[worker.oci]\nmax-parallelism = 2\n".to_string(),
            "BK810",
        ),
    ];
    let mut table = String::from(
        "\nstored builder configs (real buildx create --driver kubernetes --config)\n",
    );
    let mut failures = Vec::new();
    for (name, config, want) in cases {
        let env = Env::init(None);
        std::fs::remove_file(env.path("buildx/builder.toml")).expect("rm builder.toml");
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("builder.toml");
        std::fs::write(&file, config).expect("config");
        let (ok, out) = create_kube(&buildx, &env, name, &file);
        assert!(ok, "buildx create --driver kubernetes ({name}): {out}");
        let got = doctor_codes(env.root());
        table.push_str(&format!("{name:<10} {want:<8} {}\n", got.join(",")));
        if got != vec![want.to_string()] {
            failures.push(format!("{name}: expected {want}, got {got:?}"));
        }
    }
    eprintln!("{table}");
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The real `docker buildx create --driver kubernetes --config buildx/builder.toml`
/// stores the config as container builders do; doctor finds it current, then frozen
/// once `bkenv init --new-ca` replaced the CA it copied.
#[test]
fn frozen_builder_config_from_the_real_buildx() {
    let Some(buildx) = bin("docker-buildx") else {
        return;
    };
    let env = Env::init(None);
    let (ok, out) = create_kube(&buildx, &env, "kube", &env.path("buildx/builder.toml"));
    assert!(ok, "buildx create --driver kubernetes: {out}");
    assert!(env.path("docker/buildx/instances/kube").is_file());
    assert_eq!(doctor_codes(env.root()), Vec::<String>::new());
    let (ok, out) = run_for(
        Command::new(assert_cmd::cargo::cargo_bin("bkenv"))
            .args(["init", "--new-ca"])
            .arg(env.root()),
        crate::env::CLIENT_TIMEOUT,
    );
    assert!(ok, "bkenv init --new-ca: {out}");
    assert_eq!(doctor_codes(env.root()), vec!["BK808".to_string()]);
}
