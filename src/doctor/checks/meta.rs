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
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
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
