//! `cargo bench --bench doctor`: static doctor on a generated environment, and discovery
//! and doctor on a synthetic 200,000-file monorepo (the layout of bench/gen-tree.py),
//! generated once per process into a temp dir.

use bkenv::doctor::{self, DoctorInputs};
use bkenv::init::InitOptions;
use bkenv::output::Writer;
use bkenv::spec::Overrides;
use criterion::{Criterion, criterion_group, criterion_main};
use ring::rand::SystemRandom;
use std::fs;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;
use time::OffsetDateTime;

const PACKAGES: usize = 200;
const MODULES: usize = 10;
const FILES: usize = 100;
const EXTS: [&str; 10] = ["rs", "go", "ts", "js", "md", "txt", "json", "c", "h", "py"];
const ENVS: [usize; 3] = [17, 101, 188];

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_795_000_000).expect("fixed clock")
}

fn init(dir: &Path) {
    let opts = InitOptions {
        dir: dir.to_path_buf(),
        overrides: Overrides::default(),
        new_ca: false,
        force: false,
        dry_run: false,
        now: now(),
        uid: bkenv::safefs::euid(),
        lock_wait: bkenv::lock::DEFAULT_WAIT,
        renewal: bkenv::init::Renewal::default(),
    };
    bkenv::init::run(&opts, &SystemRandom::new(), &|_| None, &mut Writer::new()).expect("init");
}

/// 200 packages x 10 modules x 100 files, a Dockerfile per package, three environments.
fn monorepo(root: &Path) {
    for p in 0..PACKAGES {
        let pkg = root.join(format!("pkg-{p:03}"));
        fs::create_dir_all(&pkg).expect("mkdir");
        fs::write(pkg.join("Dockerfile"), "FROM alpine:3.20\nRUN true\n").expect("write");
        for m in 0..MODULES {
            let d = pkg.join("src").join(format!("mod-{m}"));
            fs::create_dir_all(&d).expect("mkdir");
            for i in 0..FILES - 3 {
                fs::write(
                    d.join(format!("file{i}.{}", EXTS[i % EXTS.len()])),
                    "// generated\n",
                )
                .expect("write");
            }
            fs::write(
                d.join("Cargo.toml"),
                "[package]\nname = \"m\"\nversion = \"0.1.0\"\n",
            )
            .expect("write");
            fs::write(d.join("settings.yml"), "name: m\nreplicas: 1\n").expect("write");
            fs::write(d.join("README.md"), "# module\n").expect("write");
        }
    }
    for p in ENVS {
        init(&root.join(format!("pkg-{p:03}/deploy/env")));
    }
}

fn bench_doctor(c: &mut Criterion) {
    let env = tempfile::tempdir().expect("tempdir");
    init(env.path());
    c.bench_function("doctor/static_generated_env", |b| {
        b.iter(|| {
            doctor::run(black_box(env.path()), &DoctorInputs::default(), now()).expect("doctor")
        })
    });

    let tree = tempfile::tempdir().expect("tempdir");
    eprintln!(
        "generating a 200,000-file tree in {} ...",
        tree.path().display()
    );
    monorepo(tree.path());
    let mut g = c.benchmark_group("monorepo_200k");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("discover", |b| {
        b.iter(|| doctor::discover::discover(black_box(tree.path())))
    });
    g.bench_function("doctor", |b| {
        b.iter(|| {
            doctor::run(black_box(tree.path()), &DoctorInputs::default(), now()).expect("doctor")
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench_doctor
}
criterion_main!(benches);
