//! `cargo bench --bench init`: issuing (CA + three leaves), rendering every file, bcrypt
//! at the costs bkenv uses, and the full `init` into a fresh directory.
//!
//! Whole-process comparisons against mkcert live in `bench/compare.sh`.

use bkenv::init::{CHOSEN_PASSWORD_COST, GENERATED_PASSWORD_COST, InitOptions};
use bkenv::output::Writer;
use bkenv::pki::{self, CaParams, LeafParams, SanName, Usage};
use bkenv::render::{self, Material};
use bkenv::spec::{self, Overrides};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use ring::rand::SystemRandom;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_000_000).expect("fixed clock")
}

fn dns(s: &str) -> SanName {
    SanName::Dns(s.to_string())
}

fn loopbacks() -> Vec<SanName> {
    vec![
        dns("localhost"),
        SanName::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanName::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
    ]
}

fn ca_params() -> CaParams {
    let mut names = loopbacks();
    names.extend([dns("buildkitd"), dns("registry")]);
    CaParams {
        common_name: "bkenv development CA".into(),
        key_type: pki::KeyType::EcdsaP256,
        not_before: now(),
        not_after: now() + time::Duration::days(3650),
        name_constraints: Some(pki::default_permitted(&names)),
    }
}

fn leaf_params(cn: &str, sans: Vec<SanName>, usage: Usage) -> LeafParams {
    LeafParams {
        common_name: cn.into(),
        sans,
        usage,
        key_type: pki::KeyType::EcdsaP256,
        not_before: now(),
        not_after: now() + time::Duration::days(365),
    }
}

/// The three leaves of an mTLS environment: buildkitd, registry, client.
fn leaves() -> [LeafParams; 3] {
    let mut bk = loopbacks();
    bk.push(dns("buildkitd"));
    let mut reg = loopbacks();
    reg.push(dns("registry"));
    [
        leaf_params("buildkitd", bk, Usage::Server),
        leaf_params("registry", reg, Usage::Server),
        leaf_params("buildctl", vec![], Usage::Client),
    ]
}

fn material(rng: &SystemRandom) -> (bkenv::model::Environment, Material) {
    let text = spec::apply_overrides(
        spec::DEFAULT_SPEC,
        Path::new("bkenv.toml"),
        &Overrides {
            mtls: Some(true),
            ..Overrides::default()
        },
    )
    .expect("overrides");
    let env = spec::validate(&spec::parse(&text, Path::new("bkenv.toml")).expect("parse"))
        .expect("validate");
    let ca = pki::generate_ca(&ca_params(), rng).expect("ca");
    let [bk, reg, client] = leaves().map(|p| pki::issue_leaf(&ca, &p, rng).expect("leaf"));
    let password = "bench-password-24-chars!".to_string();
    let m = Material {
        ca_cert: ca.cert_pem.clone(),
        trust: ca.cert_pem.clone(),
        ca_key: ca.key_pem.clone(),
        buildkitd: bk,
        client: Some(client),
        servers: BTreeMap::from([("registry".to_string(), reg)]),
        external_cas: BTreeMap::new(),
        htpasswd: BTreeMap::from([(
            "registry".to_string(),
            render::htpasswd_line("bkenv", &password, GENERATED_PASSWORD_COST).expect("bcrypt"),
        )]),
        passwords: BTreeMap::from([(0, password)]),
    };
    (env, m)
}

fn bench_pki(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let mut g = c.benchmark_group("pki");
    g.bench_function("ca", |b| {
        let p = ca_params();
        b.iter(|| pki::generate_ca(black_box(&p), &rng).expect("ca"))
    });
    let ca = pki::generate_ca(&ca_params(), &rng).expect("ca");
    g.bench_function("leaf", |b| {
        let [p, _, _] = leaves();
        b.iter(|| pki::issue_leaf(&ca, black_box(&p), &rng).expect("leaf"))
    });
    g.bench_function("ca_and_three_leaves", |b| {
        let cp = ca_params();
        let ls = leaves();
        b.iter(|| {
            let ca = pki::generate_ca(&cp, &rng).expect("ca");
            ls.iter()
                .map(|p| pki::issue_leaf(&ca, p, &rng).expect("leaf"))
                .collect::<Vec<_>>()
        })
    });
    g.finish();
}

fn bench_render(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let (env, m) = material(&rng);
    c.bench_function("render/plan_all_files", |b| {
        b.iter(|| {
            render::plan(
                black_box(&env),
                black_box(&m),
                None,
                Some(&render::buildx::Site::at("/bench/env")),
            )
            .expect("plan")
        })
    });
}

fn bench_bcrypt(c: &mut Criterion) {
    let mut g = c.benchmark_group("bcrypt");
    for cost in [GENERATED_PASSWORD_COST, CHOSEN_PASSWORD_COST, 12] {
        if cost >= 10 {
            g.sample_size(10);
        }
        g.bench_function(format!("cost_{cost}"), |b| {
            b.iter(|| render::htpasswd_line("bkenv", black_box("Xy7kQ2mNpR4sTuVw9aBcDeFg"), cost))
        });
    }
    g.finish();
}

fn options(dir: &Path, mtls: bool) -> InitOptions {
    InitOptions {
        dir: dir.to_path_buf(),
        overrides: Overrides {
            mtls: mtls.then_some(true),
            ..Overrides::default()
        },
        new_ca: false,
        force: false,
        dry_run: false,
        now: now(),
        uid: bkenv::safefs::euid(),
        lock_wait: bkenv::lock::DEFAULT_WAIT,
        renewal: bkenv::init::Renewal::default(),
    }
}

fn bench_init(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let no_env = |_: &str| None;
    let mut g = c.benchmark_group("init");
    // Every iteration writes ~20 files with fsync: keep the sample count small.
    g.sample_size(20);
    for (name, mtls) in [("default_spec", false), ("default_spec_mtls", true)] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("tempdir"),
                |dir| {
                    bkenv::init::run(
                        &options(dir.path(), mtls),
                        &rng,
                        &no_env,
                        &mut Writer::new(),
                    )
                    .expect("init");
                    dir // removed outside the timed section
                },
                BatchSize::PerIteration,
            )
        });
    }
    // A re-run on an existing environment: reads, verifies and writes nothing.
    let dir = tempfile::tempdir().expect("tempdir");
    bkenv::init::run(
        &options(dir.path(), true),
        &rng,
        &no_env,
        &mut Writer::new(),
    )
    .expect("init");
    g.bench_function("rerun_unchanged", |b| {
        b.iter(|| {
            bkenv::init::run(
                &options(dir.path(), true),
                &rng,
                &no_env,
                &mut Writer::new(),
            )
            .expect("init")
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench_pki, bench_render, bench_bcrypt, bench_init
}
criterion_main!(benches);
