//! Every file-valued key of a buildkitd.toml: the files and directories buildkitd opens
//! because its config names them. One list, so that a check asking "does each file the
//! daemon reads exist / can its user read it / was it checked at all" covers the whole
//! class, not the keys one check happened to know.

use super::registry_tables::reg_tables;
use std::ops::Range;
use toml_edit::Item;

/// Why buildkitd opens the file, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    /// `[grpc.tls] cert`: read at start.
    GrpcCert,
    /// `[grpc.tls] key`: read at start.
    GrpcKey,
    /// `[grpc.tls] ca`: read at start (turns on client verification).
    GrpcCa,
    /// `[registry."host"] ca`: read when the registry is first resolved.
    RegistryCa(String),
    /// `[[registry."host".keypair]] cert`.
    KeypairCert(String),
    /// `[[registry."host".keypair]] key`.
    KeypairKey(String),
    /// `[registry."host"] tlsconfigdir`: a directory, skipped silently when missing.
    TlsConfigDir(String),
}

impl Role {
    /// The key as written in buildkitd.toml, for messages.
    pub(crate) fn key(&self) -> String {
        match self {
            Role::GrpcCert => "grpc.tls.cert".to_string(),
            Role::GrpcKey => "grpc.tls.key".to_string(),
            Role::GrpcCa => "grpc.tls.ca".to_string(),
            Role::RegistryCa(h) => format!("registry.\"{h}\".ca"),
            Role::KeypairCert(h) => format!("registry.\"{h}\".keypair.cert"),
            Role::KeypairKey(h) => format!("registry.\"{h}\".keypair.key"),
            Role::TlsConfigDir(h) => format!("registry.\"{h}\".tlsconfigdir"),
        }
    }

    /// A private key: made readable by changing its owner, never its mode.
    pub(crate) fn secret(&self) -> bool {
        matches!(self, Role::GrpcKey | Role::KeypairKey(_))
    }
}

/// One path a buildkitd.toml names, as written, with its span.
#[derive(Debug, Clone)]
pub(crate) struct DaemonFile {
    pub path: String,
    pub span: Option<Range<usize>>,
    pub role: Role,
}

/// The file-valued keys of `doc`, in file order of their kind (gRPC first, then each
/// registry table).
pub(crate) fn files(doc: &toml_edit::Document<String>) -> Vec<DaemonFile> {
    let mut out = Vec::new();
    let tls = grpc_tls(doc);
    for (role, item) in [
        (Role::GrpcCert, tls.cert),
        (Role::GrpcKey, tls.key),
        (Role::GrpcCa, tls.ca),
    ] {
        if let Some((p, span)) = item {
            out.push(DaemonFile {
                path: p.to_string(),
                span,
                role,
            });
        }
    }
    for t in reg_tables(doc) {
        let h = &t.host;
        let mut push = |(p, span): &(String, Option<Range<usize>>), role: Role| {
            if !p.is_empty() {
                out.push(DaemonFile {
                    path: p.clone(),
                    span: span.clone(),
                    role,
                });
            }
        };
        for c in &t.ca {
            push(c, Role::RegistryCa(h.clone()));
        }
        for (cert, key) in &t.keypairs {
            if let Some(c) = cert {
                push(c, Role::KeypairCert(h.clone()));
            }
            if let Some(k) = key {
                push(k, Role::KeypairKey(h.clone()));
            }
        }
        for d in &t.tlsconfigdir {
            push(d, Role::TlsConfigDir(h.clone()));
        }
    }
    out
}

/// The `[grpc.tls]` settings of a config.
pub(crate) struct GrpcTls<'a> {
    pub cert: Option<(&'a str, Option<std::ops::Range<usize>>)>,
    pub key: Option<(&'a str, Option<std::ops::Range<usize>>)>,
    pub ca: Option<(&'a str, Option<std::ops::Range<usize>>)>,
    pub table_span: Option<std::ops::Range<usize>>,
}

pub(crate) fn grpc_tls<'a>(doc: &'a toml_edit::Document<String>) -> GrpcTls<'a> {
    let tls = doc.get("grpc").and_then(|g| g.get("tls"));
    let get = |k: &str| {
        tls.and_then(|t| t.get(k))
            .and_then(|i| i.as_str().filter(|s| !s.is_empty()).map(|s| (s, i.span())))
    };
    GrpcTls {
        cert: get("cert"),
        key: get("key"),
        ca: get("ca"),
        table_span: tls.and_then(Item::span),
    }
}
