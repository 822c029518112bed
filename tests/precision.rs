//! Findings that must hold only for the BuildKit release in play and the environment as
//! it is: each test pins a false positive or a gap that doctor once had (issue 14), on
//! the golden environment with one thing changed.

mod support_doctor;

use bkenv::doctor::DoctorReport;
use std::path::Path;
use support_doctor::{describe, fixtures, materialize, run};

fn golden() -> tempfile::TempDir {
    materialize(&fixtures().join("golden"))
}

fn append(path: &Path, text: &str) {
    let mut old = std::fs::read_to_string(path).unwrap();
    old.push_str(text);
    std::fs::write(path, old).unwrap();
}

fn edit(path: &Path, from: &str, to: &str) {
    let old = std::fs::read_to_string(path).unwrap();
    assert!(old.contains(from), "{} lacks {from:?}", path.display());
    std::fs::write(path, old.replacen(from, to, 1)).unwrap();
}

fn codes(report: &DoctorReport, code: &str) -> Vec<String> {
    describe(report)
        .into_iter()
        .filter(|d| d.starts_with(code))
        .collect()
}

fn help_of(report: &DoctorReport, code: &str) -> String {
    report
        .findings
        .iter()
        .filter(|f| f.code() == code)
        .filter_map(|f| f.help.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `--addr tcp://0.0.0.0:1234` in `command` listens without TLS even when no
/// buildkitd.toml is mounted; TLS flags in `command` turn TLS on for a config without
/// `[grpc.tls]`.
#[test]
fn bk103_reads_the_command_flags() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("docker-compose.yml"),
        "services:\n  buildkitd:\n    image: moby/buildkit:v0.23.2\n    privileged: true\n    command: --addr tcp://0.0.0.0:1234 --addr unix:///run/buildkit/buildkitd.sock\n",
    )
    .unwrap();
    let report = run(tmp.path());
    let bk103 = codes(&report, "BK103");
    assert_eq!(bk103.len(), 1, "{:#?}", describe(&report));
    assert!(bk103[0].contains("docker-compose.yml:5"), "{bk103:#?}");

    let tmp = golden();
    let toml = tmp.path().join("buildkit/buildkitd.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let without_tls: String = text.split("[grpc.tls]").next().unwrap().to_string()
        + "[registry.\"registry:5000\"]\nca = [\"/etc/buildkit/certs/ca.crt\"]\n";
    std::fs::write(&toml, without_tls).unwrap();
    edit(
        &tmp.path().join("docker-compose.yml"),
        "      - --config=/etc/buildkit/buildkitd.toml\n",
        "      - --config=/etc/buildkit/buildkitd.toml\n      - --tlscert=/etc/buildkit/certs/server.crt\n      - --tlskey=/etc/buildkit/certs/server.key\n      - --tlscacert=/etc/buildkit/certs/ca.crt\n",
    );
    let report = run(tmp.path());
    assert!(
        codes(&report, "BK103").is_empty(),
        "{:#?}",
        describe(&report)
    );
}

/// `http + insecure` works on v0.12.3 and later (HTTPS without verification first, then
/// plain HTTP): a note, and no BK202 for a TLS registry. Before v0.12.3 pushes went over
/// plain HTTP only, so a TLS registry fails: BK202.
#[test]
fn http_with_insecure_depends_on_the_release() {
    let tmp = golden();
    let toml = tmp.path().join("buildkit/buildkitd.toml");
    edit(
        &toml,
        "[registry.\"registry:5000\"]\nca = [\"/etc/buildkit/certs/ca.crt\"]",
        "[registry.\"registry:5000\"]\nhttp = true\ninsecure = true",
    );
    let report = run(tmp.path());
    let got = describe(&report);
    assert_eq!(
        report
            .findings
            .iter()
            .map(|f| (f.code(), f.severity.as_str()))
            .collect::<Vec<_>>(),
        [("BK205", "note")],
        "{got:#?}"
    );
    edit(
        &tmp.path().join("docker-compose.yml"),
        "moby/buildkit:v0.23.2",
        "moby/buildkit:v0.12.2",
    );
    let report = run(tmp.path());
    assert_eq!(codes(&report, "BK202").len(), 1, "{:#?}", describe(&report));
}

/// BK206 advises removing `insecure` only when the `ca` signs the served certificate
/// and it covers the name dialled; otherwise removing it would break the pull.
#[test]
fn bk206_advice_follows_the_certificate() {
    let tmp = golden();
    let toml = tmp.path().join("buildkit/buildkitd.toml");
    append(
        &toml,
        "\n[registry.\"mirror-alias:5000\"]\ninsecure = true\nca = [\"/etc/buildkit/certs/ca.crt\"]\n",
    );
    edit(
        &tmp.path().join("docker-compose.yml"),
        "  registry:\n    image: registry:2.8.3\n",
        "  registry:\n    image: registry:2.8.3\n    hostname: mirror-alias\n",
    );
    let report = run(tmp.path());
    let help = help_of(&report, "BK206");
    assert!(help.contains("reissue"), "{help}");
    assert!(!help.starts_with("remove"), "{help}");

    edit(
        &toml,
        "\n[registry.\"mirror-alias:5000\"]\ninsecure = true\nca = [\"/etc/buildkit/certs/ca.crt\"]\n",
        "",
    );
    edit(
        &toml,
        "[registry.\"registry:5000\"]\n",
        "[registry.\"registry:5000\"]\ninsecure = true\n",
    );
    let report = run(tmp.path());
    assert!(
        help_of(&report, "BK206").starts_with("remove `insecure = true`"),
        "{:#?}",
        describe(&report)
    );
}

/// BK211 only when the parent sets something its mirror could miss (`http = false` is
/// the default); a mirror written `http://host` is reached over HTTPS without a table.
#[test]
fn bk211_mirror_inheritance() {
    let tmp = golden();
    let toml = tmp.path().join("buildkit/buildkitd.toml");
    append(
        &toml,
        "\n[registry.\"docker.io\"]\nmirrors = [\"mirror.example.com\"]\nhttp = false\n",
    );
    let report = run(tmp.path());
    assert!(
        codes(&report, "BK211").is_empty(),
        "{:#?}",
        describe(&report)
    );

    edit(
        &toml,
        "\"mirror.example.com\"",
        "\"http://mirror.example.com:5000\"",
    );
    let report = run(tmp.path());
    let bk211 = codes(&report, "BK211");
    assert_eq!(bk211.len(), 1, "{:#?}", describe(&report));
    assert!(bk211[0].contains("HTTPS"), "{bk211:#?}");
    append(
        &toml,
        "\n[registry.\"mirror.example.com:5000\"]\nhttp = true\n",
    );
    assert!(codes(&run(tmp.path()), "BK211").is_empty());
}

/// `extra_hosts: localhost:host-gateway` sends `localhost` to the host, so a registry
/// published on all interfaces is reached; one published on 127.0.0.1 is not.
#[test]
fn bk213_follows_extra_hosts() {
    let tmp = materialize(&fixtures().join("checks/BK213/bad"));
    let compose = tmp.path().join("docker-compose.yml");
    edit(
        &compose,
        "  buildkitd:\n    image: moby/buildkit:v0.23.2\n",
        "  buildkitd:\n    image: moby/buildkit:v0.23.2\n    extra_hosts:\n      - \"localhost:host-gateway\"\n",
    );
    let report = run(tmp.path());
    let bk213 = codes(&report, "BK213");
    assert_eq!(bk213.len(), 1, "{:#?}", describe(&report));
    assert!(bk213[0].contains("loopback only"), "{bk213:#?}");

    edit(&compose, "\"127.0.0.1:5005:5000\"", "\"5005:5000\"");
    let report = run(tmp.path());
    assert!(
        codes(&report, "BK213").is_empty(),
        "{:#?}",
        describe(&report)
    );
}

/// A table no reference can select is reported once (BK007), not again for what it sets.
#[test]
fn never_matching_tables_get_one_finding() {
    let tmp = golden();
    append(
        &tmp.path().join("buildkit/buildkitd.toml"),
        "\n[registry.\"*\"]\ninsecure = true\n\n[registry.\"https://registry:5000\"]\nhttp = true\ninsecure = true\n",
    );
    let report = run(tmp.path());
    let got = describe(&report);
    assert_eq!(codes(&report, "BK007").len(), 2, "{got:#?}");
    assert_eq!(got.len(), 2, "{got:#?}");
}

/// `podman-compose.yml` defines the project as `docker-compose.yml` would.
#[test]
fn podman_compose_file_is_the_project() {
    let tmp = materialize(&fixtures().join("checks/BK213/bad"));
    std::fs::rename(
        tmp.path().join("docker-compose.yml"),
        tmp.path().join("podman-compose.yml"),
    )
    .unwrap();
    let report = run(tmp.path());
    let bk213 = codes(&report, "BK213");
    assert_eq!(bk213.len(), 1, "{:#?}", describe(&report));
    assert!(describe(&report).iter().all(|d| !d.starts_with("BK301")));
}

/// Keys are gated by the release in play: the compose image tag first, then
/// `buildkitd.image` of bkenv.toml, else the pinned v0.23.2.
#[test]
fn the_release_in_play_gates_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = "proxyNetwork = true\n\n[system]\nmaxRegistryConcurrency = 4\n";
    std::fs::write(tmp.path().join("buildkitd.toml"), toml).unwrap();
    assert_eq!(codes(&run(tmp.path()), "BK012").len(), 2);
    std::fs::write(
        tmp.path().join("bkenv.toml"),
        "[buildkitd]\nimage = \"moby/buildkit:v0.31.0\"\n",
    )
    .unwrap();
    assert!(describe(&run(tmp.path())).is_empty());
    std::fs::write(
        tmp.path().join("docker-compose.yml"),
        "services:\n  buildkitd:\n    image: moby/buildkit:v0.30.0\n    volumes:\n      - ./buildkitd.toml:/etc/buildkit/buildkitd.toml:ro\n",
    )
    .unwrap();
    let report = run(tmp.path());
    let bk012 = codes(&report, "BK012");
    assert_eq!(bk012.len(), 2, "{:#?}", describe(&report));
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.notes.iter().any(|n| n.contains("moby/buildkit:v0.30.0"))),
        "{:#?}",
        report.findings
    );
}

/// A dotless, port-less key other than `localhost` is a Docker Hub namespace in an image
/// reference, never a registry host: reported when the table sets something (and then
/// not again as BK207), silent when it only restates the defaults.
#[test]
fn hub_namespace_keys_never_match() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = tmp.path().join("buildkitd.toml");
    std::fs::write(
        &toml,
        "[registry.\"build-cache\"]\n  http = false\n  insecure = false\n",
    )
    .unwrap();
    assert!(describe(&run(tmp.path())).is_empty());
    std::fs::write(&toml, "[registry.\"build-cache\"]\n  insecure = true\n").unwrap();
    let report = run(tmp.path());
    let got = describe(&report);
    assert_eq!(codes(&report, "BK007").len(), 1, "{got:#?}");
    assert!(got[0].contains("docker.io/build-cache/app"), "{got:#?}");
    assert_eq!(got.len(), 1, "{got:#?}");
}

/// `[frontend.dockerfile.v0]` unquoted is the table `frontend.dockerfile` holding `v0`:
/// the help says to quote it, not to rename it.
#[test]
fn an_unquoted_dotted_key_is_told_to_quote() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("buildkitd.toml"),
        "[frontend.dockerfile.v0]\n  enabled = false\n",
    )
    .unwrap();
    let report = run(tmp.path());
    assert_eq!(codes(&report, "BK004").len(), 1, "{:#?}", describe(&report));
    assert_eq!(
        help_of(&report, "BK004"),
        "quote the key: `[frontend.\"dockerfile.v0\"]`; unquoted, its dot makes two tables"
    );
}
