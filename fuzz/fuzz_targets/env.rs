#![no_main]
//! .env: variable parse, then every doctor check (BUILDKIT_HOST, DOCKER_REGISTRY, ...).

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("env", data));
