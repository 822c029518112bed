//! `-A/-W/-D CODE|slug|warnings`: per-run check levels, applied centrally to all findings
//! before any report is rendered, and the exit status that follows from them.

use crate::catalog;
use crate::diag::{Check, Finding, Severity};

/// The level a `-A`, `-W` or `-D` flag sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `-A`: drop the finding.
    Allow,
    /// `-W`: report as a warning.
    Warn,
    /// `-D`: report as an error.
    Deny,
}

impl Level {
    fn flag(self) -> &'static str {
        match self {
            Level::Allow => "-A",
            Level::Warn => "-W",
            Level::Deny => "-D",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Check(&'static Check),
    /// Every finding that is a warning at that point of the list.
    Warnings,
}

/// An override names no check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("{flag} {given}: no check has this code or name{hint}")]
    UnknownCheck {
        flag: &'static str,
        given: String,
        hint: String,
        /// Close codes and names, closest first.
        suggestions: Vec<String>,
    },
}

/// The ordered `-A/-W/-D` flags of one run; a later flag wins over an earlier one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LevelOverrides {
    rules: Vec<(Target, Level)>,
}

impl LevelOverrides {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds overrides from flags in command-line order.
    pub fn from_flags<'a>(
        flags: impl IntoIterator<Item = (Level, &'a str)>,
    ) -> Result<Self, OverrideError> {
        let mut o = Self::new();
        for (level, name) in flags {
            o.push(level, name)?;
        }
        Ok(o)
    }

    /// Adds one flag: `name` is a code (`BK201`, any case), a slug, or `warnings`.
    pub fn push(&mut self, level: Level, name: &str) -> Result<(), OverrideError> {
        let target = if name == "warnings" {
            Target::Warnings
        } else {
            match catalog::lookup(name) {
                Some(check) => Target::Check(check),
                None => {
                    let suggestions = catalog::close_to(name, &["warnings"]);
                    return Err(OverrideError::UnknownCheck {
                        flag: level.flag(),
                        given: name.to_string(),
                        hint: catalog::hint(&suggestions),
                        suggestions,
                    });
                }
            }
        };
        self.rules.push((target, level));
        Ok(())
    }

    /// Applies the flags in order to each finding: `-W`/`-D` set its severity, `-A` drops
    /// it (a later `-W`/`-D` for the same code brings it back), and `warnings` matches a
    /// finding that is a warning at that point of the list.
    pub fn apply(&self, findings: Vec<Finding>) -> Vec<Finding> {
        findings
            .into_iter()
            .filter_map(|mut f| {
                let mut level = Some(f.severity);
                for (target, set) in &self.rules {
                    let matches = match target {
                        Target::Check(check) => f.check == *check,
                        Target::Warnings => level == Some(Severity::Warning),
                    };
                    if matches {
                        level = match set {
                            Level::Allow => None,
                            Level::Warn => Some(Severity::Warning),
                            Level::Deny => Some(Severity::Error),
                        };
                    }
                }
                level.map(|s| {
                    f.severity = s;
                    f
                })
            })
            .collect()
    }
}

/// Process exit status of `doctor` and `preflight`, the same in every format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ExitStatus {
    /// No errors (warnings and notes may remain).
    Clean = 0,
    /// At least one error after overrides.
    Findings = 1,
    /// bkenv could not run: bad arguments, unreadable root, report not writable.
    Failure = 2,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<ExitStatus> for std::process::ExitCode {
    fn from(s: ExitStatus) -> Self {
        std::process::ExitCode::from(s.code())
    }
}

/// `Findings` iff any finding is an error (after overrides), else `Clean`.
pub fn exit_for(findings: &[Finding]) -> ExitStatus {
    if findings.iter().any(|f| f.severity == Severity::Error) {
        ExitStatus::Findings
    } else {
        ExitStatus::Clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::checks::meta::BK900;
    use crate::probe::checks::BK722;

    fn at(check: &'static Check, severity: Severity) -> Finding {
        let mut f = Finding::new(check, format!("{check} {}", severity.as_str()));
        f.severity = severity;
        f
    }

    fn levels(fs: &[Finding]) -> Vec<(&'static str, Severity)> {
        fs.iter().map(|f| (f.code(), f.severity)).collect()
    }

    fn sample() -> Vec<Finding> {
        vec![
            at(&BK900, Severity::Error),
            at(&BK722, Severity::Warning),
            at(&BK722, Severity::Note),
        ]
    }

    #[test]
    fn no_overrides_changes_nothing() {
        let o = LevelOverrides::new();
        assert_eq!(o.apply(sample()), sample());
    }

    #[test]
    fn deny_warnings_promotes_warnings_only() {
        let o = LevelOverrides::from_flags([(Level::Deny, "warnings")]).unwrap();
        let out = o.apply(sample());
        assert_eq!(
            levels(&out),
            [
                ("BK900", Severity::Error),
                ("BK722", Severity::Error),
                ("BK722", Severity::Note)
            ]
        );
        assert_eq!(exit_for(&out), ExitStatus::Findings);
    }

    #[test]
    fn allow_drops_by_code_or_slug_and_later_flags_win() {
        let o = LevelOverrides::from_flags([(Level::Allow, "bk900")]).unwrap();
        assert_eq!(levels(&o.apply(sample()))[0], ("BK722", Severity::Warning));
        assert_eq!(exit_for(&o.apply(sample())), ExitStatus::Clean);

        let o =
            LevelOverrides::from_flags([(Level::Allow, "file-unreadable"), (Level::Warn, "BK900")])
                .unwrap();
        assert_eq!(levels(&o.apply(sample()))[0], ("BK900", Severity::Warning));
    }

    #[test]
    fn warn_demotes_and_order_decides_against_deny_warnings() {
        let o = LevelOverrides::from_flags([(Level::Warn, "BK900")]).unwrap();
        assert_eq!(exit_for(&o.apply(sample())), ExitStatus::Clean);

        // -D warnings after -W BK900 promotes it again; before it, -W wins.
        let o = LevelOverrides::from_flags([(Level::Warn, "BK900"), (Level::Deny, "warnings")])
            .unwrap();
        assert_eq!(levels(&o.apply(sample()))[0], ("BK900", Severity::Error));
        let o = LevelOverrides::from_flags([(Level::Deny, "warnings"), (Level::Warn, "BK722")])
            .unwrap();
        assert_eq!(levels(&o.apply(sample()))[1], ("BK722", Severity::Warning));
        assert_eq!(levels(&o.apply(sample()))[2], ("BK722", Severity::Warning));
    }

    #[test]
    fn deny_makes_a_note_an_error() {
        let o = LevelOverrides::from_flags([(Level::Allow, "warnings"), (Level::Deny, "BK722")])
            .unwrap();
        // The warning was dropped by -A warnings; a later -D BK722 brings it back as an error.
        assert_eq!(
            levels(&o.apply(sample())),
            [
                ("BK900", Severity::Error),
                ("BK722", Severity::Error),
                ("BK722", Severity::Error)
            ]
        );
    }

    #[test]
    fn unknown_code_is_an_error_with_suggestions() {
        let err = LevelOverrides::from_flags([(Level::Deny, "BK9O0")]).unwrap_err();
        let OverrideError::UnknownCheck { suggestions, .. } = &err;
        assert_eq!(suggestions, &["BK900 (file-unreadable)"]);
        assert_eq!(
            err.to_string(),
            "-D BK9O0: no check has this code or name; did you mean `BK900 (file-unreadable)`?"
        );
        let err = LevelOverrides::from_flags([(Level::Warn, "warning")]).unwrap_err();
        assert!(
            err.to_string().contains("did you mean `warnings`?"),
            "{err}"
        );
        let err = LevelOverrides::from_flags([(Level::Warn, "zzzzzzzzzzzz")]).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("run `bkenv explain --all` to list the checks")
        );
    }

    #[test]
    fn exit_status_codes() {
        assert_eq!(ExitStatus::Clean.code(), 0);
        assert_eq!(ExitStatus::Findings.code(), 1);
        assert_eq!(ExitStatus::Failure.code(), 2);
        assert_eq!(exit_for(&[]), ExitStatus::Clean);
    }
}
