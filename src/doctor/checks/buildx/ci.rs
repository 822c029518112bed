//! Builders created from CI files, shell scripts and Makefiles: their path driver-opts.

use super::PATH_OPTS;

/// A file that creates buildx builders: a GitHub Actions workflow, `.gitlab-ci.yml`, or a
/// script or Makefile discovered for its buildx lines (Dockerfiles are the other refs).
pub(super) fn runs_buildx(path: &std::path::Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    !(name.starts_with("dockerfile")
        || name.starts_with("containerfile")
        || name.ends_with(".dockerfile"))
}

/// The variable that names the directory a relative path was meant from.
pub(super) fn base_dir(path: &std::path::Path) -> &'static str {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name == ".gitlab-ci.yml" {
        "$CI_PROJECT_DIR"
    } else if path
        .parent()
        .is_some_and(|p| p.ends_with(".github/workflows"))
    {
        "${{ github.workspace }}"
    } else if name.contains("makefile") || name.ends_with(".mk") {
        "$(CURDIR)"
    } else {
        "$PWD"
    }
}

/// `cacert=`/`cert=`/`key=` values given to buildx in a CI file: on lines that run
/// `buildx create` or pass `--driver-opt`, and in the lines of a setup-buildx-action
/// `driver-opts:` block. Yields (1-based line, byte column of the key, key, value).
pub(super) fn ci_path_opts(text: &str) -> Vec<(usize, usize, &str, &str)> {
    ci_opts(text, PATH_OPTS)
}

/// The `KEY=value` driver-opts among `keys` given to buildx in a CI file or script, as
/// [`ci_path_opts`] finds them.
pub(super) fn ci_opts<'t>(text: &'t str, keys: &[&str]) -> Vec<(usize, usize, &'t str, &'t str)> {
    let mut out = Vec::new();
    let mut block: Option<usize> = None;
    for (i, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        if block.is_some_and(|b| indent <= b && !line.trim().is_empty()) {
            block = None;
        }
        let in_block = block.is_some();
        if let Some(rest) = line.trim_start().strip_prefix("driver-opts:") {
            block = Some(indent);
            if rest.trim().is_empty() || rest.trim().starts_with(['|', '>']) {
                continue;
            }
        }
        let buildx_line = line.contains("--driver-opt") || line.contains("buildx create");
        if !(in_block || buildx_line || line.trim_start().starts_with("driver-opts:")) {
            continue;
        }
        for (at, _) in line.match_indices('=') {
            let key_start = line[..at]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .map_or(0, |p| p + 1);
            let key = &line[key_start..at];
            if !keys.contains(&key) {
                continue;
            }
            let rest = &line[at + 1..];
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, ',' | '"' | '\'' | '\\'))
                .unwrap_or(rest.len());
            if end > 0 {
                out.push((i + 1, key_start, key, &rest[..end]));
            }
        }
    }
    out
}

/// The `buildkitd-config-inline:` blocks of a workflow (setup-buildx-action): each as
/// the TOML text buildx receives and, per line of it, the byte offset in the file where
/// that line's text starts (after the block's indentation).
pub(super) fn inline_configs(text: &str) -> Vec<(String, Vec<usize>)> {
    let mut out = Vec::new();
    let mut lines = text.split_inclusive('\n').scan(0usize, |at, l| {
        let start = *at;
        *at += l.len();
        Some((start, l.trim_end_matches(['\n', '\r'])))
    });
    while let Some((_, line)) = lines.next() {
        let indent = line.len() - line.trim_start().len();
        let Some(rest) = line.trim_start().strip_prefix("buildkitd-config-inline:") else {
            continue;
        };
        if !rest.trim().starts_with('|') {
            continue;
        }
        let (mut body, mut starts) = (String::new(), Vec::new());
        let mut block_indent = None;
        for (start, l) in lines.by_ref() {
            let ind = l.len() - l.trim_start().len();
            if !l.trim().is_empty() && ind <= indent {
                break;
            }
            let strip = *block_indent.get_or_insert(ind);
            let cut = strip.min(ind).min(l.len());
            body.push_str(&l[cut..]);
            body.push('\n');
            starts.push(start + cut);
        }
        out.push((body, starts));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ci_path_opts;

    #[test]
    fn ci_driver_opts_are_found_in_shell_lines_and_action_blocks() {
        let ci = "steps:\n  - uses: docker/setup-buildx-action@v4\n    with:\n      driver: remote\n      driver-opts: |\n        cacert=ci/ca.crt\n        key=${{ runner.temp }}/k\n      endpoint: tcp://b:1234\n  - run: echo cert=not-buildx\n  - run: docker buildx create --driver remote --driver-opt cacert=/abs/ca.crt,cert=rel/c.crt tcp://b:1234\n";
        let got: Vec<_> = ci_path_opts(ci)
            .into_iter()
            .map(|(l, _, k, v)| (l, k, v))
            .collect();
        assert_eq!(
            got,
            vec![
                (6, "cacert", "ci/ca.crt"),
                (7, "key", "${{"),
                (10, "cacert", "/abs/ca.crt"),
                (10, "cert", "rel/c.crt"),
            ]
        );
    }
}
