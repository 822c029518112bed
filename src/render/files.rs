//! The small generated files: compose, registry config, htpasswd, config.json and .env.

use crate::error::{Error, Result};
use crate::model::{Environment, LocalService, Registry, Role, layout};
use base64::Engine;
use minijinja::{Environment as Templates, context};
use std::collections::BTreeMap;

const COMPOSE_TEMPLATE: &str = include_str!("../../templates/docker-compose.yml.j2");
const REGISTRY_TEMPLATE: &str = include_str!("../../templates/registry-config.yml.j2");

/// Renders a YAML template. Every value reaches the output through the `yaml` filter,
/// which writes a double-quoted scalar (a JSON string, which YAML 1.1 and 1.2 read the
/// same): a value can never end its line, start a key or change a type. The formatter
/// enforces it: a string printed without the filter fails the render.
pub(super) fn render_template(name: &str, source: &str, ctx: minijinja::Value) -> Result<String> {
    let mut t = Templates::new();
    t.add_filter("yaml", yaml_scalar);
    t.set_formatter(|out, _state, value| {
        if value.is_safe() || value.is_number() || value.kind() == minijinja::value::ValueKind::Bool
        {
            out.write_str(&value.to_string()).map_err(|_| {
                minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write failed")
            })
        } else {
            Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                "a value is printed into YAML without the `yaml` filter",
            ))
        }
    });
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build();
    syntax
        .map(|s| t.set_syntax(s))
        .and_then(|()| t.add_template(name, source))
        .and_then(|()| t.get_template(name))
        .and_then(|tpl| tpl.render(ctx))
        .map_err(|source| Error::Template {
            name: name.to_string(),
            source,
        })
}

/// `value` as a YAML double-quoted scalar.
fn yaml_scalar(value: minijinja::Value) -> minijinja::Value {
    let text = value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string);
    minijinja::Value::from_safe_string(yaml_quote(&text))
}

/// A YAML double-quoted scalar for `s`, the same in YAML 1.1 (Compose v1's PyYAML) and
/// 1.2 (Go's yaml.v3); non-ASCII is escaped too, so the file stays ASCII and no parser's
/// handling of special line breaks (U+2028, U+0085) matters.
pub fn yaml_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            c if u32::from(c) <= 0xffff => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            // YAML's 32-bit escape (JSON would use a surrogate pair, which YAML rejects).
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

/// docker-compose.yml.
pub fn compose(env: &Environment) -> Result<String> {
    let bk = &env.buildkitd;
    let locals: Vec<(&LocalService, bool)> = env
        .registries
        .iter()
        .filter_map(|r| r.local().map(|l| (l, r.auth.is_some())))
        .collect();
    let registries: Vec<minijinja::Value> = locals
        .iter()
        .map(|(l, auth)| {
            context! {
                service => &l.service,
                image => &l.image,
                publish => l.publish.iter().map(ToString::to_string).collect::<Vec<_>>(),
                auth => auth,
            }
        })
        .collect();
    let depends: Vec<String> = locals.iter().map(|(l, _)| l.service.clone()).collect();
    render_template(
        "docker-compose.yml",
        COMPOSE_TEMPLATE,
        context! {
            registries => registries,
            depends => depends,
            bk => context! {
                service => &bk.service,
                image => &bk.image,
                rootless => bk.rootless,
                listen => &bk.listen,
                publish => bk.publish.iter().map(ToString::to_string).collect::<Vec<_>>(),
                config_in => bk.config_path_in_container(),
            },
        },
    )
}

/// A distribution registry `config.yml`.
pub fn registry_config(local: &LocalService, auth: bool, upstream: Option<&str>) -> Result<String> {
    render_template(
        "config.yml",
        REGISTRY_TEMPLATE,
        context! { service => &local.service, port => local.port, auth => auth, upstream => upstream },
    )
}

/// `config.json` with an `auths` entry keyed by every name of every registry with
/// credentials, exactly as BuildKit looks it up (host:port as in the image reference).
pub fn config_json(env: &Environment, passwords: &BTreeMap<usize, String>) -> String {
    let mut auths = serde_json::Map::new();
    for (i, reg) in env.registries.iter().enumerate() {
        let (Some(auth), Some(password)) = (&reg.auth, passwords.get(&i)) else {
            continue;
        };
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{password}", auth.username));
        for n in &reg.names {
            auths.insert(n.name.to_string(), serde_json::json!({ "auth": token }));
        }
    }
    let doc = serde_json::json!({ "auths": auths });
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// `.env`: what buildctl and scripts need, paths relative to the environment directory.
/// Every value is single-quoted and checked with [`crate::dotenv::check_value`], so
/// sourcing the file can neither run a command nor set another variable.
pub fn dotenv(env: &Environment, passwords: &BTreeMap<usize, String>) -> Result<String> {
    let bk = &env.buildkitd;
    let mut s = String::from(
        "# Generated by bkenv. Paths are relative to this directory.\n\
         # Load into a shell with: set -a; . ./.env; set +a\n",
    );
    let mut set = |key: &str, value: &str| -> Result<()> {
        crate::dotenv::check_value(value)
            .map_err(|why| Error::invalid(format!(".env {key}"), format!("the value {why}")))?;
        s.push_str(&crate::dotenv::assignment(key, value));
        Ok(())
    };
    let client = layout::CLIENT_DIR;
    set("BUILDKIT_HOST", &bk.host)?;
    set("BUILDKIT_TLS_CA", &format!("./{client}/ca.crt"))?;
    if bk.mtls {
        set("BUILDKIT_TLS_CERT", &format!("./{client}/client.crt"))?;
        set("BUILDKIT_TLS_KEY", &format!("./{client}/client.key"))?;
    }
    set("DOCKER_CONFIG", &format!("./{}", layout::DOCKER_CONFIG_DIR))?;
    if let Some((i, reg)) = primary_registry(env) {
        if let Some(name) = reg.primary_name() {
            set("DOCKER_REGISTRY", &name.to_string())?;
        }
        set("REGISTRY_TLS_VERIFY", "true")?;
        let cert = match &reg.role {
            Role::External { .. } => format!(
                "./{}/{}/ca.crt",
                layout::CERTS_D,
                reg.primary_name()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            ),
            _ => format!("./{}", layout::CA_CERT),
        };
        set("REGISTRY_CERT", &cert)?;
        match (&reg.auth, passwords.get(&i)) {
            (Some(auth), Some(password)) => {
                set("REGISTRY_AUTH_TYPE", "basic")?;
                set("REGISTRY_AUTH_USERNAME", &auth.username)?;
                set("REGISTRY_AUTH_PASSWORD", password)?;
            }
            _ => set("REGISTRY_AUTH_TYPE", "none")?,
        }
    }
    Ok(s)
}

/// The registry builds push to: the first non-mirror registry.
pub fn primary_registry(env: &Environment) -> Option<(usize, &Registry)> {
    env.registries
        .iter()
        .enumerate()
        .find(|(_, r)| !matches!(r.role, Role::Mirror { .. }))
}
