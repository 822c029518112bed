//! BK903: what doctor could not check. A path in buildkitd.toml (or a registry config)
//! names a file on the machine where the daemon runs; doctor learns where that is from a
//! compose file that mounts the config, or from `--host`. Without either, whether the
//! file exists, parses or is readable is unknown, and unknown must not read as healthy:
//! this note keeps `no problems found` for runs that checked everything that matters.

use super::Ctx;
use crate::diag::Finding;
use crate::doctor::daemon_files;
use crate::doctor::source::SourceFile;

crate::diag::checks! {
    BK903 {
        slug: "files-not-checked",
        severity: Note,
        fixable: false,
        title: "Files a config names were not checked: nothing says where the daemon runs",
        prevents: "",
    }
}

const HELP: &str = "check it where it runs: `bkenv doctor --host` on the machine whose systemd unit starts buildkitd, or the directory holding the compose file that mounts this config";

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for cfg in ctx.active_configs() {
        // `--host` resolved the host daemon's paths on this machine (BK882, BK883).
        let on_host = ctx.snap.host.as_ref().is_some_and(|h| {
            h.config
                .as_ref()
                .is_some_and(|(c, _)| h.machine_path(c) == cfg.file.src.path)
        });
        if cfg.service.is_some() || on_host {
            continue;
        }
        let files = daemon_files::files(cfg.doc);
        let Some(first) = files.first() else { continue };
        let listed: Vec<String> = files
            .iter()
            .map(|f| format!("`{}` ({})", f.path, f.role.key()))
            .collect();
        out.push(
            Finding::new(
                &BK903,
                format!(
                    "not checked: {} {} this buildkitd.toml names: {}; no compose service mounts the config and no host install says where buildkitd runs",
                    listed.len(),
                    if listed.len() == 1 { "path" } else { "paths" },
                    listed.join(", ")
                ),
            )
            .at(cfg.file.src.loc_opt(first.span.clone()))
            .note("doctor cannot tell whether these files exist or whom they are readable by")
            .help(HELP),
        );
    }
    // A registry config no compose service loads: its certificate, key and htpasswd
    // live wherever that registry runs.
    let loaded: Vec<usize> = ctx
        .view
        .registries
        .iter()
        .filter_map(|r| r.config)
        .collect();
    for (i, file) in ctx.snap.registry_configs.iter().enumerate() {
        if loaded.contains(&i) {
            continue;
        }
        let Ok(doc) = &file.doc else { continue };
        let tls = doc.http.as_ref().and_then(|h| h.tls.as_ref());
        let paths: Vec<(&str, &str)> = [
            (
                "http.tls.certificate",
                tls.and_then(|t| t.value.certificate.as_ref()),
            ),
            ("http.tls.key", tls.and_then(|t| t.value.key.as_ref())),
            (
                "auth.htpasswd.path",
                doc.auth
                    .as_ref()
                    .and_then(|a| a.htpasswd.as_ref())
                    .and_then(|h| h.path.as_ref()),
            ),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v.value.as_str())))
        .filter(|(_, v)| !v.is_empty())
        .collect();
        let Some((_, first)) = paths.first() else {
            continue;
        };
        let listed: Vec<String> = paths.iter().map(|(k, p)| format!("`{p}` ({k})")).collect();
        out.push(
            Finding::new(
                &BK903,
                format!(
                    "not checked: {} {} this registry config names: {}; no compose service runs a registry with it",
                    listed.len(),
                    if listed.len() == 1 { "path" } else { "paths" },
                    listed.join(", ")
                ),
            )
            .at(line_of(&file.src, first))
            .note("doctor cannot tell whether these files exist or whom they are readable by")
            .help(if in_kubernetes_form(&file.src.path) {
                // bkenv's own Kubernetes form: a ConfigMap source its Deployment mounts.
                "this is the Kubernetes form's ConfigMap source: doctor does not read manifests yet, so the \
                 mounts of its Deployment are not checked here"
            } else {
                "check it with the compose file that runs the registry (mounting this config at /etc/docker/registry/config.yml)"
            }),
        );
    }
}

/// Whether `path` lies in bkenv's Kubernetes form (`.../kubernetes/files/...`), where
/// the environment may sit below the checked directory.
fn in_kubernetes_form(path: &std::path::Path) -> bool {
    let kube: Vec<_> = std::path::Path::new(crate::model::layout::KUBE_FILES)
        .components()
        .collect();
    let parts: Vec<_> = path.components().collect();
    parts.windows(kube.len()).any(|w| w == kube.as_slice())
}

/// The first line mentioning `value`, else the whole file.
fn line_of(src: &SourceFile, value: &str) -> crate::diag::Location {
    (1..=src.line_count())
        .find(|l| src.line_text(*l).is_some_and(|t| t.contains(value)))
        .map_or_else(|| src.file_loc(), |l| src.loc_line(l))
}
