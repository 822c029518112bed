//! The static check families. Each family is one module: a `checks!` table declaring
//! its codes and a pure `run` over the [`Ctx`] pushing findings. [`FAMILIES`] is the one
//! list of them; [`crate::catalog`] collects their tables.

pub(crate) mod access;
pub(crate) mod builds;
pub(crate) mod certs;
pub(crate) mod compose;
pub(crate) mod creds;
pub(crate) mod grpc;
pub(crate) mod meta;
pub(crate) mod registry;
pub(crate) mod registry_uses;
pub(crate) mod toml;
pub(crate) mod trust;

use super::parsed::TomlFile;
use super::snapshot::Snapshot;
use super::view::{ServiceView, View};
use crate::diag::{Check, Finding};
use time::OffsetDateTime;

/// One family: the checks it declares and the function that runs them.
pub(crate) struct Family {
    pub checks: &'static [&'static Check],
    pub run: fn(&Ctx<'_>, &mut Vec<Finding>),
}

/// Every static family.
pub(crate) static FAMILIES: &[Family] = &[
    Family {
        checks: toml::CHECKS,
        run: toml::run,
    },
    Family {
        checks: grpc::CHECKS,
        run: grpc::run,
    },
    Family {
        checks: registry::CHECKS,
        run: registry::run,
    },
    Family {
        checks: compose::CHECKS,
        run: compose::run,
    },
    Family {
        checks: access::CHECKS,
        run: access::run,
    },
    Family {
        checks: creds::CHECKS,
        run: creds::run,
    },
    Family {
        checks: certs::CHECKS,
        run: certs::run,
    },
    Family {
        checks: builds::CHECKS,
        run: builds::run,
    },
    Family {
        checks: meta::CHECKS,
        run: meta::run,
    },
];

/// What every check sees: the snapshot, the container view and the clock.
pub(crate) struct Ctx<'a> {
    pub snap: &'a Snapshot,
    pub view: View,
    pub now: OffsetDateTime,
}

/// A buildkitd.toml together with the service that reads it (if any).
pub(crate) struct ActiveConfig<'a> {
    pub file: &'a TomlFile,
    pub doc: &'a toml_edit::Document<String>,
    pub service: Option<&'a ServiceView>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(snap: &'a Snapshot, now: OffsetDateTime) -> Self {
        Ctx {
            snap,
            view: super::view::build(snap),
            now,
        }
    }

    /// The buildkitd.toml files a daemon reads: those mounted at a buildkit service's
    /// config path, or every parseable one when the environment has no buildkit service.
    pub(crate) fn active_configs(&self) -> Vec<ActiveConfig<'_>> {
        let mut out = Vec::new();
        let has_services = self.view.buildkit_services().next().is_some();
        for file in &self.snap.buildkitd {
            let Ok(doc) = &file.doc else { continue };
            if !has_services {
                out.push(ActiveConfig {
                    file,
                    doc,
                    service: None,
                });
                continue;
            }
            for s in self.view.buildkit_services() {
                if s.resolve(&s.config_path())
                    .is_some_and(|(h, _)| h == file.src.path)
                {
                    out.push(ActiveConfig {
                        file,
                        doc,
                        service: Some(s),
                    });
                }
            }
        }
        out
    }

    /// The BuildKit version of the first buildkit service, if its tag names one.
    pub(crate) fn buildkit_version(&self) -> Option<(u32, u32, u32)> {
        self.view
            .buildkit_services()
            .find_map(ServiceView::buildkit_version)
    }
}

/// Runs every family.
pub(crate) fn run_all(ctx: &Ctx<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for family in FAMILIES {
        (family.run)(ctx, &mut out);
    }
    out
}
