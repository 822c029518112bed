#![no_main]
//! The `bkenv.toml` spec: `spec::parse` then `spec::validate`.

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("spec", data));
