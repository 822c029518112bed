//! systemd unit files as systemd reads them, for the few settings doctor needs
//! (`ExecStart`, `User`, `Group`, `ListenStream`).
//!
//! Hand-parsed: the one crate for it (systemd-parser 0.1.3) dates from 2017 on nom 2 and
//! knows neither continuation lines nor drop-in semantics. The syntax doctor needs is
//! small and documented in systemd.syntax(7) and systemd.unit(5): `[Section]` headers,
//! `Key=Value` lines, `#`/`;` comments, a trailing `\` continuing a line (joined with a
//! space; comment lines inside are skipped), and, across the main file and its drop-ins,
//! an empty assignment (`ExecStart=`) resetting a list setting.

use std::path::{Path, PathBuf};

/// One `Key=Value` assignment, where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Assignment {
    pub section: String,
    pub key: String,
    pub value: String,
    pub file: PathBuf,
    /// 1-based line of the key.
    pub line: usize,
}

/// The assignments of one file, in order.
pub(crate) fn parse(file: &Path, text: &str) -> Vec<Assignment> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, raw)) = lines.next() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_string();
            continue;
        }
        let mut joined = line.to_string();
        while joined.ends_with('\\') {
            joined.pop();
            joined.push(' ');
            // Comment lines inside a continued value are dropped (systemd v251 and
            // later warn about them, earlier releases did the same).
            let Some((_, next)) = lines.find(|(_, l)| {
                let t = l.trim_start();
                !(t.starts_with('#') || t.starts_with(';'))
            }) else {
                break;
            };
            joined.push_str(next.trim());
        }
        let Some((key, value)) = joined.split_once('=') else {
            continue;
        };
        out.push(Assignment {
            section: section.clone(),
            key: key.trim().to_string(),
            value: value.trim().to_string(),
            file: file.to_path_buf(),
            line: i + 1,
        });
    }
    out
}

/// A unit: its main file's assignments followed by its drop-ins', in the order systemd
/// applies them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Unit {
    pub assignments: Vec<Assignment>,
    /// The main file, then each drop-in applied.
    pub files: Vec<PathBuf>,
}

impl Unit {
    /// The last assignment of a single-valued setting (`User=`); an empty one resets it.
    pub(crate) fn last(&self, section: &str, key: &str) -> Option<&Assignment> {
        let a = self
            .assignments
            .iter()
            .rev()
            .find(|a| a.section == section && a.key == key)?;
        (!a.value.is_empty()).then_some(a)
    }

    /// A list setting (`ExecStart=`, `ListenStream=`): every assignment after the last
    /// empty one.
    pub(crate) fn list(&self, section: &str, key: &str) -> Vec<&Assignment> {
        let mut out = Vec::new();
        for a in self
            .assignments
            .iter()
            .filter(|a| a.section == section && a.key == key)
        {
            if a.value.is_empty() {
                out.clear();
            } else {
                out.push(a);
            }
        }
        out
    }
}

/// What systemd runs for one `ExecStart=` value: the prefixes removed, the words split
/// (systemd quotes like the shell for what units use: `"..."`, `'...'`, `\`), and with
/// `@` the second word (argv\[0\]) dropped.
pub(crate) fn exec_words(value: &str) -> Option<Vec<String>> {
    let prefixes: &[char] = &['-', '@', '+', '!', ':', '|'];
    let rest = value.trim_start_matches(prefixes);
    let at = value[..value.len() - rest.len()].contains('@');
    let mut words = shlex::split(rest)?;
    if at && words.len() > 1 {
        words.remove(1);
    }
    // Arguments (not the executable) go through systemd's variable substitution, where
    // `$$` is one literal `$` (systemd.service(5), "Command lines").
    for w in words.iter_mut().skip(1) {
        *w = w.replace("$$", "$");
    }
    Some(words)
}

/// The values of a flag in argument words: `--addr X` and `--addr=X`, every occurrence.
pub(crate) fn flag_values(words: &[String], name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut it = words.iter();
    let eq = format!("{name}=");
    while let Some(w) = it.next() {
        if w == name {
            if let Some(v) = it.next() {
                out.push(v.clone());
            }
        } else if let Some(v) = w.strip_prefix(&eq) {
            out.push(v.to_string());
        }
    }
    out
}

/// systemd's specifiers in the values doctor reads: `%t` (runtime directory), `%h`
/// (home), `%U`/`%u` (user id / name), `%%`. Others are left as written.
pub(crate) fn expand(value: &str, runtime_dir: &str, home: &str, uid: &str, user: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push_str(runtime_dir),
            Some('h') => out.push_str(home),
            Some('U') => out.push_str(uid),
            Some('u') => out.push_str(user),
            Some('%') => out.push('%'),
            Some(o) => {
                out.push('%');
                out.push(o);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(files: &[(&str, &str)]) -> Unit {
        let mut u = Unit::default();
        for (name, text) in files {
            u.assignments.extend(parse(Path::new(name), text));
            u.files.push(PathBuf::from(name));
        }
        u
    }

    #[test]
    fn sections_comments_and_continuations() {
        let a = parse(
            Path::new("x.service"),
            "[Unit]\n# c\nDescription = BuildKit\n[Service]\nExecStart=/usr/bin/buildkitd \\\n  # skipped\n  --addr fd:// \\\n  --config /etc/b.toml\nUser=bk\n",
        );
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].key, "Description");
        assert_eq!(a[0].value, "BuildKit");
        assert_eq!(a[1].section, "Service");
        assert_eq!(
            a[1].value,
            "/usr/bin/buildkitd  --addr fd://  --config /etc/b.toml"
        );
        assert_eq!(a[1].line, 5);
        assert_eq!(a[2].line, 9);
    }

    #[test]
    fn drop_in_resets_lists_and_overrides_scalars() {
        let u = unit(&[
            (
                "main",
                "[Service]\nExecStart=/usr/local/bin/buildkitd --addr fd://\nUser=root\n",
            ),
            (
                "override.conf",
                "[Service]\nExecStart=\nExecStart=/usr/local/bin/buildkitd --config /etc/x.toml\nUser=\n",
            ),
        ]);
        let exec = u.list("Service", "ExecStart");
        assert_eq!(exec.len(), 1);
        assert!(exec[0].value.contains("/etc/x.toml"));
        assert!(u.last("Service", "User").is_none());
        // Without the reset, both lines stay: systemd refuses such a service.
        let two = unit(&[
            ("main", "[Service]\nExecStart=/a\n"),
            ("o.conf", "[Service]\nExecStart=/b\n"),
        ]);
        assert_eq!(two.list("Service", "ExecStart").len(), 2);
    }

    #[test]
    fn exec_prefixes_quotes_and_flags() {
        let w = exec_words(
            "-@/usr/bin/buildkitd buildkitd --addr=fd:// --config \"/etc/my dir/b.toml\"",
        )
        .unwrap_or_default();
        assert_eq!(
            w,
            [
                "/usr/bin/buildkitd",
                "--addr=fd://",
                "--config",
                "/etc/my dir/b.toml"
            ]
        );
        assert_eq!(flag_values(&w, "--addr"), ["fd://"]);
        assert_eq!(flag_values(&w, "--config"), ["/etc/my dir/b.toml"]);
        // `$$` is a literal `$` in arguments; the executable is taken as written.
        let w = exec_words("/opt/a$$b --config /opt/$$x/b.toml").unwrap_or_default();
        assert_eq!(w, ["/opt/a$$b", "--config", "/opt/$x/b.toml"]);
        assert_eq!(
            expand(
                "unix://%t/buildkit/rootless %%",
                "/run/user/1000",
                "/home/u",
                "1000",
                "u"
            ),
            "unix:///run/user/1000/buildkit/rootless %"
        );
    }
}
