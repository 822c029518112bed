#![no_main]
//! Compose YAML: serde-saphyr parse, volumes, then every doctor check.

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("compose_yaml", data));
