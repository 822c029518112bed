#![no_main]
//! config.json: `creds::DockerConfig::parse` and `lookup`, and doctor's view of it.

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("docker_config", data));
