//! Just enough DER walking to name a certificate's issuer, subject and SANs in findings.
//!
//! Certificate parsing proper belongs to the doctor's x509 module; the probe only needs
//! the three fields, and reading them here keeps the probe usable with any signer lookup.

use rustls::pki_types::CertificateDer;
use std::net::IpAddr;

/// The parts of a certificate a probe finding mentions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CertSummary {
    /// DER contents of the issuer Name, without its SEQUENCE header (as webpki stores
    /// trust-anchor subjects, so the two compare directly).
    pub issuer: Vec<u8>,
    pub subject: Vec<u8>,
    pub issuer_cn: Option<String>,
    pub subject_cn: Option<String>,
    /// `DNS:name` / `IP:addr`, in certificate order; `None` when the extension is absent.
    pub sans: Option<Vec<String>>,
}

impl CertSummary {
    pub fn self_issued(&self) -> bool {
        self.issuer == self.subject
    }
}

/// One TLV: (tag, contents, rest after it).
fn tlv(data: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = data.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn common_name(name: &[u8]) -> Option<String> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    let mut rdns = name;
    while let Some((_, set, rest)) = tlv(rdns) {
        rdns = rest;
        let mut atvs = set;
        while let Some((_, atv, rest)) = tlv(atvs) {
            atvs = rest;
            let (_, oid, value) = tlv(atv)?;
            if oid == CN {
                let (_, text, _) = tlv(value)?;
                return Some(String::from_utf8_lossy(text).into_owned());
            }
        }
    }
    None
}

fn general_names(ext_value: &[u8]) -> Option<Vec<String>> {
    let (_, mut names, _) = tlv(ext_value)?;
    let mut out = Vec::new();
    while let Some((tag, value, rest)) = tlv(names) {
        names = rest;
        match tag {
            0x82 => out.push(format!("DNS:{}", String::from_utf8_lossy(value))),
            0x87 => {
                let ip = match value.len() {
                    4 => <[u8; 4]>::try_from(value).ok().map(IpAddr::from),
                    16 => <[u8; 16]>::try_from(value).ok().map(IpAddr::from),
                    _ => None,
                };
                if let Some(ip) = ip {
                    out.push(format!("IP:{ip}"));
                }
            }
            _ => {}
        }
    }
    Some(out)
}

/// Summarises `cert`, or `None` if it is not a parsable X.509 certificate.
pub(crate) fn summarize(cert: &CertificateDer<'_>) -> Option<CertSummary> {
    const SAN: &[u8] = &[0x55, 0x1d, 0x11];
    let (_, certificate, _) = tlv(cert.as_ref())?;
    let (_, tbs, _) = tlv(certificate)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2;
    }
    let (_, _serial, rest) = tlv(rest)?;
    let (_, _sig_alg, rest) = tlv(rest)?;
    let (_, issuer, rest) = tlv(rest)?;
    let (_, _validity, rest) = tlv(rest)?;
    let (_, subject, mut rest) = tlv(rest)?;
    let mut summary = CertSummary {
        issuer: issuer.to_vec(),
        subject: subject.to_vec(),
        issuer_cn: common_name(issuer),
        subject_cn: common_name(subject),
        sans: None,
    };
    while let Some((tag, value, after)) = tlv(rest) {
        rest = after;
        if tag != 0xa3 {
            continue;
        }
        let (_, mut exts, _) = tlv(value)?;
        while let Some((_, ext, after)) = tlv(exts) {
            exts = after;
            let (_, oid, mut fields) = tlv(ext)?;
            if oid != SAN {
                continue;
            }
            let (mut tag, mut value, after) = tlv(fields)?;
            if tag == 0x01 {
                fields = after;
                (tag, value, _) = tlv(fields)?;
            }
            if tag == 0x04 {
                summary.sans = general_names(value);
            }
        }
    }
    Some(summary)
}
