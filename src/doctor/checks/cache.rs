//! BK6xx (cache): cache export options wherever people write them: CI files, shell
//! scripts and Makefiles (`--export-cache`, `--cache-to`), bake files (`cache-to`) and
//! compose (`build.cache_to`). The options are read as BuildKit's cache exporters
//! (`cache/remotecache/registry`, `.../local`) read them, per BuildKit version.

use super::Ctx;
use crate::diag::{Finding, Location};

crate::diag::checks! {
    BK601 {
        slug: "cache-export-incomplete-options",
        severity: Warning,
        fixable: false,
        title: "A registry cache export lacks `mode=max,image-manifest=true,oci-mediatypes=true`",
        prevents: "",
    }
    BK612 {
        slug: "cache-image-manifest-without-oci",
        severity: Error,
        fixable: false,
        title: "A cache export asks for an image-manifest cache with Docker media types, which BuildKit refuses",
        prevents: "invalid configuration for remote cache, OCI mediatypes are required for image-manifest cache format",
    }
}

/// One cache export option string and where it is written.
struct Export {
    at: Location,
    options: String,
}

/// Every cache export of the environment.
fn exports(ctx: &Ctx<'_>) -> Vec<Export> {
    let mut out: Vec<Export> = ctx
        .snap
        .refs
        .iter()
        .flat_map(|f| {
            f.cache_exports.iter().map(|e| Export {
                at: f.src.loc_line(e.line),
                options: e.options.clone(),
            })
        })
        .collect();
    for file in &ctx.snap.compose {
        let Ok(doc) = &file.doc else { continue };
        for svc in doc.services.values() {
            if let Some(crate::doctor::parsed::BuildDoc::Map { cache_to }) = &svc.value.build {
                // The line that holds the option string, from the service's own line on.
                let from = svc.referenced.line() as usize;
                out.extend(cache_to.iter().map(|c| {
                    let line = (from.max(1)..=file.src.line_count())
                        .find(|l| {
                            file.src
                                .line_text(*l)
                                .is_some_and(|t| t.contains(c.as_str()))
                        })
                        .unwrap_or(from);
                    Export {
                        at: file.src.loc_line(line),
                        options: c.clone(),
                    }
                }));
            }
        }
    }
    out
}

/// The value of `key` in a CSV option string (the last one wins, as in BuildKit's
/// attribute map).
fn field<'a>(opts: &'a str, key: &str) -> Option<&'a str> {
    opts.split(',')
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim())
        .next_back()
}

/// Go's `strconv.ParseBool`.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

pub(crate) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let version = ctx.buildkit_version();
    // `image-manifest` exists from v0.12; older daemons ignore it.
    if version.is_some_and(|v| v < (0, 12, 0)) {
        return;
    }
    for e in exports(ctx) {
        let opts = e.options.as_str();
        let ty = field(opts, "type");
        if !matches!(ty, Some("registry" | "local")) {
            continue;
        }
        if let Some(f) = conflict(opts, version, &e.at) {
            out.push(f);
            continue;
        }
        if ty == Some("registry") {
            incomplete(opts, &e.at, out);
        }
    }
}

/// BK612: `image-manifest=true` with `oci-mediatypes=false`, refused by every release
/// that knows `image-manifest` (v0.12 on); and `oci-mediatypes=false` alone on v0.21,
/// where `image-manifest` defaulted to true until v0.22 made `oci-mediatypes=false`
/// imply `image-manifest=false` (moby/buildkit#5965, commit b40bfd1d).
fn conflict(opts: &str, version: Option<(u32, u32, u32)>, at: &Location) -> Option<Finding> {
    let oci = field(opts, "oci-mediatypes").map(go_bool)?;
    if oci != Some(false) {
        return None;
    }
    let manifest = match field(opts, "image-manifest") {
        Some(v) => go_bool(v)?,
        // The default: true on v0.21 only, where nothing turns it off.
        None => version.is_some_and(|v| (v.0, v.1) == (0, 21)),
    };
    if !manifest {
        return None;
    }
    let message = if version.is_some_and(|v| v < (0, 22, 0)) {
        "invalid configuration for remote cache"
    } else {
        "invalid configuration for remote cache, OCI mediatypes are required for image-manifest cache format"
    };
    let why = if field(opts, "image-manifest").is_some() {
        "`image-manifest=true` writes the cache as an OCI image manifest, which needs OCI media types, but `oci-mediatypes=false` turns them off".to_string()
    } else {
        let (a, b, c) = version.unwrap_or_default();
        format!(
            "`oci-mediatypes=false` without `image-manifest`: on BuildKit v{a}.{b}.{c} `image-manifest` defaults to true, and the two conflict (v0.22 made `oci-mediatypes=false` imply `image-manifest=false`)"
        )
    };
    Some(
        Finding::new(&BK612, format!("cache export `{opts}`: {why}"))
            .at(at.clone())
            .prevents(message)
            .help("drop `oci-mediatypes=false` (registries that take image-manifest caches take OCI media types), or add `image-manifest=false` for a registry that only takes Docker media types"),
    )
}

/// BK601: a registry cache export without the options strict registries need.
fn incomplete(opts: &str, at: &Location, out: &mut Vec<Finding>) {
    let missing: Vec<&str> = ["mode=max", "image-manifest=true", "oci-mediatypes=true"]
        .into_iter()
        .filter(|want| {
            let (k, v) = want.split_once('=').unwrap_or((want, ""));
            field(opts, k).is_none_or(|have| have != v)
        })
        .collect();
    if missing.is_empty() {
        return;
    }
    let keys: Vec<&str> = missing
        .iter()
        .filter_map(|m| m.split_once('=').map(|(k, _)| k))
        .collect();
    let kept: Vec<&str> = opts
        .split(',')
        .filter(|kv| !keys.contains(&kv.split_once('=').map_or(*kv, |(k, _)| k.trim())))
        .collect();
    let reference = field(opts, "ref").unwrap_or("(no ref)");
    out.push(Finding::new(&BK601, format!("registry cache export to `{reference}` lacks {}", missing.join(",")))
        .at(at.clone())
        .prevents("cache export rejected by strict registries (ECR, GAR, Quay, Harbor): MANIFEST_INVALID / 400 / 404 on PUT of the manifest; without mode=max intermediate stages are not cached")
        .help(format!("use `{},{}`", kept.join(","), missing.join(","))));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::source::SourceFile;

    fn at() -> Location {
        SourceFile::new("x", "x\n".into(), false).loc_line(1)
    }

    fn refused(opts: &str, v: Option<(u32, u32, u32)>) -> Option<&'static str> {
        conflict(opts, v, &at()).and_then(|f| f.prevents.map(|_| "refused"))
    }

    #[test]
    fn image_manifest_needs_oci_mediatypes_per_version() {
        let both = "type=registry,ref=r/a:c,image-manifest=true,oci-mediatypes=false";
        for v in [None, Some((0, 12, 0)), Some((0, 21, 0)), Some((0, 23, 2))] {
            assert!(refused(both, v).is_some(), "{v:?}");
        }
        let alone = "type=registry,ref=r/a:c,oci-mediatypes=false";
        assert!(refused(alone, Some((0, 21, 0))).is_some());
        assert!(refused(alone, Some((0, 21, 1))).is_some());
        assert!(refused(alone, Some((0, 20, 2))).is_none());
        assert!(refused(alone, Some((0, 22, 0))).is_none());
        assert!(refused(alone, None).is_none());
        // Go's ParseBool spellings; a later duplicate wins.
        assert!(refused("type=local,dest=d,image-manifest=1,oci-mediatypes=F", None).is_some());
        assert!(refused(&format!("{both},oci-mediatypes=true"), None).is_none());
        assert!(
            refused(
                "type=registry,image-manifest=true,oci-mediatypes=true",
                None
            )
            .is_none()
        );
        // The v0.21 message is the short one.
        let f = conflict(alone, Some((0, 21, 0)), &at()).unwrap_or_else(|| panic!("no finding"));
        assert_eq!(
            f.prevents.as_deref(),
            Some("invalid configuration for remote cache")
        );
    }

    #[test]
    fn incomplete_options_are_completed_not_duplicated() {
        let mut out = Vec::new();
        incomplete("type=registry,ref=r/a:c,mode=min", &at(), &mut out);
        assert_eq!(
            out[0].help.as_deref(),
            Some("use `type=registry,ref=r/a:c,mode=max,image-manifest=true,oci-mediatypes=true`")
        );
    }
}
