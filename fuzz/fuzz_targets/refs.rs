#![no_main]
//! Dockerfile `FROM` lines, CI cache/output options and image references (`doctor::refs`).

#[path = "common.rs"]
mod common;

use bkenv::doctor::discover::FileKind;
use bkenv::doctor::refs;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for r in refs::dockerfile_refs(text)
        .into_iter()
        .chain(refs::ci_refs(text))
    {
        let host = refs::registry_host(&r.reference);
        let _ = refs::is_loopback(&host);
        let _ = refs::strip_port(&host);
    }
    let _ = refs::registry_host(text);
    let _ = refs::strip_port(text);
    common::check_one("Dockerfile", FileKind::Dockerfile, data);
    common::check_one(".gitlab-ci.yml", FileKind::Ci, data);
});
