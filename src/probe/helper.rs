//! Asking a Docker credential helper for a registry's credentials, as the docker CLI and
//! buildctl do: `docker-credential-NAME get` with the server on stdin, JSON
//! `{"ServerURL", "Username", "Secret"}` on stdout (docker/docker-credential-helpers,
//! `client/client.go`). Only with the caller's explicit opt-in (`ProbeOptions::
//! credential_helpers`), only a name of the helpers' grammar found on that PATH, bounded
//! by the probe timeout; the secret never leaves [`super::Credential`], whose `Debug`
//! redacts it.

use super::Credential;
use serde::Deserialize;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The most of a helper's output read: a credential is a few hundred bytes.
const MAX_OUTPUT: u64 = 64 * 1024;

/// What asking the helper gave.
#[derive(Debug)]
pub(crate) enum Answer {
    Credential(Credential),
    /// The helper has nothing for this server (`credentials not found in native
    /// keychain`): the client then goes on without credentials.
    NotFound,
    /// An identity token (`Username: "<token>"`): exchanged by the client for tokens,
    /// which the probe does not do.
    IdentityToken,
}

/// Why the helper gave nothing usable, in the words the client prints.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HelperError {
    #[error("`{0}` is not a credential helper name (letters, digits, `.`, `_`, `-`)")]
    BadName(String),
    #[error("exec: \"docker-credential-{0}\": executable file not found in $PATH")]
    NotOnPath(String),
    #[error("docker-credential-{name} could not be started: {source}")]
    Spawn {
        name: String,
        source: std::io::Error,
    },
    #[error("docker-credential-{0} did not answer within {1:?}")]
    Timeout(String, Duration),
    #[error("exit status {code}, out: `{out}`")]
    Failed { code: String, out: String },
    #[error("docker-credential-{0} answered something other than its JSON credentials")]
    Unparsable(String),
}

/// The grammar of helper names bkenv will run: `docker-credential-[a-z0-9._-]+`.
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

#[derive(Deserialize)]
struct Reply {
    #[serde(rename = "Username", default)]
    username: String,
    #[serde(rename = "Secret", default)]
    secret: String,
}

/// Runs `docker-credential-NAME get` for `server`, within `timeout`.
pub(crate) fn get(
    name: &str,
    server: &str,
    path_env: &OsStr,
    timeout: Duration,
) -> Result<Answer, HelperError> {
    if !valid_name(name) {
        return Err(HelperError::BadName(name.to_string()));
    }
    let exe = crate::which::find(path_env, &format!("docker-credential-{name}"))
        .ok_or_else(|| HelperError::NotOnPath(name.to_string()))?;
    let spawn = |source| HelperError::Spawn {
        name: name.to_string(),
        source,
    };
    let mut child = Command::new(exe)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(spawn)?;
    // The server on stdin, as docker-credential-helpers' client writes it (no newline).
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let stdout = child.stdout.take();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(MAX_OUTPUT).read_to_end(&mut out);
        }
        let _ = tx.send(out);
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(HelperError::Timeout(name.to_string(), timeout));
            }
        }
    };
    // The helper has exited; its stdout reaches EOF unless a child of it holds the pipe,
    // and then the reader is left to finish alone.
    let left = deadline.saturating_duration_since(Instant::now());
    let out = rx
        .recv_timeout(left.max(Duration::from_millis(100)))
        .map_err(|_| HelperError::Timeout(name.to_string(), timeout))?;
    let text = String::from_utf8_lossy(&out).trim().to_string();
    if !status.success() {
        if text.contains("credentials not found") {
            return Ok(Answer::NotFound);
        }
        return Err(HelperError::Failed {
            code: status.code().map_or("signal".into(), |c| c.to_string()),
            // What a helper prints on failure is a message, not the secret; it is cut
            // short all the same.
            out: text.chars().take(200).collect(),
        });
    }
    let reply: Reply =
        serde_json::from_str(&text).map_err(|_| HelperError::Unparsable(name.to_string()))?;
    if reply.username == "<token>" {
        return Ok(Answer::IdentityToken);
    }
    Ok(Answer::Credential(Credential {
        username: reply.username,
        password: reply.secret,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_helpers_grammar() {
        for ok in ["pass", "ecr-login", "gcloud", "osxkeychain", "a.b_c-1"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "../x", "a/b", "Desktop", "x y", "x;rm", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
