#![no_main]
//! buildkitd.toml: TOML parse with spans, then every doctor check.

#[path = "common.rs"]
mod common;

use bkenv::doctor::discover::FileKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::check_one("buildkit/buildkitd.toml", FileKind::BuildkitdToml, data);
});
