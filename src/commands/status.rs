//! `bkenv status`.

use crate::cli::{OutputFormat, StatusArgs};
use crate::error::Result;
use crate::{ExitStatus, probe, spec, status};
use std::io::Write;

pub(crate) fn run(args: &StatusArgs, out: &mut dyn Write) -> Result<ExitStatus> {
    let now = time::OffsetDateTime::now_utc();
    let dir = &args.dir;
    let env = spec::environment_of(dir)?;
    let shown = dir.display().to_string();
    let mut report = status::collect(dir, &shown, &env, now, args.within)?;
    if args.probe {
        let plans = status::dial_plan(&env, &args.net.resolve);
        let identity = client_identity(dir, &env);
        let timeout = args.net.timeout;
        // Each daemon on its own thread: unreachable ones cost one timeout in total.
        let served: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = plans
                .iter()
                .map(|p| {
                    let identity = identity.as_ref().filter(|_| p.buildkitd);
                    scope.spawn(move || {
                        probe::served_certificate(&probe::ServedQuery {
                            name: &p.name,
                            connect_to: p.connect_to.clone(),
                            buildkitd: p.buildkitd,
                            identity,
                            timeout,
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("the probe stopped".into())))
                .collect()
        });
        status::add_served(&mut report, &env, dir, &plans, served);
    }
    let text = match args.format {
        OutputFormat::Human => status::human(&report),
        OutputFormat::Json => status::json(&report),
    };
    super::emit(out, &text)?;
    Ok(if report.needs_attention() {
        ExitStatus::Findings
    } else {
        ExitStatus::Clean
    })
}

/// buildctl's client pair, which a buildkitd with mutual TLS asks for.
type Identity = (
    Vec<rustls::pki_types::CertificateDer<'static>>,
    rustls::pki_types::PrivateKeyDer<'static>,
);

fn client_identity(dir: &std::path::Path, env: &crate::model::Environment) -> Option<Identity> {
    use rustls::pki_types::pem::PemObject;
    let leaf = env.client_leaf()?;
    let read = |rel: &str| {
        crate::output::read_file(&dir.join(rel), crate::safefs::Links::Follow)
            .ok()
            .flatten()
    };
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&read(&leaf.cert)?)
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(&read(&leaf.key)?).ok()?;
    Some((certs, key))
}
