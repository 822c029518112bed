//! BK9xx: problems of doctor itself (files it could not read or parse).

use super::Ctx;
use super::toml::check;
use crate::catalog::CheckMeta;
use crate::diag::{Finding, Severity};

pub const CHECKS: &[CheckMeta] = &[
    check!(
        "BK901",
        "file-unreadable",
        Error,
        false,
        "A file of the environment could not be read",
        ""
    ),
    check!(
        "BK902",
        "yaml-invalid",
        Error,
        false,
        "A compose file or registry config is not valid YAML for its schema",
        ""
    ),
];

pub fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for u in &ctx.snap.unreadable {
        out.push(
            Finding::new(
                "BK901",
                format!("cannot read {}: {}", u.path.display(), u.reason),
            )
            .at_file(u.path.clone())
            .help("make the file readable by the user running bkenv, or exclude it"),
        );
    }
    let yaml = ctx
        .snap
        .compose
        .iter()
        .map(|c| (&c.src, c.doc.as_ref().err()))
        .chain(
            ctx.snap
                .registry_configs
                .iter()
                .map(|r| (&r.src, r.doc.as_ref().err())),
        );
    for (src, err) in yaml {
        let Some(e) = err else { continue };
        let loc = match e.line_col {
            Some((l, c)) => src.loc_line_col(l, c),
            None => src.file_loc(),
        };
        out.push(
            Finding::new(
                "BK902",
                format!("{} does not parse: {}", src.path.display(), e.message),
            )
            .at(loc)
            .help("fix the YAML; doctor skips the checks that need this file"),
        );
    }
}
