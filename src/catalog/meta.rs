//! BK9xx: problems of bkenv itself (a file it could not read, a check that could not run).
//!
//! These are findings like any other, so one unreadable file or one broken check never
//! hides what the other checks found.

use super::CheckMeta;
use crate::diag::Severity;

pub(super) const CHECKS: &[CheckMeta] = &[
    CheckMeta {
        code: "BK900",
        slug: "file-unreadable",
        severity: Severity::Error,
        title: "a file could not be read",
        prevents: "",
        explanation: include_str!("explain/BK900.md"),
        fixable: false,
    },
    CheckMeta {
        code: "BK901",
        slug: "check-failed",
        severity: Severity::Error,
        title: "a check could not run to completion",
        prevents: "",
        explanation: include_str!("explain/BK901.md"),
        fixable: false,
    },
];

#[cfg(test)]
mod tests {
    use super::CHECKS;

    #[test]
    fn explanations_have_the_required_headings() {
        for meta in CHECKS {
            for heading in ["## What it checks", "## Why it matters", "## How to fix"] {
                assert!(
                    meta.explanation.contains(heading),
                    "{} lacks {heading}",
                    meta.code
                );
            }
        }
    }
}
