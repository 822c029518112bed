#![no_main]
//! The `bkenv.toml` spec: `spec::parse` then `spec::validate`.

use bkenv::spec;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(s) = spec::parse(text, Path::new("bkenv.toml")) {
        let _ = spec::validate(&s);
    }
});
