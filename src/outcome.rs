//! What `renew`, `rotate-ca` and `trust` print, for people and as JSON.

use crate::hosttrust::{self, InstallPlan, UninstallPlan};
use crate::init::InitOutcome;
use crate::output::Status;
use crate::renew::RenewOutcome;
use crate::restart;
use crate::rotation::state::Phase;
use crate::rotation::{RotateOutcome, Step};
use serde::Serialize;
use std::fmt::Write;

#[derive(Serialize)]
struct ReissuedJson<'a> {
    certificate: &'a str,
    reason: String,
}

#[derive(Serialize)]
struct FileJson {
    path: String,
    status: &'static str,
}

fn reissued(init: &InitOutcome) -> Vec<ReissuedJson<'_>> {
    init.reissued
        .iter()
        .map(|r| ReissuedJson {
            certificate: &r.cert,
            reason: r.reason.to_string(),
        })
        .collect()
}

/// The files a run created, updated or kept although it wanted to change them.
fn changed_files(init: &InitOutcome) -> Vec<FileJson> {
    init.applied
        .iter()
        .filter(|a| a.status != Status::Unchanged)
        .map(|a| FileJson {
            path: a.path.display().to_string(),
            status: match a.status {
                Status::Created => "created",
                Status::Updated => "updated",
                Status::KeptEdited => "kept-edited",
                Status::Unchanged => "unchanged",
            },
        })
        .collect()
}

/// `init`'s notes minus what the structured output says already.
fn notes(init: &InitOutcome) -> Vec<&str> {
    init.notes
        .iter()
        .map(String::as_str)
        .filter(|n| !n.starts_with("CA reused") && !n.contains(" reissued: "))
        .collect()
}

fn json_text<T: Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

fn push_files(s: &mut String, init: &InitOutcome) {
    for f in changed_files(init) {
        let status = if f.status == "kept-edited" {
            "kept (edited by you; --force to overwrite)"
        } else {
            f.status
        };
        let _ = writeln!(s, "  {status:<10} {}", f.path);
    }
    for n in notes(init) {
        let _ = writeln!(s, "  note: {n}");
    }
}

fn push_restart(s: &mut String, plan: &restart::Plan, why: &str) {
    if plan.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nRestart {why} (they load certificates and CA bundles once, at start):"
    );
    for c in &plan.commands {
        let _ = writeln!(s, "  {}", c.command);
    }
    if plan.commands.is_empty() {
        let _ = writeln!(s, "  services: {}", plan.services.join(", "));
    }
}

pub fn renew_human(o: &RenewOutcome, dry_run: bool, within_days: i64) -> String {
    let mut s = String::new();
    let n = o.init.reissued.len();
    let verb = if dry_run {
        "would be reissued"
    } else {
        "reissued"
    };
    if n == 0 {
        let _ = writeln!(
            s,
            "bkenv renew: nothing is due (every leaf is valid for more than {within_days} days); --force reissues them all"
        );
    } else {
        let _ = writeln!(
            s,
            "bkenv renew: {n} certificate{} {verb}{}",
            if n == 1 { "" } else { "s" },
            if dry_run {
                " (--dry-run: nothing written)"
            } else {
                ""
            }
        );
        let width = o
            .init
            .reissued
            .iter()
            .map(|r| r.cert.len())
            .max()
            .unwrap_or(0);
        for r in &o.init.reissued {
            let _ = writeln!(s, "  {:<width$}  {}", r.cert, r.reason);
        }
    }
    if !dry_run {
        let mut files = String::new();
        push_files(&mut files, &o.init);
        if !files.is_empty() {
            s.push_str("\nFiles:\n");
            s.push_str(&files);
        }
    }
    push_restart(&mut s, &o.restart, "the services that load them");
    s
}

pub fn renew_json(o: &RenewOutcome, dry_run: bool) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        dry_run: bool,
        reissued: Vec<ReissuedJson<'a>>,
        files: Vec<FileJson>,
        restart: &'a restart::Plan,
        notes: Vec<&'a str>,
    }
    json_text(&Out {
        dry_run,
        reissued: reissued(&o.init),
        files: changed_files(&o.init),
        restart: &o.restart,
        notes: notes(&o.init),
    })
}

/// What to do after a rotation step.
fn next(o: &RotateOutcome, host_trust: bool) -> Vec<String> {
    let mut out = Vec::new();
    match o.phase {
        Some(Phase::Started) => {
            out.push(
                "give every client that keeps its own copy of the CA the new trust files (client/ca.crt, certs.d/*): \
                 they now hold the old and the new CA"
                    .into(),
            );
            out.push(format!(
                "then: {}",
                restart::for_dir("bkenv rotate-ca --finish", &o.shown)
            ));
        }
        Some(Phase::Finished) => {
            out.push(
                "leaves are signed by the new CA now: a client that has only the old CA fails until it gets the new \
                 trust files"
                    .into(),
            );
            out.push(format!(
                "once every client has them: {}",
                restart::for_dir("bkenv rotate-ca --drop-old", &o.shown)
            ));
        }
        None => out.push("done: the trust files hold the new CA only".into()),
    }
    if host_trust {
        out.push(format!(
            "this machine's host trust (`bkenv trust install`) holds the previous CA set: run `{}` again",
            restart::for_dir("sudo bkenv trust install", &o.shown)
        ));
    }
    out
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::Start => "start",
        Step::Finish => "finish",
        Step::DropOld => "drop-old",
    }
}

pub fn rotate_human(o: &RotateOutcome, host_trust: bool) -> String {
    let mut s = String::new();
    // No phase is left only once `--drop-old` has ended the rotation.
    let phase = o.phase.map_or_else(
        || "rotation complete, the old CA is dropped".to_string(),
        |p| format!("phase {p}"),
    );
    let _ = writeln!(s, "bkenv {}: {phase}", o.step.command());
    if !o.init.reissued.is_empty() {
        let width = o
            .init
            .reissued
            .iter()
            .map(|r| r.cert.len())
            .max()
            .unwrap_or(0);
        s.push_str("  reissued:\n");
        for r in &o.init.reissued {
            let _ = writeln!(s, "    {:<width$}  {}", r.cert, r.reason);
        }
    }
    push_files(&mut s, &o.init);
    push_restart(&mut s, &o.restart, "the services whose files changed");
    s.push_str("\nNext:\n");
    for n in next(o, host_trust) {
        let _ = writeln!(s, "  {n}");
    }
    s
}

pub fn rotate_json(o: &RotateOutcome, host_trust: bool) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        step: &'static str,
        phase: Option<Phase>,
        archived: Option<String>,
        reissued: Vec<ReissuedJson<'a>>,
        files: Vec<FileJson>,
        restart: &'a restart::Plan,
        notes: Vec<&'a str>,
        next: Vec<String>,
    }
    json_text(&Out {
        step: step_name(o.step),
        phase: o.phase,
        archived: o.archived.as_ref().map(|p| p.display().to_string()),
        reissued: reissued(&o.init),
        files: changed_files(&o.init),
        restart: &o.restart,
        notes: notes(&o.init),
        next: next(o, host_trust),
    })
}

/// The install plan: what is written where, why it is safe, what is left out.
pub fn trust_plan_human(plan: &InstallPlan) -> String {
    let mut s = String::from("bkenv trust install: the environment's CA for host-side tools\n");
    for ca in &plan.constraints {
        let fp = ca.fingerprint.get(..16).unwrap_or(&ca.fingerprint);
        let who = format!("CA \"{}\" (sha256:{fp}...)", ca.name);
        match &ca.names {
            Some(n) => {
                let _ = writeln!(
                    s,
                    "  {who} can sign only for: {} (its name constraints: trusting it cannot let it impersonate any other site)",
                    n.join(", ")
                );
            }
            None => {
                let _ = writeln!(s, "  {who} has NO name constraints");
            }
        }
    }
    for w in &plan.warnings {
        let _ = writeln!(s, "  {w}");
    }
    let pending: Vec<_> = plan.files.iter().filter(|f| !f.unchanged).collect();
    if pending.is_empty() && plan.stale.is_empty() {
        s.push_str("  nothing to change: installed already\n");
    }
    for f in &pending {
        let _ = writeln!(
            s,
            "  write   {:<10} {}",
            f.target.as_str(),
            f.path.display()
        );
    }
    for f in plan.files.iter().filter(|f| f.unchanged) {
        let _ = writeln!(
            s,
            "  ok      {:<10} {}",
            f.target.as_str(),
            f.path.display()
        );
    }
    for e in &plan.stale {
        let _ = writeln!(
            s,
            "  remove  {:<10} {} (no longer trusted by the environment)",
            e.target.as_str(),
            e.path.display()
        );
    }
    if plan.refresh {
        if plan.root == std::path::Path::new("/") {
            s.push_str("  then update-ca-certificates (bkenv runs it)\n");
        } else {
            let _ = writeln!(
                s,
                "  then run update-ca-certificates inside {} (not run for another root)",
                plan.root.display()
            );
        }
    }
    for (t, why) in &plan.skipped {
        let _ = writeln!(s, "  skipped {:<10} {why}", t.as_str());
    }
    for (p, why) in &plan.conflicts {
        let _ = writeln!(s, "  REFUSED {}: {why}", p.display());
    }
    s
}

pub fn trust_applied_human(applied: &hosttrust::Applied, refreshed: Option<&str>) -> String {
    let mut s = String::new();
    for p in &applied.written {
        let _ = writeln!(s, "  wrote   {}", p.display());
    }
    for p in &applied.removed {
        let _ = writeln!(s, "  removed {}", p.display());
    }
    for p in &applied.kept {
        let _ = writeln!(
            s,
            "  kept    {} (changed since bkenv wrote it; remove it yourself if it is not needed)",
            p.display()
        );
    }
    if let Some(out) = refreshed {
        // Its summary ("1 added, 0 removed; done."), not a warning printed after it.
        let line = out
            .lines()
            .find(|l| l.contains(" added, "))
            .or_else(|| out.lines().rev().find(|l| !l.trim().is_empty()))
            .unwrap_or("done");
        let _ = writeln!(s, "  update-ca-certificates: {}", line.trim());
    }
    s
}

pub fn uninstall_plan_human(plan: &UninstallPlan) -> String {
    let mut s = String::from("bkenv trust uninstall: removes what `bkenv trust install` added\n");
    if plan.remove.is_empty() && plan.changed.is_empty() && plan.gone.is_empty() {
        s.push_str("  nothing installed\n");
    }
    for e in &plan.remove {
        let _ = writeln!(
            s,
            "  remove  {:<10} {}",
            e.target.as_str(),
            e.path.display()
        );
    }
    for p in &plan.changed {
        let _ = writeln!(s, "  keep    {} (changed since install)", p.display());
    }
    for p in &plan.gone {
        let _ = writeln!(s, "  gone    {} (removed already)", p.display());
    }
    s
}

#[derive(Serialize)]
struct TrustFileJson {
    target: &'static str,
    path: String,
}

pub fn trust_json(
    plan: Option<&InstallPlan>,
    uninstall: Option<&UninstallPlan>,
    applied: Option<&hosttrust::Applied>,
) -> String {
    #[derive(Serialize)]
    struct Out {
        #[serde(skip_serializing_if = "Vec::is_empty")]
        write: Vec<TrustFileJson>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        remove: Vec<TrustFileJson>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        skipped: Vec<(String, String)>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        conflicts: Vec<(String, String)>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        constraints: Vec<hosttrust::CaScope>,
        applied: bool,
        written: Vec<String>,
        removed: Vec<String>,
        kept: Vec<String>,
    }
    let file = |t: hosttrust::Target, p: &std::path::Path| TrustFileJson {
        target: t.as_str(),
        path: p.display().to_string(),
    };
    let paths = |v: &[std::path::PathBuf]| v.iter().map(|p| p.display().to_string()).collect();
    let mut out = Out {
        write: Vec::new(),
        remove: Vec::new(),
        skipped: Vec::new(),
        conflicts: Vec::new(),
        constraints: Vec::new(),
        applied: applied.is_some(),
        written: applied.map(|a| paths(&a.written)).unwrap_or_default(),
        removed: applied.map(|a| paths(&a.removed)).unwrap_or_default(),
        kept: applied.map(|a| paths(&a.kept)).unwrap_or_default(),
    };
    if let Some(p) = plan {
        out.write = p
            .files
            .iter()
            .filter(|f| !f.unchanged)
            .map(|f| file(f.target, &f.path))
            .collect();
        out.remove = p.stale.iter().map(|e| file(e.target, &e.path)).collect();
        out.skipped = p
            .skipped
            .iter()
            .map(|(t, w)| (t.as_str().to_string(), w.clone()))
            .collect();
        out.conflicts = p
            .conflicts
            .iter()
            .map(|(f, w)| (f.display().to_string(), w.clone()))
            .collect();
        out.constraints = p.constraints.clone();
    }
    if let Some(u) = uninstall {
        out.remove = u.remove.iter().map(|e| file(e.target, &e.path)).collect();
    }
    json_text(&out)
}
