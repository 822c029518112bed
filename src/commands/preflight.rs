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
use time::OffsetDateTime;

pub(crate) fn run(args: PreflightArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let extra = build_at_hand(&args)?;
    let probing = (!args.offline).then(|| args.net.probing());
    let report = doctor::diagnose(
        &args.dir,
        &super::doctor::inputs(&args.inputs),
        &extra,
        probing.as_ref(),
        OffsetDateTime::now_utc(),
    )?;
    super::emit_findings("preflight", &args.report, report.findings, out)
}

fn build_at_hand(args: &PreflightArgs) -> Result<Vec<RefFile>> {
    let mut files = Vec::new();
    if let Some(path) = &args.dockerfile {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
        let build_args: BTreeMap<String, String> = args.build_arg.iter().cloned().collect();
        let found = refs::dockerfile_refs_with(&text, &build_args);
        let rel = path.strip_prefix(&args.dir).unwrap_or(path).to_path_buf();
        files.push(RefFile {
            src: SourceFile::new(rel, text, false),
            refs: found,
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
            src: SourceFile::new("preflight-arguments", text, false),
            refs: found,
        });
    }
    Ok(files)
}
