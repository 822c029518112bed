//! Check metadata and the [`checks!`] macro every check family declares its codes with.
//!
//! A code is a `static` [`Check`] named after itself (`BK201`), so a finding is made with
//! `Finding::new(&BK201, ...)` and a misspelt code does not compile. The macro also builds
//! the family's `CHECKS` list, which [`crate::catalog`] collects: declaring a check is
//! registering it.

use super::Severity;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Static metadata of one check.
pub struct Check {
    /// `BK` plus three digits, stable forever and never reused.
    pub code: &'static str,
    /// Kebab-case name of the problem (not the fix).
    pub slug: &'static str,
    /// Default severity before `-A/-W/-D`.
    pub severity: Severity,
    /// One sentence, used in lists and SARIF `shortDescription`.
    pub title: &'static str,
    /// The error text BuildKit or a client prints when this goes unfixed ("" if none).
    pub prevents: &'static str,
    /// Markdown with the headings `## What it checks`, `## Why it matters`, `## How to fix`
    /// (`src/catalog/explain/BKxxx.md`, shown by `bkenv explain`).
    pub explanation: &'static str,
    /// Whether `doctor --fix` can repair it: its findings may carry a [`super::Fix`].
    pub fixable: bool,
    /// The live (BK7xx) check that sees the same failure on the wire. With `--probe`, a
    /// live finding replaces its static twin at the same place (`doctor::live::merge`).
    pub live_twin: Option<&'static Check>,
}

// Identity is the code: two handles to the same check compare equal wherever they live.
impl PartialEq for Check {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
    }
}

impl Eq for Check {}

impl PartialOrd for Check {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Check {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.code.cmp(other.code)
    }
}

impl Hash for Check {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.code.hash(state);
    }
}

// Debug output of findings names the code, not the whole explanation.
impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// Declares a family's checks: one `static` per code plus the family's `CHECKS` list, in
/// the order written (code order). The explanation is `src/catalog/explain/<CODE>.md`.
///
/// ```ignore
/// checks! {
///     BK204 {
///         slug: "loopback-tls-without-http-false",
///         severity: Error,
///         fixable: true,
///         live_twin: crate::probe::checks::BK704,
///         title: "A loopback registry serves TLS but BuildKit defaults loopback hosts to HTTP",
///         prevents: "Client sent an HTTP request to an HTTPS server.",
///     }
/// }
/// ```
macro_rules! checks {
    ($(
        $(#[$attr:meta])*
        $code:ident {
            slug: $slug:literal,
            severity: $severity:ident,
            fixable: $fixable:literal,
            $(live_twin: $twin:path,)?
            title: $title:literal,
            prevents: $prevents:literal $(,)?
        }
    )*) => {
        $(
            $(#[$attr])*
            pub(crate) static $code: $crate::diag::Check = $crate::diag::Check {
                code: stringify!($code),
                slug: $slug,
                severity: $crate::diag::Severity::$severity,
                title: $title,
                prevents: $prevents,
                explanation: include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/src/catalog/explain/",
                    stringify!($code),
                    ".md"
                )),
                fixable: $fixable,
                live_twin: $crate::diag::checks!(@twin $($twin)?),
            };
        )*
        /// This family's checks in code order, collected by [`crate::catalog`].
        pub(crate) static CHECKS: &[&$crate::diag::Check] = &[$(&$code),*];
    };
    (@twin) => { None };
    (@twin $twin:path) => { Some(&$twin) };
}
pub(crate) use checks;
