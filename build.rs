//! Stamps the commit bkenv is built from into `BKENV_COMMIT` for `bkenv --version`:
//! "<hash> <date>", or a sentence saying it is unknown. Kept tiny and dependency-free:
//! `git` is asked only when this crate is the top of a work tree (a crates.io package
//! unpacked under a home directory kept in git must not report that repository's
//! commit); `BKENV_BUILD_COMMIT` overrides it for builds without `.git` (container builds).

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_string())
}

fn main() {
    println!("cargo:rerun-if-env-changed=BKENV_BUILD_COMMIT");
    let dir = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from);
    let given = std::env::var("BKENV_BUILD_COMMIT").ok().filter(|v| {
        // One line of plain characters: the value is printed by `--version`.
        let ok = v.len() <= 64
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b" ._-".contains(&b));
        if !ok {
            println!("cargo:warning=BKENV_BUILD_COMMIT ignored: at most 64 of [A-Za-z0-9 ._-]");
        }
        ok && !v.trim().is_empty()
    });
    let stamp = given
        .or_else(|| dir.as_deref().and_then(from_git))
        .unwrap_or_else(|| "commit unknown: built without git".to_string());
    println!("cargo:rustc-env=BKENV_COMMIT={}", stamp.trim());
}

/// `<12-hex hash> <commit date>` of HEAD, when `dir` is the top of a git work tree. Asks
/// cargo to re-run this script when HEAD moves (the HEAD file, the branch's ref, packed refs).
fn from_git(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    let same = |a: &Path, b: &Path| a.canonicalize().ok() == b.canonicalize().ok();
    if !same(Path::new(&top), dir) {
        return None;
    }
    let branch = git(dir, &["symbolic-ref", "-q", "HEAD"]);
    for name in ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref()) {
        // A path that does not exist would make cargo re-run this script (and rebuild
        // bkenv) on every build.
        if let Some(p) = git(dir, &["rev-parse", "--git-path", name]).map(|p| dir.join(p))
            && p.exists()
        {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
    git(dir, &["log", "-1", "--format=%h %cs", "--abbrev=12"])
}
