//! `bkenv init`: spec → model → key material → files. Reads what exists (CA, leaves,
//! passwords, buildkitd.toml) so a re-run changes nothing, then hands the plan to
//! [`crate::output`], the only writer.

use crate::error::{Error, Result};
use crate::model::{Environment, Role, layout};
use crate::output::{self, Applied, Owner, PlannedFile, State, Writer};
use crate::pki::{self, Ca, CaParams, IssuedCert, LeafParams, SanName, Usage};
use crate::render::{self, Material};
use crate::spec::{self, Overrides};
use ring::rand::SecureRandom;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// Cost for passwords bkenv generates: ~138 bits of entropy make brute force hopeless at
/// any cost, and the registry re-verifies bcrypt on every request (see bench/README.md).
pub const GENERATED_PASSWORD_COST: u32 = 5;
/// Cost for passwords a person chose (`password_env`): those deserve slow hashing.
pub const CHOSEN_PASSWORD_COST: u32 = 10;

#[derive(Debug, Clone)]
pub struct InitOptions {
    pub dir: PathBuf,
    pub overrides: Overrides,
    pub new_ca: bool,
    pub force: bool,
    pub dry_run: bool,
    pub now: OffsetDateTime,
    /// The effective uid bkenv runs as (read by `commands`): root can hand a rootless
    /// buildkitd's key to its container user, anyone else is told how.
    pub uid: u32,
}

/// What happened, for the summary.
#[derive(Debug)]
pub struct InitOutcome {
    pub env: Environment,
    pub applied: Vec<Applied>,
    /// One line per decision worth telling (CA reused, leaf reissued and why).
    pub notes: Vec<String>,
    /// Registry index → password, for `--show-password` only.
    pub passwords: BTreeMap<usize, String>,
}

/// Runs init. `env_var` reads the process environment (injected for tests).
pub fn run(
    opts: &InitOptions,
    rng: &dyn SecureRandom,
    env_var: &dyn Fn(&str) -> Option<String>,
    writer: &mut Writer,
) -> Result<InitOutcome> {
    let dir = &opts.dir;
    if !opts.dry_run {
        writer.ensure_dir(dir, 0o755)?;
    }
    let spec_path = dir.join(spec::SPEC_FILE);
    let original = match fs::read_to_string(&spec_path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io("read the spec", spec_path, e)),
    };
    let base = original.as_deref().unwrap_or(spec::DEFAULT_SPEC);
    let spec_text = spec::apply_overrides(base, &spec_path, &opts.overrides)?;
    let env = spec::validate(&spec::parse(&spec_text, &spec_path)?)?;

    let state = State::load(dir)?;
    let mut notes = Vec::new();
    let ca = load_or_create_ca(dir, &env, opts, rng, writer, &mut notes)?;
    let mut state_passwords = state.passwords.clone();
    let passwords = passwords(&env, &mut state_passwords, env_var, rng)?;
    let material = Material {
        ca_cert: ca.cert_pem.clone(),
        ca_key: ca.key_pem.clone(),
        buildkitd: leaf(dir, &ca, &env, Leaf::Buildkitd, opts, rng, &mut notes)?,
        client: if env.buildkitd.mtls {
            Some(leaf(dir, &ca, &env, Leaf::Client, opts, rng, &mut notes)?)
        } else {
            None
        },
        servers: servers(dir, &ca, &env, opts, rng, &mut notes)?,
        external_cas: external_cas(dir, &env)?,
        htpasswd: htpasswd_files(dir, &env, &passwords)?,
        passwords: passwords.clone(),
    };
    let existing_bk = read_optional(&dir.join(layout::BUILDKITD_TOML))?;
    let mut plan = vec![spec_file(&spec_text)];
    plan.extend(render::plan(&env, &material, existing_bk.as_deref())?);

    if !opts.dry_run {
        writer.ensure_dir(&dir.join(layout::CA_DIR), output::DIR_PRIVATE)?;
    }
    let mut state = State {
        passwords: state_passwords,
        ..state
    };
    hand_over_keys(&env, opts, &mut plan, &mut state, &mut notes);
    let applied = output::apply(dir, &plan, state, writer, opts.force, opts.dry_run)?;
    Ok(InitOutcome {
        env,
        applied,
        notes,
        passwords,
    })
}

/// A rootless buildkitd reads its TLS key as its container user (uid 1000), and a 0600
/// key owned by anyone else stops it ("open /etc/buildkit/certs/server.key: permission
/// denied"). As root bkenv creates the key owned by that user (still 0600: never
/// readable by others); run as that uid it is theirs already; any other user is told
/// the one command that fixes it. The decision is recorded in the state, so a later
/// run knows the key is the container user's on purpose, and hands it back to root
/// when the environment stops being rootless.
fn hand_over_keys(
    env: &Environment,
    opts: &InitOptions,
    plan: &mut [PlannedFile],
    state: &mut State,
    notes: &mut Vec<String>,
) {
    let key = format!("{}/server.key", layout::BUILDKIT_CERTS);
    let Some(file) = plan.iter_mut().find(|f| f.path == key) else {
        return;
    };
    match env.buildkitd.container_user() {
        Some((uid, gid)) => {
            let owner = Owner { uid, gid };
            state.container_owned.insert(key.clone(), owner);
            if opts.uid == 0 {
                file.owner = Some(owner);
            } else if opts.uid != uid {
                notes.push(format!(
                    "the rootless buildkitd reads {key} as uid {uid} inside its container, and bkenv runs as \
                     uid {} so it cannot give the key to that user: buildkitd would stop with \"open {}/server.key: \
                     permission denied\". Run `sudo chown {uid}:{gid} {}` (the key stays 0600, readable by uid {uid} only), \
                     or run `bkenv init` as root or as uid {uid}",
                    opts.uid,
                    layout::BK_CERTS_IN,
                    shell_quote(&opts.dir.join(&key).display().to_string()),
                ));
            }
        }
        None => {
            if state.container_owned.remove(&key).is_some() && opts.uid == 0 {
                file.owner = Some(Owner { uid: 0, gid: 0 });
            }
        }
    }
}

/// `text` as one POSIX shell word, for commands printed to be pasted.
fn shell_quote(text: &str) -> String {
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-:+@%,=".contains(&b));
    if plain && !text.is_empty() {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The spec is the user's file: bkenv only creates it or applies flags to it.
fn spec_file(text: &str) -> PlannedFile {
    let mut f = PlannedFile::public(spec::SPEC_FILE, text);
    f.policy = output::Policy::Merged;
    f
}

fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// A leaf key; one bkenv may not read (a rootless buildkitd's key after `chown 1000`)
/// is refused with who owns it, since reissuing would break the pair behind its back.
fn read_key(path: &Path, uid: u32) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            use std::os::unix::fs::MetadataExt;
            let owner = fs::metadata(path).map(|m| m.uid()).ok();
            Err(Error::Refused {
                path: path.to_path_buf(),
                message: format!(
                    "bkenv runs as uid {uid} and cannot read this key{}. Run `bkenv init` as its owner or as root \
                     (a rootless buildkitd's key belongs to uid {})",
                    owner.map_or(String::new(), |o| format!(" (owned by uid {o})")),
                    layout::ROOTLESS_UID
                ),
            })
        }
        _ => read_optional_bytes(path),
    }
}

fn read_optional_bytes(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Every name any certificate of this environment will carry.
fn all_sans(env: &Environment) -> Vec<SanName> {
    let mut names: Vec<SanName> = env.buildkitd.sans.iter().map(san).collect();
    for reg in env.registries.iter().filter(|r| r.local().is_some()) {
        names.extend(reg.sans().iter().map(san));
    }
    names.sort();
    names.dedup();
    names
}

fn san(h: &crate::hostport::Host) -> SanName {
    match h {
        crate::hostport::Host::Dns(d) => SanName::Dns(d.clone()),
        crate::hostport::Host::Ip(ip) => SanName::Ip(*ip),
    }
}

fn load_or_create_ca(
    dir: &Path,
    env: &Environment,
    opts: &InitOptions,
    rng: &dyn SecureRandom,
    writer: &mut Writer,
    notes: &mut Vec<String>,
) -> Result<Ca> {
    let cert_path = dir.join(layout::CA_CERT);
    let key_path = dir.join(layout::CA_KEY);
    let cert = read_optional(&cert_path)?;
    let key = read_optional(&key_path)?;
    let params = CaParams {
        common_name: env.pki.ca_common_name.clone(),
        key_type: env.pki.key_type,
        not_before: opts.now - Duration::minutes(5),
        not_after: opts.now + Duration::days(i64::from(env.pki.ca_validity_days)),
        name_constraints: env
            .pki
            .name_constraints
            .then(|| pki::default_permitted(&all_sans(env))),
    };
    let ca = match (cert, key) {
        (Some(cert), Some(key)) if opts.new_ca => {
            let stamp = opts.now.unix_timestamp();
            let backup = dir.join(layout::CA_DIR).join(format!("backup-{stamp}"));
            if !opts.dry_run {
                writer.backup(&key_path, &backup.join("ca.key"), output::MODE_PRIVATE)?;
                writer.backup(&cert_path, &backup.join("ca.crt"), output::MODE_PUBLIC)?;
                // Two files cannot be swapped atomically. Dropping the old certificate
                // first means an interruption leaves a lone key (re-derivable), never a
                // key and certificate that do not belong together.
                writer.remove(&cert_path)?;
            }
            drop((cert, key));
            notes.push(format!(
                "new CA generated; the old one is kept in {}",
                rel(dir, &backup)
            ));
            pki::generate_ca(&params, rng)?
        }
        (Some(cert), Some(key)) => {
            let ca = pki::load_ca(&cert, &key).map_err(|e| Error::Refused {
                path: key_path.clone(),
                message: format!(
                    "{e}. bkenv never replaces a CA behind your back: restore the matching {} (a backup may be in ca/backup-*), \
                     or run `bkenv init --new-ca` to start a new CA that every client must trust again",
                    layout::CA_KEY
                ),
            })?;
            notes.push(format!("CA reused ({})", layout::CA_CERT));
            ca
        }
        (Some(_), None) => {
            return Err(Error::Refused {
                path: cert_path,
                message: format!(
                    "the CA certificate exists but its key {} is missing, so nothing can be signed. \
                     Restore the key, or run `bkenv init --new-ca`",
                    layout::CA_KEY
                ),
            });
        }
        (None, Some(key)) => {
            // An interrupted first run wrote the key but not the certificate: nothing can
            // trust this CA yet, so re-deriving its certificate from the same key is safe.
            notes.push("CA certificate re-created from the existing CA key".into());
            pki::generate_ca_with_key(&params, &key, rng)?
        }
        (None, None) => {
            notes.push("new CA generated".into());
            pki::generate_ca(&params, rng)?
        }
    };
    check_constraints(&ca, env)?;
    Ok(ca)
}

fn check_constraints(ca: &Ca, env: &Environment) -> Result<()> {
    let Some(nc) = &ca.facts.name_constraints else {
        return Ok(());
    };
    for name in all_sans(env) {
        if !pki::permitted_by(nc, &name) {
            return Err(Error::Refused {
                path: layout::CA_CERT.into(),
                message: format!(
                    "`{name}` is outside the CA's name constraints (permitted: {}). Clients would reject its certificate. \
                     Rotate to a CA that covers the new names with `bkenv init --new-ca` (the old CA is backed up; \
                     clients must trust the new ca/ca.crt), or remove the name from bkenv.toml",
                    nc.permitted
                ),
            });
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Leaf<'a> {
    Buildkitd,
    Client,
    Registry(&'a crate::model::Registry, &'a str),
}

fn leaf(
    dir: &Path,
    ca: &Ca,
    env: &Environment,
    which: Leaf<'_>,
    opts: &InitOptions,
    rng: &dyn SecureRandom,
    notes: &mut Vec<String>,
) -> Result<IssuedCert> {
    let (cert_rel, key_rel, cn, sans, usage) = match which {
        Leaf::Buildkitd => (
            format!("{}/server.crt", layout::BUILDKIT_CERTS),
            format!("{}/server.key", layout::BUILDKIT_CERTS),
            env.buildkitd.service.clone(),
            env.buildkitd.sans.iter().map(san).collect::<Vec<_>>(),
            Usage::Server,
        ),
        Leaf::Client => (
            format!("{}/client.crt", layout::CLIENT_DIR),
            format!("{}/client.key", layout::CLIENT_DIR),
            "buildctl".to_string(),
            vec![],
            Usage::Client,
        ),
        Leaf::Registry(reg, service) => (
            format!("{service}/certs/registry.crt"),
            format!("{service}/certs/registry.key"),
            service.to_string(),
            reg.sans().iter().map(san).collect(),
            Usage::Server,
        ),
    };
    let cert = read_optional_bytes(&dir.join(&cert_rel))?;
    let key = read_key(&dir.join(&key_rel), opts.uid)?;
    let status = pki::leaf_status(
        cert.as_deref(),
        key.as_deref(),
        &ca.facts,
        &sans,
        usage,
        opts.now,
    );
    match (status, cert, key) {
        (None, Some(cert), Some(key)) => Ok(IssuedCert {
            cert_pem: String::from_utf8_lossy(&cert).into_owned(),
            key_pem: String::from_utf8_lossy(&key).into_owned(),
        }),
        (reason, _, _) => {
            if let Some(reason) = reason.filter(|r| *r != pki::ReissueReason::Missing) {
                notes.push(format!("{cert_rel} reissued: {reason:?}"));
            }
            let params = LeafParams {
                common_name: cn,
                sans,
                usage,
                key_type: env.pki.key_type,
                not_before: opts.now - Duration::minutes(5),
                not_after: opts.now + Duration::days(i64::from(env.pki.leaf_validity_days)),
            };
            Ok(pki::issue_leaf(ca, &params, rng)?)
        }
    }
}

fn servers(
    dir: &Path,
    ca: &Ca,
    env: &Environment,
    opts: &InitOptions,
    rng: &dyn SecureRandom,
    notes: &mut Vec<String>,
) -> Result<BTreeMap<String, IssuedCert>> {
    let mut out = BTreeMap::new();
    for reg in &env.registries {
        if let Some(local) = reg.local() {
            let issued = leaf(
                dir,
                ca,
                env,
                Leaf::Registry(reg, &local.service),
                opts,
                rng,
                notes,
            )?;
            out.insert(local.service.clone(), issued);
        }
    }
    Ok(out)
}

fn external_cas(dir: &Path, env: &Environment) -> Result<BTreeMap<usize, String>> {
    let mut out = BTreeMap::new();
    for (i, reg) in env.registries.iter().enumerate() {
        let Role::External {
            ca_file: Some(file),
        } = &reg.role
        else {
            continue;
        };
        let path = dir.join(file);
        let text = fs::read_to_string(&path)
            .map_err(|e| Error::io("read the registry CA file", &path, e))?;
        pki::read_certs(text.as_bytes()).map_err(|e| Error::Refused {
            path: path.clone(),
            message: format!("not a usable CA certificate: {e}"),
        })?;
        out.insert(i, text);
    }
    Ok(out)
}

const PASSWORD_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// A 24-character password from an unambiguous alphabet (~138 bits).
pub fn generate_password(rng: &dyn SecureRandom) -> Result<String> {
    let mut bytes = [0u8; 24];
    rng.fill(&mut bytes)
        .map_err(|_| Error::Other("the system random source failed".into()))?;
    // 256 % 57 != 0 leaves a negligible bias; entropy stays far above what bcrypt needs.
    Ok(bytes
        .iter()
        .map(|b| char::from(PASSWORD_ALPHABET[usize::from(*b) % PASSWORD_ALPHABET.len()]))
        .collect())
}

fn passwords(
    env: &Environment,
    stored: &mut BTreeMap<String, String>,
    env_var: &dyn Fn(&str) -> Option<String>,
    rng: &dyn SecureRandom,
) -> Result<BTreeMap<usize, String>> {
    let mut out = BTreeMap::new();
    for (i, reg) in env.registries.iter().enumerate() {
        let Some(auth) = &reg.auth else { continue };
        let key = reg
            .primary_name()
            .map(ToString::to_string)
            .unwrap_or_default();
        let password = match &auth.password_env {
            Some(var) => env_var(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                Error::invalid(
                    format!("registry `{key}` auth.password_env"),
                    format!("the environment variable `{var}` is not set; export it, or remove password_env to let bkenv generate a password"),
                )
            })?,
            None if reg.local().is_none() => {
                return Err(Error::invalid(
                    format!("registry `{key}` auth"),
                    "an external registry's password cannot be generated; set password_env to the variable holding it",
                ))
            }
            None => match stored.get(&key) {
                Some(p) => p.clone(),
                None => generate_password(rng)?,
            },
        };
        if auth.password_env.is_none() {
            stored.insert(key, password.clone());
        }
        out.insert(i, password);
    }
    Ok(out)
}

/// Keeps an existing htpasswd whose entry still verifies, so re-runs are byte-identical.
fn htpasswd_files(
    dir: &Path,
    env: &Environment,
    passwords: &BTreeMap<usize, String>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (i, reg) in env.registries.iter().enumerate() {
        let (Some(local), Some(auth), Some(password)) = (reg.local(), &reg.auth, passwords.get(&i))
        else {
            continue;
        };
        let path = dir.join(format!("{}/auth/htpasswd", local.service));
        let existing = read_optional(&path)?;
        let keep = existing.as_deref().filter(|text| {
            text.lines().any(|l| {
                l.split_once(':').is_some_and(|(u, h)| {
                    u == auth.username
                        && h.starts_with("$2y$")
                        && bcrypt::verify(password, h).unwrap_or(false)
                })
            })
        });
        let text = match keep {
            Some(t) => t.to_string(),
            None => {
                let cost = if auth.password_env.is_some() {
                    CHOSEN_PASSWORD_COST
                } else {
                    GENERATED_PASSWORD_COST
                };
                render::htpasswd_line(&auth.username, password, cost)?
            }
        };
        out.insert(local.service.clone(), text);
    }
    Ok(out)
}

fn rel(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
