#!/usr/bin/env bash
# The agent's API under ingest load: how fast do /api/v1/connections,
# /api/v1/graph, /nodegraph/api/graph/data and /metrics answer while the
# agent captures as much traffic as this machine can make?
#
#   sudo bash bench/serve.sh [--podwire PATH] [--seconds N]
#
# Load: wrk (new connection per request: the agent's worst case, every
# request a connection record) against nginx in a network namespace across
# a veth pair; the agent captures the veth. Meanwhile a second wrk asks each
# API endpoint for SECONDS and reports its latency distribution. Everything
# is torn down on exit. Output: one line per endpoint (requests/s, p50, p99,
# max) and the agent's ingest counters.
set -euo pipefail

PW=""
SECS=10
while [[ $# -gt 0 ]]; do
  case $1 in
    --podwire) PW=${2:?}; shift ;;
    --seconds) SECS=${2:?}; shift ;;
    *) echo "usage: sudo bash bench/serve.sh [--podwire PATH] [--seconds N]" >&2; exit 2 ;;
  esac
  shift
done
BENCH_NAME=serve.sh
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"
[[ $(id -u) == 0 ]] || die "needs root (namespaces, capture)"
need wrk wrk; need nginx nginx-light; need ip iproute2; need curl curl; need python3 python3
report_missing "apt-get install wrk nginx-light iproute2 curl python3"
PW=$(podwire_binary "$PW")

TMP=$(mktemp -d /tmp/podwire-serve-bench.XXXXXX)
TMPDIRS+=("$TMP")
NS=pwsb$$
veth_netns "$NS" pwsb0 10.253.0

mkdir -p "$TMP/www"
echo hello > "$TMP/www/index.html"
cat > "$TMP/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  server { listen 10.253.0.2:8080 reuseport backlog=4096; root $TMP/www; keepalive_timeout 0; }
}
EOF
ip netns exec "$NS" nginx -c "$TMP/nginx.conf" -g 'daemon off;' &
PIDS+=($!)

"$PW" agent --listen 127.0.0.1:0 --interfaces pwsb0 2> "$TMP/agent.err" &
AGENT=$!
PIDS+=("$AGENT")
URL=""
for _ in $(seq 100); do
  URL=$(grep -o 'serving http://[0-9.:]*' "$TMP/agent.err" | head -1 | sed 's/serving //') || true
  [[ -n $URL ]] && break
  sleep 0.1
done
[[ -n $URL ]] || { cat "$TMP/agent.err" >&2; exit 1; }
sleep 1

# Ingest load for the whole run: one connection per request.
LOAD_SECS=$((SECS * 4 + 10))
wrk -t1 -c32 -d"${LOAD_SECS}s" -H 'Connection: close' http://10.253.0.2:8080/ > "$TMP/load.out" 2>&1 &
LOADER=$!
PIDS+=("$LOADER")
sleep 3

printf '%-40s %10s %10s %10s %10s\n' endpoint req/s p50 p99 max
for path in "/api/v1/connections?limit=100" "/api/v1/graph?level=ip" \
            "/nodegraph/api/graph/data?stats-type=bytes" "/metrics"; do
  wrk -t1 -c4 -d"${SECS}s" --latency "$URL$path" > "$TMP/api.out" 2>&1 || true
  python3 - "$path" "$TMP/api.out" <<'PY'
import re, sys
path, text = sys.argv[1], open(sys.argv[2]).read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
def lat(p):
    m = re.search(r"^\s+%s%%\s+([\d.]+\w+)" % p, text, re.M)
    return m.group(1) if m else "?"
mx = re.search(r"Latency\s+\S+\s+\S+\s+(\S+)", text)
print("%-40s %10s %10s %10s %10s" % (path, rps.group(1) if rps else "?", lat("50"), lat("99"), mx.group(1) if mx else "?"))
PY
done
kill "$LOADER" 2>/dev/null || true
wait "$LOADER" 2>/dev/null || true
echo "load: $(grep -E 'Requests/sec' "$TMP/load.out" || true)"
curl -s "$URL/api/v1/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
c, t = s["capture"], s["tracker"]
store = {x["table"]: x for x in s["store"]}["connection"]
print("agent: packets %d, ring drops %d, tracked %d, connection records inserted %d, dropped %d" % (
    c["packets"], c["ring_drops"], t["open"], store["inserted"], store["dropped_records"]))'
