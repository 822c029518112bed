//! Certificate lifecycle through the library at a fixed clock: `status` reports what is
//! due, `renew` reissues it as pairs and names the restarts, a CA rotation (start,
//! finish, drop-old) keeps every client that follows it working at each phase (checked
//! with openssl and doctor), and every step interrupted at each write is completed by
//! running it again.

mod support;

use bkenv::doctor::{self, DoctorInputs};
use bkenv::init::{InitOptions, Renewal};
use bkenv::output::Writer;
use bkenv::pki::{self, CertFacts, key_matches_cert, read_certs, read_private_key, signed_by};
use bkenv::rotation::{self, Phase, RotationError, Step};
use bkenv::status::{self, CaRole};
use std::fs;
use std::path::Path;
use support::{NOW, options};
use time::{Duration, OffsetDateTime};

const MTLS: &str = include_str!("../examples/mtls/bkenv.toml");

fn opts_at(dir: &Path, now: OffsetDateTime) -> InitOptions {
    let mut o = options(dir);
    o.now = now;
    o
}

fn rng() -> ring::rand::SystemRandom {
    ring::rand::SystemRandom::new()
}

fn password(var: &str) -> Option<String> {
    var.ends_with("_PASSWORD")
        .then(|| "password-from-env".to_string())
}

/// A fresh environment made at `now` from `spec`.
fn env_at(spec: Option<&str>, now: OffsetDateTime) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    if let Some(spec) = spec {
        fs::write(dir.path().join("bkenv.toml"), spec).expect("spec");
    }
    bkenv::init::run(
        &opts_at(dir.path(), now),
        &rng(),
        &password,
        &mut Writer::new(),
    )
    .expect("init");
    dir
}

fn report(dir: &Path, now: OffsetDateTime, within_days: i64) -> status::Report {
    let env = bkenv::spec::environment_of(dir).expect("spec");
    status::collect(dir, ".", &env, now, Duration::days(within_days)).expect("status")
}

fn cert(dir: &Path, rel: &str) -> CertFacts {
    read_certs(&fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}")))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .remove(0)
}

fn certs(dir: &Path, rel: &str) -> Vec<CertFacts> {
    read_certs(&fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}")))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn ders(certs: &[CertFacts]) -> Vec<Vec<u8>> {
    certs.iter().map(|c| c.der.clone()).collect()
}

const LEAVES: [(&str, &str); 3] = [
    ("buildkit/certs/server.crt", "buildkit/certs/server.key"),
    ("registry/certs/registry.crt", "registry/certs/registry.key"),
    ("client/client.crt", "client/client.key"),
];

fn leaves(dir: &Path) -> Vec<(&'static str, &'static str)> {
    LEAVES
        .into_iter()
        .filter(|(c, _)| dir.join(c).exists())
        .collect()
}

/// Every leaf present, its key matching, signed by `ca`.
fn pairs_signed_by(dir: &Path, ca: &CertFacts, context: &str) {
    for (crt, key) in leaves(dir) {
        let c = cert(dir, crt);
        let k = read_private_key(&fs::read(dir.join(key)).expect("key")).expect("key");
        assert!(
            key_matches_cert(&k, &c),
            "{context}: {key} does not match {crt}"
        );
        assert!(
            signed_by(&c, ca),
            "{context}: {crt} is not signed by the expected CA"
        );
    }
}

fn doctor_clean(dir: &Path, now: OffsetDateTime, context: &str) {
    let inputs = DoctorInputs {
        path_env: Some(dir.join("bin").into_os_string()),
        ..DoctorInputs::default()
    };
    let report = doctor::run(dir, &inputs, now).expect("doctor");
    let found: Vec<String> = report
        .findings
        .iter()
        .map(|f| format!("{} {}", f.code(), f.message))
        .collect();
    assert!(found.is_empty(), "{context}: {found:#?}");
}

/// `openssl verify` of `leaf` with only `cafile` trusted, at the test's clock.
fn openssl_trusts(dir: &Path, cafile: &Path, leaf: &str, now: OffsetDateTime) -> Option<bool> {
    let openssl = support::tool("openssl")?;
    let (ok, _) = support::run(
        std::process::Command::new(openssl)
            .arg("verify")
            .arg("-attime")
            .arg((now + Duration::hours(1)).unix_timestamp().to_string())
            .arg("-CAfile")
            .arg(cafile)
            .arg(dir.join(leaf)),
    );
    Some(ok)
}

fn rotate(
    dir: &Path,
    step: Step,
    now: OffsetDateTime,
) -> bkenv::error::Result<rotation::RotateOutcome> {
    rotation::run(
        step,
        &opts_at(dir, now),
        &rng(),
        &password,
        &mut Writer::new(),
        ".",
    )
}

fn renew(dir: &Path, now: OffsetDateTime, renewal: Renewal) -> bkenv::renew::RenewOutcome {
    let mut o = opts_at(dir, now);
    o.renewal = renewal;
    bkenv::renew::run(&o, &rng(), &password, &mut Writer::new(), ".").expect("renew")
}

#[test]
fn a_leaf_ten_days_from_expiry_is_reported_then_renewed() {
    // Leaves live 365 days: made 355 days ago, they have 10 left.
    let made = NOW - Duration::days(355);
    let dir = env_at(None, made);
    let d = dir.path();
    let r = report(d, NOW, 30);
    assert!(r.needs_attention());
    for (crt, _) in leaves(d) {
        let row = r.certificates.iter().find(|c| c.file == crt).expect(crt);
        assert_eq!(row.days_left, Some(10), "{crt}");
        assert_eq!(row.chains_to_current_ca, Some(true));
        assert_eq!(row.key_matches, Some(true));
        assert!(
            row.problems
                .iter()
                .any(|p| p.starts_with("expires in 10 days")),
            "{crt}: {:?}",
            row.problems
        );
    }
    assert!(r.certificates[0].problems.is_empty(), "the CA is fine");
    // A tighter threshold says nothing.
    assert!(!report(d, NOW, 7).needs_attention());

    let before: Vec<(CertFacts, Vec<u8>)> = leaves(d)
        .iter()
        .map(|(c, k)| (cert(d, c), fs::read(d.join(k)).expect("key")))
        .collect();
    let o = renew(d, NOW, Renewal::default());
    let reissued: Vec<(&str, String)> = o
        .init
        .reissued
        .iter()
        .map(|r| (r.cert.as_str(), r.reason.to_string()))
        .collect();
    assert_eq!(
        reissued,
        [
            (
                "buildkit/certs/server.crt",
                "it expires in 10 days".to_string()
            ),
            (
                "registry/certs/registry.crt",
                "it expires in 10 days".to_string()
            )
        ]
    );
    assert_eq!(o.restart.services, ["buildkitd", "registry"]);
    assert_eq!(
        o.restart.commands[0].command,
        "docker compose restart buildkitd registry"
    );
    let ca = cert(d, "ca/ca.crt");
    pairs_signed_by(d, &ca, "after renew");
    for ((crt, key), (old, old_key)) in leaves(d).iter().zip(&before) {
        let new = cert(d, crt);
        assert_ne!(new.der, old.der, "{crt} reissued");
        assert_ne!(
            fs::read(d.join(key)).expect("key"),
            *old_key,
            "{key}: a new key"
        );
        assert_eq!(
            (&new.dns_sans, &new.ip_sans),
            (&old.dns_sans, &old.ip_sans),
            "same names"
        );
        assert_eq!(new.public_key, old.public_key, "same key type");
        assert_eq!(new.not_after, NOW + Duration::days(365));
    }
    let r = report(d, NOW, 30);
    assert!(!r.needs_attention(), "{:#?}", r.attention);
    doctor_clean(d, NOW, "after renew");
    // Nothing is due any more: a second renewal changes nothing and restarts nothing.
    let o = renew(d, NOW, Renewal::default());
    assert!(o.init.reissued.is_empty() && o.restart.is_empty());
}

#[test]
fn renew_window_force_and_keep_key() {
    let dir = env_at(Some(MTLS), NOW - Duration::days(300));
    let d = dir.path();
    // 65 days left: not due by default, due within 90 days.
    assert!(renew(d, NOW, Renewal::default()).init.reissued.is_empty());
    let keys: Vec<Vec<u8>> = leaves(d)
        .iter()
        .map(|(_, k)| fs::read(d.join(k)).unwrap())
        .collect();
    let o = renew(
        d,
        NOW,
        Renewal {
            within: Duration::days(90),
            all: false,
            keep_keys: true,
        },
    );
    assert_eq!(o.init.reissued.len(), 3, "{:?}", o.init.reissued);
    let after: Vec<Vec<u8>> = leaves(d)
        .iter()
        .map(|(_, k)| fs::read(d.join(k)).unwrap())
        .collect();
    assert_eq!(keys, after, "--keep-key keeps every key");
    pairs_signed_by(d, &cert(d, "ca/ca.crt"), "keep-key");
    // The client certificate is read by buildctl on each run: no daemon restarts for it.
    assert_eq!(o.restart.services, ["buildkitd", "registry"]);
    // --force reissues everything, with new keys.
    let o = renew(
        d,
        NOW,
        Renewal {
            all: true,
            ..Renewal::default()
        },
    );
    assert_eq!(o.init.reissued.len(), 3);
    assert!(
        o.init
            .reissued
            .iter()
            .all(|r| r.reason == pki::ReissueReason::Requested)
    );
    let forced: Vec<Vec<u8>> = leaves(d)
        .iter()
        .map(|(_, k)| fs::read(d.join(k)).unwrap())
        .collect();
    assert!(forced.iter().zip(&after).all(|(a, b)| a != b), "new keys");
    pairs_signed_by(d, &cert(d, "ca/ca.crt"), "force");
    doctor_clean(d, NOW, "after renew --force");
}

/// What each trust file must hold, by DER.
fn trust_files_hold(dir: &Path, cas: &[&CertFacts], context: &str) {
    let env = bkenv::spec::environment_of(dir).expect("spec");
    let want: Vec<Vec<u8>> = cas.iter().map(|c| c.der.clone()).collect();
    for f in env.trust_files() {
        assert_eq!(ders(&certs(dir, &f)), want, "{context}: {f}");
    }
}

#[test]
fn rotation_keeps_clients_working_at_every_phase() {
    let dir = env_at(Some(MTLS), NOW);
    let d = dir.path();
    let old = cert(d, "ca/ca.crt");
    let work = tempfile::tempdir().expect("work");
    let old_only = work.path().join("old.crt");
    fs::copy(d.join("ca/ca.crt"), &old_only).expect("old CA");
    let leaf_bytes = |d: &Path| -> Vec<Vec<u8>> {
        leaves(d)
            .iter()
            .map(|(c, _)| fs::read(d.join(c)).unwrap())
            .collect()
    };
    let before = leaf_bytes(d);

    // Refused before a rotation exists.
    let e = rotate(d, Step::Finish, NOW).expect_err("finish without start");
    assert!(
        matches!(e, bkenv::error::Error::Rotation(RotationError::NotStarted)),
        "{e}"
    );

    // Start: the new CA joins every trust file; nothing else changes.
    let t1 = NOW + Duration::days(1);
    let o = rotate(d, Step::Start, t1).expect("start");
    assert_eq!(o.phase, Some(Phase::Started));
    assert_eq!(cert(d, "ca/ca.crt").der, old.der, "the old CA still signs");
    assert_eq!(leaf_bytes(d), before, "no leaf changes");
    let new = cert(d, ".bkenv/ca-incoming/ca.crt");
    assert_ne!(new.der, old.der);
    // The same constraints (and key type) the spec gives any CA of this environment.
    assert_eq!(new.name_constraints, old.name_constraints);
    assert!(new.name_constraints.is_some() && new.name_constraints_critical);
    assert_eq!(new.public_key, old.public_key);
    trust_files_hold(d, &[&old, &new], "started");
    assert_eq!(o.restart.services, ["buildkitd"], "its CA bundle changed");
    doctor_clean(d, t1, "started");
    let r = report(d, t1, 30);
    assert!(!r.needs_attention(), "{:#?}", r.attention);
    assert_eq!(r.rotation.as_ref().map(|v| v.phase), Some(Phase::Started));
    assert!(
        r.certificates
            .iter()
            .any(|c| c.ca == Some(CaRole::Incoming))
    );
    assert!(
        r.trust_files
            .iter()
            .all(|t| t.cas == [CaRole::Current, CaRole::Incoming])
    );
    for (crt, _) in leaves(d) {
        // A client that has only the old CA still verifies every server.
        assert_ne!(openssl_trusts(d, &old_only, crt, t1), Some(false), "{crt}");
        assert_ne!(
            openssl_trusts(d, &d.join("client/ca.crt"), crt, t1),
            Some(false)
        );
    }
    let e = bkenv::init::run(
        &InitOptions {
            new_ca: true,
            ..opts_at(d, t1)
        },
        &rng(),
        &password,
        &mut Writer::new(),
    )
    .expect_err("--new-ca during a rotation");
    assert!(e.to_string().contains("rotation is in progress"), "{e}");
    let e = rotate(d, Step::DropOld, t1).expect_err("drop-old before finish");
    assert!(matches!(
        e,
        bkenv::error::Error::Rotation(RotationError::NotFinished)
    ));
    // Again: nothing changes.
    let o = rotate(d, Step::Start, t1).expect("start again");
    assert!(
        o.init
            .applied
            .iter()
            .all(|a| a.status == bkenv::output::Status::Unchanged)
    );

    // Finish: the new CA signs every leaf; trust files still hold both.
    let t2 = NOW + Duration::days(2);
    let o = rotate(d, Step::Finish, t2).expect("finish");
    assert_eq!(o.phase, Some(Phase::Finished));
    assert_eq!(cert(d, "ca/ca.crt").der, new.der);
    assert!(!d.join(".bkenv/ca-incoming").exists());
    let archived = d.join(o.archived.clone().expect("old CA archived"));
    assert_eq!(cert(&archived, "ca.crt").der, old.der);
    assert!(archived.join("ca.key").exists());
    pairs_signed_by(d, &new, "finished");
    trust_files_hold(d, &[&new, &old], "finished");
    assert_eq!(o.restart.services, ["buildkitd", "registry"]);
    assert_eq!(o.init.reissued.len(), 3);
    doctor_clean(d, t2, "finished");
    let r = report(d, t2, 30);
    assert!(!r.needs_attention(), "{:#?}", r.attention);
    assert!(
        r.certificates
            .iter()
            .any(|c| c.ca == Some(CaRole::Retiring))
    );
    for (crt, _) in leaves(d) {
        // Old-only clients fail now; the bundle works.
        assert_ne!(openssl_trusts(d, &old_only, crt, t2), Some(true), "{crt}");
        assert_ne!(
            openssl_trusts(d, &d.join("client/ca.crt"), crt, t2),
            Some(false)
        );
    }
    let e = rotate(d, Step::Start, t2).expect_err("start after finish");
    assert!(matches!(
        e,
        bkenv::error::Error::Rotation(RotationError::AlreadyFinished)
    ));
    let o = rotate(d, Step::Finish, t2).expect("finish again");
    assert!(o.init.reissued.is_empty());

    // Drop the old CA: the trust files hold the new one only.
    let t3 = NOW + Duration::days(3);
    let o = rotate(d, Step::DropOld, t3).expect("drop-old");
    assert_eq!(o.phase, None);
    trust_files_hold(d, &[&new], "dropped");
    assert_eq!(o.restart.services, ["buildkitd"]);
    assert!(
        archived.join("ca.crt").exists(),
        "the old CA stays archived"
    );
    doctor_clean(d, t3, "dropped");
    let r = report(d, t3, 30);
    assert!(
        r.rotation.is_none() && !r.needs_attention(),
        "{:#?}",
        r.attention
    );
    let new_only = work.path().join("new.crt");
    fs::copy(d.join("ca/ca.crt"), &new_only).expect("new CA");
    for (crt, _) in leaves(d) {
        assert_ne!(openssl_trusts(d, &new_only, crt, t3), Some(false), "{crt}");
    }
    // Dropped already: a re-run only says so.
    let o = rotate(d, Step::DropOld, t3).expect("drop-old again");
    assert!(
        o.init
            .applied
            .iter()
            .all(|a| a.status == bkenv::output::Status::Unchanged)
    );
    // And `init` leaves it all as it is.
    let o = bkenv::init::run(&opts_at(d, t3), &rng(), &password, &mut Writer::new()).expect("init");
    assert!(o.init_unchanged(), "{:?}", o.applied);
}

trait Unchanged {
    fn init_unchanged(&self) -> bool;
}

impl Unchanged for bkenv::init::InitOutcome {
    fn init_unchanged(&self) -> bool {
        self.applied
            .iter()
            .all(|a| a.status == bkenv::output::Status::Unchanged)
    }
}

/// Doctor's BK513 and `status` ask for `--drop-old` once the rotation has been finished
/// for 30 days and the old CA is still in the trust files; neither does before, or after
/// the old CA left them.
#[test]
fn an_old_ca_left_in_the_trust_files_long_after_finish_is_reported() {
    let dir = env_at(None, NOW);
    let d = dir.path();
    rotate(d, Step::Start, NOW).expect("start");
    rotate(d, Step::Finish, NOW).expect("finish");
    let codes = |at: OffsetDateTime| -> Vec<String> {
        let inputs = DoctorInputs {
            path_env: Some(d.join("bin").into_os_string()),
            ..DoctorInputs::default()
        };
        doctor::run(d, &inputs, at)
            .expect("doctor")
            .findings
            .iter()
            .map(|f| format!("{} {}", f.code(), f.message))
            .collect()
    };
    doctor_clean(d, NOW + Duration::days(29), "29 days after --finish");
    assert!(!report(d, NOW + Duration::days(29), 30).needs_attention());
    let late = NOW + Duration::days(31);
    let found = codes(late);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].starts_with("BK513 the CA rotation finished 31 days ago"),
        "{found:#?}"
    );
    for f in bkenv::spec::environment_of(d).expect("spec").trust_files() {
        assert!(found[0].contains(&f), "{f} named: {found:#?}");
    }
    let r = report(d, late, 30);
    assert!(
        r.attention
            .iter()
            .any(|a| a.contains("rotate-ca --drop-old")),
        "{:#?}",
        r.attention
    );
    rotate(d, Step::DropOld, late).expect("drop-old");
    doctor_clean(d, late, "after --drop-old");
    assert!(!report(d, late, 30).needs_attention());
}

/// A renewal during the overlap is signed by the CA that still signs (the old one), so
/// clients that have only it keep working. (Every writing command renews what is due:
/// the start of the rotation renews the leaves 10 days from expiry, from the old CA.)
#[test]
fn renewals_during_a_rotation_are_signed_by_the_current_ca() {
    let dir = env_at(None, NOW - Duration::days(355));
    let d = dir.path();
    let old = cert(d, "ca/ca.crt");
    let o = rotate(d, Step::Start, NOW).expect("start");
    assert_eq!(o.init.reissued.len(), 2, "due leaves renewed by the start");
    pairs_signed_by(d, &old, "started");
    let o = renew(
        d,
        NOW,
        Renewal {
            all: true,
            ..Renewal::default()
        },
    );
    assert_eq!(o.init.reissued.len(), 2);
    pairs_signed_by(d, &old, "renewed while started");
    doctor_clean(d, NOW, "renewed while started");
}

/// A copy of `src` (a whole environment) in a new temporary directory.
fn copy_env(src: &Path) -> tempfile::TempDir {
    let dst = tempfile::tempdir().expect("tempdir");
    let (ok, out) = support::run(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(src.join("."))
            .arg(dst.path()),
    );
    assert!(ok, "cp: {out}");
    dst
}

fn no_temp_files(dir: &Path, context: &str) {
    for e in walkdir::WalkDir::new(dir) {
        let e = e.expect("walk");
        assert!(
            !e.file_name().to_string_lossy().contains(".bkenv-tmp-"),
            "{context}: {}",
            e.path().display()
        );
    }
}

/// The CA pair in `ca/` matches (a switch never leaves a key with another certificate).
fn ca_pair_whole(dir: &Path, context: &str) {
    // Between the two renames of a switch `ca/` is absent; the next run's
    // `castore::recover` puts the staged pair in place.
    if !dir.join("ca").exists() {
        assert!(
            dir.join(".bkenv/ca-next/ca.key").exists(),
            "{context}: a CA is staged"
        );
        return;
    }
    let key = read_private_key(&fs::read(dir.join("ca/ca.key")).expect("ca key")).expect("ca key");
    assert!(
        key_matches_cert(&key, &cert(dir, "ca/ca.crt")),
        "{context}: CA pair"
    );
}

/// Every step of a rotation, interrupted before each of its writes, is completed by
/// running the same step again: the result is what an uninterrupted step gives.
#[test]
fn every_rotation_step_interrupted_at_each_write_is_completed_by_a_rerun() {
    let base = env_at(Some(MTLS), NOW);
    let mut template = base;
    for step in [Step::Start, Step::Finish, Step::DropOld] {
        let mut n = 0;
        loop {
            let copy = copy_env(template.path());
            let d = copy.path();
            let before_ca = cert(d, "ca/ca.crt");
            let mut w = Writer::new();
            w.fail_after = Some(n);
            let done =
                rotation::run(step, &opts_at(d, NOW), &rng(), &password, &mut w, ".").is_ok();
            let context = format!("{step:?} interrupted after {n} writes");
            no_temp_files(d, &context);
            ca_pair_whole(d, &context);
            // Until the run completes, clients keep a CA that verifies what is served.
            rotate(d, step, NOW).unwrap_or_else(|e| panic!("{context}: rerun: {e}"));
            let state = bkenv::output::State::load(d).expect("state");
            let (ca, trusted): (CertFacts, Vec<Vec<u8>>) = match step {
                Step::Start => {
                    assert_eq!(
                        state.rotation.as_ref().map(|r| r.phase),
                        Some(Phase::Started),
                        "{context}"
                    );
                    let new = cert(d, ".bkenv/ca-incoming/ca.crt");
                    assert_eq!(cert(d, "ca/ca.crt").der, before_ca.der, "{context}");
                    (before_ca.clone(), vec![before_ca.der.clone(), new.der])
                }
                Step::Finish => {
                    let r = state.rotation.clone().expect("rotation");
                    assert_eq!(r.phase, Phase::Finished, "{context}");
                    let ca = cert(d, "ca/ca.crt");
                    assert_eq!(ca.der, read_certs(r.new_ca.as_bytes()).unwrap()[0].der);
                    let old = read_certs(r.old_ca.as_bytes()).unwrap().remove(0);
                    assert!(!d.join(".bkenv/ca-incoming").exists(), "{context}");
                    let backups = fs::read_dir(d.join("ca"))
                        .unwrap()
                        .filter(|e| {
                            e.as_ref()
                                .unwrap()
                                .file_name()
                                .to_string_lossy()
                                .starts_with("backup-")
                        })
                        .count();
                    assert_eq!(backups, 1, "{context}: one backup of the old CA");
                    let trusted = vec![ca.der.clone(), old.der];
                    (ca, trusted)
                }
                Step::DropOld => {
                    assert!(state.rotation.is_none(), "{context}");
                    let ca = cert(d, "ca/ca.crt");
                    let trusted = vec![ca.der.clone()];
                    (ca, trusted)
                }
            };
            pairs_signed_by(d, &ca, &context);
            let env = bkenv::spec::environment_of(d).expect("spec");
            for f in env.trust_files() {
                assert_eq!(ders(&certs(d, &f)), trusted, "{context}: {f}");
            }
            doctor_clean(d, NOW, &context);
            if done {
                // The uninterrupted run of this step is the next step's starting point.
                template = copy;
                break;
            }
            n += 1;
            assert!(n < 200, "{step:?} never completes");
        }
        assert!(
            n > 2,
            "{step:?}: the interruption points were exercised ({n})"
        );
    }
}

/// A renewal interrupted at each write: the next run makes every pair whole again, and
/// until then `status` names the pair that does not match.
#[test]
fn renew_interrupted_at_each_write_is_completed_by_a_rerun() {
    let template = env_at(None, NOW - Duration::days(355));
    let mut n = 0;
    loop {
        let copy = copy_env(template.path());
        let d = copy.path();
        let mut w = Writer::new();
        w.fail_after = Some(n);
        let done = bkenv::renew::run(&opts_at(d, NOW), &rng(), &password, &mut w, ".").is_ok();
        let context = format!("renew interrupted after {n} writes");
        no_temp_files(d, &context);
        // Whatever is on disk now, status tells the truth about it.
        let r = report(d, NOW, 30);
        for (crt, key) in leaves(d) {
            let c = cert(d, crt);
            let k = read_private_key(&fs::read(d.join(key)).unwrap()).unwrap();
            let row = r.certificates.iter().find(|row| row.file == crt).unwrap();
            assert_eq!(
                row.key_matches,
                Some(key_matches_cert(&k, &c)),
                "{context}: {crt}"
            );
        }
        renew(d, NOW, Renewal::default());
        pairs_signed_by(d, &cert(d, "ca/ca.crt"), &context);
        let r = report(d, NOW, 30);
        assert!(!r.needs_attention(), "{context}: {:#?}", r.attention);
        if done {
            break;
        }
        n += 1;
        assert!(n < 100, "renew never completes");
    }
    assert!(n > 2, "the interruption points were exercised ({n})");
}

/// A CA's name carries the start of its key id (`bkenv development CA 608ADCC8`); the
/// keys are new each run.
fn redact_key_ids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("CA ") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let id: String = tail.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        if id.len() == 8 && id.chars().all(|c| !c.is_ascii_lowercase()) {
            out.push_str("[keyid]");
            rest = &tail[8..];
        } else {
            rest = tail;
        }
    }
    out.push_str(rest);
    out
}

fn redact(text: &str) -> String {
    let text = &redact_key_ids(text);
    let mut out = String::new();
    for word in text.split_inclusive(|c: char| !c.is_ascii_hexdigit()) {
        let hex: String = word.chars().take_while(char::is_ascii_hexdigit).collect();
        if hex.len() == 64 {
            out.push_str("[sha256]");
            out.push_str(&word[64..]);
        } else {
            out.push_str(word);
        }
    }
    out
}

#[test]
fn status_output_snapshots() {
    let dir = env_at(Some(MTLS), NOW - Duration::days(355));
    let d = dir.path();
    let r = report(d, NOW, 30);
    insta::assert_snapshot!("status_human_due", redact(&status::human(&r)));
    insta::assert_snapshot!("status_json_due", redact(&status::json(&r)));
    renew(d, NOW, Renewal::default());
    rotate(d, Step::Start, NOW).expect("start");
    let r = report(d, NOW, 30);
    insta::assert_snapshot!("status_human_rotation_started", redact(&status::human(&r)));
    rotate(d, Step::Finish, NOW).expect("finish");
    let r = report(d, NOW, 30);
    insta::assert_snapshot!("status_human_rotation_finished", redact(&status::human(&r)));
}

#[test]
fn renew_and_rotate_output_snapshots() {
    let dir = env_at(None, NOW - Duration::days(355));
    let d = dir.path();
    let o = renew(d, NOW, Renewal::default());
    insta::assert_snapshot!("renew_human", bkenv::outcome::renew_human(&o, false, 30));
    insta::assert_snapshot!("renew_json", bkenv::outcome::renew_json(&o, false));
    let o = renew(d, NOW, Renewal::default());
    insta::assert_snapshot!(
        "renew_human_nothing_due",
        bkenv::outcome::renew_human(&o, false, 30)
    );
    for (step, name) in [
        (Step::Start, "rotate_start"),
        (Step::Finish, "rotate_finish"),
        (Step::DropOld, "rotate_drop_old"),
    ] {
        let o = rotate(d, step, NOW).expect("rotate");
        let human = bkenv::outcome::rotate_human(&o, false);
        let json = bkenv::outcome::rotate_json(&o, false);
        // Backup directory names carry the clock; it is fixed here.
        insta::assert_snapshot!(format!("{name}_human"), human);
        insta::assert_snapshot!(format!("{name}_json"), json);
    }
}

/// `text` with 16-digit fingerprint prefixes (system store file names, plan lines)
/// replaced: the CA is new on every run.
fn redact_short(text: &str) -> String {
    let text = &redact_key_ids(text);
    let mut out = String::new();
    for word in text.split_inclusive(|c: char| !c.is_ascii_hexdigit()) {
        let hex: String = word.chars().take_while(char::is_ascii_hexdigit).collect();
        if hex.len() == 16 {
            out.push_str("[fp]");
            out.push_str(&word[16..]);
        } else {
            out.push_str(word);
        }
    }
    out
}

#[test]
fn trust_output_snapshots() {
    use bkenv::hosttrust::{self, InstallOptions};
    // During a rotation both CAs are installed; the plan tells them apart.
    let dir = env_at(Some(MTLS), NOW);
    let d = dir.path();
    rotate(d, Step::Start, NOW).expect("start");
    // An image tree with Docker, containerd and a Debian-family system store.
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    for p in [
        "etc/docker",
        "etc/containerd",
        "usr/local/share/ca-certificates",
        "usr/sbin",
    ] {
        fs::create_dir_all(r.join(p)).expect("mkdir");
    }
    fs::write(r.join("usr/sbin/update-ca-certificates"), "").expect("tool");
    let shown =
        |text: String| redact_short(&redact(&text.replace(&r.display().to_string(), "<root>")));
    let env = bkenv::spec::environment_of(d).expect("spec");
    let opts = InstallOptions {
        root: r.to_path_buf(),
        targets: Vec::new(),
        allow_unconstrained: false,
    };
    let plan = hosttrust::plan_install(d, &env, &opts).expect("plan");
    let human = bkenv::outcome::trust_plan_human(&plan);
    let fps: Vec<&str> = plan
        .constraints
        .iter()
        .map(|c| &c.fingerprint[..16])
        .collect();
    assert_eq!(fps.len(), 2, "{human}");
    assert!(
        fps[0] != fps[1] && fps.iter().all(|f| human.contains(*f)),
        "{human}"
    );
    insta::assert_snapshot!("trust_install_plan_human", shown(human));
    insta::assert_snapshot!(
        "trust_install_plan_json",
        shown(bkenv::outcome::trust_json(Some(&plan), None, None))
    );
    let applied = hosttrust::install(d, &plan, &mut Writer::new()).expect("install");
    // update-ca-certificates as Debian's prints it: stdout, then its stderr (a rehash
    // warning). The summary line is the one worth showing.
    let refreshed = "Updating certificates in /etc/ssl/certs...\n2 added, 0 removed; done.\n\
                     Running hooks in /etc/ca-certificates/update.d...\ndone.\n\
                     rehash: warning: skipping ca-certificates.crt,it does not contain exactly one certificate or CRL\n";
    insta::assert_snapshot!(
        "trust_install_applied_human",
        shown(bkenv::outcome::trust_applied_human(
            &applied,
            Some(refreshed)
        ))
    );
    let un = hosttrust::plan_uninstall(d).expect("uninstall plan");
    insta::assert_snapshot!(
        "trust_uninstall_plan_human",
        shown(bkenv::outcome::uninstall_plan_human(&un))
    );
}

#[test]
fn status_probe_output_snapshots() {
    // What `status --probe` shows when buildkitd still serves the certificate it loaded
    // before `renew` and the registry cannot be reached: OTHER, unreachable, and the
    // restart that brings buildkitd up to date. The served certificates are given
    // directly; `tests/e2e/lifecycle.rs` asks real daemons.
    let dir = env_at(None, NOW - Duration::days(355));
    let d = dir.path();
    let before = cert(d, "buildkit/certs/server.crt");
    renew(d, NOW, Renewal::default());
    let env = bkenv::spec::environment_of(d).expect("spec");
    let plans = status::dial_plan(&env, &[]);
    assert_eq!(plans.len(), 2, "{plans:?}");
    let served = plans
        .iter()
        .map(|p| match p.buildkitd {
            true => Ok(before.der.clone()),
            false => Err("connection refused".to_string()),
        })
        .collect();
    let mut r = report(d, NOW, 30);
    status::add_served(&mut r, &env, d, &plans, served);
    let human = status::human(&r);
    assert!(
        human.contains("OTHER") && human.contains("restart buildkitd"),
        "{human}"
    );
    insta::assert_snapshot!("status_human_probed", redact(&human));
    insta::assert_snapshot!("status_json_probed", redact(&status::json(&r)));
}

/// An external registry's CA, `days` from expiry at NOW.
fn corp_ca(days: i64) -> String {
    let params = pki::CaParams {
        common_name: "Example Corp Registry CA".into(),
        key_type: pki::KeyType::EcdsaP256,
        not_before: NOW - Duration::days(365),
        not_after: NOW + Duration::days(days),
        name_constraints: None,
    };
    pki::generate_ca(&params, &rng()).expect("corp CA").cert_pem
}

#[test]
fn an_external_registry_ca_near_expiry_is_reported() {
    // bkenv cannot renew another operator's CA, but when it expires every push to that
    // registry fails: status reports it, says where its successor goes, and says when
    // buildkitd's copy is older than the spec's file.
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    fs::write(
        d.join("bkenv.toml"),
        include_str!("../examples/external-registry/bkenv.toml"),
    )
    .expect("spec");
    fs::write(d.join("corp-ca.crt"), corp_ca(10)).expect("ca");
    bkenv::init::run(&opts_at(d, NOW), &rng(), &password, &mut Writer::new()).expect("init");
    let r = report(d, NOW, 30);
    let row = r
        .certificates
        .iter()
        .find(|c| c.role == "registry-ca")
        .expect("a row for the external CA");
    assert_eq!(row.file, "buildkit/certs/registry0-ca.crt");
    assert_eq!(row.days_left, Some(10));
    let all = r.attention.join("\n");
    assert!(
        all.contains("expires in 10 days")
            && all.contains("registry.corp.example:443's CA")
            && all.contains("corp-ca.crt"),
        "{all}"
    );
    insta::assert_snapshot!("status_human_external_ca_due", redact(&status::human(&r)));
    // Within a shorter threshold nothing is due.
    assert!(report(d, NOW, 7).attention.is_empty());

    // The operator's successor is in place, buildkitd's copy is not yet.
    fs::write(d.join("corp-ca.crt"), corp_ca(400)).expect("ca");
    let all = report(d, NOW, 7).attention.join("\n");
    assert!(all.contains("differs from corp-ca.crt"), "{all}");
    bkenv::init::run(&opts_at(d, NOW), &rng(), &password, &mut Writer::new()).expect("init");
    let r = report(d, NOW, 30);
    assert!(r.attention.is_empty(), "{:?}", r.attention);
    // buildkitd's copy gone: that is reported too, with where it comes from.
    fs::remove_file(d.join("buildkit/certs/registry0-ca.crt")).expect("rm");
    let all = report(d, NOW, 30).attention.join("\n");
    assert!(
        all.contains("missing or without a certificate") && all.contains("corp-ca.crt"),
        "{all}"
    );
}

#[test]
fn status_says_when_the_host_trust_is_behind_the_rotation() {
    use bkenv::hosttrust::{self, InstallOptions};
    let dir = env_at(Some(MTLS), NOW);
    let d = dir.path();
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    for p in [
        "etc/docker",
        "etc/containerd",
        "usr/local/share/ca-certificates",
        "usr/sbin",
    ] {
        fs::create_dir_all(r.join(p)).expect("mkdir");
    }
    fs::write(r.join("usr/sbin/update-ca-certificates"), "").expect("tool");
    let install = || {
        let env = bkenv::spec::environment_of(d).expect("spec");
        let opts = InstallOptions {
            root: r.to_path_buf(),
            targets: Vec::new(),
            allow_unconstrained: false,
        };
        let plan = hosttrust::plan_install(d, &env, &opts).expect("plan");
        hosttrust::install(d, &plan, &mut Writer::new()).expect("install");
    };
    let behind = |context: &str| {
        let rep = report(d, NOW, 30);
        let said = rep
            .attention
            .iter()
            .any(|a| a.contains("sudo bkenv trust install"));
        assert_eq!(
            rep.host_trust_current.map(|c| !c),
            Some(said),
            "{context}: {:?}",
            rep.attention
        );
        said
    };
    assert_eq!(
        report(d, NOW, 30).host_trust_current,
        None,
        "nothing installed"
    );
    install();
    assert!(!behind("installed"));
    // Start: the environment trusts old + new, the host the old CA only.
    rotate(d, Step::Start, NOW).expect("start");
    assert!(behind("started"));
    install();
    assert!(!behind("started, installed again"));
    // Finish changes no trust set: old + new on both sides.
    rotate(d, Step::Finish, NOW).expect("finish");
    assert!(!behind("finished"));
    rotate(d, Step::DropOld, NOW).expect("drop-old");
    let human = status::human(&report(d, NOW, 30));
    assert!(
        human.contains("this machine (trust install): OUT OF DATE"),
        "{human}"
    );
    install();
    assert!(!behind("dropped, installed again"));
    // A bundle edited on the host (the old CA put back by hand) is behind as well.
    let bundle = r.join("etc/docker/certs.d/localhost:5005/ca.crt");
    let archived = fs::read_dir(d.join("ca"))
        .expect("ca dir")
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("backup-"))
        .expect("archived old CA")
        .path()
        .join("ca.crt");
    let mut text = fs::read_to_string(&bundle).expect("bundle");
    text.push_str(&fs::read_to_string(archived).expect("old CA"));
    fs::write(&bundle, text).expect("edit");
    assert!(behind("edited on the host"));
    // The image tree is gone: behind, until uninstall forgets what it recorded.
    fs::remove_dir_all(r.join("etc")).expect("rm");
    assert!(behind("files gone"));
    hosttrust::uninstall(d, &mut Writer::new()).expect("uninstall");
    assert_eq!(report(d, NOW, 30).host_trust_current, None);
}
