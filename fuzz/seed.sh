#!/usr/bin/env bash
# Seeds each empty corpus/<target>/ from the repository's own files (fixtures,
# examples, templates), so a fresh machine starts from real inputs. Corpora that
# already hold files are left alone. Called by run.sh.
set -euo pipefail
cd "$(dirname "$0")"
repo=..
seed() {
  local t=$1
  shift
  mkdir -p "corpus/$t"
  [ -z "$(ls -A "corpus/$t")" ] || return 0
  local n=0 f
  while IFS= read -r -d '' f; do
    cp "$f" "corpus/$t/seed-$n"
    n=$((n + 1))
  done < <(find "$repo/tests/fixtures" "$repo/examples" "$repo/templates" -type f \( "$@" \) -print0)
}
seed buildkitd_toml -name 'buildkitd.toml*'
seed compose_yaml -name 'docker-compose*' -o -name 'compose.y*ml'
seed docker_config -name config.json
seed registry_config -name config.yml -o -name 'registry-config.yml.j2'
seed htpasswd -name htpasswd
seed pem -name '*.crt' -o -name '*.key' -o -name '*.pem' -o -name '*.cert'
seed env -name .env
seed refs -name 'Dockerfile*' -o -name '.gitlab-ci.yml' -o -path '*/workflows/*.yml'
seed spec -name bkenv.toml

# snapshot: one input per whole environment. A check fixture holding `_base` is the
# golden environment overlaid with its own files, minus the paths `_delete` lists.
mkdir -p corpus/snapshot
if [ -z "$(ls -A corpus/snapshot)" ]; then
  n=0
  emit() { # emit DIR... : later directories override earlier ones
    local -A files=()
    local d f rel
    for d in "$@"; do
      while IFS= read -r -d '' f; do
        rel=${f#"$d"/}
        files[$rel]=$f
      done < <(find "$d" -type f ! -name _base ! -name _delete -print0)
    done
    local del=${!#}/_delete
    if [ -f "$del" ]; then
      while IFS= read -r rel; do unset "files[$rel]"; done <"$del"
    fi
    for rel in $(printf '%s\n' "${!files[@]}" | sort); do
      printf '@@ %s\n' "$rel"
      cat "${files[$rel]}"
    done
  }
  golden=$repo/tests/fixtures/golden
  for d in "$golden" "$repo/tests/fixtures/cheatsheet" "$repo"/tests/fixtures/checks/*/*; do
    if [ -f "$d/_base" ]; then
      emit "$repo/tests/fixtures/$(cat "$d/_base")" "$d" >"corpus/snapshot/seed-$n"
    else
      emit "$d" >"corpus/snapshot/seed-$n"
    fi
    n=$((n + 1))
  done
fi
for d in corpus/*/; do echo "$(basename "$d"): $(ls "$d" | wc -l) files"; done
