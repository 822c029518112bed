//! Shared by the targets: parse one file of a kind into a snapshot and run every check.

use bkenv::doctor::discover::FileKind;
use bkenv::doctor::load::{Snapshot, add_file};
use std::path::PathBuf;

pub fn check_one(name: &str, kind: FileKind, data: &[u8]) -> Snapshot {
    let mut snap = Snapshot::default();
    add_file(
        &mut snap,
        PathBuf::from(name),
        kind,
        data.to_vec(),
        Some(0o600),
    );
    let now = time::OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap();
    let _ = bkenv::doctor::check(&snap, now);
    snap
}
