//! Extensions and fields, read back with x509-parser.

use super::*;

#[test]
fn ca_structure_as_x509_parser_sees_it() {
    let permitted = default_permitted(&names(&["registry.local", "10.0.0.5"]));
    let ca = ca(KeyType::EcdsaP256, Some(permitted));
    let der = der(&ca.cert_pem);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();

    let bc = cert.basic_constraints().unwrap().unwrap();
    assert!(bc.critical && bc.value.ca);
    assert_eq!(bc.value.path_len_constraint, Some(0));
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.key_cert_sign() && ku.value.crl_sign());
    assert!(!ku.value.digital_signature());
    let nc = cert.name_constraints().unwrap().unwrap();
    assert!(nc.critical);
    let permitted = nc.value.permitted_subtrees.as_ref().unwrap();
    assert!(
        permitted
            .iter()
            .any(|s| s.base == GeneralName::DNSName("registry.local"))
    );
    assert!(
        permitted
            .iter()
            .any(|s| s.base == GeneralName::IPAddress(&[127, 0, 0, 0, 255, 0, 0, 0]))
    );
    assert!(
        permitted
            .iter()
            .any(|s| s.base == GeneralName::IPAddress(&[10, 0, 0, 5, 255, 255, 255, 255]))
    );
    assert!(cert.iter_extensions().any(|e| matches!(
        e.parsed_extension(),
        ParsedExtension::SubjectKeyIdentifier(_)
    )));
    assert_eq!(cert.validity().not_before.to_datetime(), now());
    assert_eq!(
        cert.validity().not_after.to_datetime(),
        now() + Duration::days(3650)
    );
    assert_eq!(cert.raw_serial().len(), 16);
    assert!(cert.raw_serial()[0] < 0x80);
    // The name carries the start of the key identifier (upper-case hex, 4 bytes).
    let ski = ca.facts.subject_key_id.clone().expect("SKI");
    assert_eq!(ski.len(), 20);
    let hex: String = ski[..4].iter().map(|b| format!("{b:02X}")).collect();
    assert_eq!(
        cert.subject().to_string(),
        format!("CN=bkenv test CA {hex}, O=bkenv")
    );
    assert_eq!(cert.subject(), cert.issuer());

    // Our own facts agree.
    assert!(ca.facts.is_ca && ca.facts.path_len == Some(0) && ca.facts.name_constraints_critical);
    assert_eq!(ca.facts.serial_hex.len(), 32);
}

#[test]
fn server_leaf_structure_as_x509_parser_sees_it() {
    let ca = ca(KeyType::EcdsaP256, None);
    let p = leaf_params(
        &["registry.local", "localhost", "127.0.0.1", "::1"],
        Usage::Server,
        KeyType::EcdsaP256,
    );
    let leaf = issue_leaf(&ca, &p, &SystemRandom::new()).unwrap();
    let der = der(&leaf.cert_pem);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();

    let san = cert.subject_alternative_name().unwrap().unwrap();
    let got: Vec<&GeneralName> = san.value.general_names.iter().collect();
    assert_eq!(got.len(), 4);
    assert!(got.contains(&&GeneralName::DNSName("registry.local")));
    assert!(got.contains(&&GeneralName::DNSName("localhost")));
    assert!(got.contains(&&GeneralName::IPAddress(&[127, 0, 0, 1])));
    let v6: [u8; 16] = std::net::Ipv6Addr::LOCALHOST.octets();
    assert!(got.contains(&&GeneralName::IPAddress(&v6)));

    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && !eku.client_auth);
    let ku = cert.key_usage().unwrap().unwrap();
    assert!(ku.critical && ku.value.digital_signature() && !ku.value.key_cert_sign());
    assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);
    assert!(cert.iter_extensions().any(|e| matches!(
        e.parsed_extension(),
        ParsedExtension::AuthorityKeyIdentifier(_)
    )));
    assert_eq!(cert.validity().not_before.to_datetime(), now());
    assert_eq!(
        cert.validity().not_after.to_datetime(),
        now() + Duration::days(397)
    );
    assert_eq!(cert.raw_serial().len(), 16);
    let ca_der = super::der(&ca.cert_pem);
    let (_, ca_cert) = X509Certificate::from_der(&ca_der).unwrap();
    assert_eq!(cert.issuer().to_string(), ca_cert.subject().to_string());
    assert!(cert.issuer().to_string().starts_with("CN=bkenv test CA "));

    let facts = &read_certs(leaf.cert_pem.as_bytes()).unwrap()[0];
    assert!(signed_by(facts, &ca.facts));
    let key = read_private_key(leaf.key_pem.as_bytes()).unwrap();
    assert!(key_matches_cert(&key, facts));
    assert!(!key_matches_cert(&key, &ca.facts));
}
