//! The real BuildKit: where its binaries are, and its clients (`buildctl`, the buildx
//! remote driver) driven against a running environment with only the files bkenv
//! generated (`.env`, `client/`, `docker/config.json`), as a user would.

use crate::env::{CLIENT_TIMEOUT, Env, Up};
use crate::sandbox::{WAIT, run_for};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory holding `buildkitd`, `buildctl` and `docker-buildx`; without it they
/// are looked up on `PATH`. `.ci/run` points it at `../shared/buildkit/bin`.
pub const BIN_VAR: &str = "BKENV_BUILDKIT_BIN";

/// Path of a BuildKit binary, or `None` after a loud message (a failure under CI).
pub fn bin(name: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(BIN_VAR) {
        let p = Path::new(&dir).join(name);
        assert!(
            p.is_file(),
            "{BIN_VAR}={} has no {name}",
            Path::new(&dir).display()
        );
        return Some(p);
    }
    crate::support::tool_or(
        name,
        &format!(
            "put it on PATH or set {BIN_VAR} to its directory (CI: ../shared/buildkit/bin, see .ci/run)"
        ),
    )
}

/// Every tool the real-BuildKit tests need besides the registry suite's: the BuildKit
/// binaries, runc (buildkitd's OCI worker refuses to start without it) and the
/// rootless image's rootlesskit and uid mappers.
pub fn present() -> bool {
    let buildkit = ["buildkitd", "buildctl", "docker-buildx"]
        .iter()
        .all(|b| bin(b).is_some());
    let system = ["runc", "rootlesskit", "newuidmap", "newgidmap"]
        .iter()
        .all(|t| crate::support::tool(t).is_some());
    crate::tools_present() && buildkit && system
}

/// `PATH` for clients: the BuildKit directory first (when set), then the system's.
pub fn client_path() -> String {
    let system = "/usr/sbin:/usr/bin:/sbin:/bin";
    match std::env::var(BIN_VAR) {
        Ok(dir) => format!("{dir}:{system}"),
        Err(_) => system.to_string(),
    }
}

/// The variables of the generated `.env`, read by sourcing it with `sh` as the README
/// says (`set -a; . ./.env`), so its quoting is judged by the real consumer.
pub fn dotenv(env: &Env) -> BTreeMap<String, String> {
    let (ok, out) = run_for(
        Command::new("env")
            .args(["-i", "sh", "-c", "set -a; . ./.env; set +a; env -0"])
            .current_dir(env.root()),
        WAIT,
    );
    assert!(ok, "sourcing .env: {out}");
    out.split('\0')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| !["PWD", "SHLVL", "_", "OLDPWD"].contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A build context: a Dockerfile `FROM base` + `COPY hello.txt`, with `content`.
pub struct Context {
    pub dir: tempfile::TempDir,
    pub content: String,
}

pub fn context(base: &str, content: &str) -> Context {
    let dir = tempfile::tempdir().expect("context");
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {base}\nCOPY hello.txt /hello.txt\n"),
    )
    .expect("Dockerfile");
    std::fs::write(dir.path().join("hello.txt"), content).expect("hello.txt");
    Context {
        dir,
        content: content.to_string(),
    }
}

/// The cache options `bkenv init` prints: registry cache, `image-manifest=true`.
pub fn cache_args(cache_ref: &str) -> Vec<String> {
    vec![
        "--export-cache".into(),
        format!("type=registry,ref={cache_ref},mode=max,image-manifest=true,oci-mediatypes=true"),
        "--import-cache".into(),
        format!("type=registry,ref={cache_ref}"),
    ]
}

impl Up {
    /// `buildctl` with the environment's `.env`: `--addr "$BUILDKIT_HOST"`,
    /// `--tlscacert "$BUILDKIT_TLS_CA"` (and the client pair with mutual TLS), and
    /// `DOCKER_CONFIG` for registry credentials. Paths in `.env` are relative to it.
    pub fn buildctl(&self, env: &Env, args: &[String]) -> (bool, String) {
        self.buildctl_with(env, args, &[])
    }

    /// `buildctl` as above, with `client_env` added to the client's environment.
    pub fn buildctl_with(
        &self,
        env: &Env,
        args: &[String],
        client_env: &[(&str, &Path)],
    ) -> (bool, String) {
        let vars = dotenv(env);
        let path = |k: &str| env.path(vars.get(k).unwrap_or_else(|| panic!(".env has no {k}")));
        let mut c = self.client(bin("buildctl").expect("buildctl"));
        c.env("DOCKER_CONFIG", path("DOCKER_CONFIG"))
            .args(["--timeout", "20", "--addr", &vars["BUILDKIT_HOST"]])
            .arg("--tlscacert")
            .arg(path("BUILDKIT_TLS_CA"));
        if vars.contains_key("BUILDKIT_TLS_CERT") {
            c.arg("--tlscert")
                .arg(path("BUILDKIT_TLS_CERT"))
                .arg("--tlskey")
                .arg(path("BUILDKIT_TLS_KEY"));
        }
        c.envs(client_env.iter().copied());
        run_for(c.args(args), CLIENT_TIMEOUT)
    }

    /// `buildctl build` of `ctx`, pushed as `image`, with `extra` options; the build's
    /// metadata (`containerimage.digest`) is written to `metadata`.
    pub fn buildctl_build(
        &self,
        env: &Env,
        ctx: &Context,
        image: &str,
        metadata: &Path,
        extra: &[String],
    ) -> (bool, String) {
        self.buildctl_build_with(env, ctx, image, metadata, extra, &[])
    }

    /// `buildctl_build` with `client_env` added to the client's environment.
    pub fn buildctl_build_with(
        &self,
        env: &Env,
        ctx: &Context,
        image: &str,
        metadata: &Path,
        extra: &[String],
        client_env: &[(&str, &Path)],
    ) -> (bool, String) {
        let dir = ctx.dir.path().display();
        let mut args: Vec<String> = [
            "build",
            "--progress",
            "plain",
            "--frontend",
            "dockerfile.v0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend([
            "--local".into(),
            format!("context={dir}"),
            "--local".into(),
            format!("dockerfile={dir}"),
            "--output".into(),
            format!("type=image,name={image},push=true"),
            "--metadata-file".into(),
            metadata.display().to_string(),
        ]);
        args.extend_from_slice(extra);
        self.buildctl_with(env, &args, client_env)
    }

    /// `docker-buildx` with the environment's `DOCKER_CONFIG` (credentials, and buildx's
    /// store under `docker/buildx`, where doctor reads it) and `docker` on `PATH` as a
    /// stand-in for the Docker CLI that hands `buildx ...` to the plugin, as generated
    /// scripts call it.
    pub fn buildx(&self, env: &Env, docker_config: &Path) -> (Command, tempfile::TempDir) {
        self.with_docker(env, docker_config, "docker")
    }

    /// `program` run as `buildx` does above: the environment's `DOCKER_CONFIG` and the
    /// `docker` stand-in on `PATH`, in the environment's directory.
    pub fn with_docker(
        &self,
        env: &Env,
        docker_config: &Path,
        program: &str,
    ) -> (Command, tempfile::TempDir) {
        let shim = crate::support::docker_shim(&bin("docker-buildx").expect("docker-buildx"));
        let mut c = self.client(program);
        c.env("DOCKER_CONFIG", docker_config)
            .env(
                "PATH",
                format!("{}:{}", shim.path().display(), client_path()),
            )
            .current_dir(env.root());
        (c, shim)
    }

    /// `docker buildx build --push -t image` on `builder`, with the environment's
    /// `DOCKER_CONFIG`: (ok, output). buildx's remote driver gives up on a builder it
    /// cannot reach after 20 s (`driver/remote/driver.go`), within `CLIENT_TIMEOUT`.
    pub fn buildx_build(
        &self,
        env: &Env,
        docker_config: &Path,
        builder: &str,
        ctx: &Context,
        image: &str,
    ) -> (bool, String) {
        let (mut c, _shim) = self.buildx(env, docker_config);
        c.args([
            "buildx",
            "build",
            "--builder",
            builder,
            "--progress",
            "plain",
        ])
        .args(["--push", "-t", image])
        .arg(ctx.dir.path());
        let (ok, out) = run_for(&mut c, CLIENT_TIMEOUT);
        (ok, format!("docker buildx build: {out}"))
    }

    /// The builder exactly as `bkenv init` tells users to create it: the generated
    /// `buildx/create-remote.sh` (absolute `cacert`, and `cert`/`key` with mutual TLS),
    /// run with the environment's `.env`; then `docker buildx build --push -t image`
    /// on it. The builder is stored under the environment's `docker/buildx`.
    pub fn buildx_push(&self, env: &Env, ctx: &Context, image: &str) -> (bool, String) {
        let vars = dotenv(env);
        let docker_config = env.path(&vars["DOCKER_CONFIG"]);
        let (mut script, _shim) = self.with_docker(env, &docker_config, "sh");
        script.arg(env.path("buildx/create-remote.sh"));
        let (ok, created, err) = crate::sandbox::run_split(&mut script, CLIENT_TIMEOUT);
        if !ok {
            return (false, format!("buildx/create-remote.sh: {created}{err}"));
        }
        let builder = created.trim().to_string();
        self.buildx_build(env, &docker_config, &builder, ctx, image)
    }

    /// Pulls `repo_tag` through `name` with skopeo (certs.d and config.json) and returns
    /// the contents of `file` from the topmost layer holding it, and the layer digests.
    pub fn pull_file(
        &self,
        env: &Env,
        name: &str,
        repo_tag: &str,
        file: &str,
    ) -> Result<(String, Vec<String>), String> {
        let out = tempfile::tempdir().expect("pull dir");
        let mut c = self.skopeo(env, name, "src", &["copy", "--retry-times", "0"]);
        c.arg(format!("docker://{name}/{repo_tag}"))
            .arg(format!("dir:{}", out.path().display()));
        let (ok, log) = run_for(&mut c, CLIENT_TIMEOUT);
        if !ok {
            return Err(format!("skopeo copy {name}/{repo_tag}: {log}"));
        }
        let manifest: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.path().join("manifest.json")).expect("manifest.json"),
        )
        .expect("manifest JSON");
        let layers: Vec<String> = manifest["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["digest"].as_str().expect("digest").to_string())
            .collect();
        for digest in layers.iter().rev() {
            let blob = out.path().join(digest.trim_start_matches("sha256:"));
            // `tar -xzOf`: the real tar and gzip, not the test's own reader.
            let (ok, text) = run_for(Command::new("tar").arg("-xzOf").arg(&blob).arg(file), WAIT);
            if ok {
                return Ok((text, layers));
            }
        }
        Err(format!(
            "no layer of {name}/{repo_tag} holds {file}: {layers:?}"
        ))
    }
}

/// `sha256:` of `bytes`, as registries name manifests.
pub fn digest(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}
