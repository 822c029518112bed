//! What `init` tells the user: what happened to each file, and the exact commands to
//! start and use the environment, spelled for this machine (see [`Tools`]).

use crate::init::InitOutcome;
use crate::model::{Environment, layout};
use crate::output::Status;
use crate::render::primary_registry;
use crate::shell::quote;
use std::fmt::Write;

/// How the printed commands are spelled on this machine. `commands` reads it from the
/// process (see [`crate::tools`]); tests pass it in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// The command that runs this bkenv: `bkenv` when that is the one on `PATH`, else
    /// the absolute path of the running binary (`cargo run`, `target/release/bkenv`),
    /// so the printed commands work after `cd`.
    pub bkenv: String,
    pub compose: Compose,
}

/// Which Compose this machine has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compose {
    /// The Compose v2 plugin of the docker CLI: `docker compose`.
    Plugin,
    /// A `docker-compose` program on `PATH` (Compose v1, or v2 installed standalone).
    Standalone,
    /// Neither was found: both spellings are printed.
    Unknown,
}

impl Compose {
    /// The command that starts the environment's services.
    pub fn up(self) -> &'static str {
        match self {
            Compose::Plugin => "docker compose up -d",
            Compose::Standalone => "docker-compose up -d",
            Compose::Unknown => "docker compose up -d   # Compose v1: docker-compose up -d",
        }
    }

    /// `ARGS` run with this Compose, quoted for help text: both forms when neither was
    /// found, since either may be what the user installs.
    pub fn command(self, args: &str) -> String {
        match self {
            Compose::Plugin => format!("`docker compose {args}`"),
            Compose::Standalone => format!("`docker-compose {args}`"),
            Compose::Unknown => format!(
                "`docker compose {args}` (or `docker-compose {args}`; neither is installed here)"
            ),
        }
    }
}

/// The placeholder for the user's project in the printed build command: bkenv cannot
/// know it, and the environment directory must never be the build context.
pub const PROJECT_PLACEHOLDER: &str = "/path/to/your/project";

pub fn init_summary(
    outcome: &InitOutcome,
    dir: &str,
    dry_run: bool,
    show_password: bool,
    tools: &Tools,
) -> String {
    let mut s = String::new();
    let verb = if dry_run {
        "bkenv init --dry-run: nothing written; the plan:"
    } else {
        "bkenv init:"
    };
    let _ = writeln!(s, "{verb}");
    for a in &outcome.applied {
        let _ = writeln!(
            s,
            "  {:<10} {}",
            a.status.as_str().split(' ').next().unwrap_or(""),
            a.path.display()
        );
    }
    s.push_str(&kept_notes(outcome));
    for n in &outcome.notes {
        let _ = writeln!(s, "  note: {n}");
    }
    s.push_str(&passwords(outcome, show_password));
    if !dry_run {
        s.push_str(&next_steps(&outcome.env, dir, tools));
    }
    s
}

/// What `init --quiet` prints: what needs the user's attention (files kept because they
/// were edited, and init's notes marked `warning:`) and, when asked for, the passwords.
/// The routine notes (CA reused, leaf reissued and why) are left out.
pub(crate) fn quiet_summary(outcome: &InitOutcome, show_password: bool) -> String {
    let mut s = String::new();
    s.push_str(&kept_notes(outcome));
    for n in outcome.notes.iter().filter(|n| n.starts_with("warning: ")) {
        let _ = writeln!(s, "  note: {n}");
    }
    s.push_str(&passwords(outcome, show_password));
    s
}

fn kept_notes(outcome: &InitOutcome) -> String {
    let mut s = String::new();
    for k in outcome
        .applied
        .iter()
        .filter(|a| a.status == Status::KeptEdited)
    {
        let _ = writeln!(
            s,
            "  note: {} was edited since bkenv wrote it; kept. Re-run with --force to overwrite it.",
            k.path.display()
        );
    }
    s
}

fn passwords(outcome: &InitOutcome, show_password: bool) -> String {
    let mut s = String::new();
    if show_password {
        for (i, p) in &outcome.passwords {
            let name = outcome
                .env
                .registries
                .get(*i)
                .and_then(|r| r.primary_name())
                .map(ToString::to_string)
                .unwrap_or_default();
            let _ = writeln!(s, "  password for {name}: {p}");
        }
    }
    s
}

/// The commands to start the environment, check it with a build that cannot leak
/// (`hello/` holds only a Dockerfile and one file), then build, push and cache the
/// user's project through it. Each line runs as printed, in order, in a POSIX shell;
/// only [`PROJECT_PLACEHOLDER`] is the user's to fill in.
pub fn next_steps(env: &Environment, dir: &str, tools: &Tools) -> String {
    let mut s = String::from("\nNext steps:\n");
    if dir != "." {
        let _ = writeln!(s, "  cd {}", quote(dir));
    }
    let _ = writeln!(s, "  {}", tools.compose.up());
    s.push_str("  set -a; . ./.env; set +a\n");
    let bk = &env.buildkitd;
    let mut tls = format!("--tlscacert {}/ca.crt", layout::CLIENT_DIR);
    if bk.mtls {
        let _ = write!(
            tls,
            " --tlscert {0}/client.crt --tlskey {0}/client.key",
            layout::CLIENT_DIR
        );
    }
    let buildctl = format!("  buildctl --addr \"$BUILDKIT_HOST\" {tls} build \\\n");
    if let Some(reg) = primary_registry(env).and_then(|(_, r)| r.primary_name()) {
        let hello = layout::HELLO_DIR;
        let _ = writeln!(
            s,
            "  # smoke test: build {hello}/ (a Dockerfile and one file bkenv wrote) and push it"
        );
        s.push_str(&buildctl);
        let _ = writeln!(
            s,
            "    --frontend dockerfile.v0 --local context={hello} --local dockerfile={hello} \\"
        );
        let _ = writeln!(s, "    --output type=image,name={reg}/hello:dev,push=true");
        let _ = writeln!(
            s,
            "  # your project: the directory with its Dockerfile, never this one ({} and .env are here)",
            layout::CA_KEY
        );
        s.push_str(&buildctl);
        let p = PROJECT_PLACEHOLDER;
        let _ = writeln!(
            s,
            "    --frontend dockerfile.v0 --local context={p} --local dockerfile={p} \\"
        );
        let _ = write!(s, "    --output type=image,name={reg}/app:dev,push=true");
        if bk.supports_image_manifest_cache() {
            let _ = write!(
                s,
                " \\\n    --export-cache type=registry,ref={reg}/app:buildcache,mode=max,image-manifest=true,oci-mediatypes=true \\\n    --import-cache type=registry,ref={reg}/app:buildcache"
            );
        } else {
            let _ = write!(
                s,
                " \\\n    --export-cache type=registry,ref={reg}/app:buildcache,mode=max \\\n    --import-cache type=registry,ref={reg}/app:buildcache"
            );
        }
        s.push('\n');
        // buildx: the remote driver on the same buildkitd, with the absolute paths
        // `buildx/create-remote.sh` carries; the docker-container form is in its own script.
        let _ = writeln!(
            s,
            "  {} --use   # a buildx builder on this buildkitd (remote driver)",
            layout::BUILDX_REMOTE
        );
        let _ = writeln!(
            s,
            "  docker buildx build --push -t {reg}/hello:buildx {hello}"
        );
        let _ = writeln!(
            s,
            "  # docker-container builders (buildx's default): {}",
            layout::BUILDX_CONTAINER
        );
    }
    let _ = writeln!(
        s,
        "  {} doctor --probe   # check the running environment",
        tools.bkenv
    );
    if let Some(k) = &env.kubernetes {
        s.push_str(&kubernetes_steps(env, k));
    }
    if let Some(h) = &env.host {
        // Last: the compose steps above are the environment; this is the same daemon
        // installed on the machine, which the user chooses to run (bkenv never does).
        let (run, start) = if h.rootless {
            ("", "systemctl --user enable --now buildkit.service")
        } else {
            (
                "sudo ",
                "sudo systemctl enable --now buildkit.socket buildkit.service",
            )
        };
        let _ = writeln!(
            s,
            "  # buildkitd on this machine under systemd (certificates to {}, config {}):",
            h.certs_dir, h.config
        );
        let _ = writeln!(s, "  {run}{}", layout::HOST_INSTALL);
        let _ = writeln!(s, "  {start}");
        // doctor --host reads units and the config (public) and stats the rest: no root.
        let _ = writeln!(s, "  {} doctor --host", tools.bkenv);
    }
    s
}

/// The Kubernetes form: apply, reach buildkitd from this machine through a port-forward
/// (the `BUILDKIT_HOST` above then works unchanged: its host is a SAN), and the client
/// forms inside the cluster, each dialling a Service name that is in the certificate.
fn kubernetes_steps(env: &Environment, k: &crate::model::Kubernetes) -> String {
    let bk = &env.buildkitd;
    let ns = quote(&k.namespace);
    let svc = &bk.service;
    let port = crate::spec::kubernetes::kube_listen_port(bk).unwrap_or(1234);
    let local = crate::hostport::tcp_dialled(&bk.host)
        .and_then(|hp| crate::hostport::host_and_port(hp).1)
        .unwrap_or(port);
    let in_cluster = format!("tcp://{svc}.{}.svc:{port}", k.namespace);
    let mut s = format!(
        "\nKubernetes ({dir}/, namespace {ns}), instead of compose:\n  kubectl apply -k {dir}\n  \
         kubectl -n {ns} rollout status deployment/{svc}\n  \
         kubectl -n {ns} port-forward service/{svc} {local}:{port} &   # then BUILDKIT_HOST and buildx/create-remote.sh as above\n",
        dir = layout::KUBE_DIR,
    );
    let client = if bk.mtls {
        format!(" (mutual TLS: the {svc}-client-tls Secret's tls.crt/tls.key)")
    } else {
        String::new()
    };
    let _ = writeln!(
        s,
        "  # in the cluster: buildctl --addr {in_cluster} --tlscacert ca.crt, with ca.crt from the bkenv-ca ConfigMap{client}"
    );
    let _ = writeln!(
        s,
        "  # buildx in the cluster: docker buildx create --driver remote --driver-opt cacert=/abs/path/ca.crt {in_cluster}"
    );
    let _ = writeln!(
        s,
        "  # buildx's kubernetes driver (its own pods): docker buildx create --driver kubernetes \\\n  #   --driver-opt namespace={},rootless={} --config \"$PWD/{}\"",
        k.namespace,
        bk.rootless,
        layout::BUILDX_CONFIG
    );
    let _ = writeln!(
        s,
        "  # nodes that pull what was pushed: copy {}/* to {}/ on each node",
        layout::KUBE_CONTAINERD,
        layout::CONTAINERD_CERTS_D
    );
    s
}
