#![no_main]
//! A whole environment in one input (`@@ <path>` sections): every cross-file check.

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("snapshot", data));
