//! The static check families. Each family is one module: a `checks!` table declaring
//! its codes and a pure `run` over the [`Ctx`] pushing findings. [`FAMILIES`] is the one
//! list of them; [`crate::catalog`] collects their tables.

pub(crate) mod access;
pub(crate) mod builds;
pub(crate) mod buildx;
pub(crate) mod cache;
pub(crate) mod certs;
pub(crate) mod compose;
pub(crate) mod creds;
pub(crate) mod daemon_creds;
pub(crate) mod grpc;
pub(crate) mod host;
pub(crate) mod meta;
pub(crate) mod proxy;
pub(crate) mod registry;
pub(crate) mod registry_uses;
pub(crate) mod toml;
pub(crate) mod trust;
pub(crate) mod unchecked;

use super::parsed::TomlFile;
use super::snapshot::Snapshot;
use super::view::{ServiceView, View, buildkit_image_version};
use crate::diag::{Check, Finding};
use time::OffsetDateTime;
use toml::schema;

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
        checks: proxy::CHECKS,
        run: proxy::run,
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
        checks: daemon_creds::CHECKS,
        run: daemon_creds::run,
    },
    Family {
        checks: certs::CHECKS,
        run: certs::run,
    },
    Family {
        checks: cache::CHECKS,
        run: cache::run,
    },
    Family {
        checks: builds::CHECKS,
        run: builds::run,
    },
    Family {
        checks: buildx::CHECKS,
        run: buildx::run,
    },
    Family {
        checks: meta::CHECKS,
        run: meta::run,
    },
    Family {
        checks: host::CHECKS,
        run: host::run,
    },
    Family {
        checks: unchecked::CHECKS,
        run: unchecked::run,
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

    /// The BuildKit release a config read by `service` (or, without one, the
    /// environment's first buildkit service) is checked against: the image tag, else
    /// `buildkitd.image` of `bkenv.toml`, else the release bkenv pins.
    pub(crate) fn in_play(&self, service: Option<&ServiceView>) -> InPlay {
        let image = service
            .or_else(|| self.view.buildkit_services().next())
            .and_then(|s| s.image.clone());
        let from_image = |image: String, spec: bool| match buildkit_image_version(&image) {
            Some(v) => Some(InPlay {
                v,
                from: if spec {
                    Source::Spec(image)
                } else {
                    Source::Image(image)
                },
            }),
            // `latest`, `buildx-stable-1`, `master`, a digest: the newest release.
            None if !spec && is_moby_buildkit(&image) => Some(InPlay {
                v: schema::NEWEST,
                from: Source::Unversioned(image),
            }),
            None => None,
        };
        image
            .and_then(|i| from_image(i, false))
            .or_else(|| {
                self.snap
                    .spec_image
                    .clone()
                    .and_then(|i| from_image(i, true))
            })
            .unwrap_or(InPlay {
                v: crate::model::PINNED_BUILDKIT,
                from: Source::Pinned,
            })
    }
}

/// The BuildKit release a check holds true for, and where doctor learned it.
#[derive(Debug, Clone)]
pub(crate) struct InPlay {
    pub v: schema::Version,
    pub from: Source,
}

#[derive(Debug, Clone)]
pub(crate) enum Source {
    Image(String),
    Spec(String),
    /// A BuildKit image without a version tag: taken as the newest release.
    Unversioned(String),
    /// Nothing names a release: bkenv's pinned one.
    Pinned,
}

impl InPlay {
    /// `v0.23.2`, for messages.
    pub(crate) fn version(&self) -> String {
        let (a, b, c) = self.v;
        format!("v{a}.{b}.{c}")
    }

    /// Where the release comes from, as a finding's note.
    pub(crate) fn source_note(&self) -> String {
        let v = self.version();
        match &self.from {
            Source::Image(i) => format!("BuildKit {v} is the release of the image `{i}`"),
            Source::Spec(i) => format!("BuildKit {v} is `buildkitd.image = \"{i}\"` in bkenv.toml"),
            Source::Unversioned(i) => {
                format!("`{i}` names no release; doctor takes the newest it knows, {v}")
            }
            Source::Pinned => format!(
                "no image tag or bkenv.toml names the BuildKit release; doctor assumes {v}, the one bkenv pins"
            ),
        }
    }

    /// go-toml v2 (v0.28 and later) matches keys without regard to case.
    pub(crate) fn go_toml_v2(&self) -> bool {
        self.v >= schema::GO_TOML_V2
    }
}

/// `moby/buildkit` under any registry or tag.
fn is_moby_buildkit(image: &str) -> bool {
    let repo = image.split('@').next().unwrap_or(image);
    let repo = repo
        .rsplit_once(':')
        .filter(|(_, t)| !t.contains('/'))
        .map_or(repo, |(r, _)| r);
    repo.rsplit('/')
        .next()
        .is_some_and(|n| n.eq_ignore_ascii_case("buildkit"))
}

/// Runs every family.
pub(crate) fn run_all(ctx: &Ctx<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    for family in FAMILIES {
        (family.run)(ctx, &mut out);
    }
    out
}
