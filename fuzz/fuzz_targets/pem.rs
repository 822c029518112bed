#![no_main]
//! PEM and X.509: `pki::read_certs`, `read_private_key`, `key_matches_cert`, then every check.

#[path = "common.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run("pem", data));
