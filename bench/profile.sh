#!/usr/bin/env bash
# Release profile comparison (issue 20): size and whole-process times of two or more
# bkenv binaries, side by side in the same hyperfine runs (-N: no shell in between).
#
#   bash bench/profile.sh NAME=BINARY NAME=BINARY...
#
# e.g. bash bench/profile.sh before=/tmp/bkenv-before after=target/release/bkenv
# Measures: `--version` (start-up), `init --mtls` into a fresh directory (CA, three
# leaves, every file, bcrypt), `init` re-run on an unchanged environment, and `doctor`
# (static) on a generated environment. Environment: RUNS (default 50).
# With valgrind installed, also the instructions each run executes (callgrind): unlike
# wall time, that count does not move with the load other processes put on the machine.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 NAME=BINARY NAME=BINARY..." >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "profile: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
runs=${RUNS:-50}
tmp=$(mktemp -d /tmp/bkenv-profile.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

names=(); bins=()
for arg in "$@"; do
  names+=("${arg%%=*}"); bins+=("$(realpath "${arg#*=}")")
done

echo "| binary | size (bytes) | size |"
echo "|---|---|---|"
for i in "${!bins[@]}"; do
  bytes=$(stat -c %s "${bins[$i]}")
  echo "| ${names[$i]} | $bytes | $(numfmt --to=iec-i --suffix=B "$bytes") |"
done
echo
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# bench TITLE ARGS... : one hyperfine run over every binary; {bin} and {n} are replaced.
# Prints median and minimum: on a shared machine the mean mostly measures the neighbours.
bench() {
  local title=$1; shift
  local cmds=()
  for i in "${!bins[@]}"; do
    local c="$*"
    c=${c//\{bin\}/${bins[$i]}}
    c=${c//\{n\}/$i}
    cmds+=(-n "${names[$i]}" "$c")
  done
  hyperfine -N --style none --warmup 3 --runs "$runs" --export-json "$tmp/json" \
    ${prepare:+--prepare "$prepare"} "${cmds[@]}" >/dev/null 2>&1
  python3 - "$tmp/json" "$title" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
for r in results:
    print(f"| {sys.argv[2]} | {r['command']} | {r['median']*1000:.1f} ms | {r['min']*1000:.1f} ms |")
PY
}

echo "| measurement | binary | median | min |"
echo "|---|---|---|---|"
prepare='' bench "start-up: --version" "{bin} --version"
for i in "${!bins[@]}"; do "${bins[$i]}" init "$tmp/env$i" >/dev/null; done
prepare="rm -rf $tmp/fresh" bench "init --mtls, fresh directory" "{bin} init --mtls $tmp/fresh"
prepare='' bench "init re-run, unchanged" "{bin} init $tmp/env{n}"
prepare='' bench "doctor, generated environment" "{bin} doctor $tmp/env{n}"

command -v valgrind >/dev/null || { echo; echo "(no valgrind: instruction counts skipped)"; exit 0; }
# instructions TITLE ARGS... : callgrind's instruction count of one run per binary.
instructions() {
  local title=$1; shift
  for i in "${!bins[@]}"; do
    local c="$*"
    c=${c//\{bin\}/${bins[$i]}}
    c=${c//\{n\}/$i}
    [ -z "${prepare:-}" ] || eval "$prepare"
    local n
    # shellcheck disable=SC2086  # the command's words, as hyperfine -N splits them
    n=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null $c 2>&1 >/dev/null \
      | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
    echo "| $title | ${names[$i]} | $n |"
  done
}
echo
echo "| measurement | binary | instructions |"
echo "|---|---|---|"
prepare='' instructions "start-up: --version" "{bin} --version"
prepare="rm -rf $tmp/fresh" instructions "init --mtls, fresh directory" "{bin} init --mtls $tmp/fresh"
prepare='' instructions "init re-run, unchanged" "{bin} init $tmp/env{n}"
prepare='' instructions "doctor, generated environment" "{bin} doctor $tmp/env{n}"
