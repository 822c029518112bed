//! The TLS cheat sheet (`shared/seeds/002_...`) written out as an environment with each
//! mistake of its Common Errors table planted; doctor must name each at its file:line.

mod support_doctor;

use bkenv::doctor;
use support_doctor::{describe, fixtures, materialize, now, run};

fn at(report: &doctor::DoctorReport) -> Vec<(String, String, usize)> {
    report
        .findings
        .iter()
        .map(|f| {
            let l = f.location.as_ref();
            (
                f.code().to_string(),
                l.map(|l| l.path.display().to_string()).unwrap_or_default(),
                l.and_then(|l| l.span).map_or(0, |s| s.line),
            )
        })
        .collect()
}

#[test]
fn common_errors_are_reported_at_their_lines() {
    let tmp = materialize(&fixtures().join("cheatsheet"));
    let report = run(tmp.path());
    let got = at(&report);
    let expect = [
        // "Can't convert string to []string": address is a string.
        ("BK002", "buildkit/buildkitd.toml", 4),
        // "certificate required": [grpc.tls] ca turns on mTLS, the client has no cert.
        ("BK104", "buildkit/buildkitd.toml", 10),
        // "certificate signed by unknown authority": registry:5000 has no `ca`.
        ("BK201", "buildkit/buildkitd.toml", 13),
        // "HTTP request to HTTPS server": localhost is HTTP by default without http = false.
        ("BK204", "buildkit/buildkitd.toml", 18),
        // "certificate valid for X, not Y": the registry cert covers `registry` only.
        ("BK210", "buildkit/buildkitd.toml", 18),
        // localhost inside the bridge-network buildkit container is the container itself.
        ("BK213", "buildkit/buildkitd.toml", 18),
        ("BK213", ".env", 2),
        // ./registry/certs mounted into buildkit exposes the registry's private key.
        ("BK303", "docker-compose.yml", 25),
    ];
    for (code, file, line) in expect {
        assert!(
            got.iter()
                .any(|(c, f, l)| c == code && f == file && *l == line),
            "{code} not reported at {file}:{line}; got {:#?}",
            describe(&report)
        );
    }
    assert_eq!(got.len(), expect.len(), "{:#?}", describe(&report));
    // Secrets never leave the report: the password line of .env is not shown.
    assert!(report.findings.iter().all(|f| {
        f.location
            .as_ref()
            .and_then(|l| l.line_text.as_deref())
            .is_none_or(|t| !t.contains("testpassword"))
    }));
}

#[test]
fn fix_repairs_the_mechanical_mistakes() {
    let tmp = materialize(&fixtures().join("cheatsheet"));
    doctor::fix::apply(
        tmp.path(),
        &doctor::DoctorInputs::default(),
        now(),
        &|f| f,
        &mut bkenv::output::Writer::new(),
    )
    .unwrap();
    let after: Vec<String> = describe(&run(tmp.path()));
    for fixed in ["BK002", "BK201", "BK204"] {
        assert!(
            after.iter().all(|f| !f.starts_with(fixed)),
            "{fixed} left: {after:#?}"
        );
    }
}
