#![no_main]
//! htpasswd: entry split, then every doctor check (bcrypt hash checks).

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("htpasswd", data));
