#!/usr/bin/env bash
# Whole-process comparisons of bkenv against public tools, with the targets of issue 6.
# Prints a table: measurement, bkenv, reference, ratio, target, PASS/FAIL.
# Needs hyperfine, mkcert, python3 and GNU time; installs missing ones with apt (as root).
# Environment: RUNS (default 40), KEEP=1 keeps the scratch directory, ONLY=init measures
# init alone (the rows of issue 15).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

# tool -> Debian package
declare -A packages=(
  [hyperfine]=hyperfine
  [mkcert]=mkcert
  [python3]=python3
  [/usr/bin/time]=time
)
missing=()
for tool in "${!packages[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${packages[$tool]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "compare: missing ${missing[*]}; run as root (or install them) first" >&2
    exit 2
  fi
  echo "compare: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "compare: building the release binary"
cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-$root/target}/release/bkenv
runs=${RUNS:-40}

tmp=$(mktemp -d /tmp/bkenv-compare.XXXXXX)
cleanup() { [ "${KEEP:-}" = 1 ] || rm -rf "$tmp"; }
trap cleanup EXIT

rows=()
# row NAME BKENV REFERENCE RATIO TARGET PASS
row() { rows+=("$1|$2|$3|$4|$5|$6"); }

# median_ms JSON INDEX -> median of the INDEXth command, in ms
median_ms() {
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print("%.2f" % (r["median"]*1000))' "$1" "$2"
}
# CPU time (user + system, mean) of result N, in ms: what the process itself costs,
# steady under load where wall time is mostly waiting for the CPU and the disk.
cpu_ms() {
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]; print("%.2f" % ((r["user"]+r["system"])*1000))' "$1" "$2"
}
# verdict VALUE LIMIT -> PASS if VALUE <= LIMIT (or < with "lt")
verdict() {
  python3 -c 'import sys; v,l=float(sys.argv[1]),float(sys.argv[2]); print("PASS" if (v<l if sys.argv[3]=="lt" else v<=l) else "FAIL")' "$1" "$2" "${3:-le}"
}
ratio() { python3 -c 'import sys; print(f"{float(sys.argv[1])/float(sys.argv[2]):.3f}")' "$1" "$2"; }

# (a) init, default and --mtls: CA + leaves + every file, against mkcert issuing a CA and
# the three leaves of `init --mtls` (certificates only, no other file, no fsync).
# -N: no shell around either command (hyperfine subtracts nothing; a shell would add
# ~1 ms to bkenv's 5-10 ms). A fresh directory for every run (--prepare).
mk() { # mk NAME ARGS...: bkenv init ARGS vs mkcert, into $tmp/NAME.json; prints the ratio row
  local name=$1; shift
  echo "compare: (a) bkenv init $* vs mkcert (CA + 3 ECDSA leaves), $runs runs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
  hyperfine -N --style basic --warmup 3 --runs "$runs" --export-json "$tmp/$name.json" \
    --prepare "rm -rf $tmp/a" -n "bkenv init $*" "$bin init $* $tmp/a" \
    --prepare "rm -rf $tmp/m" -n "mkcert CA + 3 leaves" "sh $root/bench/mkcert-env.sh $tmp/m"
  local bk ref r label="init${*:+ $*}"
  bk=$(median_ms "$tmp/$name.json" 0)
  ref=$(median_ms "$tmp/$name.json" 1)
  r=$(ratio "$bk" "$ref")
  row "$label (CA+leaves+files) vs mkcert" "$bk ms" "$ref ms" "$r" "<= 0.20" "$(verdict "$r" 0.20)"
  bk=$(cpu_ms "$tmp/$name.json" 0)
  ref=$(cpu_ms "$tmp/$name.json" 1)
  row "$label, CPU time (user+sys)" "$bk ms" "$ref ms" "$(ratio "$bk" "$ref")" "info" "-"
}
mk init
mk init-mtls --mtls
ref=$(median_ms "$tmp/init-mtls.json" 1)

# Informational: the same init with a password the user chose (bcrypt cost 10).
sed 's/^# password_env/password_env/' templates/bkenv.toml >"$tmp/chosen.toml"
hyperfine -N --style basic --warmup 2 --runs "$runs" --export-json "$tmp/init-chosen.json" \
  --prepare "sh -c 'rm -rf $tmp/c && mkdir $tmp/c && cp $tmp/chosen.toml $tmp/c/bkenv.toml'" \
  -n "bkenv init (chosen password, cost 10)" \
  "env BKENV_REGISTRY_PASSWORD=correct-horse-battery $bin init --mtls $tmp/c"
bkc=$(median_ms "$tmp/init-chosen.json" 0)
row "init --mtls, chosen password (cost 10)" "$bkc ms" "$ref ms" "$(ratio "$bkc" "$ref")" "info" "-"

if [ "${ONLY:-}" != init ]; then
# (c) probes: 20 registries, 5 of which accept TCP and never answer, against one timeout.
echo "compare: (c) bkenv probe, 20 endpoints (5 black holes) vs one timeout"
"$bin" init "$tmp/pe" >/dev/null
python3 bench/probe-servers.py "$tmp/pe/registry/certs/registry.crt" \
  "$tmp/pe/registry/certs/registry.key" 15 5 "$tmp/ports" &
servers=$!
trap 'kill $servers 2>/dev/null; cleanup' EXIT
for _ in $(seq 100); do [ -s "$tmp/ports" ] && break; sleep 0.1; done
mkdir -p "$tmp/dockercfg"
endpoints=$(sed 's/^/localhost:/' "$tmp/ports" | tr '\n' ' ')
timeout_s=1
# The 5 dead endpoints make probe exit 1 (findings): that is the expected outcome.
hyperfine --style basic --warmup 1 --runs "${PROBE_RUNS:-10}" -i --export-json "$tmp/probe.json" \
  -n "bkenv probe (20, 5 dead)" \
  "$bin probe --timeout $timeout_s --cacert $tmp/pe/ca/ca.crt --docker-config $tmp/dockercfg $endpoints" \
  -n "one timeout (sleep $timeout_s)" "sleep $timeout_s"
bk=$(median_ms "$tmp/probe.json" 0)
ref=$(median_ms "$tmp/probe.json" 1)
r=$(ratio "$bk" "$ref")
row "probe 20 endpoints, 5 dead vs 1 timeout" "$bk ms" "$ref ms" "$r" "<= 1.2" "$(verdict "$r" 1.2)"
kill $servers 2>&1 || true

# (b) and (d): doctor on a 200,000-file tree with a few environments inside.
echo "compare: (b) generating the 200,000-file tree"
python3 bench/gen-tree.py "$tmp/tree" "$bin"
echo "compare: doctor on the tree says: $("$bin" doctor "$tmp/tree" 2>&1 | tail -1)"
# -i: doctor exits 1 if it finds anything; the timing is what is compared here.
hyperfine --style basic --warmup 2 --runs "${TREE_RUNS:-10}" -i --export-json "$tmp/doctor.json" \
  -n "bkenv doctor (200k files)" "$bin doctor $tmp/tree" \
  -n "find -type f" "find $tmp/tree -type f"
bk=$(median_ms "$tmp/doctor.json" 0)
ref=$(median_ms "$tmp/doctor.json" 1)
r=$(ratio "$bk" "$ref")
row "doctor on 200k files vs find" "$bk ms" "$ref ms" "$r" "<= 2" "$(verdict "$r" 2)"
echo "compare: (d) peak memory of doctor on the tree"
rss=()
for _ in 1 2 3 4 5; do
  /usr/bin/time -v -o "$tmp/time.txt" "$bin" doctor "$tmp/tree" >/dev/null 2>&1 || true
  rss+=("$(awk -F: '/Maximum resident set size/ {print $2+0}' "$tmp/time.txt")")
done
kib=$(printf '%s\n' "${rss[@]}" | sort -n | sed -n 3p)
mib=$(python3 -c 'import sys; print("%.1f" % (int(sys.argv[1]) / 1024))' "$kib")
row "doctor peak RSS, 200k files" "$mib MiB" "-" "-" "< 30 MiB" "$(verdict "$mib" 30 lt)"
fi

echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-38s %12s %12s %8s %10s %s\n' measurement bkenv reference ratio target result
for r in "${rows[@]}"; do
  IFS='|' read -r name a b c d e <<<"$r"
  printf '%-38s %12s %12s %8s %10s %s\n' "$name" "$a" "$b" "$c" "$d" "$e"
done
