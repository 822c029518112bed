#![no_main]
//! A buildx store entry (`docker/buildx/instances/NAME`), a builder `--config` and CI
//! driver-opts: parse, decode the frozen config, then every doctor check.

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("buildx_instance", data));
