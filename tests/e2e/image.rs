//! The repository's `Dockerfile` built by the real BuildKit of a bkenv environment and
//! pushed to its registry: buildkitd started from the generated compose file, `buildctl`
//! configured only from the generated `.env` (TLS, `DOCKER_CONFIG`), as the printed next
//! steps say. A static bkenv (`+crt-static`, built here with cargo) stands in for the
//! `build` stage through a named context (`--opt context:build=local:bin`), so no base
//! image is pulled and the final `FROM scratch` stage is built as written. The image is
//! pulled back with skopeo through the host-side name, unpacked, and its bkenv run in the
//! unpacked root: `--version`, and a probe of the registry that pushed it (names from
//! /etc/hosts and trust from the image's CA bundle, with nothing else in the root).

use crate::buildkit::dotenv;
use crate::builds::host_side_name;
use crate::env::{CLIENT_TIMEOUT, Env};
use crate::sandbox::{WAIT, run_for};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The target the static binary is built for (the Dockerfile's).
const TARGET: &str = "x86_64-unknown-linux-gnu";
/// A release build of bkenv and its dependencies on two busy cores.
const BUILD_TIMEOUT: Duration = Duration::from_secs(60 * 60);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo build --release` of a static bkenv for [`TARGET`], in its own target directory
/// (the running `cargo test` holds the lock of the usual one). RUSTFLAGS apply to the
/// target only (build scripts and proc macros stay dynamic), as in the Dockerfile.
fn static_bkenv() -> PathBuf {
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("static-bkenv");
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args([
            "build",
            "--release",
            "--locked",
            "--bin",
            "bkenv",
            "--target",
            TARGET,
        ])
        .current_dir(repo())
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET");
    let (ok, out) = run_for(&mut cargo, BUILD_TIMEOUT);
    assert!(ok, "static build failed:\n{out}");
    target_dir.join(TARGET).join("release/bkenv")
}

/// Whether `path` is an ELF executable without a program interpreter (`PT_INTERP`): a
/// static binary, which the empty root of a scratch image can run.
fn is_static_elf(path: &Path) -> bool {
    let b = fs::read(path).expect("read binary");
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
    // ELF64, little endian.
    assert!(b.len() > 64 && &b[..4] == b"\x7fELF" && b[4] == 2 && b[5] == 1);
    let phoff = usize::try_from(u64_at(0x20)).expect("phoff");
    let (phentsize, phnum) = (usize::from(u16_at(0x36)), usize::from(u16_at(0x38)));
    const PT_INTERP: u32 = 3;
    (0..phnum).all(|i| u32_at(phoff + i * phentsize) != PT_INTERP)
}

/// The `build` stage's stand-in: the static bkenv, and a CA bundle holding the system
/// roots (when the machine has them) and the environment's CA.
fn stage_dir(bin: &Path, env: &Env) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("stage");
    fs::copy(bin, dir.path().join("bkenv")).expect("copy bkenv");
    let certs = dir.path().join("etc/ssl/certs");
    fs::create_dir_all(&certs).expect("certs dir");
    let mut bundle = fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap_or_default();
    bundle.push_str(&env.read("ca/ca.crt"));
    fs::write(certs.join("ca-certificates.crt"), bundle).expect("bundle");
    dir
}

#[derive(serde::Deserialize)]
struct Manifest {
    config: Descriptor,
    layers: Vec<Descriptor>,
}

#[derive(serde::Deserialize)]
struct Descriptor {
    #[serde(rename = "mediaType")]
    media_type: String,
    digest: String,
}

#[derive(serde::Deserialize)]
struct ImageConfig {
    architecture: String,
    os: String,
    config: RunConfig,
}

#[derive(serde::Deserialize)]
struct RunConfig {
    #[serde(rename = "Entrypoint")]
    entrypoint: Vec<String>,
    #[serde(rename = "WorkingDir")]
    working_dir: String,
}

fn blob(dir: &Path, digest: &str) -> PathBuf {
    dir.join(digest.trim_start_matches("sha256:"))
}

/// Every file and directory of an unpacked root, relative, sorted.
fn tree(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(root)
        .min_depth(1)
        .into_iter()
        .map(|e| {
            let e = e.expect("walk");
            let rel = e.path().strip_prefix(root).expect("under root");
            format!(
                "{}{}",
                rel.display(),
                if e.file_type().is_dir() { "/" } else { "" }
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn scratch_image_is_built_by_buildkit_pushed_to_the_registry_and_runs() {
    if !crate::buildkit::present() {
        return;
    }
    let bin = static_bkenv();
    assert!(is_static_elf(&bin), "{} is not static", bin.display());

    let env = Env::init(None);
    let mut up = env.up();
    assert!(up.refused.is_none(), "{:?}", up.refused);
    up.start_buildkitd(&env)
        .unwrap_or_else(|log| panic!("buildkitd: {log}"));
    let registry = dotenv(&env)["DOCKER_REGISTRY"].clone();
    let image = format!("{registry}/bkenv:test");
    let stage = stage_dir(&bin, &env);
    let local =
        |name: &str, dir: &Path| ["--local".to_string(), format!("{name}={}", dir.display())];
    let mut args: Vec<String> = [
        "build",
        "--progress",
        "plain",
        "--frontend",
        "dockerfile.v0",
    ]
    .map(String::from)
    .to_vec();
    args.extend(local("context", repo()));
    args.extend(local("dockerfile", repo()));
    args.extend(local("bin", stage.path()));
    args.extend([
        "--opt".into(),
        "context:build=local:bin".into(),
        "--output".into(),
        format!("type=image,name={image},push=true"),
    ]);
    let (ok, out) = up.buildctl(&env, &args);
    assert!(ok, "buildctl build:\n{out}\n{}", up.logs());
    assert!(
        !out.contains("rust:"),
        "the build stage was pulled instead of replaced:\n{out}"
    );
    assert!(
        out.contains(&format!("pushing manifest for {image}")),
        "{out}"
    );

    // Pulled back as a host-side client would: certs.d and config.json, `localhost:5005`.
    let host_side = host_side_name(&env, &registry);
    let pulled = tempfile::tempdir().expect("pull dir");
    let mut skopeo = up.skopeo(&env, &host_side, "src", &["copy", "--retry-times", "0"]);
    skopeo
        .arg(format!("docker://{host_side}/bkenv:test"))
        .arg(format!("dir:{}", pulled.path().display()));
    let (ok, out) = run_for(&mut skopeo, CLIENT_TIMEOUT);
    assert!(ok, "skopeo copy:\n{out}\n{}", up.logs());

    let manifest: Manifest =
        serde_json::from_slice(&fs::read(pulled.path().join("manifest.json")).expect("manifest"))
            .expect("manifest JSON");
    let config: ImageConfig = serde_json::from_slice(
        &fs::read(blob(pulled.path(), &manifest.config.digest)).expect("config"),
    )
    .expect("config JSON");
    assert_eq!(
        (config.os.as_str(), config.architecture.as_str()),
        ("linux", "amd64")
    );
    assert_eq!(config.config.entrypoint, ["/bkenv"]);
    assert_eq!(config.config.working_dir, "/work");
    let rootfs = tempfile::tempdir().expect("rootfs");
    for layer in &manifest.layers {
        assert!(
            layer.media_type.ends_with("tar+gzip") || layer.media_type.ends_with("tar.gzip"),
            "{}",
            layer.media_type
        );
        let (ok, out) = run_for(
            Command::new("tar")
                .arg("-xzf")
                .arg(blob(pulled.path(), &layer.digest))
                .arg("-C")
                .arg(rootfs.path()),
            WAIT,
        );
        assert!(ok, "unpack {}: {out}", layer.digest);
    }
    // FROM scratch: the binary, the CA bundle, the working directory, and nothing else.
    assert_eq!(
        tree(rootfs.path()),
        [
            "bkenv",
            "etc/",
            "etc/ssl/",
            "etc/ssl/certs/",
            "etc/ssl/certs/ca-certificates.crt",
            "work/"
        ]
    );
    assert_eq!(
        fs::read(rootfs.path().join("bkenv")).expect("image bkenv"),
        fs::read(&bin).expect("static bkenv"),
        "the image holds the binary built here"
    );

    // Run in the unpacked root, as the container would: only what the image holds, plus
    // the /etc/hosts a runtime provides and the config.json mounted into /work.
    fs::copy(up.net.hosts_file(), rootfs.path().join("etc/hosts")).expect("hosts");
    fs::create_dir_all(rootfs.path().join("work/docker")).expect("docker dir");
    fs::copy(
        env.path("docker/config.json"),
        rootfs.path().join("work/docker/config.json"),
    )
    .expect("config.json");
    // By path: the image's environment (no PATH) replaces the test's.
    let chroot = crate::support::tool("chroot").expect("chroot (coreutils)");
    let in_image = |args: &[&str]| {
        let mut c = up.net.cmd(&chroot);
        c.arg(rootfs.path())
            .args(["/bkenv"])
            .args(args)
            .env_clear()
            .env("NO_COLOR", "1")
            .env("HOME", "/work");
        run_for(&mut c, CLIENT_TIMEOUT)
    };
    let (ok, version) = in_image(&["--version"]);
    assert!(ok, "{version}");
    let host_version = run_for(Command::new(&bin).arg("--version"), WAIT).1;
    assert_eq!(version, host_version);
    assert!(
        version.starts_with(&format!("bkenv {} (", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let (ok, probe) = in_image(&["probe", &registry, "--docker-config", "/work/docker"]);
    assert!(ok, "probe from the image:\n{probe}\n{}", up.logs());
}
