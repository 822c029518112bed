#![no_main]
//! Dockerfile `FROM` lines, CI cache/output options and image references (`doctor::refs`).

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("refs", data));
