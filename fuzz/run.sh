#!/usr/bin/env bash
# Runs every fuzz target for SECS seconds (default 120), two at a time, and prints one
# line per target: corpus size before/after, executions and the exit status.
# Needs nightly and cargo-fuzz (`cargo install cargo-fuzz`). Not part of .ci/run.
# After changing the code, rebuild first: `cargo +nightly fuzz build`.
set -uo pipefail
cd "$(dirname "$0")"
secs=${1:-120}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(buildkitd_toml compose_yaml docker_config registry_config htpasswd pem env refs spec snapshot buildx_instance)
mkdir -p logs corpus artifacts
./seed.sh >/dev/null
bin=target/x86_64-unknown-linux-gnu/release
for t in "${targets[@]}"; do
  [ -x "$bin/$t" ] || { cargo +nightly fuzz build; break; }
done
run() {
  local t=$1
  mkdir -p "corpus/$t" "artifacts/$t"
  local before; before=$(ls "corpus/$t" | wc -l)
  # The binaries `cargo +nightly fuzz build` made (`cargo fuzz run` would rebuild
  # everything when its flags differ from the build's).
  "$bin/$t" "corpus/$t" -max_total_time="$secs" -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="artifacts/$t/" -print_final_stats=1 \
    >"logs/$t.log" 2>&1
  local rc=$?
  local after; after=$(ls "corpus/$t" | wc -l)
  local execs; execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$')
  echo "$t secs=$secs rc=$rc corpus=$before->$after execs=${execs:-?} artifacts=$(ls "artifacts/$t" | wc -l)"
}
i=0
for t in "${targets[@]}"; do
  run "$t" &
  i=$((i + 1))
  if [ $((i % 2)) -eq 0 ]; then wait; fi
done
wait
