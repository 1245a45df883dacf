#!/usr/bin/env bash
# What OTLP export costs: `podwire read` of a large HTTP capture with and
# without `--otlp-endpoint` (a receiver that answers 200 without decoding),
# CPU time (user + system, from the kernel's rusage of the child) of each,
# best of N runs; the difference per request record, and what 10k records/s
# would cost the agent as a share of one core.
#
# usage: [OTLP_PROTOCOL=grpc] bash bench/otlp.sh [CAPTURE] [RUNS]
#   CAPTURE  default: $BENCH_OUT/a-keepalive.pcap (made by bench/run.sh)
#   OTLP_PROTOCOL  http/protobuf (default) or grpc (the receiver serves the
#            collector services on grpcio)
#   needs the test receiver's venv (target/test-data/venv-otlp, scripts/test.sh)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${BENCH_OUT:-$HERE/out}
CAPTURE=${1:-$OUT/a-keepalive.pcap}
RUNS=${2:-3}
PROTOCOL=${OTLP_PROTOCOL:-http/protobuf}
RX_ARGS=()
[ "$PROTOCOL" = grpc ] && RX_ARGS=(--grpc)
PY=$REPO/target/test-data/venv-otlp/bin/python
[ -r "$CAPTURE" ] || { echo "otlp.sh: no capture $CAPTURE (run bench/run.sh first)" >&2; exit 1; }
[ -x "$PY" ] || { echo "otlp.sh: no $PY (scripts/test.sh installs it)" >&2; exit 1; }
(cd "$REPO" && cargo build --release -q -p podwire)
BIN=$REPO/target/release/podwire
TMP=$(mktemp -d)
RX_PID=
cleanup() { [ -n "$RX_PID" ] && kill "$RX_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
"$PY" "$REPO/crates/podwire/tests/data/otlp_receiver.py" --out "$TMP/rx.jsonl" \
    --port-file "$TMP/port" --mode drop "${RX_ARGS[@]}" &
RX_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.1; done
PORT=$(cat "$TMP/port")

# cpu_seconds CMD...: user+sys CPU of CMD (stdout to /dev/null, stderr kept).
cpu_seconds() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys
with open("/tmp/podwire-otlp-bench.err", "w") as err:
    subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=err, check=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{r.ru_utime + r.ru_stime:.3f}")
PY
}
best() { sort -n | head -1; }

records=$("$BIN" read --format jsonl --quiet "$CAPTURE" | grep -c -v '"type":"connection"' || true)
base=$(for _ in $(seq "$RUNS"); do cpu_seconds "$BIN" read --format jsonl --quiet "$CAPTURE"; done | best)
export_cpu=$(for _ in $(seq "$RUNS"); do
    cpu_seconds "$BIN" read --format jsonl "$CAPTURE" --otlp-endpoint "http://127.0.0.1:$PORT" \
        --otlp-queue-kib 1048576 --otlp-protocol "$PROTOCOL"
done | best)
summary=$(grep '^otlp:' /tmp/podwire-otlp-bench.err || true)
python3 - "$records" "$base" "$export_cpu" "$summary" <<'PY'
import sys
records, base, exp, summary = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
extra = exp - base
per = extra / max(records, 1)
print(f"request records:        {records}")
print(f"read, no export:        {base:.3f} s CPU")
print(f"read + OTLP export:     {exp:.3f} s CPU  ({summary})")
print(f"export cost per record: {per * 1e6:.2f} us CPU")
print(f"at 10k records/s:       {per * 1e4 * 100:.1f} % of one core")
PY
