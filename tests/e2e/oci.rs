//! A tiny OCI image layout written by the test: one uncompressed layer holding one file,
//! its config, its manifest and `index.json` tagging it `dev`.

use ring::digest::{SHA256, digest};
use std::fs;
use std::path::Path;

pub struct Image {
    pub manifest_digest: String,
    pub layer_digest: String,
    pub layer: Vec<u8>,
}

fn sha256(bytes: &[u8]) -> String {
    let d = digest(&SHA256, bytes);
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// A ustar archive with one regular file.
fn tar_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    let octal = |field: &mut [u8], value: u64| {
        let s = format!("{:0width$o}\0", value, width = field.len() - 1);
        field.copy_from_slice(s.as_bytes());
    };
    octal(&mut h[100..108], 0o644); // mode
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], content.len() as u64); // size
    octal(&mut h[136..148], 1_700_000_000); // mtime
    h[156] = b'0'; // regular file
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    let mut tar = h.to_vec();
    tar.extend_from_slice(content);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
    tar.extend_from_slice(&[0u8; 1024]);
    tar
}

fn blob(dir: &Path, bytes: &[u8]) -> String {
    let d = sha256(bytes);
    let hex = d.trim_start_matches("sha256:");
    fs::write(dir.join("blobs/sha256").join(hex), bytes).expect("blob");
    d
}

/// Writes the layout to `dir` (`oci:DIR:dev` for skopeo).
pub fn write_layout(dir: &Path) -> Image {
    fs::create_dir_all(dir.join("blobs/sha256")).expect("blobs");
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("layout");
    let layer = tar_one_file("hello.txt", b"hello from the bkenv e2e suite\n");
    let layer_digest = blob(dir, &layer);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    })
    .to_string();
    let config_digest = blob(dir, config.as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest,
            "size": layer.len(),
        }],
    })
    .to_string();
    let manifest_digest = blob(dir, manifest.as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "dev"},
        }],
    })
    .to_string();
    fs::write(dir.join("index.json"), index).expect("index");
    Image {
        manifest_digest,
        layer_digest,
        layer,
    }
}
