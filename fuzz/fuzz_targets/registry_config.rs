#![no_main]
//! Registry config.yml: serde-saphyr parse, then every doctor check.

#[path = "common.rs"]
mod common;

use bkenv::doctor::discover::FileKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::check_one("registry/config.yml", FileKind::RegistryConfig, data);
});
