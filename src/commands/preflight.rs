//! `bkenv preflight`: doctor for a pipeline step before the build, with the build at
//! hand (`--dockerfile`, `--image`, `--cache-ref`) added to what is checked.

use crate::ExitStatus;
use crate::cli::PreflightArgs;
use crate::doctor::parsed::{ImageRef, RefFile};
use crate::doctor::source::SourceFile;
use crate::doctor::{self, refs};
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use time::OffsetDateTime;

pub(crate) fn run(args: PreflightArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let extra = build_at_hand(&args)?;
    let probing = (!args.offline).then(|| args.net.probing());
    let report = doctor::diagnose(
        &args.dir,
        &super::doctor::inputs(&args.inputs)?,
        &extra,
        probing.as_ref(),
        OffsetDateTime::now_utc(),
    )?;
    let base = super::path_base(&args.dir);
    let pseudo = [Path::new(ARGUMENTS)];
    super::emit_findings(
        "preflight",
        &args.report,
        report.findings,
        &base,
        &pseudo,
        out,
    )
}

/// The pseudo-file findings about `--image` and `--cache-ref` point into.
const ARGUMENTS: &str = "preflight-arguments";

fn build_at_hand(args: &PreflightArgs) -> Result<Vec<RefFile>> {
    let mut files = Vec::new();
    if let Some(path) = &args.dockerfile {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        let build_args: BTreeMap<String, String> = args.build_arg.iter().cloned().collect();
        let found = refs::dockerfile_refs_with(&text, &build_args);
        // Named from the working directory: absolute, so that the report's rebasing onto
        // DIR leaves it where it is.
        let rel = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        files.push(RefFile {
            src: SourceFile::new(rel, text, false),
            refs: found,
            cache_exports: Vec::new(),
        });
    }
    // The command line is a source too: findings about --image point at its line.
    let mut text = String::new();
    let mut found = Vec::new();
    for (flag, value, role) in [
        ("--image", &args.image, "output"),
        ("--cache-ref", &args.cache_ref, "import-cache"),
    ] {
        if let Some(reference) = value {
            text.push_str(&format!("{flag} {reference}\n"));
            found.push(ImageRef {
                reference: reference.clone(),
                line: found.len() + 1,
                role,
                options: None,
            });
        }
    }
    if !found.is_empty() {
        files.push(RefFile {
            src: SourceFile::new(ARGUMENTS, text, false),
            refs: found,
            cache_exports: Vec::new(),
        });
    }
    Ok(files)
}
