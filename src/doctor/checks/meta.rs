//! BK900 `file-unreadable` (defined in `catalog::meta`): files doctor could not read.

use super::Ctx;
use crate::diag::Finding;

pub fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for u in &ctx.snap.unreadable {
        out.push(
            Finding::new(
                "BK900",
                format!("cannot read {}: {}", u.path.display(), u.reason),
            )
            .at_file(u.path.clone())
            .help("make the file readable by the user running bkenv, or exclude it"),
        );
    }
}
