#!/usr/bin/env bash
# What reading requests inside TLS costs: wrk (OpenSSL, keep-alive) against
# nginx (OpenSSL) over HTTPS across a veth, at full speed, without the agent,
# with the agent and --tls-plaintext off, and with it on; the same with Go's
# crypto/tls on both ends (crates/lab/go/go_tls.go: its server, and its load
# client, 16 keep-alive connections); and plain HTTP for comparison. Reports requests/s of each run, the throughput
# lost to the agent, and the agent's CPU (user + system, from /proc) per
# 10k requests/s, best of N interleaved runs.
#
#   sudo bash bench/tls.sh [--podwire PATH] [--seconds N] [--runs N]
#
# Target (issue 18): the throughput lost with --tls-plaintext on stays under
# 5 % of the run without the agent. On a 2-core machine wrk, nginx and the
# agent share the cores, so "lost" includes the agent's packet work too;
# the off/on difference is what the uprobes add.
set -euo pipefail

PW=""
SECS=8
RUNS=3
while [[ $# -gt 0 ]]; do
  case $1 in
    --podwire) PW=${2:?}; shift ;;
    --seconds) SECS=${2:?}; shift ;;
    --runs) RUNS=${2:?}; shift ;;
    *) echo "usage: sudo bash bench/tls.sh [--podwire PATH] [--seconds N] [--runs N]" >&2; exit 2 ;;
  esac
  shift
done
BENCH_NAME=tls.sh
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
[[ $(id -u) == 0 ]] || die "needs root (namespaces, eBPF)"
need wrk wrk; need nginx nginx-light; need ip iproute2; need openssl openssl; need python3 python3
need go golang-go
report_missing "apt-get install wrk nginx-light iproute2 openssl python3 golang-go"
PW=$(podwire_binary "$PW")

TMP=$(mktemp -d /tmp/podwire-tls-bench.XXXXXX)
TMPDIRS+=("$TMP")
NS=pwtb$$
veth_netns "$NS" pwtb0 10.252.0

mkdir -p "$TMP/www"
echo hello > "$TMP/www/index.html"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench \
  -days 1 -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
cat > "$TMP/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 10.252.0.2:8080; root $TMP/www; }
  server {
    listen 10.252.0.2:8443 ssl;
    ssl_certificate $TMP/cert.pem;
    ssl_certificate_key $TMP/key.pem;
    root $TMP/www;
  }
}
EOF
ip netns exec "$NS" nginx -c "$TMP/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
GOCACHE="$TMP/gocache" GOPATH="$TMP/gopath" GOPROXY=off CGO_ENABLED=0 \
  go build -ldflags="-s -w" -o "$TMP/go_tls" "$HERE/../crates/lab/go/go_tls.go"
ip netns exec "$NS" "$TMP/go_tls" server 10.252.0.2:9443 > /dev/null &
PIDS+=($!)
sleep 0.5

# cpu_ticks PID: user + system clock ticks so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

# run URL MODE: one wrk run; MODE none | off | on. Prints "rps agent-cpu-s".
run() {
  local url=$1 mode=$2 agent="" t0=0
  if [[ $mode != none ]]; then
    "$PW" agent --listen 127.0.0.1:0 --interfaces pwtb0 --tls-plaintext "$mode" 2> "$TMP/agent.err" &
    agent=$!
    for _ in $(seq 100); do
      grep -q 'serving http' "$TMP/agent.err" && break
      sleep 0.1
    done
    sleep 2.5 # the first library scan
    t0=$(cpu_ticks "$agent")
  fi
  local rps
  if [[ $url == *:9443/* ]]; then
    rps=$("$TMP/go_tls" load h1 "$url" "$SECS" 16)
  else
    wrk -t1 -c16 -d"${SECS}s" "$url" > "$TMP/wrk.out" 2>&1
    rps=$(grep -Eo 'Requests/sec:\s+[0-9.]+' "$TMP/wrk.out" | awk '{print $2}')
  fi
  local cpu=0
  if [[ -n $agent ]]; then
    cpu=$(( $(cpu_ticks "$agent") - t0 ))
    kill "$agent"; wait "$agent" 2>/dev/null || true
  fi
  echo "$rps $(python3 -c "print($cpu / $TICK)")"
}

declare -A BEST_RPS BEST_CPU
for r in $(seq "$RUNS"); do
  for scheme in https go-https http; do
    port=8443; [[ $scheme == http ]] && port=8080; [[ $scheme == go-https ]] && port=9443
    proto=${scheme#go-}
    for mode in none off on; do
      [[ $scheme == http && $mode == on ]] && continue
      read -r rps cpu < <(run "$proto://10.252.0.2:$port/index.html" "$mode")
      key="$scheme-$mode"
      echo "run $r $key: $rps req/s, agent $cpu s of CPU" >&2
      if [[ -z ${BEST_RPS[$key]:-} ]] || python3 -c "import sys; sys.exit(0 if $rps > ${BEST_RPS[$key]} else 1)"; then
        BEST_RPS[$key]=$rps
        BEST_CPU[$key]=$cpu
      fi
    done
  done
done

python3 - "$SECS" <<PY
import sys
secs = float(sys.argv[1])
best = {$(for k in "${!BEST_RPS[@]}"; do printf '"%s": (%s, %s), ' "$k" "${BEST_RPS[$k]}" "${BEST_CPU[$k]}"; done)}
print("| path | agent | requests/s | lost vs no agent | agent CPU, % of a core per 10k req/s |")
print("|---|---|---|---|---|")
for scheme in ("https", "go-https", "http"):
    base = best[f"{scheme}-none"][0]
    for mode in ("none", "off", "on"):
        k = f"{scheme}-{mode}"
        if k not in best:
            continue
        rps, cpu = best[k]
        lost = "" if mode == "none" else f"{100 * (base - rps) / base:.1f} %"
        per10k = "" if mode == "none" else f"{100 * cpu / secs / (rps / 10000):.2f}"
        label = {"none": "none", "off": "--tls-plaintext off", "on": "--tls-plaintext on"}[mode]
        print(f"| {scheme} | {label} | {rps:.0f} | {lost} | {per10k} |")
PY
