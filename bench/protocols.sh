#!/usr/bin/env bash
# Benchmark of `podwire read` on application-protocol captures.
#
#   sudo bash bench/protocols.sh [--remake] [--runs N] [--podwire PATH] [--only LIST]
#
# Makes captures on loopback (a real server loaded by its own benchmark
# client, captured by tcpdump) in bench/out/ unless they exist:
#   h2-few   nghttpd (h2c) under h2load: 100k requests over 4 connections
#   h2-many  the same server: 20k requests over 5,000 short connections
#   pg       PostgreSQL 15 under pgbench -M prepared
#   redis    redis-server under redis-benchmark -P 16 (SET and GET)
#   kafka    a Kafka broker (tansu if on PATH, else the stand-in
#            crates/parse-kafka/tests/data/fakebroker.py) and a kafka-python producer
# then times, side by side in one run, interleaved:
#   podwire read --format jsonl FILE > /dev/null
#   tshark -r FILE <dissect that protocol>       (see tshark_args below)
#   tcpdump -r FILE -w /dev/null                 (the I/O floor)
# checks that podwire parsed the protocol (its record counts against what the
# client reported and what tshark saw) and prints a markdown report, also
# written to bench/out/protocols-results.md. See bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${BENCH_OUT:-$HERE/out}

RUNS=3
REMAKE=0
PODWIRE=""
FORCE_BUILD=0
NO_BUILD=0
ONLY=""
CAPTURES_ONLY=0
H2_PORT=18982
PG_PORT=54339
REDIS_PORT=63799
KAFKA_PORT=19093
H2_FEW_REQUESTS=100000   # h2load -n, over 4 connections
H2_MANY_ROUNDS=10        # h2-many: rounds of h2load ...
H2_MANY_CLIENTS=500      # ... with this many connections ...
H2_MANY_PER_CONN=4       # ... of this many requests each
PG_TRANSACTIONS=5000     # pgbench -t, per client (4 clients)
REDIS_REQUESTS=200000    # redis-benchmark -n, per test (SET and GET)
KAFKA_MESSAGES=100000    # messages the producer sends ...
KAFKA_BATCH_BYTES=1024   # ... in batches of at most this many bytes (batch.size)
BODY_BYTES=100           # size of the file nghttpd serves
MIN_FRACTION=0.90        # podwire's count below this fraction of the client's: FAIL
LOAD_MAX_SECS=240        # upper bound of one load-generator run
TOOL_TIMEOUT=600         # upper bound of one timed command
BUILD_TIMEOUT=2400       # upper bound of the cargo build
ALL_CAPS=(h2-few h2-many pg redis kafka)

usage() {
  cat <<EOF
usage: sudo bash bench/protocols.sh [options]

  --remake            make the captures again even if bench/out/ has them
  --runs N            time each tool N times per capture (default $RUNS)
  --podwire PATH      podwire binary to time (default: \$CARGO_TARGET_DIR or
                      target/, then release/podwire, built with
                      'cargo build --release -p podwire' if absent)
  --build             run the cargo build even if the binary exists
  --no-build          never run cargo; a missing podwire is reported as such
  --only LIST         comma-separated subset of: ${ALL_CAPS[*]}
  --captures-only     make the captures and stop
  --min-fraction F    podwire must report at least F x the client's count (default $MIN_FRACTION)
  -h, --help          this text

Ports on 127.0.0.1: HTTP/2 $H2_PORT, PostgreSQL $PG_PORT, Redis $REDIS_PORT, Kafka $KAFKA_PORT.
Captures and results go to ${OUT#$REPO/}/ (override with BENCH_OUT=dir).
EOF
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --remake) REMAKE=1 ;;
    --runs) RUNS=${2:?}; shift ;;
    --podwire) PODWIRE=${2:?}; shift ;;
    --build) FORCE_BUILD=1 ;;
    --no-build) NO_BUILD=1 ;;
    --only) ONLY=${2:?}; shift ;;
    --captures-only) CAPTURES_ONLY=1 ;;
    --min-fraction) MIN_FRACTION=${2:?}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "protocols.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "protocols.sh: --runs wants a positive integer" >&2; exit 2; }
CAPS=()
if [[ -z "$ONLY" ]]; then
  CAPS=("${ALL_CAPS[@]}")
else
  IFS=, read -r -a CAPS <<< "$ONLY"
  for c in "${CAPS[@]}"; do
    [[ " ${ALL_CAPS[*]} " == *" $c "* ]] || { echo "protocols.sh: --only: unknown capture '$c' (known: ${ALL_CAPS[*]})" >&2; exit 2; }
  done
fi

BENCH_NAME=protocols.sh
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

# ---------------------------------------------------------------- tools
need tcpdump tcpdump
need tshark tshark
need capinfos tshark
need timeout coreutils
need ss iproute2
need curl curl
need python3 python3
[[ -x /usr/bin/time ]] || missing+=("/usr/bin/time (Debian package time)")
PG_BIN=""
for c in "${CAPS[@]}"; do
  case "$c" in
    h2-*) need nghttpd nghttp2-server; need h2load nghttp2-client ;;
    pg)
      need pgbench postgresql-client
      for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
        [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] && { PG_BIN=$d; break; }
      done
      [[ -n "$PG_BIN" ]] || missing+=("initdb/pg_ctl (Debian package postgresql)")
      id postgres >/dev/null 2>&1 || missing+=("user postgres (Debian package postgresql)")
      ;;
    redis) need redis-server redis-server; need redis-benchmark redis-tools; need redis-cli redis-tools ;;
    kafka)
      if ! command -v tansu >/dev/null 2>&1; then
        python3 -c 'import kafka' 2>/dev/null || missing+=("python module kafka (pip install kafka-python)")
      fi
      ;;
  esac
done
report_missing "apt-get update && apt-get install -y nghttp2-server nghttp2-client postgresql redis-server redis-tools tcpdump tshark time curl iproute2; python3 -m pip install kafka-python"
FAKEBROKER="$REPO/crates/parse-kafka/tests/data/fakebroker.py"

mkdir -p "$OUT"

# ---------------------------------------------------------------- cleanup
PG_DATA_RUNNING=""   # a cluster this script started (pg_ctl daemonises it)
cleanup_hook() {
  if [[ -n "$PG_DATA_RUNNING" ]]; then
    su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$PG_DATA_RUNNING' -m immediate -w -t 20 stop" >/dev/null 2>&1 || true
  fi
}

port_busy() { port_listening "$1"; }

wait_port() { # port pid: 0 once something listens on 127.0.0.1:port (at most 30 s)
  local i
  for i in $(seq 300); do
    port_busy "$1" && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# ---------------------------------------------------------------- captures
# capture_run NAME PORT TMP CLIENT_FN ATTEMPT -> 0 ok, 3 kernel drops, 1 other failure
# Starts tcpdump on lo for PORT, runs CLIENT_FN TMP ATTEMPT (which runs the
# load and writes key=value lines, client_count= among them, to TMP/client.meta),
# stops tcpdump and keeps the capture as OUT/NAME.pcap with OUT/NAME.meta.
capture_run() {
  local name=$1 port=$2 tmp=$3 client_fn=$4 attempt=$5
  rm -f "$tmp/cap.pcap" "$tmp/client.meta" "$tmp/tcpdump.err"
  local bound=$((LOAD_MAX_SECS + 120))
  # -B is in KiB: a 64 MiB kernel buffer. -Z root: write the file as root.
  timeout -s TERM "$bound" tcpdump -i lo -nn -B 65536 -Z root -w "$tmp/cap.pcap" \
    "tcp port $port" > "$tmp/tcpdump.out" 2> "$tmp/tcpdump.err" &
  local td_pid=$!
  PIDS+=("$td_pid")
  local i ok=0
  for i in $(seq 100); do
    if grep -q 'listening on' "$tmp/tcpdump.err" 2>/dev/null; then ok=1; break; fi
    kill -0 "$td_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ $ok != 1 ]]; then
    cat "$tmp/tcpdump.err" >&2 || true
    stop_bg "$td_pid"
    die "tcpdump did not start on lo (are you root?)"
  fi
  sleep 0.5
  local t0=$SECONDS crc=0
  "$client_fn" "$tmp" "$attempt" || crc=$?
  local load_secs=$((SECONDS - t0))
  sleep 1   # let the last FINs reach the capture
  stop_bg "$td_pid"
  sed 's/^/    tcpdump| /' "$tmp/tcpdump.err" >&2
  if [[ $crc != 0 ]]; then
    log "capture $name: the load generator failed (exit $crc)"
    return 1
  fi
  local captured received dropped
  captured=$(awk '/packets captured/ {print $1; exit}' "$tmp/tcpdump.err")
  received=$(awk '/packets received by filter/ {print $1; exit}' "$tmp/tcpdump.err")
  dropped=$(awk '/packets dropped by kernel/ {print $1; exit}' "$tmp/tcpdump.err")
  if [[ -z "$captured" || -z "$dropped" ]]; then
    log "capture $name: no packet counts from tcpdump"
    return 1
  fi
  if [[ "$dropped" != 0 ]]; then
    log "capture $name: tcpdump reports $dropped packets dropped by kernel"
    return 3
  fi
  local packets syns bytes
  packets=$(capinfos -M -c -T -r "$tmp/cap.pcap" | awk -F'\t' '{print $2}')
  [[ "$packets" == "$captured" ]] || log "warning: capinfos counts $packets packets, tcpdump said $captured"
  syns=$(tcpdump -r "$tmp/cap.pcap" -nn 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' 2>/dev/null | wc -l)
  bytes=$(stat -c %s "$tmp/cap.pcap")
  mv -f "$tmp/cap.pcap" "$OUT/$name.pcap"
  {
    echo "capture=$name"
    echo "made=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "port=$port"
    echo "load_seconds=$load_secs"
    echo "packets=$packets"
    echo "tcpdump_received_by_filter=$received"
    echo "tcpdump_dropped=$dropped"
    echo "connections=$syns"
    echo "bytes=$bytes"
    cat "$tmp/client.meta"
  } > "$OUT/$name.meta"
  local client_count
  client_count=$(sed -n 's/^client_count=//p' "$tmp/client.meta")
  log "capture $name: $packets packets ($received received by filter, 0 dropped), $syns connections, client count $client_count, $((bytes / 1000000)) MB"
  return 0
}

# with_attempts NAME PORT TMP CLIENT_FN: up to 3 attempts, each lighter than
# the one before (the client function reads its attempt number); a capture
# with kernel drops is thrown away.
with_attempts() {
  local name=$1 port=$2 tmp=$3 fn=$4 a rc
  for a in 1 2 3; do
    rc=0
    capture_run "$name" "$port" "$tmp" "$fn" "$a" || rc=$?
    [[ $rc == 0 ]] && return 0
    [[ $rc == 3 ]] || return 1
    log "retrying capture $name with a lighter load"
  done
  log "capture $name: tcpdump kept dropping packets; the machine is too busy"
  return 1
}

new_tmp() { # sets TMP (not a command substitution: TMPDIRS must be this shell's)
  TMP=$(mktemp -d /tmp/podwire-protobench.XXXXXX)
  chmod 755 "$TMP"
  TMPDIRS+=("$TMP")
}

# h2load's "requests: N total, N started, N done, N succeeded, ..." -> succeeded
h2load_succeeded() { awk '/^requests:/ {for (i = 1; i <= NF; i++) if ($(i+1) ~ /^succeeded/) {print $i; exit}}' "$1"; }

# --- HTTP/2: nghttpd (h2c, prior knowledge) and h2load
H2_SERVER_PID=""
h2_server_start() { # tmp
  local tmp=$1
  port_busy "$H2_PORT" && die "port $H2_PORT is in use on loopback"
  mkdir -p "$tmp/www"
  head -c "$BODY_BYTES" < <(yes 'podwire bench static body 0123456789abcdef' | tr -d '\n') > "$tmp/www/file"
  timeout -s TERM $((LOAD_MAX_SECS * 2 + 300)) nghttpd --no-tls -d "$tmp/www" -a 127.0.0.1 "$H2_PORT" \
    > "$tmp/nghttpd.out" 2>&1 &
  H2_SERVER_PID=$!
  PIDS+=("$H2_SERVER_PID")
  local i
  for i in $(seq 100); do
    curl -sf --http2-prior-knowledge -o /dev/null --max-time 1 "http://127.0.0.1:$H2_PORT/file" && return 0
    kill -0 "$H2_SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  cat "$tmp/nghttpd.out" >&2 || true
  die "nghttpd did not come up on 127.0.0.1:$H2_PORT"
}

h2_few_client() { # tmp attempt
  local tmp=$1 attempt=$2 m=10
  [[ $attempt -ge 2 ]] && m=4
  [[ $attempt -ge 3 ]] && m=1
  log "capture h2-few: h2load -n $H2_FEW_REQUESTS -c 4 -m $m (at most ${LOAD_MAX_SECS}s)"
  timeout -s INT -k 10 "$LOAD_MAX_SECS" h2load -n "$H2_FEW_REQUESTS" -c 4 -m "$m" \
    "http://127.0.0.1:$H2_PORT/file" > "$tmp/h2load.out" 2>&1 || { tail -5 "$tmp/h2load.out" >&2; return 1; }
  grep -E '^(finished in|requests:|status codes:)' "$tmp/h2load.out" | sed 's/^/    h2load| /' >&2
  local ok; ok=$(h2load_succeeded "$tmp/h2load.out")
  cat > "$tmp/client.meta" <<EOF
client=h2load -n $H2_FEW_REQUESTS -c 4 -m $m (h2c prior knowledge)
client_count=${ok:-0}
client_what=HTTP/2 requests h2load completed
EOF
}

h2_many_client() { # tmp attempt
  local tmp=$1 attempt=$2 c=$H2_MANY_CLIENTS rounds=$H2_MANY_ROUNDS r ok total=0
  local conns=$((H2_MANY_CLIENTS * H2_MANY_ROUNDS))
  if [[ $attempt -ge 2 ]]; then c=$((H2_MANY_CLIENTS / 2)); rounds=$((conns / c)); fi
  if [[ $attempt -ge 3 ]]; then c=$((H2_MANY_CLIENTS / 5)); rounds=$((conns / c)); fi
  local n=$((c * H2_MANY_PER_CONN))
  log "capture h2-many: $rounds x h2load -n $n -c $c -m 1 ($H2_MANY_PER_CONN requests per connection, at most ${LOAD_MAX_SECS}s in all)"
  local t0=$SECONDS
  : > "$tmp/h2load.all"
  for r in $(seq "$rounds"); do
    local left=$((LOAD_MAX_SECS - (SECONDS - t0)))
    [[ $left -gt 5 ]] || { log "capture h2-many: out of time after $((r - 1)) rounds"; return 1; }
    timeout -s INT -k 10 "$left" h2load -n "$n" -c "$c" -m 1 \
      "http://127.0.0.1:$H2_PORT/file" > "$tmp/h2load.out" 2>&1 || { tail -5 "$tmp/h2load.out" >&2; return 1; }
    cat "$tmp/h2load.out" >> "$tmp/h2load.all"
    ok=$(h2load_succeeded "$tmp/h2load.out")
    total=$((total + ${ok:-0}))
  done
  grep -E '^requests:' "$tmp/h2load.out" | sed 's/^/    h2load (last round)| /' >&2
  cat > "$tmp/client.meta" <<EOF
client=$rounds rounds of h2load -n $n -c $c -m 1 (h2c prior knowledge)
client_count=$total
client_what=HTTP/2 requests h2load completed
EOF
}

make_h2() { # name fn
  local name=$1 fn=$2 tmp; new_tmp; tmp=$TMP
  h2_server_start "$tmp"
  local rc=0
  with_attempts "$name" "$H2_PORT" "$tmp" "$fn" || rc=$?
  stop_bg "$H2_SERVER_PID"
  [[ $rc == 0 ]] && echo "server=$(nghttpd --version 2>&1 | head -1) --no-tls, a ${BODY_BYTES}-byte file" >> "$OUT/$name.meta"
  return $rc
}

# --- PostgreSQL 15: a throwaway cluster and pgbench
pg_sql_per_tx=7   # pgbench's built-in tpcb-like: BEGIN, 3 UPDATEs, SELECT, INSERT, END
pg_client() { # tmp attempt
  local tmp=$1 attempt=$2 clients=4
  [[ $attempt -ge 2 ]] && clients=2
  [[ $attempt -ge 3 ]] && clients=1
  local t=$((PG_TRANSACTIONS * 4 / clients))
  log "capture pg: pgbench -c $clients -t $t -M prepared (at most ${LOAD_MAX_SECS}s)"
  timeout -s INT -k 10 "$LOAD_MAX_SECS" pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres \
    -c "$clients" -t "$t" -M prepared postgres > "$tmp/pgbench.out" 2>&1 || { tail -5 "$tmp/pgbench.out" >&2; return 1; }
  grep -E '^(number of transactions actually processed|number of failed|tps)' "$tmp/pgbench.out" | sed 's/^/    pgbench| /' >&2
  local done_tx
  done_tx=$(awk -F': ' '/number of transactions actually processed/ {split($2, a, "/"); print a[1]; exit}' "$tmp/pgbench.out")
  cat > "$tmp/client.meta" <<EOF
client=pgbench -c $clients -t $t -M prepared (built-in tpcb-like, scale 1)
pgbench_transactions=${done_tx:-0}
client_count=$(( ${done_tx:-0} * pg_sql_per_tx ))
client_what=statements pgbench ran (transactions x $pg_sql_per_tx)
EOF
}

make_pg() {
  local tmp; new_tmp; tmp=$TMP
  port_busy "$PG_PORT" && die "port $PG_PORT is in use on loopback"
  local data="$tmp/pgdata"
  mkdir -p "$data"; chown postgres: "$data"; chmod 700 "$data"
  log "capture pg: initdb and start a throwaway cluster in $data on 127.0.0.1:$PG_PORT"
  su postgres -s /bin/sh -c "'$PG_BIN/initdb' -D '$data' --auth=trust -U postgres" > "$tmp/initdb.out" 2>&1 \
    || { tail -20 "$tmp/initdb.out" >&2; die "initdb failed"; }
  PG_DATA_RUNNING=$data
  su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$data' -l '$data/log' -w -t 60 -o \"-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories='$data' -c fsync=off -c synchronous_commit=off\" start" \
    > "$tmp/pg_ctl.out" 2>&1 || { cat "$tmp/pg_ctl.out" "$data/log" >&2; die "pg_ctl start failed"; }
  timeout 300 pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -q postgres > "$tmp/pgbench-init.out" 2>&1 \
    || { tail -20 "$tmp/pgbench-init.out" >&2; die "pgbench -i failed"; }
  local rc=0
  with_attempts pg "$PG_PORT" "$tmp" pg_client || rc=$?
  local ver; ver=$("$PG_BIN/postgres" --version 2>/dev/null || echo postgres)
  su postgres -s /bin/sh -c "'$PG_BIN/pg_ctl' -D '$data' -m fast -w -t 30 stop" >/dev/null 2>&1 || true
  PG_DATA_RUNNING=""
  [[ $rc == 0 ]] && echo "server=$ver (fsync=off, synchronous_commit=off), pgbench -i scale 1 before the capture" >> "$OUT/pg.meta"
  return $rc
}

# --- Redis: redis-server and redis-benchmark
redis_client() { # tmp attempt
  local tmp=$1 attempt=$2 clients=50
  [[ $attempt -ge 2 ]] && clients=10
  [[ $attempt -ge 3 ]] && clients=2
  log "capture redis: redis-benchmark -c $clients -P 16 -n $REDIS_REQUESTS -t set,get -q (at most ${LOAD_MAX_SECS}s)"
  timeout -s INT -k 10 "$LOAD_MAX_SECS" redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$clients" -P 16 \
    -n "$REDIS_REQUESTS" -t set,get -q > "$tmp/redis-benchmark.out" 2>&1 || { tail -5 "$tmp/redis-benchmark.out" >&2; return 1; }
  # -q prints a line per test, rewriting it with \r while it runs
  tr '\r' '\n' < "$tmp/redis-benchmark.out" | grep -E '^(SET|GET): [0-9.]+ requests per second' | sed 's/^/    redis-benchmark| /' >&2
  local tests
  tests=$(tr '\r' '\n' < "$tmp/redis-benchmark.out" | grep -cE '^(SET|GET): [0-9.]+ requests per second' || true)
  cat > "$tmp/client.meta" <<EOF
client=redis-benchmark -c $clients -P 16 -n $REDIS_REQUESTS -t set,get
client_count=$(( tests * REDIS_REQUESTS ))
client_what=commands redis-benchmark reported done ($tests tests x $REDIS_REQUESTS)
EOF
}

make_redis() {
  local tmp; new_tmp; tmp=$TMP
  port_busy "$REDIS_PORT" && die "port $REDIS_PORT is in use on loopback"
  # In the foreground under timeout (not --daemonize) so that the script
  # owns its pid and stops it on every exit path.
  timeout -s TERM $((LOAD_MAX_SECS * 3 + 300)) redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
    --save '' --appendonly no --daemonize no --dir "$tmp" --logfile "$tmp/redis.log" &
  local pid=$!
  PIDS+=("$pid")
  wait_port "$REDIS_PORT" "$pid" || { cat "$tmp/redis.log" >&2 || true; stop_bg "$pid"; die "redis-server did not come up on 127.0.0.1:$REDIS_PORT"; }
  local rc=0
  with_attempts redis "$REDIS_PORT" "$tmp" redis_client || rc=$?
  stop_bg "$pid"
  [[ $rc == 0 ]] && echo "server=$(redis-server --version | head -1) --save '' --appendonly no" >> "$OUT/redis.meta"
  return $rc
}

# --- Kafka: tansu when on PATH, else the stand-in broker; a kafka-python producer
kafka_client() { # tmp attempt
  local tmp=$1 attempt=$2
  log "capture kafka: kafka-python producer, $KAFKA_MESSAGES messages, acks=1, batch.size $KAFKA_BATCH_BYTES (at most ${LOAD_MAX_SECS}s)"
  timeout -s INT -k 10 "$LOAD_MAX_SECS" python3 "$HERE/kafka-producer.py" --port "$KAFKA_PORT" \
    --messages "$KAFKA_MESSAGES" --batch-size "$KAFKA_BATCH_BYTES" > "$tmp/producer.out" 2>&1 || { tail -5 "$tmp/producer.out" >&2; return 1; }
  sed 's/^/    producer| /' "$tmp/producer.out" >&2
  local acked
  acked=$(awk '/^produced/ {print $4; exit}' "$tmp/producer.out")
  cat > "$tmp/client.meta" <<EOF
client=kafka-python $(python3 -c 'import kafka; print(kafka.__version__)') producer: $KAFKA_MESSAGES messages of 22 bytes, acks=1, linger.ms 2, batch.size $KAFKA_BATCH_BYTES, 2 partitions
client_count=${acked:-0}
client_what=messages acknowledged to the producer (podwire: sum of records in Produce requests)
EOF
}

make_kafka() {
  local tmp; new_tmp; tmp=$TMP
  port_busy "$KAFKA_PORT" && die "port $KAFKA_PORT is in use on loopback"
  local broker
  if command -v tansu >/dev/null 2>&1; then
    broker="tansu $(tansu --version 2>/dev/null | head -1) (in-memory)"
    timeout -s TERM $((LOAD_MAX_SECS * 3 + 300)) tansu broker \
      --listener-url "tcp://127.0.0.1:$KAFKA_PORT" --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      > "$tmp/broker.log" 2>&1 &
  else
    broker="stand-in broker crates/parse-kafka/tests/data/fakebroker.py (kafka-python's message classes; tansu not on PATH)"
    timeout -s TERM $((LOAD_MAX_SECS * 3 + 300)) python3 "$FAKEBROKER" "$KAFKA_PORT" > "$tmp/broker.log" 2>&1 &
  fi
  local pid=$!
  PIDS+=("$pid")
  wait_port "$KAFKA_PORT" "$pid" || { cat "$tmp/broker.log" >&2 || true; stop_bg "$pid"; die "the Kafka broker did not come up on 127.0.0.1:$KAFKA_PORT"; }
  local rc=0
  with_attempts kafka "$KAFKA_PORT" "$tmp" kafka_client || rc=$?
  stop_bg "$pid"
  [[ $rc == 0 ]] && echo "server=$broker" >> "$OUT/kafka.meta"
  return $rc
}

ensure_capture() { # name
  local name=$1
  if [[ $REMAKE == 0 && -s "$OUT/$name.pcap" && -s "$OUT/$name.meta" ]]; then
    log "capture $name exists (${OUT#$REPO/}/$name.pcap); --remake to make it again"
    return 0
  fi
  [[ $(id -u) == 0 ]] || die "making captures needs root (tcpdump on lo, the PostgreSQL cluster): run with sudo"
  rm -f "$OUT/$name.pcap" "$OUT/$name.meta"
  local rc=0
  case "$name" in
    h2-few)  make_h2 h2-few h2_few_client || rc=$? ;;
    h2-many) make_h2 h2-many h2_many_client || rc=$? ;;
    pg)      make_pg || rc=$? ;;
    redis)   make_redis || rc=$? ;;
    kafka)   make_kafka || rc=$? ;;
  esac
  if [[ $rc != 0 ]]; then
    rm -f "$OUT/$name.pcap" "$OUT/$name.meta"
    die "could not make capture $name"
  fi
}

for cap in "${CAPS[@]}"; do ensure_capture "$cap"; done
[[ $CAPTURES_ONLY == 1 ]] && { log "captures ready in ${OUT#$REPO/}/"; exit 0; }

meta() { # capture key
  sed -n "s/^$2=//p" "$OUT/$1.meta" | head -1
}

# ---------------------------------------------------------------- podwire
PODWIRE_NOTE=""
if [[ -z "$PODWIRE" ]]; then
  PODWIRE="${CARGO_TARGET_DIR:-$REPO/target}/release/podwire"
  if [[ $NO_BUILD == 0 && ( $FORCE_BUILD == 1 || ! -x "$PODWIRE" ) ]]; then
    if command -v cargo >/dev/null 2>&1; then
      log "building podwire: cargo build --release -p podwire (at most ${BUILD_TIMEOUT}s)"
      if ! (cd "$REPO" && timeout "$BUILD_TIMEOUT" cargo build --release -p podwire) >&2; then
        PODWIRE_NOTE="cargo build --release -p podwire failed"
      fi
    else
      PODWIRE_NOTE="cargo not in PATH (with sudo: sudo env PATH=\"\$PATH\" bash bench/protocols.sh)"
    fi
  fi
fi
if [[ -z "$PODWIRE_NOTE" && ! -x "$PODWIRE" ]]; then
  PODWIRE_NOTE="no podwire binary at $PODWIRE"
fi
if [[ -z "$PODWIRE_NOTE" ]] && ! timeout 20 "$PODWIRE" read --help >/dev/null 2>&1; then
  PODWIRE_NOTE="'$PODWIRE read --help' fails: no read subcommand?"
fi
[[ -n "$PODWIRE_NOTE" ]] && log "podwire will not be timed: $PODWIRE_NOTE"
SCRATCH=$(mktemp -d /tmp/podwire-protobench-time.XXXXXX)
TMPDIRS+=("$SCRATCH")
PODWIRE_BUILT=""
PODWIRE_ORIG=$PODWIRE
if [[ -z "$PODWIRE_NOTE" ]]; then
  # Time a private copy: other builds in the same target dir may replace the
  # binary while the benchmark runs.
  PODWIRE_BUILT=$(date -u -r "$PODWIRE" +%Y-%m-%dT%H:%MZ)
  cp "$PODWIRE" "$SCRATCH/podwire"
  PODWIRE="$SCRATCH/podwire"
fi

# ---------------------------------------------------------------- timing
# tshark's dissection of each capture's protocol. -d names the protocol on
# the capture's port (h2c with prior knowledge, pgsql, resp and kafka on
# unusual ports would otherwise not all be dissected).
tshark_args() { # capture port -> sets TARGS
  local cap=$1 p=$2
  case "$cap" in
    h2-*)  TARGS=(-d "tcp.port==$p,http2" -q -z http2,tree) ;;
    pg)    TARGS=(-d "tcp.port==$p,pgsql" -Y pgsql -T fields -e pgsql.type -e pgsql.query) ;;
    redis) TARGS=(-d "tcp.port==$p,resp" -Y resp -T fields -e tcp.dstport -e resp.array.length -e resp.bulk_string.value) ;;
    kafka) TARGS=(-d "tcp.port==$p,kafka" -Y kafka -T fields -e kafka.request_key -e kafka.topic_name) ;;
  esac
}

RUNS_TSV="$OUT/protocols-runs.tsv"
: > "$RUNS_TSV"
# podwire's and tcpdump's stdout go to /dev/null; tshark's to a scratch file
# (a few MB of fields at most), from which its request count is taken.
tool_cmd() { # tool capture file -> sets CMD array and DEST
  local tool=$1 cap=$2 f=$3
  DEST=/dev/null
  case "$tool" in
    podwire) CMD=("$PODWIRE" read --format jsonl "$f") ;;
    tshark)  tshark_args "$cap" "$(meta "$cap" port)"; CMD=(tshark -r "$f" "${TARGS[@]}"); DEST="$SCRATCH/tshark.$cap.out" ;;
    tcpdump) CMD=(tcpdump -r "$f" -w /dev/null) ;;
  esac
}

TOOLS=(tcpdump tshark)
[[ -z "$PODWIRE_NOTE" ]] && TOOLS=(podwire "${TOOLS[@]}")

time_all "${CAPS[@]}"

# ---------------------------------------------------------------- sanity
# podwire's records by type, and the count that measures its grasp of the
# capture's protocol:
#   h2-*   http records with "version":"2" (one per stream)
#   pg     postgres records that are statements ("protocol" simple or extended)
#   redis  redis records (one per command)
#   kafka  the sum of "records" over Produce records (messages), and kafka records (requests)
podwire_counts() { # capture file -> "types|proto_count|kafka_requests"
  local cap=$1 f=$2
  (rc=0; timeout "$TOOL_TIMEOUT" "$PODWIRE" read --format jsonl "$f" 2>"$SCRATCH/sanity.$cap.err" || rc=$?; echo "$rc" > "$SCRATCH/sanity.$cap.rc") | awk -v cap="$cap" '
    { if (match($0, /^\{"type":"[^"]*"/)) { t = substr($0, 10, RLENGTH - 10); n[t]++ } else { n["?"]++; next } }
    t == "http" && /"version":"(HTTP\/)?2"/ { h2++ }
    t == "postgres" && /"protocol":"(simple|extended)"/ { pgs++ }
    # the request total follows the topics array (topics and partitions have their own "records")
    t == "kafka" && /"operation":"Produce"/ && match($0, /\],"records":[0-9]+/) { krec += substr($0, RSTART + 12, RLENGTH - 12) }
    END {
      s = ""; for (k in n) s = s (s == "" ? "" : ", ") k "=" n[k]
      p = (cap ~ /^h2-/) ? h2 + 0 : (cap == "pg") ? pgs + 0 : (cap == "redis") ? n["redis"] + 0 : krec + 0
      printf "%s|%d|%d\n", (s == "" ? "none" : s), p, n["kafka"] + 0
    }'
}

# tshark's count of requests, from the stdout of its last timed run.
tshark_count() { # capture -> count (or "?")
  local cap=$1 o="$SCRATCH/tshark.$cap.out" p
  [[ -s "$o" ]] || { echo "?"; return; }
  p=$(meta "$cap" port)
  case "$cap" in
    # -z http2,tree: the HEADERS frame row (requests and responses both)
    h2-*)  awk '/HEADERS/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+$/) {print $i; exit}}' "$o" ;;
    # client messages that start a statement: Execute (extended) or Simple query
    pg)    awk -F'\t' '{n += gsub(/Execute|Simple query/, "", $1)} END {print n + 0}' "$o" ;;
    # client-to-server RESP arrays (commands)
    redis) awk -F'\t' -v p="$p" '$1 == p && $2 != "" {n += split($2, a, ",")} END {print n + 0}' "$o" ;;
    # request headers
    kafka) awk -F'\t' '$1 != "" {n += split($1, a, ",")} END {print n + 0}' "$o" ;;
  esac
}

SANITY=""
SANITY_FAIL=()
declare -A PW_PROTO=() TS_COUNT=()
for cap in "${CAPS[@]}"; do
  f="$OUT/$cap.pcap"
  client_count=$(meta "$cap" client_count)
  client_what=$(meta "$cap" client_what)
  line="- **$cap**: client: ${client_count:-?} $client_what."
  TS_COUNT[$cap]=$(tshark_count "$cap")
  if [[ -z "$PODWIRE_NOTE" ]]; then
    IFS='|' read -r types proto kreq < <(podwire_counts "$cap" "$f")
    PW_PROTO[$cap]=$proto
    case "$cap" in
      h2-*)  what="HTTP/2 http records" ;;
      pg)    what="postgres statement records" ;;
      redis) what="redis records" ;;
      kafka) what="records (messages) in its Produce records, over $kreq kafka records (requests)" ;;
    esac
    line+=" podwire: $proto $what; records by type: $types."
    if [[ "$(cat "$SCRATCH/sanity.$cap.rc" 2>/dev/null)" != 0 ]]; then
      line+=" podwire exited $(cat "$SCRATCH/sanity.$cap.rc" 2>/dev/null): stderr \`$(tail -c 300 "$SCRATCH/sanity.$cap.err" | tr '\n`|' '  /')\`."
    fi
    if ! awk -v p="$proto" -v c="${client_count:-0}" -v m="$MIN_FRACTION" 'BEGIN{exit !(p + 0 >= m * c)}'; then
      line+=" **FAIL: podwire's count is below $MIN_FRACTION x the client's.**"
      SANITY_FAIL+=("$cap: podwire $proto vs client $client_count")
    else
      line+=" OK ($(awk -v p="$proto" -v c="$client_count" 'BEGIN{printf "%.3f", (c > 0 ? p / c : 0)}') of the client's)."
    fi
  fi
  case "$cap" in
    h2-*)  line+=" tshark: ${TS_COUNT[$cap]} HEADERS frames (requests + responses: 2 per exchange)." ;;
    pg)    line+=" tshark: ${TS_COUNT[$cap]} Execute + Simple query messages." ;;
    redis) line+=" tshark: ${TS_COUNT[$cap]} RESP arrays client to server (commands)." ;;
    kafka) line+=" tshark: ${TS_COUNT[$cap]} Kafka requests." ;;
  esac
  SANITY+="$line"$'\n'
done

# ---------------------------------------------------------------- report
V_TCPDUMP=$({ tcpdump --version 2>&1 || true; } | head -2 | paste -sd' ')
V_TSHARK=$(tshark --version 2>/dev/null | head -1 || true)
if [[ -z "$PODWIRE_NOTE" ]]; then
  V_PODWIRE=$(timeout 10 "$PODWIRE" --version 2>/dev/null | head -1 || true)
  V_PODWIRE="${V_PODWIRE:-podwire} ($PODWIRE_ORIG, built $PODWIRE_BUILT, sha256 $(sha256sum "$PODWIRE" | cut -c1-12))"
else
  V_PODWIRE="not timed: $PODWIRE_NOTE"
fi
GIT_REV=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$REPO" diff --quiet HEAD 2>/dev/null || GIT_REV+=" (with uncommitted changes)"
CPU=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)

REPORT=$(
  awk -F'\t' -v note="$PODWIRE_NOTE" -v metadir="$OUT" '
  function median(arr, n,   i, j, t, a) {
    for (i = 1; i <= n; i++) a[i] = arr[i]
    for (i = 2; i <= n; i++) { t = a[i]; j = i - 1; while (j > 0 && a[j] > t) { a[j+1] = a[j]; j-- } a[j+1] = t }
    return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
  }
  function minof(arr, n,   i, m) { m = arr[1]; for (i = 2; i <= n; i++) if (arr[i] < m) m = arr[i]; return m }
  function maxof(arr, n,   i, m) { m = arr[1]; for (i = 2; i <= n; i++) if (arr[i] > m) m = arr[i]; return m }
  function meta(cap, key,   line, f, k) {
    f = metadir "/" cap ".meta"
    while ((getline line < f) > 0) { k = index(line, "="); if (substr(line, 1, k-1) == key) { close(f); return substr(line, k+1) } }
    close(f); return "?"
  }
  {
    k = $1 SUBSEP $2
    if (!(k in n)) { n[k] = 0; if (!($1 in seencap)) { seencap[$1] = 1; caps[++ncaps] = $1 } }
    if ($7 != 0) { failed[k] = $7; next }
    n[k]++; w[k, n[k]] = $4; r[k, n[k]] = $5; c[k, n[k]] = $6
  }
  END {
    ntools = split("podwire tshark tcpdump", tools, " ")
    print "| capture | tool | packets | wall s (median) | wall s (min) | CPU s (median) | peak RSS MiB |"
    print "|---|---|---:|---:|---:|---:|---:|"
    for (ci = 1; ci <= ncaps; ci++) {
      cap = caps[ci]; pk = meta(cap, "packets")
      for (ti = 1; ti <= ntools; ti++) {
        t = tools[ti]; k = cap SUBSEP t
        if (!(k in n)) {
          if (t == "podwire") printf "| %s | %s | %s | %s | | | |\n", cap, t, pk, "n/a: " note
          continue
        }
        if (n[k] == 0) { printf "| %s | %s | %s | failed (exit %s) | | | |\n", cap, t, pk, failed[k]; continue }
        delete ww; delete rr; delete cc
        for (i = 1; i <= n[k]; i++) { ww[i] = w[k, i]; rr[i] = r[k, i]; cc[i] = c[k, i] }
        MW[k] = median(ww, n[k]); MR[k] = maxof(rr, n[k]) / 1024; MC[k] = median(cc, n[k])
        printf "| %s | %s | %s | %.3f | %.3f | %.2f | %.1f |\n", cap, t, pk, MW[k], minof(ww, n[k]), MC[k], MR[k]
      }
    }
    print ""
    print "| capture | tshark / podwire wall (target >= 20) | podwire / tcpdump wall (target <= 2) | podwire RSS / tshark RSS (target < 0.10) | tshark CPU / podwire CPU | podwire CPU / tcpdump CPU |"
    print "|---|---:|---:|---:|---:|---:|"
    for (ci = 1; ci <= ncaps; ci++) {
      cap = caps[ci]; p = cap SUBSEP "podwire"
      if (!(p in MW) || MW[p] <= 0) { printf "| %s | n/a | n/a | n/a | n/a | n/a |\n", cap; continue }
      s = cap SUBSEP "tshark"; d = cap SUBSEP "tcpdump"
      rs_ = (s in MW) ? sprintf("%.1fx %s", MW[s] / MW[p], (MW[s] / MW[p] >= 20) ? "PASS" : "FAIL") : "n/a"
      rd_ = (d in MW && MW[d] > 0) ? sprintf("%.2fx %s", MW[p] / MW[d], (MW[p] / MW[d] <= 2) ? "PASS" : "FAIL") : "n/a"
      rm_ = (s in MR && MR[s] > 0) ? sprintf("%.3f %s", MR[p] / MR[s], (MR[p] / MR[s] < 0.10) ? "PASS" : "FAIL") : "n/a"
      cs_ = (s in MC && MC[p] > 0) ? sprintf("%.1fx", MC[s] / MC[p]) : "n/a"
      cd_ = (d in MC && MC[d] > 0) ? sprintf("%.1fx", MC[p] / MC[d]) : "n/a"
      printf "| %s | %s | %s | %s | %s | %s |\n", cap, rs_, rd_, rm_, cs_, cd_
    }
  }' "$RUNS_TSV"
)

CAPTABLE=$(
  echo "| capture | packets | received by filter | connections | client count | MB | server | client |"
  echo "|---|---:|---:|---:|---:|---:|---|---|"
  for cap in "${CAPS[@]}"; do
    echo "| $cap | $(meta "$cap" packets) | $(meta "$cap" tcpdump_received_by_filter) | $(meta "$cap" connections) | $(meta "$cap" client_count) | $(( $(meta "$cap" bytes) / 1000000 )) | $(meta "$cap" server) | $(meta "$cap" client) |"
  done
)

TSHARK_CMDS=""
for cap in "${CAPS[@]}"; do
  tshark_args "$cap" "$(meta "$cap" port)"
  TSHARK_CMDS+="- $cap: \`tshark -r FILE ${TARGS[*]}\`"$'\n'
done

RESULTS=$(cat <<EOF
# podwire read on application protocols

$(date -u +%Y-%m-%dT%H:%M:%SZ), repo $GIT_REV, $RUNS runs per tool, wall times in seconds (median of runs), peak RSS = largest maxrss of the runs.
Machine: $CPU, $(nproc) cores, Linux $(uname -r).
Load: before \`$UPTIME_BEFORE\`; after \`$UPTIME_AFTER\`.

Commands (file in the page cache): \`podwire read --format jsonl FILE > /dev/null\`, \`tcpdump -r FILE -w /dev/null\`, and tshark (stdout to a scratch file, counted below):
$TSHARK_CMDS
## Captures

$CAPTABLE

## Timings

$REPORT

## Sanity

$SANITY
## Versions

- podwire: $V_PODWIRE
- tshark: $V_TSHARK
- tcpdump: $V_TCPDUMP
EOF
)
printf '%s\n' "$RESULTS" > "$OUT/protocols-results.md"
printf '%s\n' "$RESULTS"
log "written ${OUT#$REPO/}/protocols-results.md (raw runs: ${OUT#$REPO/}/protocols-runs.tsv)"
if [[ ${#SANITY_FAIL[@]} -gt 0 ]]; then
  printf '\nprotocols.sh: SANITY FAILURE: podwire reported far fewer records than the client made:\n' >&2
  printf '  %s\n' "${SANITY_FAIL[@]}" >&2
  exit 1
fi
