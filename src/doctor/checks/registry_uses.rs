//! The registries an environment uses: `DOCKER_REGISTRY` and the image references of
//! Dockerfiles and CI files, each with where it is used.

use super::Ctx;
use crate::diag::Location;
use crate::doctor::refs::registry_host;

/// Where the environment uses a registry host.
#[derive(Debug, Clone)]
pub(crate) struct RegistryUse {
    pub host: String,
    pub location: Location,
}

/// Registries used by the environment: `DOCKER_REGISTRY` and image references.
pub(crate) fn usages(ctx: &Ctx<'_>) -> Vec<RegistryUse> {
    let mut out = Vec::new();
    if let Some((env, v, line)) = ctx.snap.env_var("DOCKER_REGISTRY")
        && !v.is_empty()
    {
        out.push(RegistryUse {
            host: v.split('/').next().unwrap_or(v).to_string(),
            location: env.src.loc_line(line),
        });
    }
    for f in &ctx.snap.refs {
        for r in f.refs.iter().filter(|r| !r.reference.is_empty()) {
            out.push(RegistryUse {
                host: registry_host(&r.reference),
                location: f.src.loc_line(r.line),
            });
        }
    }
    out
}
