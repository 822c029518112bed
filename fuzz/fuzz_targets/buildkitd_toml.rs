#![no_main]
//! buildkitd.toml: TOML parse with spans, then every doctor check.

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("buildkitd_toml", data));
