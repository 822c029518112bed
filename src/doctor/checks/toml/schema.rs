//! BuildKit's `buildkitd.toml` schema for every release from v0.12.0 to v0.32.2, as data.
//!
//! Written from BuildKit's own structs, read at each release tag:
//! `cmd/buildkitd/config/config.go` (every table but the registry's),
//! `util/resolver/config/config.go` (`[registry."host"]`),
//! `cache/remotecache/gha/ghatypes/config.go` (`[cache.gha]`) and the vendored sigstore
//! `certificate.Summary` its `policy` embeds. A key's name is its struct tag (or the Go
//! field name where there is no tag); `since` is the first release whose struct has the
//! field. No field was removed between v0.12.0 and v0.32.2, so every key is read up to
//! the newest release; keys present at v0.12.0 were already read by v0.11 (only `trace`
//! and the size/duration types of the GC settings are new in v0.12.0).
//!
//! `go` and `go_ty` are the struct and the Go type of each field, which go-toml prints
//! when a value has the wrong type (`Can't convert 5(string) to int`, `cannot decode TOML
//! string into struct field config.GRPCConfig.UID of type *int`).

/// A BuildKit release, `(0, 23, 2)`.
pub(crate) type Version = (u32, u32, u32);

/// The newest release this schema was read from.
pub(crate) const NEWEST: Version = (0, 32, 2);
/// The oldest release this schema was read from.
pub(crate) const OLDEST: Version = (0, 12, 0);
/// The first release that decodes the file with go-toml v2 (keys match case-insensitively;
/// v1 before it tries only the tag, lower case, upper case and a lowered first letter).
pub(crate) const GO_TOML_V2: Version = (0, 28, 0);

/// What a key holds, as BuildKit decodes it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ty {
    Bool,
    Int,
    Str,
    /// `[]string`
    Strs,
    /// `DiskSpace`: bytes (integer or `units.RAMInBytes` string, binary units) or `"N%"`.
    Size,
    /// `Duration`: a `time.ParseDuration` string or an integer number of seconds.
    Duration,
    /// `map[string]string`
    StrMap,
    /// `map[string]any`, passed on as is: not checked.
    Any,
    /// A struct.
    Table(&'static Table),
    /// A slice of structs: `[[a.b]]` or an array of inline tables.
    Tables(&'static Table),
    /// A map of structs keyed by a name (`[registry."host"]`).
    Named(&'static Table),
}

/// One key of a table.
#[derive(Debug)]
pub(crate) struct Key {
    pub name: &'static str,
    pub ty: Ty,
    /// The first release that reads it; `None` for every release from v0.11 on.
    pub since: Option<Version>,
    /// The Go field, as go-toml v2 names it in type errors.
    pub field: &'static str,
    /// The Go type, as go-toml prints it.
    pub go_ty: &'static str,
}

impl Key {
    /// Whether BuildKit `v` reads this key.
    pub(crate) fn read_by(&self, v: Version) -> bool {
        self.since.is_none_or(|s| v >= s)
    }
}

/// Whether go-toml v1 (v0.10 to v0.27) decodes `key` into the field tagged `tag`: it
/// tries the tag, the tag in lower case, in upper case, and with a lowered first letter.
/// go-toml v2 (v0.28 on) accepts these too, so they are read by every release.
pub(crate) fn v1_matches(tag: &str, key: &str) -> bool {
    let lowered_first = tag.chars().next().map_or(String::new(), |first| {
        format!("{}{}", first.to_lowercase(), &tag[first.len_utf8()..])
    });
    key == tag || key == tag.to_lowercase() || key == tag.to_uppercase() || key == lowered_first
}

/// One struct: its Go name (`config.GRPCConfig`) and its keys.
#[derive(Debug)]
pub(crate) struct Table {
    pub go: &'static str,
    pub keys: &'static [Key],
}

impl Table {
    pub(crate) fn key(&self, name: &str) -> Option<&'static Key> {
        self.keys.iter().find(|k| k.name == name)
    }
}

const fn k(name: &'static str, ty: Ty, field: &'static str, go_ty: &'static str) -> Key {
    Key {
        name,
        ty,
        since: None,
        field,
        go_ty,
    }
}

const fn since(mut key: Key, v: Version) -> Key {
    key.since = Some(v);
    key
}

/// The top level (`config.Config`).
pub(crate) static ROOT: Table = Table {
    go: "config.Config",
    keys: &[
        k("debug", Ty::Bool, "Debug", "bool"),
        since(k("trace", Ty::Bool, "Trace", "bool"), (0, 12, 0)),
        k("root", Ty::Str, "Root", "string"),
        k(
            "insecure-entitlements",
            Ty::Strs,
            "Entitlements",
            "[]string",
        ),
        since(
            k("proxyNetwork", Ty::Bool, "ProxyNetwork", "bool"),
            (0, 31, 0),
        ),
        since(
            k("log", Ty::Table(&LOG), "Log", "config.LogConfig"),
            (0, 13, 0),
        ),
        k("grpc", Ty::Table(&GRPC), "GRPC", "config.GRPCConfig"),
        since(
            k("otel", Ty::Table(&OTEL), "OTEL", "config.OTELConfig"),
            (0, 13, 0),
        ),
        since(
            k("cdi", Ty::Table(&CDI), "CDI", "config.CDIConfig"),
            (0, 20, 0),
        ),
        k("worker", Ty::Table(&WORKER), "Workers", "struct"),
        k(
            "registry",
            Ty::Named(&REGISTRY),
            "Registries",
            "map[string]config.RegistryConfig",
        ),
        k("dns", Ty::Table(&DNS), "DNS", "*config.DNSConfig"),
        k(
            "history",
            Ty::Table(&HISTORY),
            "History",
            "*config.HistoryConfig",
        ),
        since(
            k("frontend", Ty::Table(&FRONTEND), "Frontends", "struct"),
            (0, 14, 0),
        ),
        since(
            k(
                "system",
                Ty::Table(&SYSTEM),
                "System",
                "*config.SystemConfig",
            ),
            (0, 14, 0),
        ),
        since(
            k("provenanceEnvDir", Ty::Str, "ProvenanceEnvDir", "string"),
            (0, 25, 0),
        ),
        since(
            k("cache", Ty::Table(&CACHE), "Cache", "config.CacheConfig"),
            (0, 27, 0),
        ),
    ],
};

static LOG: Table = Table {
    go: "config.LogConfig",
    keys: &[
        k("format", Ty::Str, "Format", "string"),
        since(k("level", Ty::Str, "Level", "string"), (0, 30, 0)),
    ],
};

pub(crate) static GRPC: Table = Table {
    go: "config.GRPCConfig",
    keys: &[
        k("address", Ty::Strs, "Address", "[]string"),
        k("debugAddress", Ty::Str, "DebugAddress", "string"),
        k("uid", Ty::Int, "UID", "*int"),
        k("gid", Ty::Int, "GID", "*int"),
        since(
            k(
                "securityDescriptor",
                Ty::Str,
                "SecurityDescriptor",
                "string",
            ),
            (0, 13, 2),
        ),
        k("tls", Ty::Table(&TLS), "TLS", "config.TLSConfig"),
    ],
};

pub(crate) static TLS: Table = Table {
    go: "config.TLSConfig",
    keys: &[
        k("cert", Ty::Str, "Cert", "string"),
        k("key", Ty::Str, "Key", "string"),
        k("ca", Ty::Str, "CA", "string"),
    ],
};

static OTEL: Table = Table {
    go: "config.OTELConfig",
    keys: &[k("socketPath", Ty::Str, "SocketPath", "string")],
};

static CDI: Table = Table {
    go: "config.CDIConfig",
    keys: &[
        k("disabled", Ty::Bool, "Disabled", "*bool"),
        k("specDirs", Ty::Strs, "SpecDirs", "[]string"),
        k("autoAllowed", Ty::Strs, "AutoAllowed", "[]string"),
    ],
};

static WORKER: Table = Table {
    go: "struct",
    keys: &[
        k("oci", Ty::Table(&OCI), "OCI", "config.OCIConfig"),
        k(
            "containerd",
            Ty::Table(&CONTAINERD),
            "Containerd",
            "config.ContainerdConfig",
        ),
    ],
};

/// `GCConfig` and `NetworkConfig`, embedded in both workers.
macro_rules! gc_and_network {
    () => {
        [
            k("gc", Ty::Bool, "GC", "*bool"),
            k(
                "gckeepstorage",
                Ty::Size,
                "GCKeepStorage",
                "config.DiskSpace",
            ),
            since(
                k(
                    "reservedSpace",
                    Ty::Size,
                    "GCReservedSpace",
                    "config.DiskSpace",
                ),
                (0, 17, 0),
            ),
            since(
                k(
                    "maxUsedSpace",
                    Ty::Size,
                    "GCMaxUsedSpace",
                    "config.DiskSpace",
                ),
                (0, 17, 0),
            ),
            since(
                k(
                    "minFreeSpace",
                    Ty::Size,
                    "GCMinFreeSpace",
                    "config.DiskSpace",
                ),
                (0, 17, 0),
            ),
            k(
                "gcpolicy",
                Ty::Tables(&GC_POLICY),
                "GCPolicy",
                "[]config.GCPolicy",
            ),
            k("networkMode", Ty::Str, "Mode", "string"),
            k("cniConfigPath", Ty::Str, "CNIConfigPath", "string"),
            k("cniBinaryPath", Ty::Str, "CNIBinaryPath", "string"),
            k("cniPoolSize", Ty::Int, "CNIPoolSize", "int"),
            since(k("bridgeName", Ty::Str, "BridgeName", "string"), (0, 13, 0)),
            since(
                k("bridgeSubnet", Ty::Str, "BridgeSubnet", "string"),
                (0, 13, 0),
            ),
        ]
    };
}

const GC_AND_NETWORK: [Key; 12] = gc_and_network!();

/// The worker-level GC sizes, which only the default policy uses.
pub(crate) const WORKER_GC_SIZES: &[&str] = &[
    "gckeepstorage",
    "reservedSpace",
    "maxUsedSpace",
    "minFreeSpace",
];

pub(crate) static OCI: Table = Table {
    go: "config.OCIConfig",
    keys: &{
        let [g0, g1, g2, g3, g4, g5, n0, n1, n2, n3, n4, n5] = GC_AND_NETWORK;
        [
            k("enabled", Ty::Bool, "Enabled", "*bool"),
            k("labels", Ty::StrMap, "Labels", "map[string]string"),
            k("platforms", Ty::Strs, "Platforms", "[]string"),
            k("snapshotter", Ty::Str, "Snapshotter", "string"),
            k("rootless", Ty::Bool, "Rootless", "bool"),
            k("noProcessSandbox", Ty::Bool, "NoProcessSandbox", "bool"),
            g0,
            g1,
            g2,
            g3,
            g4,
            g5,
            n0,
            n1,
            n2,
            n3,
            n4,
            n5,
            k(
                "userRemapUnsupported",
                Ty::Str,
                "UserRemapUnsupported",
                "string",
            ),
            k("binary", Ty::Str, "Binary", "string"),
            k(
                "proxySnapshotterPath",
                Ty::Str,
                "ProxySnapshotterPath",
                "string",
            ),
            k(
                "defaultCgroupParent",
                Ty::Str,
                "DefaultCgroupParent",
                "string",
            ),
            k(
                "stargzSnapshotter",
                Ty::Any,
                "StargzSnapshotterConfig",
                "map[string]interface {}",
            ),
            k("apparmor-profile", Ty::Str, "ApparmorProfile", "string"),
            k("selinux", Ty::Bool, "SELinux", "bool"),
            k("max-parallelism", Ty::Int, "MaxParallelism", "int"),
        ]
    },
};

pub(crate) static CONTAINERD: Table = Table {
    go: "config.ContainerdConfig",
    keys: &{
        let [g0, g1, g2, g3, g4, g5, n0, n1, n2, n3, n4, n5] = GC_AND_NETWORK;
        [
            k("address", Ty::Str, "Address", "string"),
            k("enabled", Ty::Bool, "Enabled", "*bool"),
            k("labels", Ty::StrMap, "Labels", "map[string]string"),
            k("platforms", Ty::Strs, "Platforms", "[]string"),
            k("namespace", Ty::Str, "Namespace", "string"),
            since(
                k(
                    "runtime",
                    Ty::Table(&RUNTIME),
                    "Runtime",
                    "config.ContainerdRuntime",
                ),
                (0, 13, 0),
            ),
            g0,
            g1,
            g2,
            g3,
            g4,
            g5,
            n0,
            n1,
            n2,
            n3,
            n4,
            n5,
            k("snapshotter", Ty::Str, "Snapshotter", "string"),
            k("apparmor-profile", Ty::Str, "ApparmorProfile", "string"),
            k("selinux", Ty::Bool, "SELinux", "bool"),
            k("max-parallelism", Ty::Int, "MaxParallelism", "int"),
            since(
                k(
                    "defaultCgroupParent",
                    Ty::Str,
                    "DefaultCgroupParent",
                    "string",
                ),
                (0, 15, 0),
            ),
            k("rootless", Ty::Bool, "Rootless", "bool"),
        ]
    },
};

static RUNTIME: Table = Table {
    go: "config.ContainerdRuntime",
    keys: &[
        k("name", Ty::Str, "Name", "string"),
        k("path", Ty::Str, "Path", "string"),
        k("options", Ty::Any, "Options", "map[string]interface {}"),
    ],
};

pub(crate) static GC_POLICY: Table = Table {
    go: "config.GCPolicy",
    keys: &[
        k("all", Ty::Bool, "All", "bool"),
        k("filters", Ty::Strs, "Filters", "[]string"),
        k(
            "keepDuration",
            Ty::Duration,
            "KeepDuration",
            "config.Duration",
        ),
        k("keepBytes", Ty::Size, "KeepBytes", "config.DiskSpace"),
        since(
            k(
                "reservedSpace",
                Ty::Size,
                "ReservedSpace",
                "config.DiskSpace",
            ),
            (0, 17, 0),
        ),
        since(
            k("maxUsedSpace", Ty::Size, "MaxUsedSpace", "config.DiskSpace"),
            (0, 17, 0),
        ),
        since(
            k("minFreeSpace", Ty::Size, "MinFreeSpace", "config.DiskSpace"),
            (0, 17, 0),
        ),
    ],
};

static DNS: Table = Table {
    go: "config.DNSConfig",
    keys: &[
        k("nameservers", Ty::Strs, "Nameservers", "[]string"),
        k("options", Ty::Strs, "Options", "[]string"),
        k("searchDomains", Ty::Strs, "SearchDomains", "[]string"),
    ],
};

static HISTORY: Table = Table {
    go: "config.HistoryConfig",
    keys: &[
        k("maxAge", Ty::Duration, "MaxAge", "config.Duration"),
        k("maxEntries", Ty::Int, "MaxEntries", "int64"),
    ],
};

static FRONTEND: Table = Table {
    go: "struct",
    keys: &[
        k(
            "dockerfile.v0",
            Ty::Table(&DOCKERFILE_FRONTEND),
            "Dockerfile",
            "config.DockerfileFrontendConfig",
        ),
        k(
            "gateway.v0",
            Ty::Table(&GATEWAY_FRONTEND),
            "Gateway",
            "config.GatewayFrontendConfig",
        ),
    ],
};

static DOCKERFILE_FRONTEND: Table = Table {
    go: "config.DockerfileFrontendConfig",
    keys: &[k("enabled", Ty::Bool, "Enabled", "*bool")],
};

static GATEWAY_FRONTEND: Table = Table {
    go: "config.GatewayFrontendConfig",
    keys: &[
        k("enabled", Ty::Bool, "Enabled", "*bool"),
        k(
            "allowedRepositories",
            Ty::Strs,
            "AllowedRepositories",
            "[]string",
        ),
    ],
};

static SYSTEM: Table = Table {
    go: "config.SystemConfig",
    keys: &[
        k(
            "platformsCacheMaxAge",
            Ty::Duration,
            "PlatformsCacheMaxAge",
            "*config.Duration",
        ),
        since(
            k(
                "maxRegistryConcurrency",
                Ty::Int,
                "MaxRegistryConcurrency",
                "*int",
            ),
            (0, 31, 0),
        ),
    ],
};

static CACHE: Table = Table {
    go: "config.CacheConfig",
    keys: &[k("gha", Ty::Table(&GHA), "GHA", "*ghatypes.CacheConfig")],
};

static GHA: Table = Table {
    go: "ghatypes.CacheConfig",
    keys: &[
        k("sign", Ty::Table(&GHA_SIGN), "Sign", "*ghatypes.SignConfig"),
        k(
            "verify",
            Ty::Table(&GHA_VERIFY),
            "Verify",
            "ghatypes.VerifyConfig",
        ),
    ],
};

static GHA_SIGN: Table = Table {
    go: "ghatypes.SignConfig",
    keys: &[k("command", Ty::Strs, "Command", "[]string")],
};

static GHA_VERIFY: Table = Table {
    go: "ghatypes.VerifyConfig",
    keys: &[
        k("required", Ty::Bool, "Required", "bool"),
        k(
            "policy",
            Ty::Table(&GHA_POLICY),
            "Policy",
            "ghatypes.VerifyPolicy",
        ),
    ],
};

/// `VerifyPolicy` embeds sigstore's `certificate.Summary` (and its `Extensions`), whose
/// fields have no TOML tag: go-toml knows them by their Go names.
macro_rules! summary {
    ($($name:literal)*) => {
        [
            k("timestampThreshold", Ty::Int, "TimestampThreshold", "int"),
            k("tlogThreshold", Ty::Int, "TlogThreshold", "int"),
            $(k($name, Ty::Str, $name, "string"),)*
        ]
    };
}

static GHA_POLICY: Table = Table {
    go: "ghatypes.VerifyPolicy",
    keys: &summary!(
        "CertificateIssuer" "SubjectAlternativeName" "Issuer" "GithubWorkflowTrigger"
        "GithubWorkflowSHA" "GithubWorkflowName" "GithubWorkflowRepository"
        "GithubWorkflowRef" "BuildSignerURI" "BuildSignerDigest" "RunnerEnvironment"
        "SourceRepositoryURI" "SourceRepositoryDigest" "SourceRepositoryRef"
        "SourceRepositoryIdentifier" "SourceRepositoryOwnerURI"
        "SourceRepositoryOwnerIdentifier" "BuildConfigURI" "BuildConfigDigest"
        "BuildTrigger" "RunInvocationURI" "SourceRepositoryVisibilityAtSigning"
    ),
};

/// `[registry."host"]` (`resolverconfig.RegistryConfig`, unchanged from v0.7 to v0.32).
pub(crate) static REGISTRY: Table = Table {
    go: "config.RegistryConfig",
    keys: &[
        k("mirrors", Ty::Strs, "Mirrors", "[]string"),
        k("http", Ty::Bool, "PlainHTTP", "*bool"),
        k("insecure", Ty::Bool, "Insecure", "*bool"),
        k("ca", Ty::Strs, "RootCAs", "[]string"),
        k(
            "keypair",
            Ty::Tables(&KEYPAIR),
            "KeyPairs",
            "[]config.TLSKeyPair",
        ),
        k("tlsconfigdir", Ty::Strs, "TLSConfigDir", "[]string"),
    ],
};

pub(crate) static KEYPAIR: Table = Table {
    go: "config.TLSKeyPair",
    keys: &[
        k("key", Ty::Str, "Key", "string"),
        k("cert", Ty::Str, "Certificate", "string"),
    ],
};

/// Every table of the schema with its path (`worker.oci`), for "this key belongs in
/// another table" hints.
pub(crate) fn tables() -> Vec<(String, &'static Table)> {
    fn walk(path: &str, t: &'static Table, out: &mut Vec<(String, &'static Table)>) {
        out.push((path.to_string(), t));
        for key in t.keys {
            let (sub, name) = match key.ty {
                Ty::Table(s) | Ty::Tables(s) => (s, key.name.to_string()),
                Ty::Named(s) => (s, format!("{}.\"host\"", key.name)),
                _ => continue,
            };
            let p = if path.is_empty() {
                name
            } else {
                format!("{path}.{name}")
            };
            walk(&p, sub, out);
        }
    }
    let mut out = Vec::new();
    walk("", &ROOT, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_gate_the_keys_added_later() {
        let sys = ROOT.key("system").map(|k| k.ty);
        let Some(Ty::Table(sys)) = sys else {
            panic!("system is a table")
        };
        let concurrency = sys.key("maxRegistryConcurrency").unwrap();
        assert!(!concurrency.read_by((0, 30, 0)));
        assert!(concurrency.read_by((0, 31, 0)));
        assert!(ROOT.key("debug").unwrap().read_by(OLDEST));
        assert!(!OCI.key("reservedSpace").unwrap().read_by((0, 16, 0)));
        assert!(CONTAINERD.key("gckeepstorage").is_some());
        assert!(tables().iter().any(|(p, _)| p == "worker.oci.gcpolicy"));
        assert!(
            tables()
                .iter()
                .any(|(p, _)| p == "registry.\"host\".keypair")
        );
    }
}
