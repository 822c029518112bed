//! The loader: the only part of doctor that does I/O. It reads every discovered file
//! into a [`Snapshot`]; checks are pure functions of the snapshot.

use super::DoctorInputs;
use super::discover::{self, Discovered, FileKind, Unreadable, read_bounded};
use super::parsed::*;
use super::paths::PathIndex;
use super::refs;
pub use super::snapshot::Snapshot;
use super::source::SourceFile;
use rustls_pki_types::pem::{PemObject, SectionKind};
use std::collections::BTreeSet;

use std::path::{Path, PathBuf};

/// Reads the tree at `root` (plus explicit inputs) into one snapshot per environment.
pub(crate) fn load(root: &Path, inputs: &DoctorInputs) -> Vec<Snapshot> {
    let (mut found, unreadable) = if root.is_dir() {
        discover::discover(root)
    } else {
        (Vec::new(), Vec::new())
    };
    let explicit = [
        (&inputs.buildkitd_config, FileKind::BuildkitdToml),
        (&inputs.compose, FileKind::Compose),
        (&inputs.docker_config, FileKind::DockerConfig),
        (&inputs.registry_config, FileKind::RegistryConfig),
        (&inputs.htpasswd, FileKind::Htpasswd),
        (&inputs.env_file, FileKind::Env),
    ];
    for (path, kind) in explicit {
        if let Some(p) = path {
            let p = if p.is_absolute() {
                p.clone()
            } else {
                root.join(p)
            };
            found.retain(|d| d.kind != kind);
            found.push(Discovered { path: p, kind });
        }
    }
    let unreadable = unreadable
        .into_iter()
        .map(|u| Unreadable {
            path: rel_path(root, &u.path),
            reason: u.reason,
        })
        .collect();
    let mut snap = Snapshot {
        unreadable,
        ..Snapshot::default()
    };
    for d in found {
        let rel = rel_path(root, &d.path);
        let bytes = match read_bounded(&d.path) {
            Ok(b) => b,
            Err(reason) => {
                snap.unreadable.push(Unreadable { path: rel, reason });
                continue;
            }
        };
        add_file(&mut snap, rel, d.kind, bytes, mode_of(&d.path));
    }
    read_named(root, &mut snap);
    snap.helpers_on_path = helpers_on_path(inputs.path_env.as_deref());
    snap.compose_up = crate::tools::compose_here(inputs.path_env.as_deref()).command("up -d");
    snap.root_abs = root_aliases(root);
    let mut environments = super::envs::split(snap);
    for env in &mut environments {
        let view = super::view::build(env);
        let sources = view
            .services
            .iter()
            .flat_map(|s| s.mounts.iter().filter_map(|m| m.host.as_deref()));
        env.paths = PathIndex::list(root, sources);
        let dir = view
            .compose
            .and_then(|i| env.compose.get(i))
            .and_then(|c| c.src.path.parent())
            .unwrap_or(Path::new(""));
        env.spec_image = spec_image(&root.join(dir).join(crate::spec::SPEC_FILE));
    }
    environments
}

/// `buildkitd.image` of a `bkenv.toml`, if the file exists and names one.
fn spec_image(path: &Path) -> Option<String> {
    let bytes = crate::safefs::read_bounded(path, crate::safefs::Links::Follow).ok()?;
    let doc = toml_edit::Document::parse(String::from_utf8(bytes).ok()?).ok()?;
    doc.get("buildkitd")?
        .get("image")?
        .as_str()
        .map(str::to_string)
}

/// Parses one file's bytes into the snapshot: the I/O-free half of [`load`], used by
/// the fuzz targets. Invalid UTF-8 (except in PEM files) is reported as unreadable.
pub fn add_file(
    snap: &mut Snapshot,
    rel: PathBuf,
    kind: FileKind,
    bytes: Vec<u8>,
    mode: Option<u32>,
) {
    let text = match (kind, String::from_utf8(bytes.clone())) {
        (_, Ok(t)) => t,
        (FileKind::Pem, Err(_)) => String::new(),
        (_, Err(_)) => {
            snap.unreadable.push(Unreadable {
                path: rel,
                reason: "not valid UTF-8 text".to_string(),
            });
            return;
        }
    };
    match kind {
        FileKind::BuildkitdToml => snap.buildkitd.push(parse_toml(rel, text)),
        FileKind::Compose => {
            let src = SourceFile::new(rel, text, false);
            let doc = parse_yaml::<ComposeDoc>(&src.text);
            snap.compose.push(ComposeFile { src, doc });
        }
        FileKind::RegistryConfig => {
            let src = SourceFile::new(rel, text, false);
            let doc = parse_yaml::<RegistryDoc>(&src.text);
            snap.registry_configs.push(RegistryConfigFile { src, doc });
        }
        FileKind::DockerConfig => {
            let src = SourceFile::new(rel, text, true);
            let doc = serde_json::from_str(&src.text).map_err(|e| ParseFailure {
                message: e.to_string(),
                range: None,
                line_col: Some((e.line(), e.column())),
            });
            snap.docker_configs.push(DockerConfigFile { src, doc });
        }
        FileKind::Htpasswd => {
            let entries = text
                .lines()
                .enumerate()
                .filter_map(|(i, l)| {
                    let (u, h) = l.trim().split_once(':')?;
                    Some((u.to_string(), h.to_string(), i + 1))
                })
                .collect();
            let src = SourceFile::new(rel, text, true);
            snap.htpasswd.push(HtpasswdFile { src, entries });
        }
        FileKind::Pem => snap.pem.push(parse_pem(rel, text, bytes, mode)),
        FileKind::Dockerfile => {
            let refs = refs::dockerfile_refs(&text);
            snap.refs.push(RefFile {
                src: SourceFile::new(rel, text, false),
                refs,
                cache_exports: Vec::new(),
            });
        }
        FileKind::Ci => {
            let (refs, cache_exports) = refs::scan_commands(&text);
            snap.refs.push(RefFile {
                src: SourceFile::new(rel, text, false),
                refs,
                cache_exports,
            });
        }
        FileKind::Bake => {
            let json = rel
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("json"));
            let src = SourceFile::new(rel, text, false);
            let (refs, cache_exports) = if json {
                super::bake::json(&src)
            } else {
                super::bake::hcl(&src)
            };
            snap.refs.push(RefFile {
                src,
                refs,
                cache_exports,
            });
        }
        FileKind::Env => snap.env.push(parse_env(rel, text)),
        FileKind::BuildxInstance => {
            let group = serde_json::from_str(&text).map_err(|e| ParseFailure {
                message: e.to_string(),
                range: None,
                line_col: Some((e.line(), e.column())),
            });
            // One line of JSON with base64 blobs: no source line worth showing.
            let src = SourceFile::new(rel, text, true);
            snap.buildx.push(BuildxInstanceFile {
                src,
                group,
                named: Default::default(),
            });
        }
        FileKind::BuildxConfig => snap.builder_configs.push(BuilderConfigFile {
            toml: parse_toml(rel, text),
            named: Default::default(),
        }),
    }
}

/// The root as an absolute path, as given and with links resolved: a compose file may
/// name either in an absolute bind-mount source.
fn root_aliases(root: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::path::absolute(root)
        .ok()
        .map(|a| super::view::normalize(&a))
        .into_iter()
        .collect();
    if let Ok(c) = std::fs::canonicalize(root)
        && !out.contains(&c)
    {
        out.push(c);
    }
    out
}

/// Reads the absolute paths buildx builders name (remote driver-opts, registry files of
/// a `--config`): buildx reads them on the host at every connection or at creation.
fn read_named(root: &Path, snap: &mut Snapshot) {
    // The paths are absolute: shown relative to the root when inside it, whatever form
    // the root was given in (`doctor .`).
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    let root = root.as_path();
    let read = |p: &str| -> Named {
        let path = Path::new(p);
        if !path.is_absolute() {
            return Named::Unreadable("not an absolute path".to_string());
        }
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Named::Missing,
            Err(e) => return Named::Unreadable(e.to_string()),
            Ok(_) => {}
        }
        match read_bounded(path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                Named::Pem(Box::new(parse_pem(
                    rel_path(root, path),
                    text,
                    bytes,
                    mode_of(path),
                )))
            }
            Err(reason) => Named::Unreadable(reason),
        }
    };
    for inst in &mut snap.buildx {
        let Ok(group) = &inst.group else { continue };
        let paths: Vec<String> = group
            .nodes
            .iter()
            .flat_map(|n| n.driver_opts.iter().flatten())
            .filter(|(k, _)| crate::doctor::checks::buildx::PATH_OPTS.contains(&k.as_str()))
            .map(|(_, v)| v.clone())
            .collect();
        for p in paths {
            let found = read(&p);
            inst.named.insert(p, found);
        }
    }
    for cfg in &mut snap.builder_configs {
        let Ok(doc) = &cfg.toml.doc else { continue };
        for p in crate::doctor::checks::buildx::config_paths(doc) {
            let found = read(&p);
            cfg.named.insert(p, found);
        }
    }
}

/// `p` relative to `root` when it lies inside it (explicit inputs arrive absolute, from
/// the working directory, while `root` may be relative), else `p` as it is.
fn rel_path(root: &Path, p: &Path) -> PathBuf {
    if let Ok(rel) = p.strip_prefix(root) {
        return rel.to_path_buf();
    }
    std::path::absolute(root)
        .ok()
        .and_then(|abs| p.strip_prefix(abs).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| p.to_path_buf())
}

pub(crate) fn parse_toml(rel: PathBuf, text: String) -> TomlFile {
    let doc = toml_edit::Document::parse(text.clone()).map_err(|e| ParseFailure {
        message: e.message().to_string(),
        range: e.span(),
        line_col: None,
    });
    TomlFile {
        src: SourceFile::new(rel, text, false),
        doc,
    }
}

fn parse_yaml<T: serde::de::DeserializeOwned + Default>(text: &str) -> Result<T, ParseFailure> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_saphyr::from_str::<T>(text).map_err(|e| {
        let loc = e.location();
        ParseFailure {
            message: e.to_string().lines().next().unwrap_or_default().to_string(),
            range: None,
            line_col: loc.map(|l| (l.line() as usize, l.column() as usize)),
        }
    })
}

pub(crate) fn parse_pem(rel: PathBuf, text: String, bytes: Vec<u8>, mode: Option<u32>) -> PemFile {
    let mut certs = 0;
    let mut keys = 0;
    for (kind, _) in <(SectionKind, Vec<u8>)>::pem_slice_iter(&bytes).flatten() {
        match kind {
            SectionKind::Certificate => certs += 1,
            SectionKind::PrivateKey | SectionKind::RsaPrivateKey | SectionKind::EcPrivateKey => {
                keys += 1
            }
            _ => {}
        }
    }
    let secret = keys > 0 || text.contains("PRIVATE KEY");
    let mut error = None;
    let facts = if certs > 0 {
        crate::pki::read_certs(&bytes).unwrap_or_else(|e| {
            error = Some(e.to_string());
            Vec::new()
        })
    } else {
        Vec::new()
    };
    let key_info = if keys > 0 {
        crate::pki::read_private_key(&bytes)
            .map_err(|e| error = Some(e.to_string()))
            .ok()
    } else {
        None
    };
    PemFile {
        facts,
        key_info,
        error,
        src: SourceFile::new(rel, if secret { String::new() } else { text }, secret),
        bytes,
        certs,
        keys,
        mode,
    }
}

pub(crate) fn parse_env(rel: PathBuf, text: String) -> EnvFile {
    let vars = text
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            let l = l.trim();
            if l.starts_with('#') {
                return None;
            }
            let l = l.strip_prefix("export ").unwrap_or(l);
            let (k, v) = l.split_once('=')?;
            let v = v.split(" #").next().unwrap_or(v).trim();
            let v = v.trim_matches('"').trim_matches('\'');
            Some((k.trim().to_string(), v.to_string(), i + 1))
        })
        .collect();
    EnvFile {
        src: SourceFile::new(rel, text, false),
        vars,
    }
}

#[cfg(unix)]
fn mode_of(p: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn mode_of(_: &Path) -> Option<u32> {
    None
}

fn helpers_on_path(path_env: Option<&std::ffi::OsStr>) -> BTreeSet<String> {
    let path = path_env
        .map(ToOwned::to_owned)
        .or_else(|| std::env::var_os("PATH"));
    let mut out = BTreeSet::new();
    for dir in path.iter().flat_map(std::env::split_paths) {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(h) = name.strip_prefix("docker-credential-") {
                out.insert(h.trim_end_matches(".exe").to_string());
            }
        }
    }
    out
}
