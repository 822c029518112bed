#![no_main]
//! Compose YAML: serde-saphyr parse, volumes, then every doctor check.

#[path = "common.rs"]
mod common;

use bkenv::doctor::discover::FileKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::check_one("docker-compose.yml", FileKind::Compose, data);
});
