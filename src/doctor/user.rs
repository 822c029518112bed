//! Who a compose service runs as inside its container, and what that user may do with a
//! bind-mounted file or directory.
//!
//! The user is the image's `USER` (for the images doctor knows: `moby/buildkit` and
//! `registry` run as root, `moby/buildkit:*-rootless` as `user`, uid 1000:1000), replaced
//! by compose `user:` (numeric, or a name the image's `/etc/passwd` is known to hold),
//! with compose `group_add:` on top. What doctor cannot resolve (a name, another image's
//! user, supplementary groups it does not know) stays unknown, and unknown is never
//! reported: every question here answers `Some(true)`, `Some(false)` or `None`.
//!
//! Access follows the kernel's rule for the host file's owner, group and mode, which a
//! bind mount shows the container unchanged: uid 0 passes every read and write check
//! (CAP_DAC_OVERRIDE), the owner class decides for the owner, the group class for a
//! member of the file's group, the other class for everyone else. The rootless image runs
//! buildkitd under rootlesskit, as root of a user namespace that maps uid/gid 1000 to 0
//! and the image's subordinate range (`user:100000:65536`) to 1..65536: it keeps its
//! capabilities over files whose owner and group are both mapped there, and is uid 1000
//! for every other file.

use super::paths::Meta;
use crate::model::layout;

/// What the container user needs of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Read a file.
    Read,
    /// Enter a directory (search, `x`).
    Enter,
    /// Create an entry in a directory (`w` and `x`).
    Create,
}

impl Need {
    fn bits(self) -> u32 {
        match self {
            Need::Read => 0o4,
            Need::Enter => 0o1,
            Need::Create => 0o3,
        }
    }
}

/// The user a service runs as, as far as doctor knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    pub uid: Option<u32>,
    /// Primary group.
    pub gid: Option<u32>,
    /// Supplementary groups, when all of them are known.
    pub groups: Option<Vec<u32>>,
    /// Runs as root of rootlesskit's user namespace (the rootless image's entrypoint).
    pub userns: bool,
    /// Directories of the image (not of a mount) this user may create entries in, as
    /// prefixes ending in `/`; `None` for an image doctor does not know.
    pub writable: Option<&'static [&'static str]>,
    /// Where the user comes from, for messages: `the image's default user` or `user: "1000"`.
    pub origin: String,
}

/// What doctor knows of an image.
struct Image {
    uid: u32,
    gid: u32,
    /// `/etc/passwd` names doctor can resolve: (name, uid, gid). Root is in every image.
    names: &'static [(&'static str, u32, u32)],
    /// Directories its default user may create entries in.
    writable: &'static [&'static str],
    /// The default entrypoint runs the server under rootlesskit.
    rootlesskit: bool,
    /// Directories the image has besides Alpine's ([`ALPINE_DIRS`]).
    dirs: &'static [&'static str],
}

/// The directories of an Alpine base image (which both images build on) that a server
/// may put a socket under.
const ALPINE_DIRS: &[&str] = &[
    "/",
    "/etc",
    "/home",
    "/mnt",
    "/opt",
    "/root",
    "/run",
    "/srv",
    "/tmp",
    "/usr",
    "/usr/local",
    "/var",
    "/var/lib",
    "/var/run",
    "/var/tmp",
];

const ROOT: &[(&str, u32, u32)] = &[("root", 0, 0)];
/// `/tmp` (mode 1777) is the one directory of these Alpine-based images every user may
/// create entries in.
const ANYONE_WRITABLE: &[&str] = &["/tmp/"];
const EVERYWHERE: &[&str] = &["/"];

/// `(repository, tag)` of an image reference, lower-cased, Docker Hub prefixes and any
/// digest removed.
fn repo_tag(image: &str) -> (String, String) {
    let lower = image.to_ascii_lowercase();
    let no_digest = lower.split('@').next().unwrap_or_default();
    let (repo, tag) = match no_digest.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (no_digest, "latest"),
    };
    let repo = repo
        .trim_start_matches("docker.io/")
        .trim_start_matches("index.docker.io/")
        .trim_start_matches("library/");
    (repo.to_string(), tag.to_string())
}

fn image(reference: &str) -> Option<Image> {
    let (repo, tag) = repo_tag(reference);
    match repo.as_str() {
        // `moby/buildkit:*-rootless`: `USER 1000:1000`, owning its runtime directory,
        // home and state volume; `ENTRYPOINT ["rootlesskit", "buildkitd"]`.
        "moby/buildkit" if tag.ends_with("rootless") => Some(Image {
            uid: layout::ROOTLESS_UID,
            gid: layout::ROOTLESS_GID,
            names: &[("root", 0, 0), ("user", 1000, 1000)],
            writable: layout::ROOTLESS_WRITABLE,
            rootlesskit: true,
            dirs: &[
                "/run/user",
                "/run/user/1000",
                "/home/user",
                "/home/user/.local",
                "/home/user/.local/share",
                "/home/user/.local/share/buildkit",
                "/home/user/.local/tmp",
            ],
        }),
        // No `USER`: root.
        "moby/buildkit" | "registry" | "distribution/distribution" => Some(Image {
            uid: 0,
            gid: 0,
            names: ROOT,
            writable: EVERYWHERE,
            rootlesskit: false,
            dirs: &[],
        }),
        _ => None,
    }
}

/// The user of a service running `image` (if known), with compose's `user:` and
/// `group_add:`; `entrypoint_replaced` when the service's `entrypoint:` drops the
/// image's (and with it rootlesskit, unless it names it again).
pub(crate) fn resolve(
    image_ref: Option<&str>,
    user: Option<&str>,
    group_add: &[String],
    entrypoint_replaced: bool,
) -> User {
    let img = image_ref.and_then(image);
    let lookup = |name: &str| -> Option<(u32, u32)> {
        let names = img.as_ref().map_or(ROOT, |i| i.names);
        names
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, u, g)| (*u, *g))
    };
    let mut out = match (user.map(str::trim).filter(|u| !u.is_empty()), &img) {
        (None, Some(i)) => User {
            uid: Some(i.uid),
            gid: Some(i.gid),
            groups: Some(Vec::new()),
            userns: i.rootlesskit && !entrypoint_replaced,
            writable: Some(i.writable),
            origin: "the image's default user".to_string(),
        },
        (None, None) => User {
            uid: None,
            gid: None,
            groups: None,
            userns: false,
            writable: None,
            origin: "an image doctor does not know".to_string(),
        },
        (Some(spec), _) => {
            let (u, g) = spec
                .split_once(':')
                .map_or((spec, None), |(u, g)| (u, Some(g)));
            let (uid, passwd_gid) = match u.parse::<u32>() {
                // A numeric uid takes its primary group from the image's passwd entry.
                Ok(n) => (Some(n), lookup_uid(img.as_ref(), n).map(|(_, g)| g)),
                Err(_) => lookup(u).map_or((None, None), |(u, g)| (Some(u), Some(g))),
            };
            let gid = match g {
                Some(g) => g
                    .parse::<u32>()
                    .ok()
                    .or_else(|| lookup(g).map(|(_, gid)| gid)),
                None => passwd_gid,
            };
            // The image's own user (by name or number) has the groups doctor knows;
            // anyone else may be a member of groups of the image's /etc/group.
            let is_default = img.as_ref().is_some_and(|i| uid == Some(i.uid));
            let userns = img
                .as_ref()
                .is_some_and(|i| i.rootlesskit && !entrypoint_replaced)
                && is_default;
            User {
                uid,
                gid,
                groups: is_default.then(Vec::new),
                userns,
                writable: img.as_ref().map(|i| {
                    if uid == Some(0) {
                        EVERYWHERE
                    } else if is_default {
                        i.writable
                    } else {
                        ANYONE_WRITABLE
                    }
                }),
                origin: format!("`user: \"{spec}\"`"),
            }
        }
    };
    for g in group_add {
        match (g.trim().parse::<u32>().ok(), out.groups.as_mut()) {
            (Some(n), Some(groups)) => groups.push(n),
            (Some(_), None) => {}
            (None, _) => out.groups = None,
        }
    }
    out
}

/// Whether `image` has the directory `dir`: `None` for an image doctor does not know.
pub(crate) fn image_has_dir(image: Option<&str>, dir: &str) -> Option<bool> {
    let img = image.and_then(self::image)?;
    let dir = dir.trim_end_matches('/');
    let dir = if dir.is_empty() { "/" } else { dir };
    Some(ALPINE_DIRS.contains(&dir) || img.dirs.contains(&dir))
}

fn lookup_uid(img: Option<&Image>, uid: u32) -> Option<(u32, u32)> {
    img.map_or(ROOT, |i| i.names)
        .iter()
        .find(|(_, u, _)| *u == uid)
        .map(|(_, u, g)| (*u, *g))
}

/// Host ids rootlesskit maps into the rootless image's user namespace: uid/gid 1000 (its
/// root) and the image's subordinate range.
fn mapped(id: u32) -> bool {
    id == layout::ROOTLESS_UID || (100_000..165_536).contains(&id)
}

impl User {
    /// Whether this user may do `need` on an entry with `meta`; `None` when it depends on
    /// what doctor does not know.
    pub(crate) fn may(&self, meta: Meta, need: Need) -> Option<bool> {
        if self.uid == Some(0) || (self.userns && mapped(meta.uid) && mapped(meta.gid)) {
            return Some(true);
        }
        let uid = self.uid?;
        let class = |shift: u32| (meta.mode >> shift) & need.bits() == need.bits();
        if meta.uid == uid {
            return Some(class(6));
        }
        let member = if self.gid == Some(meta.gid)
            || self.groups.as_ref().is_some_and(|g| g.contains(&meta.gid))
        {
            Some(true)
        } else if self.gid.is_some() && self.groups.is_some() {
            Some(false)
        } else {
            None
        };
        match member {
            Some(true) => Some(class(3)),
            Some(false) => Some(class(0)),
            // Unknown membership matters only when the two classes disagree.
            None => (class(3) == class(0)).then(|| class(0)),
        }
    }

    /// `uid:gid` as known (`1000:?` when the group is not).
    pub(crate) fn ids(&self) -> String {
        let id = |v: Option<u32>| v.map_or("?".to_string(), |n| n.to_string());
        format!("{}:{}", id(self.uid), id(self.gid))
    }

    /// Whether the image lets this user create entries in `dir` (a container path not
    /// under any mount): `None` for an image doctor does not know.
    pub(crate) fn may_create_in_image(&self, dir: &str) -> Option<bool> {
        let writable = self.writable?;
        let dir = format!("{}/", dir.trim_end_matches('/'));
        Some(writable.iter().any(|w| dir.starts_with(w)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(uid: u32, gid: u32, mode: u32) -> Meta {
        Meta {
            uid,
            gid,
            mode,
            dir: false,
        }
    }

    const ROOTLESS: &str = "moby/buildkit:v0.23.2-rootless";

    #[test]
    fn image_defaults_and_compose_overrides() {
        let u = resolve(Some(ROOTLESS), None, &[], false);
        assert_eq!((u.uid, u.gid, u.userns), (Some(1000), Some(1000), true));
        let u = resolve(Some("docker.io/moby/buildkit:v0.23.2"), None, &[], false);
        assert_eq!((u.uid, u.gid), (Some(0), Some(0)));
        let u = resolve(Some("registry:2.8.3"), None, &[], false);
        assert_eq!(u.uid, Some(0));
        // A name doctor cannot resolve is unknown, never guessed.
        let u = resolve(Some(ROOTLESS), Some("builder"), &[], false);
        assert_eq!((u.uid, u.gid), (None, None));
        let u = resolve(Some(ROOTLESS), Some("user"), &[], false);
        assert_eq!((u.uid, u.gid, u.userns), (Some(1000), Some(1000), true));
        let u = resolve(Some(ROOTLESS), Some("0"), &[], false);
        assert_eq!((u.uid, u.gid, u.userns), (Some(0), Some(0), false));
        // A numeric uid outside the image's passwd: its group is not known.
        let u = resolve(Some("moby/buildkit:v0.23.2"), Some("4242"), &[], false);
        assert_eq!((u.uid, u.gid, u.groups), (Some(4242), None, None));
        let u = resolve(Some("alpine"), Some("4242:4243"), &["10".into()], false);
        assert_eq!((u.uid, u.gid, u.writable), (Some(4242), Some(4243), None));
        let u = resolve(Some("alpine"), None, &[], false);
        assert_eq!(u.uid, None);
        // Replacing the entrypoint drops rootlesskit.
        assert!(!resolve(Some(ROOTLESS), None, &[], true).userns);
    }

    #[test]
    fn access_follows_owner_group_other_and_the_user_namespace() {
        let rootless = resolve(Some(ROOTLESS), None, &[], false);
        // The real daemon's failure: a root-owned 0600 key.
        assert_eq!(rootless.may(meta(0, 0, 0o600), Need::Read), Some(false));
        assert_eq!(
            rootless.may(meta(1000, 1000, 0o600), Need::Read),
            Some(true)
        );
        assert_eq!(rootless.may(meta(0, 0, 0o644), Need::Read), Some(true));
        // Mapped owner and group: root of the namespace reads whatever the mode.
        assert_eq!(
            rootless.may(meta(100_000, 100_000, 0o000), Need::Read),
            Some(true)
        );
        assert_eq!(rootless.may(meta(1000, 0, 0o000), Need::Read), Some(false));
        assert_eq!(rootless.may(meta(0, 1000, 0o640), Need::Read), Some(true));
        assert_eq!(rootless.may(meta(0, 0, 0o700), Need::Enter), Some(false));
        let root = resolve(Some("moby/buildkit:v0.23.2"), None, &[], false);
        assert_eq!(root.may(meta(5, 5, 0o000), Need::Read), Some(true));
        // Group membership unknown: decided only when group and other agree.
        let other = resolve(Some("moby/buildkit:v0.23.2"), Some("4242"), &[], false);
        assert_eq!(other.may(meta(0, 0, 0o640), Need::Read), None);
        assert_eq!(other.may(meta(0, 0, 0o600), Need::Read), Some(false));
        assert_eq!(other.may(meta(0, 0, 0o644), Need::Read), Some(true));
        assert_eq!(other.may(meta(4242, 0, 0o044), Need::Read), Some(false));
        let unknown = resolve(Some("alpine"), None, &[], false);
        assert_eq!(unknown.may(meta(0, 0, 0o600), Need::Read), None);
    }

    #[test]
    fn image_directories_a_user_may_create_in() {
        let rootless = resolve(Some(ROOTLESS), None, &[], false);
        assert_eq!(rootless.may_create_in_image("/run/buildkit"), Some(false));
        assert_eq!(
            rootless.may_create_in_image("/run/user/1000/buildkit"),
            Some(true)
        );
        assert_eq!(rootless.may_create_in_image("/run/user/1000"), Some(true));
        assert_eq!(rootless.may_create_in_image("/tmp"), Some(true));
        let other = resolve(Some(ROOTLESS), Some("1001"), &[], false);
        assert_eq!(other.may_create_in_image("/run/user/1000"), Some(false));
        assert_eq!(other.may_create_in_image("/tmp/x"), Some(true));
        let root = resolve(Some("moby/buildkit:v0.23.2"), None, &[], false);
        assert_eq!(root.may_create_in_image("/run/buildkit"), Some(true));
    }
}
