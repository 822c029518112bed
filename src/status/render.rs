//! The status report as a table for people and as JSON for scripts.

use super::{CaRole, CertRow, Report};
use std::fmt::Write;

/// The report as JSON (pretty, one trailing newline).
pub fn json(report: &Report) -> String {
    let mut s = serde_json::to_string_pretty(report).unwrap_or_else(|_| "{}".into());
    s.push('\n');
    s
}

/// The report as a table with the rotation phase, the trust files and what needs
/// attention.
pub fn human(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "bkenv status: {} at {} (expiry threshold: {} days)",
        report.dir, report.at, report.within_days
    );
    match &report.rotation {
        Some(r) => {
            let _ = writeln!(
                s,
                "\nCA rotation in progress, phase {}: started {}{}",
                r.phase,
                r.started,
                r.finished
                    .as_ref()
                    .map_or(String::new(), |f| format!(", finished {f}"))
            );
            let _ = writeln!(s, "  old CA sha256:{}", r.old_ca);
            let _ = writeln!(s, "  new CA sha256:{}", r.new_ca);
            let _ = writeln!(s, "  next: {}", r.next);
        }
        None => s.push_str("\nCA rotation: none in progress\n"),
    }
    s.push('\n');
    s.push_str(&table(report));
    s.push_str("\ntrust files (which CAs each holds):\n");
    let width = report
        .trust_files
        .iter()
        .map(|t| t.file.len())
        .max()
        .unwrap_or(0);
    for t in &report.trust_files {
        let cas = if t.present {
            t.cas
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(" + ")
        } else {
            "missing".into()
        };
        let _ = writeln!(s, "  {:<width$}  {cas}", t.file);
    }
    match report.host_trust_current {
        Some(true) => s.push_str("  this machine (trust install): up to date\n"),
        Some(false) => s.push_str("  this machine (trust install): OUT OF DATE\n"),
        None => {}
    }
    if !report.restart.is_empty() {
        s.push_str("\nrestart to serve what is on disk:\n");
        for c in &report.restart.commands {
            let _ = writeln!(s, "  {}", c.command);
        }
    }
    if report.attention.is_empty() {
        let _ = writeln!(
            s,
            "\nok: every certificate is valid for more than {} days{}",
            report.within_days,
            if report.probed {
                ", and every daemon serves the one on disk"
            } else {
                ""
            }
        );
    } else {
        s.push_str("\nneeds attention:\n");
        for a in &report.attention {
            let _ = writeln!(s, "  {a}");
        }
    }
    s
}

fn table(report: &Report) -> String {
    let mut head = vec![
        "ROLE",
        "FILE",
        "KEY",
        "EXPIRES",
        "DAYS",
        "CHAINS",
        "KEY-MATCH",
    ];
    if report.probed {
        head.push("SERVED");
    }
    head.extend(["ISSUER", "NAMES"]);
    let rows: Vec<Vec<String>> = report
        .certificates
        .iter()
        .map(|c| row(c, report.probed))
        .collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut s = String::new();
    let line = |cells: &[String], s: &mut String| {
        let last = cells.len() - 1;
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                let _ = write!(out, "{cell:<w$}  ");
            }
        }
        s.push_str(out.trim_end());
        s.push('\n');
    };
    line(
        &head.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        &mut s,
    );
    for r in &rows {
        line(r, &mut s);
    }
    s
}

fn row(c: &CertRow, probed: bool) -> Vec<String> {
    let dash = || "-".to_string();
    let yes_no = |b: Option<bool>| b.map_or_else(dash, |b| if b { "yes" } else { "NO" }.into());
    let role = match c.ca {
        Some(CaRole::Current) | None => c.role.clone(),
        Some(other) => format!("{} ({})", c.role, other.as_str()),
    };
    let issuer = match (c.ca, c.signed_by, &c.issuer) {
        (Some(_), _, _) => "self-signed".to_string(),
        (None, Some(by), Some(cn)) => format!("{cn} ({})", by.as_str()),
        (None, _, Some(cn)) => cn.clone(),
        _ => dash(),
    };
    let mut cells = vec![
        role,
        c.file.clone(),
        c.key_type.clone().unwrap_or_else(dash),
        c.not_after
            .as_deref()
            .map_or_else(dash, |t| t.get(..10).unwrap_or(t).to_string()),
        c.days_left.map_or_else(dash, |d| d.to_string()),
        // The rotation's other CA signs no leaf of today's chain: "NO" there would
        // read as a fault, and the role column says which CA it is.
        match c.ca {
            Some(CaRole::Current) | None => yes_no(c.chains_to_current_ca),
            Some(_) => dash(),
        },
        yes_no(c.key_matches),
    ];
    if probed {
        cells.push(match &c.served {
            None => dash(),
            Some(s) => match s.matches_disk {
                Some(true) => "same".into(),
                Some(false) => "OTHER".into(),
                None => "unreachable".into(),
            },
        });
    }
    cells.push(issuer);
    cells.push(match (c.present, c.names.is_empty(), &c.subject) {
        (false, _, _) => "(missing)".into(),
        // A client certificate has no SANs: its subject is what identifies it.
        (true, true, Some(cn)) => format!("CN={cn}"),
        _ => c.names.join(", "),
    });
    cells
}
