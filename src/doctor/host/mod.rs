//! `bkenv doctor --host`: the buildkitd installed on this machine, as systemd starts it.
//!
//! [`load`] is the I/O half: it finds the unit the way `systemctl cat` shows it (the
//! first `buildkit.service` on the unit search path, then every `buildkit.service.d/*.conf`
//! drop-in of the search path in file-name order, a name in an earlier directory hiding
//! the same name later), the rootless user unit of the invoking user, the socket unit's
//! `ListenStream`, the config buildkitd reads (`--config` in `ExecStart`, else
//! `/etc/buildkit/buildkitd.toml`, rootless `$XDG_CONFIG_HOME/buildkit/buildkitd.toml`),
//! the account of `User=`, and the owner, group and mode of every file the daemon opens
//! and of the directories on the way. The checks (`checks::host`) are pure functions of
//! the [`HostDaemon`] it returns.
//!
//! Every machine path is read under `root` (`/` unless `--host=DIR` names a mounted
//! image or a test tree), so nothing outside it is touched.

pub(crate) mod unit;

use super::daemon_files;
use super::source::SourceFile;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use unit::{Unit, exec_words, expand, flag_values};

/// The system unit search path, in systemd's order of precedence.
const SYSTEM_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
];
/// The user unit directories after `~/.config/systemd/user`.
const USER_DIRS: &[&str] = &["/etc/systemd/user", "/usr/lib/systemd/user"];
pub(crate) const DEFAULT_CONFIG: &str = "/etc/buildkit/buildkitd.toml";
/// Unit files and configs are small; anything larger is not read.
const MAX_READ: u64 = 1 << 20;

/// What `--host` is told about the machine and the invoking user.
#[derive(Debug, Clone)]
pub struct HostOptions {
    /// The machine's filesystem root: `/`, or a tree laid out like one.
    pub root: PathBuf,
    /// The invoking user's home and `XDG_CONFIG_HOME` (rootless units and config).
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
}

/// The owner, group and mode of an entry: the same facts the compose view lists.
pub use crate::doctor::paths::Meta;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Present(Meta),
    Missing,
    /// A path doctor could not stat (permission on an ancestor, a loop).
    Unknown,
}

/// Where a value was written: a unit file (index into [`HostDaemon::sources`]) and line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    pub source: usize,
    pub line: usize,
}

/// The account a service runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (`/etc/group` membership, as `initgroups` sets them).
    pub groups: Vec<u32>,
}

impl Account {
    /// The kernel's rule for a read of a file (or search of a directory) with `meta`,
    /// as [`crate::doctor::user`] applies it to container users: every id is known here.
    pub fn may_read(&self, meta: Meta) -> bool {
        let user = crate::doctor::user::User {
            uid: Some(self.uid),
            gid: Some(self.gid),
            groups: Some(self.groups.clone()),
            userns: false,
            writable: None,
            origin: String::new(),
        };
        let need = if meta.dir {
            crate::doctor::user::Need::Enter
        } else {
            crate::doctor::user::Need::Read
        };
        user.may(meta, need) == Some(true)
    }
}

/// The daemon the unit starts, as doctor reconstructed it.
#[derive(Debug, Clone, Default)]
pub struct HostDaemon {
    /// Every unit file read, for locations (main file first, then drop-ins).
    pub sources: Vec<SourceFile>,
    /// The service unit's main file (machine path), if one was found.
    pub unit: Option<PathBuf>,
    /// A user unit (rootless).
    pub rootless: bool,
    /// Every effective `ExecStart=` (more than one: systemd refuses the unit).
    pub exec: Vec<(Vec<String>, At)>,
    /// `User=` as written and where, if set.
    pub user: Option<(String, At)>,
    /// The account the daemon runs as, when doctor could resolve it.
    pub account: Option<Account>,
    /// The config buildkitd reads (machine path) and where `--config` named it.
    pub config: Option<(String, Option<At>)>,
    /// `--addr` values (`fd://` as written) and the socket unit's `ListenStream`s.
    pub addrs: Vec<String>,
    pub listen: Vec<(String, At)>,
    /// `--tlscert`, `--tlskey`, `--tlscacert` in `ExecStart`: (flag, machine path).
    pub tls_flags: Vec<(&'static str, String)>,
    /// Every machine path doctor looked at (files the daemon opens and their ancestors).
    pub entries: BTreeMap<PathBuf, Entry>,
    /// The working directory relative paths in the config are taken from.
    pub workdir: String,
}

impl HostDaemon {
    /// The entry of a machine path, resolved from the service's working directory.
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.get(&self.machine_path(path))
    }

    pub fn machine_path(&self, path: &str) -> PathBuf {
        Path::new(&self.workdir).join(path)
    }

    /// A location in a unit file.
    pub(crate) fn loc(&self, at: At) -> Option<crate::diag::Location> {
        self.sources.get(at.source).map(|s| s.loc_line(at.line))
    }
}

/// The machine path `p` under `root`.
fn under(root: &Path, p: &Path) -> PathBuf {
    root.join(p.strip_prefix("/").unwrap_or(p))
}

fn read_small(path: &Path) -> Option<String> {
    let bytes = crate::safefs::read_bounded(path, crate::safefs::Links::Follow).ok()?;
    if bytes.len() as u64 > MAX_READ {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// The first `name` in `dirs` and its drop-ins, in the order systemd applies them.
fn find_unit(root: &Path, dirs: &[PathBuf], name: &str) -> Option<(PathBuf, Vec<PathBuf>)> {
    let main = dirs
        .iter()
        .map(|d| d.join(name))
        .find(|p| under(root, p).is_file())?;
    let mut dropins: BTreeMap<std::ffi::OsString, PathBuf> = BTreeMap::new();
    for d in dirs {
        let dir = d.join(format!("{name}.d"));
        let Ok(rd) = std::fs::read_dir(under(root, &dir)) else {
            continue;
        };
        for e in rd.flatten() {
            let n = e.file_name();
            if Path::new(&n).extension().is_some_and(|x| x == "conf") {
                dropins.entry(n.clone()).or_insert_with(|| dir.join(&n));
            }
        }
    }
    Some((main, dropins.into_values().collect()))
}

/// One account from `/etc/passwd` (by name or number) with its `/etc/group` groups.
fn account(root: &Path, user: &str, group: Option<&str>) -> Option<Account> {
    let passwd = read_small(&under(root, Path::new("/etc/passwd"))).unwrap_or_default();
    let groups_file = read_small(&under(root, Path::new("/etc/group"))).unwrap_or_default();
    let fields = |l: &str| l.split(':').map(str::to_string).collect::<Vec<_>>();
    let row = passwd
        .lines()
        .map(fields)
        .find(|f| f.len() >= 4 && (f[0] == user || f[2] == user));
    let (name, uid, mut gid) = match row {
        Some(f) => (f[0].clone(), f[2].parse().ok()?, f[3].parse().ok()?),
        // A number without a passwd line: systemd runs it with that uid and gid.
        None => {
            let uid: u32 = user.parse().ok()?;
            (user.to_string(), uid, uid)
        }
    };
    let group_rows: Vec<Vec<String>> = groups_file.lines().map(fields).collect();
    if let Some(g) = group {
        gid = group_rows
            .iter()
            .find(|f| f.len() >= 3 && f[0] == g)
            .and_then(|f| f[2].parse().ok())
            .or_else(|| g.parse().ok())?;
    }
    let groups = group_rows
        .iter()
        .filter(|f| f.len() >= 4 && f[3].split(',').any(|m| m == name))
        .filter_map(|f| f[2].parse().ok())
        .collect();
    Some(Account {
        name,
        uid,
        gid,
        groups,
    })
}

fn stat(root: &Path, p: &Path) -> Entry {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(under(root, p)) {
        Ok(m) => Entry::Present(Meta {
            uid: m.uid(),
            gid: m.gid(),
            mode: m.mode() & 0o7777,
            dir: m.is_dir(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Entry::Missing,
        Err(_) => Entry::Unknown,
    }
}

/// Records `p` and each of its ancestors.
fn record(root: &Path, entries: &mut BTreeMap<PathBuf, Entry>, p: &Path) {
    for a in p.ancestors() {
        if a.as_os_str().is_empty() {
            continue;
        }
        entries
            .entry(a.to_path_buf())
            .or_insert_with(|| stat(root, a));
    }
}

/// Reads the host install. The buildkitd.toml it names is returned for the snapshot
/// (machine path, bytes) when it exists and could be read.
pub fn load(opts: &HostOptions) -> (HostDaemon, Option<(PathBuf, Vec<u8>)>) {
    let root = &opts.root;
    let mut d = HostDaemon {
        workdir: "/".to_string(),
        ..HostDaemon::default()
    };
    let system: Vec<PathBuf> = SYSTEM_DIRS.iter().map(PathBuf::from).collect();
    let config_home = opts
        .xdg_config_home
        .clone()
        .or_else(|| opts.home.as_ref().map(|h| h.join(".config")));
    let mut user_dirs: Vec<PathBuf> = config_home.iter().map(|c| c.join("systemd/user")).collect();
    user_dirs.extend(USER_DIRS.iter().map(PathBuf::from));
    let (found, rootless) = match find_unit(root, &system, "buildkit.service") {
        Some(f) => (Some(f), false),
        None => (find_unit(root, &user_dirs, "buildkit.service"), true),
    };
    let mut unit = Unit::default();
    if let Some((main, dropins)) = &found {
        for p in std::iter::once(main).chain(dropins) {
            let Some(text) = read_small(&under(root, p)) else {
                continue;
            };
            unit.assignments.extend(unit::parse(p, &text));
            unit.files.push(p.clone());
            d.sources.push(SourceFile::new(p.clone(), text, false));
        }
        d.unit = Some(main.clone());
        d.rootless = rootless;
    }
    let at = |a: &unit::Assignment| At {
        source: unit.files.iter().position(|f| *f == a.file).unwrap_or(0),
        line: a.line,
    };
    // The owner of a user unit is the invoking user (whose home holds it).
    let owner = if rootless {
        opts.home.as_ref().and_then(|h| {
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(under(root, h)).ok()?;
            account(root, &m.uid().to_string(), None)
        })
    } else {
        None
    };
    let home = owner
        .as_ref()
        .and(opts.home.as_ref())
        .map_or_else(|| "/root".to_string(), |h| h.display().to_string());
    let (uid, name) = owner
        .as_ref()
        .map_or(("0".to_string(), "root".to_string()), |a| {
            (a.uid.to_string(), a.name.clone())
        });
    let runtime = if rootless {
        format!("/run/user/{uid}")
    } else {
        "/run".to_string()
    };
    let ex = |v: &str| expand(v, &runtime, &home, &uid, &name);
    for a in unit.list("Service", "ExecStart") {
        if let Some(words) = exec_words(&ex(&a.value)) {
            d.exec.push((words, at(a)));
        }
    }
    if let Some(w) = unit.last("Service", "WorkingDirectory") {
        let w = ex(w.value.trim_start_matches('-'));
        if w.starts_with('/') {
            d.workdir = w;
        }
    }
    d.user = unit.last("Service", "User").map(|a| (ex(&a.value), at(a)));
    let group = unit.last("Service", "Group").map(|a| ex(&a.value));
    d.account = match (&d.user, rootless) {
        (_, true) => owner.clone(),
        (Some((u, _)), false) => account(root, u, group.as_deref()),
        (None, false) => account(root, "root", group.as_deref()),
    };
    let words = d.exec.last().map(|(w, _)| w.clone()).unwrap_or_default();
    d.addrs = flag_values(&words, "--addr");
    for flag in ["--tlscert", "--tlskey", "--tlscacert"] {
        if let Some(v) = flag_values(&words, flag).pop() {
            d.tls_flags.push((flag, v));
        }
    }
    let sock_dirs = if rootless { &user_dirs } else { &system };
    if let Some((main, dropins)) = find_unit(root, sock_dirs, "buildkit.socket") {
        let mut sock = Unit::default();
        for p in std::iter::once(&main).chain(&dropins) {
            if let Some(text) = read_small(&under(root, p)) {
                sock.assignments.extend(unit::parse(p, &text));
                sock.files.push(p.clone());
                d.sources.push(SourceFile::new(p.clone(), text, false));
            }
        }
        let base = d.sources.len() - sock.files.len();
        for a in sock.list("Socket", "ListenStream") {
            let source = base + sock.files.iter().position(|f| *f == a.file).unwrap_or(0);
            d.listen.push((
                ex(&a.value),
                At {
                    source,
                    line: a.line,
                },
            ));
        }
    }
    // The config: `--config` in ExecStart, else the default for the mode.
    let flag_at = d.exec.last().map(|(_, a)| *a);
    let config = match flag_values(&words, "--config").pop() {
        Some(c) => Some((c, flag_at)),
        None if rootless => config_home.map(|c| {
            (
                c.join("buildkit/buildkitd.toml").display().to_string(),
                None,
            )
        }),
        None => Some((DEFAULT_CONFIG.to_string(), None)),
    };
    let mut bytes = None;
    if let Some((c, _)) = &config {
        let p = d.machine_path(c);
        record(root, &mut d.entries, &p);
        if let Ok(b) = crate::safefs::read_bounded(&under(root, &p), crate::safefs::Links::Follow) {
            bytes = Some((p.clone(), b));
        }
    }
    d.config = config;
    // Every file the daemon opens: the config's file-valued keys and the TLS flags.
    if let Some((_, b)) = &bytes
        && let Ok(doc) = toml_edit::Document::parse(String::from_utf8_lossy(b).into_owned())
    {
        for f in daemon_files::files(&doc) {
            let p = d.machine_path(&f.path);
            record(root, &mut d.entries, &p);
        }
    }
    for (_, v) in d.tls_flags.clone() {
        let p = d.machine_path(&v);
        record(root, &mut d.entries, &p);
    }
    (d, bytes)
}
