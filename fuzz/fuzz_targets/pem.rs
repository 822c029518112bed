#![no_main]
//! PEM and X.509: `pki::read_certs`, `pki::read_private_key`, `key_matches_cert`, and
//! doctor's PEM checks.

#[path = "common.rs"]
mod common;

use bkenv::doctor::discover::FileKind;
use bkenv::pki::{key_matches_cert, read_certs, read_private_key};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let certs = read_certs(data);
    let key = read_private_key(data);
    if let (Ok(certs), Ok(key)) = (&certs, &key) {
        for c in certs {
            let _ = key_matches_cert(key, c);
            let _ = c.uses_sha1();
            let _ = c.is_self_issued();
        }
    }
    common::check_one("certs/server.crt", FileKind::Pem, data);
});
