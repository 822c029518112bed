#![no_main]
//! config.json: `creds::DockerConfig::parse` and `lookup`, and doctor's view of it.

#[path = "common.rs"]
mod common;

use bkenv::creds::{DockerConfig, key_host};
use bkenv::doctor::discover::FileKind;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(cfg) = DockerConfig::parse(text)
    {
        for host in [
            "docker.io",
            "registry:5000",
            "localhost:5000",
            "[::1]:5000",
            "",
        ] {
            let _ = format!("{:?}", cfg.lookup(host));
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text)
            && let Some(auths) = v.get("auths").and_then(|a| a.as_object())
        {
            for k in auths.keys() {
                let _ = format!("{:?}", cfg.lookup(key_host(k)));
            }
        }
    }
    common::check_one("docker/config.json", FileKind::DockerConfig, data);
});
