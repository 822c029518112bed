//! What `trust install` put on the host, so `trust uninstall` removes exactly that:
//! each file with the SHA-256 of what was written (a file changed since is not bkenv's
//! to remove), and the directories it created (removed again when empty).

use super::Target;
use crate::error::{Error, Result};
use crate::output::{self, Writer};
use crate::safefs::Links;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Relative to the environment directory.
pub const RECORD: &str = ".bkenv/host-trust.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    #[serde(default)]
    pub files: Vec<Entry>,
    /// Directories `install` created, deepest first.
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub target: Target,
    /// The path written (under `--root` when one was given).
    pub path: PathBuf,
    /// SHA-256 of the contents bkenv wrote. While an install is under way this also
    /// holds the hash of the contents it replaces, so an interrupted install leaves
    /// either recognisable as bkenv's.
    pub sha256: Vec<String>,
}

impl Record {
    pub fn load(dir: &Path) -> Result<Record> {
        let path = dir.join(RECORD);
        match output::read_file(&path, Links::Refuse)? {
            None => Ok(Record::default()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Refused {
                path,
                message: format!(
                    "corrupt record of host trust ({e}); remove the files it lists by hand, then delete it"
                ),
            }),
        }
    }

    /// Writes the record (or removes it when empty).
    pub fn save(&self, dir: &Path, writer: &mut Writer) -> Result<()> {
        let path = dir.join(RECORD);
        if self.files.is_empty() && self.dirs.is_empty() {
            if path.exists() {
                writer.remove_file(&path)?;
            }
            return Ok(());
        }
        output::ensure_private_dir(&dir.join(crate::model::layout::STATE_DIR), writer.owner)?;
        let mut json = serde_json::to_vec_pretty(self)?;
        json.push(b'\n');
        if output::read_file(&path, Links::Refuse)?.as_deref() == Some(json.as_slice()) {
            return Ok(());
        }
        writer.write(&path, &json, output::MODE_PRIVATE)
    }

    pub fn entry(&self, path: &Path) -> Option<&Entry> {
        self.files.iter().find(|e| e.path == path)
    }

    /// Whether `bytes` at `path` are what bkenv wrote there.
    pub fn owns(&self, path: &Path, bytes: &[u8]) -> bool {
        let hash = output::sha256_hex(bytes);
        self.entry(path).is_some_and(|e| e.sha256.contains(&hash))
    }
}
