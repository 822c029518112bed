#![no_main]
//! Registry config.yml: serde-saphyr parse, then every doctor check.

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("registry_config", data));
