//! The docker-container builder's network (BK811). A builder container reaches the
//! environment's registry by its compose service name only from the compose project's
//! network, whose name Compose derives from the project: `COMPOSE_PROJECT_NAME` (shell
//! or `.env`), else the compose file's `name:`, else the directory name, plus `_default`
//! (or a network's own `name:`). Anything else (no `network=`: Docker's default bridge;
//! `host`; another project's network) leaves the name unresolved inside the builder.

use super::ci::{ci_opts, runs_buildx};
use super::{BK811, Ctx, opt_loc};
use crate::diag::{Finding, Location};
use crate::render::buildx::{compose_project, valid_project_name};
use std::collections::BTreeSet;

/// The networks of the environment's compose project, and the registry names a builder
/// resolves only there.
pub(super) struct ComposeNets {
    project: String,
    how: String,
    /// Network names Docker knows this project's networks by.
    names: BTreeSet<String>,
    /// `host:port` registries of the environment's buildkitd.toml named by a compose service.
    registries: Vec<String>,
}

impl ComposeNets {
    pub(super) fn of(ctx: &Ctx<'_>) -> Option<Self> {
        let file = ctx.snap.compose.get(ctx.view.compose?)?;
        let doc = file.doc.as_ref().ok()?;
        let from_shell = ctx
            .snap
            .compose_project_env
            .clone()
            .map(|v| (v, "the environment of this shell".to_string()));
        let from_env = from_shell
            .or_else(|| {
                ctx.snap
                    .env_var("COMPOSE_PROJECT_NAME")
                    .map(|(e, v, _)| (v.to_string(), e.src.path.display().to_string()))
            })
            .filter(|(v, _)| valid_project_name(v));
        let (project, how) = match (
            from_env,
            doc.name.as_ref().filter(|n| valid_project_name(n)),
        ) {
            (Some((v, place)), _) => (v, format!("COMPOSE_PROJECT_NAME in {place}")),
            (None, Some(n)) => (n.clone(), format!("`name:` in {}", file.src.path.display())),
            (None, None) => {
                let dir = ctx.snap.compose_dir_name.as_deref()?;
                (compose_project(dir), format!("the directory name `{dir}`"))
            }
        };
        if project.is_empty() {
            return None;
        }
        let mut names = BTreeSet::from([format!("{project}_default")]);
        for (key, net) in doc.networks.iter().flatten() {
            names.insert(match net.as_ref().and_then(|n| n.name.clone()) {
                Some(name) => name,
                None => format!("{project}_{key}"),
            });
        }
        let services: BTreeSet<&str> = ctx.view.services.iter().map(|s| s.name.as_str()).collect();
        let registries = ctx
            .active_configs()
            .into_iter()
            .next()
            .map(|cfg| crate::doctor::registry_tables::reg_tables(cfg.doc))
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.host)
            .filter(|h| services.contains(crate::hostport::strip_port(h)))
            .collect();
        Some(ComposeNets {
            project,
            how,
            names,
            registries,
        })
    }

    fn wanted(&self) -> String {
        self.names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(" or ")
    }

    /// The finding for a builder on `network` (`None`: no `network=`, the default bridge).
    fn finding(&self, who: &str, network: Option<&str>, at: Location) -> Option<Finding> {
        if network.is_some_and(|n| self.names.contains(n)) || self.registries.is_empty() {
            return None;
        }
        let on = match network {
            Some(n) => format!("joins the network `{n}`"),
            None => {
                "has no `network=` driver-opt, so it runs on Docker's default bridge".to_string()
            }
        };
        let reg = self.registries.first()?;
        let host = crate::hostport::strip_port(reg);
        Some(
            Finding::new(&BK811, format!("{who} {on}, but this environment's services run on {} (compose project `{}`, from {}): `{host}` does not resolve inside the builder", self.wanted(), self.project, self.how))
                .at(at)
                .prevents(format!("failed to do request: Head \"https://{reg}/v2/...\": dial tcp: lookup {host} on <the builder's resolver>:53: no such host"))
                .note("a container builder resolves names with its own network's DNS, never the host's /etc/hosts (docker/buildx#218); Compose names the network after the project")
                .help(format!("recreate the builder on the project's network: `docker buildx rm NAME`, then `docker buildx create --driver docker-container --driver-opt network={}_default ...` (bkenv: re-run `bkenv init` with the same COMPOSE_PROJECT_NAME, then buildx/create-container.sh)", self.project)),
        )
    }
}

pub(super) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(nets) = ComposeNets::of(ctx) else {
        return;
    };
    for inst in &ctx.snap.buildx {
        let Ok(group) = &inst.group else { continue };
        if group.driver != "docker-container" {
            continue;
        }
        for node in &group.nodes {
            let network = node.driver_opts.as_ref().and_then(|o| o.get("network"));
            let at = opt_loc(
                &inst.src,
                if network.is_some() {
                    "network"
                } else {
                    "Driver"
                },
            );
            let who = format!("builder `{}`", group.name);
            out.extend(nets.finding(&who, network.map(String::as_str), at));
        }
    }
    for f in ctx.snap.refs.iter().filter(|f| runs_buildx(&f.src.path)) {
        for (line, col, key, value) in ci_opts(&f.src.text, &["network"]) {
            // A variable is set where it runs; nothing to compare here.
            if value.contains('$') {
                continue;
            }
            let start = f.src.line_start(line).unwrap_or(0) + col;
            let at = f.src.loc(start..start + key.len() + 1 + value.len());
            out.extend(nets.finding("this `docker buildx create`", Some(value), at));
        }
    }
}
