#![no_main]
//! .env: variable parse, then every doctor check (BUILDKIT_HOST, DOCKER_REGISTRY, ...).

#[path = "common.rs"]
mod common;

use bkenv::doctor::discover::FileKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::check_one(".env", FileKind::Env, data);
});
