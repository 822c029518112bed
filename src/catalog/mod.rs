//! The check registry: every code doctor, preflight and probes can emit, with its
//! metadata. Codes are declared with [`crate::diag::checks!`] in the file holding each
//! check's logic (the static families of [`crate::doctor::checks::FAMILIES`], and the live
//! checks of [`crate::probe::checks`]); this module only collects them. The explanations
//! are `explain/BKxxx.md` beside this file.
//!
//! Ranges: BK0xx buildkitd.toml syntax and schema, BK1xx gRPC TLS, BK2xx registry trust
//! and transport, BK3xx compose, BK4xx credentials, BK5xx certificates and keys,
//! BK6xx builds (Dockerfile, CI), BK7xx live probes, BK8xx buildx builders (BK880–BK899:
//! host installs under systemd, `doctor --host`), BK9xx bkenv itself.

use crate::diag::Check;

/// The checks doctor's static engine runs (every code but the live BK7xx), in code order.
pub fn static_checks() -> Vec<&'static Check> {
    let mut all: Vec<&'static Check> = crate::doctor::checks::FAMILIES
        .iter()
        .flat_map(|f| f.checks.iter().copied())
        .collect();
    all.sort();
    all
}

/// The live checks a probe can report (BK7xx), in code order.
pub fn live_checks() -> Vec<&'static Check> {
    let mut all = crate::probe::checks::CHECKS.to_vec();
    all.sort();
    all
}

/// All checks, in code order.
pub fn all() -> impl Iterator<Item = &'static Check> {
    let mut all = static_checks();
    all.extend(live_checks());
    all.sort();
    all.into_iter()
}

/// Up to three checks whose code or slug is closest to `given`, each as
/// `BK201 (slug)`; `extra` names (such as `warnings`) are candidates too.
pub(crate) fn close_to(given: &str, extra: &[&'static str]) -> Vec<String> {
    let checks = all().map(|m| (format!("{} ({})", m.code, m.slug), vec![m.code, m.slug]));
    let extra = extra.iter().map(|n| ((*n).to_string(), vec![*n]));
    crate::suggest::closest(given, checks.chain(extra))
}

/// `; did you mean ...?` for an unknown check name, or where to find the list.
pub(crate) fn hint(close: &[String]) -> String {
    match crate::suggest::phrase(close) {
        Some(p) => format!("; {p}"),
        None => "; run `bkenv explain --all` to list the checks".to_string(),
    }
}

/// The check with this code (any case) or slug, if it exists.
pub fn lookup(code_or_slug: &str) -> Option<&'static Check> {
    all().find(|m| m.code.eq_ignore_ascii_case(code_or_slug) || m.slug == code_or_slug)
}
