#![no_main]
//! htpasswd: entry split, then every doctor check (bcrypt hash checks).

#[path = "common.rs"]
mod common;

use bkenv::doctor::discover::FileKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::check_one("registry/auth/htpasswd", FileKind::Htpasswd, data);
});
