//! The check catalog: every code doctor, preflight and probes can emit, with its
//! explanation. One file per family; codes are assigned only here and never reused.
//!
//! Ranges: BK0xx buildkitd.toml syntax and schema, BK1xx gRPC TLS, BK2xx registry trust
//! and transport, BK3xx compose, BK4xx credentials, BK5xx certificates and keys,
//! BK6xx builds (Dockerfile, CI), BK7xx live probes, BK9xx bkenv itself.

use crate::diag::Severity;

mod meta;
mod probe;

/// Static metadata of one check.
#[derive(Debug)]
pub struct CheckMeta {
    /// `BK` plus three digits, stable forever.
    pub code: &'static str,
    /// Kebab-case name of the problem (not the fix).
    pub slug: &'static str,
    /// Default severity before `-A/-W/-D`.
    pub severity: Severity,
    /// One sentence, used in lists and SARIF `shortDescription`.
    pub title: &'static str,
    /// The error text BuildKit or a client prints when this goes unfixed ("" if none).
    pub prevents: &'static str,
    /// Markdown with the headings `## What it checks`, `## Why it matters`, `## How to fix`.
    pub explanation: &'static str,
    /// Whether `doctor --fix` can apply a mechanical fix.
    pub fixable: bool,
}

/// Every family's table, in code order.
const FAMILIES: &[&[CheckMeta]] = &[
    crate::doctor::checks::toml::CHECKS,
    crate::doctor::checks::grpc::CHECKS,
    crate::doctor::checks::registry::CHECKS,
    crate::doctor::checks::compose::CHECKS,
    crate::doctor::checks::creds::CHECKS,
    crate::doctor::checks::certs::CHECKS,
    crate::doctor::checks::builds::CHECKS,
    probe::CHECKS,
    meta::CHECKS,
];

/// All checks, in code order.
pub fn all() -> impl Iterator<Item = &'static CheckMeta> {
    FAMILIES.iter().flat_map(|f| f.iter())
}

/// The metadata of `code` (or of a slug), if it exists.
pub fn lookup(code_or_slug: &str) -> Option<&'static CheckMeta> {
    all().find(|m| m.code.eq_ignore_ascii_case(code_or_slug) || m.slug == code_or_slug)
}
