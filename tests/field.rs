//! The field failures of BuildKit's and buildx's trackers, each check across its whole
//! class (the fixtures in `tests/fixtures/checks` pin one case each).

mod support_doctor;

use support_doctor::{describe, fixtures, materialize, run};

/// The golden environment with `extra` appended to the buildkitd service (after its
/// `depends_on`), and `toml` appended to its buildkitd.toml; the codes doctor reports.
fn golden_with(service: &str, toml: &str) -> Vec<String> {
    let tmp = materialize(&fixtures().join("golden"));
    let compose = tmp.path().join("docker-compose.yml");
    let text = std::fs::read_to_string(&compose).unwrap();
    let anchor = "    depends_on:\n      - registry\n";
    assert!(text.contains(anchor));
    std::fs::write(
        &compose,
        text.replace(anchor, &format!("{anchor}{service}")),
    )
    .unwrap();
    let cfg = tmp.path().join("buildkit/buildkitd.toml");
    let mut t = std::fs::read_to_string(&cfg).unwrap();
    t.push_str(toml);
    std::fs::write(&cfg, t).unwrap();
    describe(&run(tmp.path()))
}

/// The golden environment with its compose file rewritten by `edit`; the findings.
fn golden_edit(edit: impl FnOnce(&str) -> String) -> Vec<String> {
    let tmp = materialize(&fixtures().join("golden"));
    let compose = tmp.path().join("docker-compose.yml");
    let text = std::fs::read_to_string(&compose).unwrap();
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit changed nothing");
    std::fs::write(&compose, edited).unwrap();
    describe(&run(tmp.path()))
}

fn has(got: &[String], code: &str) -> bool {
    got.iter().any(|g| g.starts_with(code))
}

/// BK221 follows Go's `httpproxy` rules, not a substring search.
#[test]
fn bk221_follows_go_proxy_rules() {
    let env = |lines: &[&str]| {
        let mut s = String::from("    environment:\n");
        for l in lines {
            s.push_str(&format!("      - {l}\n"));
        }
        golden_with(&s, "")
    };
    let proxy = "HTTPS_PROXY=http://proxy.corp.example:3128";
    // Reported: no bypass at all; lower-case proxy name; a bypass for another port; a
    // CIDR range for a registry addressed by name; a correct `no_proxy` shadowed by a
    // wrong `NO_PROXY`; a `.registry` entry, which matches subdomains only.
    for case in [
        vec![proxy],
        vec!["https_proxy=proxy.corp.example:3128"],
        vec![proxy, "NO_PROXY=registry:443"],
        vec![proxy, "NO_PROXY=172.16.0.0/12,10.0.0.0/8"],
        vec![proxy, "NO_PROXY=localhost", "no_proxy=registry"],
        vec![proxy, "NO_PROXY=.registry"],
    ] {
        let got = env(&case);
        assert!(has(&got, "BK221"), "{case:?}: {got:#?}");
    }
    // Not reported: bypassed by name, by name and port, by `*`, by `no_proxy` alone; an
    // HTTP proxy only (the registry speaks HTTPS; `ALL_PROXY` is never read by Go); the
    // proxy copied from compose's shell, which doctor cannot see.
    for case in [
        vec![proxy, "NO_PROXY=registry"],
        vec![proxy, "NO_PROXY= Registry:5000 ,localhost"],
        vec![proxy, "NO_PROXY=*"],
        vec![proxy, "no_proxy=registry"],
        vec!["HTTP_PROXY=http://proxy.corp.example:3128"],
        vec!["ALL_PROXY=http://proxy.corp.example:3128"],
        vec!["HTTPS_PROXY", "NO_PROXY=localhost"],
        vec!["HTTPS_PROXY=${HTTPS_PROXY}"],
    ] {
        let got = env(&case);
        assert!(!has(&got, "BK221"), "{case:?}: {got:#?}");
    }
    // A plain-HTTP registry goes through HTTP_PROXY instead.
    let got = golden_with(
        "    environment:\n      HTTP_PROXY: http://proxy.corp.example:3128\n",
        "[registry.\"mirror:5000\"]\nhttp = true\n",
    );
    assert!(
        got.iter()
            .any(|g| g.starts_with("BK221") && g.contains("mirror:5000")),
        "{got:#?}"
    );
    assert!(
        !got.iter()
            .any(|g| g.starts_with("BK221") && g.contains("`registry:5000`")),
        "{got:#?}"
    );
}

/// BK421: credentials in the daemon's environment or a Docker config in its container,
/// in every form compose accepts; a buildkit-image service that runs buildctl itself is
/// a client and keeps its config.
#[test]
fn bk421_credentials_given_to_the_daemon() {
    let count = |got: &[String]| got.iter().filter(|g| g.starts_with("BK421")).count();
    // Map syntax, a variable copied from compose's shell, a single-file mount.
    let got = golden_edit(|compose| {
        compose.replace(
            "      - ./buildkit/certs:/etc/buildkit/certs:ro\n",
            "      - ./buildkit/certs:/etc/buildkit/certs:ro\n      - ./docker/config.json:/home/user/.docker/config.json:ro\n    environment:\n      CI_REGISTRY_TOKEN: abc\n      DOCKER_AUTH_CONFIG:\n      TZ: UTC\n",
        )
    });
    assert_eq!(count(&got), 3, "{got:#?}");
    // No value is ever shown.
    assert!(!got.iter().any(|g| g.contains("abc")), "{got:#?}");

    // The same image as a client (buildctl-daemonless.sh): its config is the client's.
    let client = "  builder:\n    image: moby/buildkit:v0.23.2-rootless\n    entrypoint: buildctl-daemonless.sh\n    command: build --frontend dockerfile.v0\n    environment:\n      - DOCKER_CONFIG=/home/user/.docker\n    volumes:\n      - ./docker:/home/user/.docker:ro\n      - ./buildkit/buildkitd.toml:/home/user/.config/buildkit/buildkitd.toml:ro\n      - ./buildkit/certs:/etc/buildkit/certs:ro\n";
    let got =
        golden_edit(|compose| compose.replace("\nvolumes:\n", &format!("\n{client}\nvolumes:\n")));
    assert_eq!(count(&got), 0, "{got:#?}");
}

/// BK601 and BK612 read cache exports wherever they are written: scripts continued over
/// lines, Makefiles with variables, bake files (HCL strings, templates and objects; JSON)
/// and compose `build.cache_to`.
#[test]
fn cache_exports_are_read_where_people_write_them() {
    let with_file = |name: &str, text: &str| {
        let tmp = materialize(&fixtures().join("golden"));
        let path = tmp.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        describe(&run(tmp.path()))
    };
    let conflict =
        "type=registry,ref=registry:5000/app:c,mode=max,image-manifest=true,oci-mediatypes=false";
    let complete =
        "type=registry,ref=registry:5000/app:c,mode=max,image-manifest=true,oci-mediatypes=true";
    let cases = [
        (
            "scripts/build.sh",
            format!("#!/bin/sh\nbuildctl build \\\n  --export-cache \\\n  {conflict}\n"),
            "BK612",
            "scripts/build.sh:4",
        ),
        (
            "docker-bake.hcl",
            format!("target \"app\" {{\n  cache-to = [\"{conflict}\"]\n}}\n"),
            "BK612",
            "docker-bake.hcl:2",
        ),
        (
            "docker-bake.hcl",
            "variable \"REG\" { default = \"registry:5000\" }\ntarget \"app\" {\n  cache-to = [\n    { type = \"registry\", ref = \"${REG}/app:c\" },\n  ]\n}\n".to_string(),
            "BK601",
            "docker-bake.hcl:4",
        ),
        (
            "docker-bake.json",
            format!("{{\"target\": {{\"app\": {{\"cache-to\": [\n  \"{conflict}\"\n]}}}}}}\n"),
            "BK612",
            "docker-bake.json:2",
        ),
        (
            "ci/Jenkinsfile",
            "sh 'docker build --cache-to type=registry,ref=registry:5000/app:c .'\n".to_string(),
            "BK601",
            "ci/Jenkinsfile:1",
        ),
    ];
    for (name, text, code, at) in &cases {
        let got = with_file(name, text);
        assert!(
            got.iter()
                .any(|g| g.starts_with(code) && g.ends_with(&format!("({at})"))),
            "{name}: {got:#?}"
        );
    }
    for name in ["scripts/build.sh", "docker-bake.hcl"] {
        let text = if name.ends_with(".hcl") {
            format!("target \"app\" {{\n  cache-to = [\"{complete}\"]\n}}\n")
        } else {
            format!("buildctl build --export-cache {complete}\n")
        };
        let got = with_file(name, &text);
        assert!(
            !has(&got, "BK601") && !has(&got, "BK612"),
            "{name}: {got:#?}"
        );
    }
    // Compose `build.cache_to`.
    let got = golden_edit(|compose| {
        compose.replace(
            "  buildkitd:\n",
            &format!("  app:\n    build:\n      context: .\n      cache_to:\n        - \"{conflict}\"\n\n  buildkitd:\n"),
        )
    });
    assert!(
        got.iter()
            .any(|g| g.starts_with("BK612") && g.ends_with("(docker-compose.yml:19)")),
        "{got:#?}"
    );
}
