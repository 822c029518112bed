//! Parsed forms of every file doctor reads, each keeping its source for locations.

use super::source::SourceFile;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::ops::Range;

/// A parse failure with the byte range it points at.
#[derive(Debug, Clone)]
pub struct ParseFailure {
    pub message: String,
    pub range: Option<Range<usize>>,
    /// 1-based line/column when the parser reports those instead of bytes.
    pub line_col: Option<(usize, usize)>,
}

/// A `buildkitd.toml`.
#[derive(Debug, Clone)]
pub struct TomlFile {
    pub src: SourceFile,
    pub doc: Result<toml_edit::Document<String>, ParseFailure>,
}

/// A compose file.
#[derive(Debug, Clone)]
pub struct ComposeFile {
    pub src: SourceFile,
    pub doc: Result<ComposeDoc, ParseFailure>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct ComposeDoc {
    #[serde(default)]
    pub services: BTreeMap<String, Spanned<ServiceDoc>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct ServiceDoc {
    pub image: Option<Spanned<String>>,
    pub command: Option<Spanned<StrOrList>>,
    pub entrypoint: Option<Spanned<StrOrList>>,
    #[serde(default)]
    pub volumes: Vec<Spanned<VolumeDoc>>,
    #[serde(default)]
    pub ports: Vec<Spanned<PortDoc>>,
    pub network_mode: Option<Spanned<String>>,
    pub environment: Option<Spanned<EnvDoc>>,
    pub networks: Option<NetworksDoc>,
    pub hostname: Option<String>,
    /// `user:` (`uid[:gid]` or names); YAML may read a bare number as an integer.
    pub user: Option<Scalar>,
    #[serde(default)]
    pub group_add: Vec<Scalar>,
    pub build: Option<BuildDoc>,
    pub extra_hosts: Option<ExtraHostsDoc>,
    pub healthcheck: Option<HealthcheckDoc>,
}

/// A service's `build`: a context path, or a map of which doctor reads the cache
/// options (same option strings as `--cache-to`/`--cache-from`).
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum BuildDoc {
    Context(String),
    // No spans here: an untagged enum buffers its content, which loses them.
    Map {
        #[serde(default)]
        cache_to: Vec<String>,
    },
}

/// `extra_hosts`: `["name:ip"]` (or `name=ip`, Compose 2.24 on) or `{name: ip}`.
#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum ExtraHostsDoc {
    List(Vec<String>),
    Map(BTreeMap<String, Scalar>),
}

impl ExtraHostsDoc {
    /// `(name, address)` pairs; the address may be `host-gateway`.
    pub fn pairs(&self) -> Vec<(String, String)> {
        match self {
            ExtraHostsDoc::List(l) => l
                .iter()
                .filter_map(|e| {
                    // `name=ip` first: an IPv6 address holds `:`.
                    let (n, a) = e.split_once('=').or_else(|| e.split_once(':'))?;
                    Some((n.trim().to_string(), a.trim().to_string()))
                })
                .collect(),
            ExtraHostsDoc::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.text())).collect(),
        }
    }
}

/// `healthcheck`: only its `test` matters here.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct HealthcheckDoc {
    pub test: Option<Spanned<StrOrList>>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum StrOrList {
    Str(String),
    List(Vec<String>),
}

impl StrOrList {
    pub fn args(&self) -> Vec<String> {
        match self {
            StrOrList::Str(s) => s.split_whitespace().map(str::to_string).collect(),
            StrOrList::List(l) => l.clone(),
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl Scalar {
    pub fn text(&self) -> String {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum VolumeDoc {
    Short(String),
    Long {
        #[serde(rename = "type")]
        kind: Option<String>,
        source: Option<String>,
        target: String,
    },
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum PortDoc {
    Num(u64),
    Str(String),
    Long {
        target: u64,
        published: Option<Scalar>,
        host_ip: Option<String>,
    },
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum EnvDoc {
    Map(BTreeMap<String, Option<Scalar>>),
    List(Vec<String>),
}

impl EnvDoc {
    /// Names given without a value (`- NAME`, `NAME:`), which compose copies from the
    /// environment it runs in: unknown to doctor.
    pub fn from_host(&self) -> Vec<String> {
        match self {
            EnvDoc::Map(m) => m
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| k.clone())
                .collect(),
            EnvDoc::List(l) => l.iter().filter(|e| !e.contains('=')).cloned().collect(),
        }
    }

    pub fn pairs(&self) -> Vec<(String, String)> {
        match self {
            EnvDoc::Map(m) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.as_ref().map(Scalar::text).unwrap_or_default()))
                .collect(),
            EnvDoc::List(l) => l
                .iter()
                .map(|e| match e.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (e.clone(), String::new()),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Deserialize, Clone)]
#[serde(untagged)]
pub enum NetworksDoc {
    /// Network names only; no aliases to read.
    List(Vec<serde::de::IgnoredAny>),
    Map(BTreeMap<String, Option<NetAttach>>),
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct NetAttach {
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A distribution registry `config.yml`.
#[derive(Debug, Clone)]
pub struct RegistryConfigFile {
    pub src: SourceFile,
    pub doc: Result<RegistryDoc, ParseFailure>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct RegistryDoc {
    pub http: Option<RegHttp>,
    pub auth: Option<RegAuth>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct RegHttp {
    pub addr: Option<Spanned<String>>,
    pub tls: Option<Spanned<RegTls>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct RegTls {
    pub certificate: Option<Spanned<String>>,
    pub key: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct RegAuth {
    pub htpasswd: Option<RegHtpasswd>,
    pub token: Option<RegToken>,
}

/// `auth.token`: clients fetch a bearer token from `realm` first.
#[derive(Debug, Deserialize, Default, Clone)]
pub struct RegToken {
    pub realm: Option<String>,
}

#[derive(Debug, Deserialize, Default, Clone)]
pub struct RegHtpasswd {
    pub path: Option<Spanned<String>>,
}

/// A Docker `config.json`.
#[derive(Debug, Clone)]
pub struct DockerConfigFile {
    pub src: SourceFile,
    pub doc: Result<serde_json::Value, ParseFailure>,
}

impl DockerConfigFile {
    /// Byte range of the object key at `path` (quotes included), e.g.
    /// `["auths", "registry:5000"]`; of duplicate keys the last, which serde_json keeps.
    pub fn key_span(&self, path: &[&str]) -> Option<Range<usize>> {
        use jsonc_parser::ast::{Object, ObjectProp, ObjectPropName};
        fn last<'o, 'a>(o: &'o Object<'a>, name: &str) -> Option<&'o ObjectProp<'a>> {
            o.properties.iter().rev().find(|p| p.name.as_str() == name)
        }
        let parsed = jsonc_parser::parse_to_ast(
            &self.src.text,
            &jsonc_parser::CollectOptions::default(),
            &jsonc_parser::ParseOptions::default(),
        )
        .ok()?;
        let (key, parents) = path.split_last()?;
        let mut object = parsed.value.as_ref()?.as_object()?;
        for name in parents {
            object = last(object, name)?.value.as_object()?;
        }
        let range = match &last(object, key)?.name {
            ObjectPropName::String(s) => s.range,
            ObjectPropName::Word(w) => w.range,
        };
        Some(range.start..range.end)
    }
}

/// An htpasswd file: `(user, hash, line)`.
#[derive(Debug, Clone)]
pub struct HtpasswdFile {
    pub src: SourceFile,
    pub entries: Vec<(String, String, usize)>,
}

/// A PEM file (certificate or key).
#[derive(Debug, Clone)]
pub struct PemFile {
    pub src: SourceFile,
    pub bytes: Vec<u8>,
    pub certs: usize,
    pub keys: usize,
    /// Unix permission bits, when known.
    pub mode: Option<u32>,
    /// Parsed certificates (empty when none or unparseable).
    pub facts: Vec<crate::pki::CertFacts>,
    /// The public half of the private key, when the file holds one bkenv can read.
    pub key_info: Option<crate::pki::PrivateKeyInfo>,
    /// Why the certificates or key did not parse (never contains key material).
    pub error: Option<String>,
}

impl PemFile {
    pub fn is_key(&self) -> bool {
        self.keys > 0
    }
}

/// `.env`: `(key, value, line)`.
#[derive(Debug, Clone)]
pub struct EnvFile {
    pub src: SourceFile,
    pub vars: Vec<(String, String, usize)>,
}

impl EnvFile {
    pub fn get(&self, key: &str) -> Option<(&str, usize)> {
        self.vars
            .iter()
            .rev()
            .find(|(k, _, _)| k == key)
            .map(|(_, v, l)| (v.as_str(), *l))
    }
}

/// A reference to an image found in a Dockerfile or CI file.
#[derive(Debug, Clone)]
pub struct ImageRef {
    /// The reference after ARG substitution.
    pub reference: String,
    pub line: usize,
    /// `from`, `output`, `export-cache`, `import-cache`.
    pub role: &'static str,
    /// For cache exports: the raw option string.
    pub options: Option<String>,
}

/// One cache export's option string (`type=registry,ref=...,mode=max`) where it is
/// written, whether or not its reference could be resolved.
#[derive(Debug, Clone)]
pub struct CacheExport {
    pub line: usize,
    pub options: String,
}

/// A Dockerfile, a CI file, a build script or Makefile, or a bake file, reduced to its
/// image references and cache exports.
#[derive(Debug, Clone)]
pub struct RefFile {
    pub src: SourceFile,
    pub refs: Vec<ImageRef>,
    pub cache_exports: Vec<CacheExport>,
}

/// What the loader found at an absolute path a buildx builder names (its driver-opts,
/// or the registry files of a `--config`): buildx reads them on the host, outside the
/// environment's compose mounts.
#[derive(Debug, Clone)]
pub enum Named {
    Pem(Box<PemFile>),
    Missing,
    Unreadable(String),
}

/// A builder of buildx's store (`$DOCKER_CONFIG/buildx/instances/NAME`), as buildx
/// writes it (`store.NodeGroup`: `Name`, `Driver`, `Nodes`).
#[derive(Debug, Clone)]
pub struct BuildxInstanceFile {
    pub src: SourceFile,
    pub group: Result<NodeGroup, ParseFailure>,
    /// Every absolute path its remote nodes' driver-opts name.
    pub named: BTreeMap<String, Named>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct NodeGroup {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub driver: String,
    #[serde(default)]
    pub nodes: Vec<BuildxNode>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct BuildxNode {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// The config buildx froze at creation (`buildkitd.toml`, `certs/<registry>/...`),
    /// base64 as Go encodes `[]byte`.
    #[serde(default)]
    pub files: Option<BTreeMap<String, String>>,
}

/// A config for `docker buildx create --config` (host paths), with the registry files
/// it names as the loader found them.
#[derive(Debug, Clone)]
pub struct BuilderConfigFile {
    pub toml: TomlFile,
    pub named: BTreeMap<String, Named>,
}
