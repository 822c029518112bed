//! BK6xx: builds: Dockerfile `FROM` lines and CI cache exports. References to registries
//! without trust or credentials are reported by BK201/BK403/BK404 at the reference.

use super::Ctx;
use crate::diag::Finding;

crate::diag::checks! {
    BK601 {
        slug: "cache-export-incomplete-options",
        severity: Warning,
        fixable: false,
        title: "A registry cache export lacks `mode=max,image-manifest=true,oci-mediatypes=true`",
        prevents: "",
    }
    BK602 {
        slug: "from-blank-after-arg",
        severity: Error,
        fixable: false,
        title: "A `FROM` image is empty after ARG substitution",
        prevents: "base name (${X}) should not be blank",
    }
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let version = ctx.buildkit_version();
    let supports = version.is_none_or(|v| v >= (0, 12, 0));
    for f in &ctx.snap.refs {
        for r in &f.refs {
            if r.role == "from-blank" {
                let raw = r.options.clone().unwrap_or_default();
                out.push(Finding::new(&BK602, format!("`FROM {raw}` is empty: the ARG has no value before the first FROM"))
                    .at(f.src.loc_line(r.line))
                    .prevents(format!("base name ({raw}) should not be blank"))
                    .help("give the ARG a default (`ARG BASE=alpine:3.20`) before the first FROM, or pass `--build-arg`"));
                continue;
            }
            if r.role != "export-cache" || !supports {
                continue;
            }
            let opts = r.options.as_deref().unwrap_or_default();
            if !opts.split(',').any(|o| o == "type=registry") {
                continue;
            }
            let missing: Vec<&str> = ["mode=max", "image-manifest=true", "oci-mediatypes=true"]
                .into_iter()
                .filter(|want| !opts.split(',').any(|o| o == *want))
                .collect();
            if missing.is_empty() {
                continue;
            }
            out.push(Finding::new(&BK601, format!("registry cache export to `{}` lacks {}", r.reference, missing.join(",")))
                .at(f.src.loc_line(r.line))
                .prevents("cache export rejected by strict registries (ECR, GAR, Quay, Harbor): MANIFEST_INVALID / 400 / 404 on PUT of the manifest; without mode=max intermediate stages are not cached")
                .help(format!("use `{opts},{}`", missing.join(","))));
        }
    }
}
