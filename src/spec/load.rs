//! Reading `bkenv.toml`: strict serde parsing with "did you mean" for unknown keys, and
//! flag overrides applied to the document so that the spec on disk stays the source of
//! truth (a re-run without flags reproduces the same environment).

use super::Spec;
use crate::error::{Error, Result};
use crate::model::layout::{BK_SOCKET_ROOTFUL, BK_SOCKET_ROOTLESS};
use crate::suggest::did_you_mean;
use std::path::Path;
use toml_edit::{DocumentMut, Item, Table, value};

/// The spec's file name inside an environment directory.
pub const SPEC_FILE: &str = "bkenv.toml";

/// The spec `init` writes into an empty directory: the TLS cheat sheet's topology.
pub const DEFAULT_SPEC: &str = include_str!("../../templates/bkenv.toml");

/// Flags of `bkenv init` that edit the spec.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// Replaces the names of the first registry.
    pub registry_names: Vec<String>,
    pub mtls: Option<bool>,
    pub rootless: Option<bool>,
    pub key_type: Option<crate::pki::KeyType>,
    pub buildkit_image: Option<String>,
}

/// Parses spec text; `origin` names the file in error messages.
pub fn parse(text: &str, origin: &Path) -> Result<Spec> {
    toml_edit::de::from_str::<Spec>(text).map_err(|e| Error::Spec {
        path: origin.to_path_buf(),
        message: explain_serde_error(&e),
    })
}

/// Reads and parses the spec at `path`.
pub fn load(path: &Path) -> Result<(String, Spec)> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("read the spec", path, e))?;
    let spec = parse(&text, path)?;
    Ok((text, spec))
}

/// Applies flag overrides to the spec text, keeping its comments and layout.
pub fn apply_overrides(text: &str, origin: &Path, o: &Overrides) -> Result<String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| Error::Spec {
            path: origin.to_path_buf(),
            message: e.to_string(),
        })?;
    if !o.registry_names.is_empty() {
        let first = doc
            .get_mut("registry")
            .and_then(Item::as_array_of_tables_mut)
            .and_then(|a| a.get_mut(0));
        let Some(reg) = first else {
            return Err(Error::Spec {
                path: origin.to_path_buf(),
                message: "--registry needs a [[registry]] table in the spec to apply to".into(),
            });
        };
        crate::tomlutil::set(reg, "names", crate::tomlutil::strings(&o.registry_names));
    }
    let bk = doc
        .entry("buildkitd")
        .or_insert(Item::Table(Table::new()))
        .as_table_like_mut();
    if let Some(bk) = bk {
        if let Some(mtls) = o.mtls {
            bk.insert("mtls", value(mtls));
        }
        if let Some(rootless) = o.rootless {
            bk.insert("rootless", value(rootless));
            move_default_socket(bk, rootless);
        }
        if let Some(image) = &o.buildkit_image {
            bk.insert("image", value(image.as_str()));
        }
    }
    if let Some(kt) = &o.key_type {
        doc.entry("pki")
            .or_insert(Item::Table(Table::new()))
            .as_table_like_mut()
            .map(|t| t.insert("key_type", value(kt.as_str())));
    }
    Ok(doc.to_string())
}

/// `--rootless` moves buildkitd's default socket into the rootless image's runtime
/// directory (its user cannot create `/run/buildkit`), and back without it. Other
/// addresses are the user's choice and are left alone (validation judges them).
fn move_default_socket(bk: &mut dyn toml_edit::TableLike, rootless: bool) {
    let (from, to) = if rootless {
        (BK_SOCKET_ROOTFUL, BK_SOCKET_ROOTLESS)
    } else {
        (BK_SOCKET_ROOTLESS, BK_SOCKET_ROOTFUL)
    };
    let Some(listen) = bk.get_mut("listen").and_then(Item::as_array_mut) else {
        return;
    };
    for v in listen.iter_mut() {
        if v.as_str() == Some(from) {
            let decor = v.decor().clone();
            *v = to.into();
            *v.decor_mut() = decor;
        }
    }
}

/// serde says "unknown field `nmes`, expected one of `a`, `b`"; we add the suggestion.
fn explain_serde_error(e: &toml_edit::de::Error) -> String {
    let text = e.to_string();
    let Some(start) = text.find("unknown field `") else {
        return text;
    };
    let rest = &text[start + "unknown field `".len()..];
    let Some((field, tail)) = rest.split_once('`') else {
        return text;
    };
    let expected: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
    match did_you_mean(field, &expected) {
        Some(s) => format!("{}\nhelp: did you mean `{s}`?", text.trim_end()),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_spec_parses() {
        let spec = parse(DEFAULT_SPEC, Path::new("bkenv.toml")).unwrap();
        assert_eq!(
            spec.registries[0].names,
            ["registry:5000", "localhost:5005"]
        );
        assert!(!spec.buildkitd.mtls);
        // Doctor assumes the pinned release where nothing names one.
        assert_eq!(
            crate::model::image_version(&spec.buildkitd.image),
            Some(crate::model::PINNED_BUILDKIT)
        );
    }

    #[test]
    fn unknown_key_suggests_the_right_one() {
        let text = DEFAULT_SPEC.replace("names = [\"registry:5000\"", "nmes = [\"registry:5000\"");
        let err = parse(&text, Path::new("bkenv.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `nmes`"), "{err}");
        assert!(err.contains("did you mean `names`?"), "{err}");
    }

    #[test]
    fn overrides_keep_comments() {
        let o = Overrides {
            registry_names: vec!["reg.test:443".into()],
            mtls: Some(true),
            ..Overrides::default()
        };
        let out = apply_overrides(DEFAULT_SPEC, Path::new("bkenv.toml"), &o).unwrap();
        assert!(out.contains("# every host:port a client uses"));
        let spec = parse(&out, Path::new("bkenv.toml")).unwrap();
        assert_eq!(spec.registries[0].names, ["reg.test:443"]);
        assert!(spec.buildkitd.mtls);
    }

    #[test]
    fn rootless_flag_moves_the_default_socket_and_keeps_other_addresses() {
        let o = Overrides {
            rootless: Some(true),
            ..Overrides::default()
        };
        let text = apply_overrides(DEFAULT_SPEC, Path::new("bkenv.toml"), &o).unwrap();
        let spec = parse(&text, Path::new("bkenv.toml")).unwrap();
        assert!(spec.buildkitd.rootless);
        assert_eq!(
            spec.buildkitd.listen,
            [BK_SOCKET_ROOTLESS, "tcp://0.0.0.0:1234"]
        );
        assert!(
            text.contains("# BUILDKIT_HOST for buildctl"),
            "comments kept"
        );
        let back = Overrides {
            rootless: Some(false),
            ..Overrides::default()
        };
        let again = apply_overrides(&text, Path::new("bkenv.toml"), &back).unwrap();
        assert_eq!(again, DEFAULT_SPEC);
    }
}
