//! BK9xx: problems of bkenv itself, such as a file it could not read. These are findings
//! like any other, so one unreadable file never hides what the other checks found.

use super::Ctx;
use crate::diag::Finding;

crate::diag::checks! {
    BK900 {
        slug: "file-unreadable",
        severity: Error,
        fixable: false,
        title: "a file could not be read",
        prevents: "",
    }
    BK902 {
        slug: "nothing-to-check",
        severity: Error,
        fixable: false,
        title: "doctor found no file to check",
        prevents: "",
    }
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    // A clean result must be earned: an empty or mistyped directory is not a healthy
    // environment, so doctor and preflight say so and fail (`-A BK902` allows it).
    if ctx.snap.is_empty() {
        let dir = ctx.snap.root_abs.first().map_or_else(
            || "this directory".to_string(),
            |d| format!("`{}`", d.display()),
        );
        out.push(
            Finding::new(
                &BK902,
                format!(
                    "nothing to check in {dir}: no buildkitd.toml, compose file, registry config, config.json, htpasswd, certificate, key, .env, Dockerfile or CI file was found"
                ),
            )
            .help("point bkenv at the environment's directory (the one `bkenv init` wrote), or name files with --buildkitd-config, --compose, --docker-config, --registry-config, --htpasswd or --env-file"),
        );
    }
    for u in &ctx.snap.unreadable {
        out.push(
            Finding::new(
                &BK900,
                format!("cannot read {}: {}", u.path.display(), u.reason),
            )
            .at_file(u.path.clone())
            .help("make the file readable by the user running bkenv, or exclude it"),
        );
    }
}
