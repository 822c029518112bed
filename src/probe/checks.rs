//! BK7xx: the live checks, what a probe of buildkitd or a registry can find on the wire.
//! Their logic is the probe itself: `net` (dialling), `tls_explain` (handshakes and
//! certificates), `registry` (the `/v2/` and token flow).

crate::diag::checks! {
    BK701 {
        slug: "endpoint-unreachable",
        severity: Error,
        fixable: false,
        title: "The endpoint refuses connections or does not answer in time",
        prevents: "dial tcp <addr>: connect: connection refused",
    }
    BK702 {
        slug: "endpoint-name-unresolvable",
        severity: Error,
        fixable: false,
        title: "The endpoint's host name does not resolve",
        prevents: "dial tcp: lookup <host>: no such host",
    }
    BK703 {
        slug: "plain-http-on-tls-endpoint",
        severity: Error,
        fixable: false,
        title: "A plain-HTTP server answers where BuildKit speaks TLS",
        prevents: "http: server gave HTTP response to HTTPS client",
    }
    BK704 {
        slug: "tls-on-plain-http-endpoint",
        severity: Error,
        fixable: false,
        title: "A TLS server answers where BuildKit speaks plain HTTP",
        prevents: "net/http: HTTP/1.x transport connection broken: malformed HTTP response",
    }
    BK705 {
        slug: "server-cert-unknown-authority",
        severity: Error,
        fixable: false,
        title: "The server certificate is not signed by a trusted CA",
        prevents: "x509: certificate signed by unknown authority",
    }
    BK706 {
        slug: "server-cert-name-mismatch",
        severity: Error,
        fixable: false,
        title: "The server certificate's SANs do not cover the name dialled",
        prevents: "x509: certificate is valid for <sans>, not <name>",
    }
    BK707 {
        slug: "server-cert-without-sans",
        severity: Error,
        fixable: false,
        title: "The server certificate has no SANs (Common Name only)",
        prevents: "x509: certificate relies on legacy Common Name field, use SANs instead",
    }
    BK708 {
        slug: "server-cert-outside-validity",
        severity: Error,
        fixable: false,
        title: "The server certificate is expired or not yet valid",
        prevents: "x509: certificate has expired or is not yet valid",
    }
    BK709 {
        slug: "server-chain-incomplete",
        severity: Error,
        fixable: false,
        title: "The server sends its leaf without the intermediate that signed it",
        prevents: "x509: certificate signed by unknown authority",
    }
    BK710 {
        slug: "server-cert-wrong-eku",
        severity: Error,
        fixable: false,
        title: "The server certificate's extended key usage lacks serverAuth",
        prevents: "x509: certificate specifies an incompatible key usage",
    }
    BK711 {
        slug: "server-cert-is-ca",
        severity: Warning,
        fixable: false,
        title: "The server presents a CA certificate as its own certificate",
        prevents: "",
    }
    BK712 {
        slug: "server-cert-name-constraint-violation",
        severity: Error,
        fixable: false,
        title: "The server certificate's names are outside its CA's name constraints",
        prevents: "x509: a root or intermediate certificate is not authorized to sign for this name",
    }
    BK713 {
        slug: "client-cert-required",
        severity: Error,
        fixable: false,
        title: "The server requires a client certificate and none was offered",
        prevents: "remote error: tls: certificate required",
    }
    BK714 {
        slug: "client-cert-rejected",
        severity: Error,
        fixable: false,
        title: "The server rejects the client certificate offered",
        prevents: "remote error: tls: bad certificate",
    }
    BK715 {
        slug: "buildkitd-without-h2-alpn",
        severity: Error,
        fixable: false,
        title: "buildkitd does not select the h2 ALPN protocol",
        prevents: "credentials: cannot check peer: missing selected ALPN property",
    }
    BK716 {
        slug: "endpoint-not-a-registry",
        severity: Error,
        fixable: false,
        title: "The endpoint does not serve the registry API at /v2/",
        prevents: "unexpected status from HEAD request to <url>: 404 Not Found",
    }
    BK717 {
        slug: "registry-credentials-rejected",
        severity: Error,
        fixable: false,
        title: "The registry rejects the credentials BuildKit would send",
        prevents: "401 Unauthorized",
    }
    BK718 {
        slug: "credentials-under-other-key",
        severity: Error,
        fixable: false,
        title: "Anonymous access is refused and the credentials sit under a key BuildKit never looks up",
        prevents: "failed to fetch anonymous token: unexpected status from GET request to <realm>: 403 Forbidden",
    }
    BK719 {
        slug: "registry-requires-credentials",
        severity: Error,
        fixable: false,
        title: "The registry refuses anonymous access and no credentials are configured",
        prevents: "failed to fetch anonymous token: unexpected status from GET request to <realm>: 401 Unauthorized",
    }
    BK720 {
        slug: "password-over-plain-http",
        severity: Warning,
        fixable: false,
        title: "BuildKit would send a registry password over plain HTTP",
        prevents: "",
    }
    BK721 {
        slug: "token-endpoint-failed",
        severity: Error,
        fixable: false,
        title: "The registry's token endpoint fails or returns no token",
        prevents: "failed to fetch oauth token: unexpected status from GET request to <realm>",
    }
    BK722 {
        slug: "unexpected-endpoint-response",
        severity: Warning,
        fixable: false,
        title: "The endpoint answers in a way the probe cannot classify",
        prevents: "",
    }
    BK723 {
        slug: "endpoint-not-probed",
        severity: Note,
        fixable: false,
        title: "An endpoint only resolves inside the compose network and is not published",
        prevents: "",
    }
    BK724 {
        slug: "helper-credentials-not-checked",
        severity: Note,
        fixable: false,
        title: "The registry wants credentials that a credential helper holds, and helpers were not run",
        prevents: "",
    }
    BK725 {
        slug: "credential-helper-failed",
        severity: Error,
        fixable: false,
        title: "The credential helper config.json names fails or is missing",
        prevents: "error getting credentials - err: exit status 1",
    }
}
