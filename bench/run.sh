#!/usr/bin/env bash
# Benchmark of `podwire read` against its peers on real captures.
#
#   sudo bash bench/run.sh [--remake] [--runs N] [--podwire PATH] [--build]
#
# Makes two captures on loopback (nginx loaded by wrk, captured by tcpdump)
# in bench/out/ unless they exist, then times, side by side in one run:
#   podwire read --format jsonl FILE > /dev/null   (full analysis)
#   argus -r FILE -w /dev/null                      (flow records only)
#   tshark -r FILE -q -z conv,tcp > /dev/null       (TCP conversation table)
#   tcpdump -r FILE -w /dev/null                    (the I/O floor)
# and prints a markdown table with the ratios, also written to
# bench/out/results.md. See bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${BENCH_OUT:-$HERE/out}

RUNS=3
REMAKE=0
PODWIRE=""
FORCE_BUILD=0
NO_BUILD=0
PORT=18971
A_REQUESTS=379000      # capture A: requests over 50 keep-alive connections
B_CONNECTIONS=80000    # capture B: one-request connections
BODY_BYTES=100         # size of the static file nginx serves
WRK_MAX_SECS=120       # upper bound of one wrk run
TOOL_TIMEOUT=600       # upper bound of one timed command
BUILD_TIMEOUT=2400     # upper bound of the cargo build
CAPTURES_ONLY=0
ONLY=""

usage() {
  cat <<EOF
usage: sudo bash bench/run.sh [options]

  --remake            make the captures again even if bench/out/ has them
  --runs N            time each tool N times per capture (default $RUNS)
  --podwire PATH      podwire binary to time (default: target/release/podwire,
                      built with 'cargo build --release -p podwire' if absent)
  --build             run the cargo build even if the binary exists
  --no-build          never run cargo; a missing podwire is reported as such
  --only a|b          time only capture A (keep-alive) or B (one request per connection)
  --captures-only     make the captures and stop
  --port N            loopback port for nginx (default $PORT)
  --a-requests N      requests in capture A (default $A_REQUESTS)
  --b-connections N   connections in capture B (default $B_CONNECTIONS)
  -h, --help          this text

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
    --port) PORT=${2:?}; shift ;;
    --a-requests) A_REQUESTS=${2:?}; shift ;;
    --b-connections) B_CONNECTIONS=${2:?}; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --runs wants a positive integer" >&2; exit 2; }
[[ -z "$ONLY" || "$ONLY" == a || "$ONLY" == b ]] || { echo "run.sh: --only wants a or b" >&2; exit 2; }

BENCH_NAME=run.sh
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

# ---------------------------------------------------------------- tools
need tcpdump tcpdump
need tshark tshark
need capinfos tshark
need argus argus-server
need nginx nginx-light
need wrk wrk
need curl curl
need timeout coreutils
[[ -x /usr/bin/time ]] || missing+=("/usr/bin/time (Debian package time)")
report_missing "apt-get update && apt-get install -y nginx-light wrk tcpdump tshark argus-server argus-client time curl"

mkdir -p "$OUT"
CAP_A="$OUT/a-keepalive.pcap"
CAP_B="$OUT/b-oneshot.pcap"

# ---------------------------------------------------------------- captures
port_busy() { port_listening "$PORT"; }

# make_capture NAME MODE COUNT THREADS CONNS -> 0 ok, 3 kernel drops, 1 other failure
# MODE: keepalive (COUNT requests) or close (COUNT one-request connections)
make_capture() {
  local name=$1 mode=$2 count=$3 threads=$4 conns=$5
  local dest="$OUT/$name.pcap"
  local tmp; tmp=$(mktemp -d /tmp/podwire-bench.XXXXXX)
  TMPDIRS+=("$tmp")
  chmod 755 "$tmp"   # nginx workers run as nobody
  mkdir -p "$tmp/www"
  # A deterministic static file of BODY_BYTES bytes.
  head -c "$BODY_BYTES" < <(yes 'podwire bench static body 0123456789abcdef' | tr -d '\n') > "$tmp/www/index.html"
  cat > "$tmp/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server_tokens off;
  etag off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path $tmp/client_body;
  proxy_temp_path $tmp/proxy;
  fastcgi_temp_path $tmp/fastcgi;
  uwsgi_temp_path $tmp/uwsgi;
  scgi_temp_path $tmp/scgi;
  server {
    listen 127.0.0.1:$PORT;
    root $tmp/www;
  }
}
EOF
  port_busy && die "port $PORT is in use on loopback: pass --port N"

  local bound=$((WRK_MAX_SECS + 60))
  timeout -s TERM "$bound" nginx -c "$tmp/nginx.conf" -p "$tmp/" -e "$tmp/error.log" \
    > "$tmp/nginx.out" 2>&1 &
  local nginx_pid=$!
  PIDS+=("$nginx_pid")
  local i ok=0
  for i in $(seq 100); do
    if curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/index.html"; then ok=1; break; fi
    kill -0 "$nginx_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ $ok != 1 ]]; then
    cat "$tmp/nginx.out" "$tmp/error.log" >&2 2>/dev/null || true
    stop_bg "$nginx_pid"
    die "nginx did not come up on 127.0.0.1:$PORT"
  fi

  # -B is in KiB: a 64 MiB kernel buffer. -Z root: write the file as root
  # (tcpdump otherwise drops to the tcpdump user, who may not write $tmp).
  timeout -s TERM "$bound" tcpdump -i lo -nn -B 65536 -Z root -w "$tmp/cap.pcap" \
    "tcp port $PORT" > "$tmp/tcpdump.out" 2> "$tmp/tcpdump.err" &
  local td_pid=$!
  PIDS+=("$td_pid")
  ok=0
  for i in $(seq 100); do
    if grep -q 'listening on' "$tmp/tcpdump.err" 2>/dev/null; then ok=1; break; fi
    kill -0 "$td_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [[ $ok != 1 ]]; then
    cat "$tmp/tcpdump.err" >&2 || true
    stop_bg "$td_pid"; stop_bg "$nginx_pid"
    die "tcpdump did not start on lo (are you root?)"
  fi
  sleep 0.5

  local per_thread=$(( (count + threads - 1) / threads ))
  local hdr=()
  [[ $mode == close ]] && hdr=(-H 'Connection: close')
  log "capture $name: wrk -t$threads -c$conns ${hdr[*]:+${hdr[*]} }until $count requests (at most ${WRK_MAX_SECS}s)"
  BENCH_WRK_LIMIT=$per_thread BENCH_WRK_DONE="$tmp/wrk-done" \
    timeout -s INT -k 10 $((WRK_MAX_SECS + 20)) \
    wrk -t"$threads" -c"$conns" -d"${WRK_MAX_SECS}s" --timeout 10s "${hdr[@]}" \
      -s "$HERE/wrk-limit.lua" "http://127.0.0.1:$PORT/index.html" > "$tmp/wrk.out" 2>&1 &
  local wrk_pid=$!
  PIDS+=("$wrk_pid")
  local t0=$SECONDS
  while kill -0 "$wrk_pid" 2>/dev/null; do
    local done_n
    done_n=$(compgen -G "$tmp/wrk-done.*" | wc -l || true)
    if [[ $done_n -ge $threads ]]; then
      kill -INT "$wrk_pid" 2>/dev/null || true   # timeout forwards SIGINT: wrk prints its summary
      break
    fi
    sleep 0.1
  done
  local wrk_rc=0
  wait "$wrk_pid" || wrk_rc=$?
  forget_pid "$wrk_pid"
  local wrk_secs=$((SECONDS - t0))
  sleep 1   # let the last FINs reach the capture
  stop_bg "$td_pid"
  stop_bg "$nginx_pid"
  sed 's/^/    wrk| /' "$tmp/wrk.out" >&2
  sed 's/^/    tcpdump| /' "$tmp/tcpdump.err" >&2

  local requests errors captured received dropped
  requests=$(awk '/requests in/ {print $1; exit}' "$tmp/wrk.out")
  errors=$(grep -o 'Socket errors:.*' "$tmp/wrk.out" || echo "Socket errors: none")
  captured=$(awk '/packets captured/ {print $1; exit}' "$tmp/tcpdump.err")
  received=$(awk '/packets received by filter/ {print $1; exit}' "$tmp/tcpdump.err")
  dropped=$(awk '/packets dropped by kernel/ {print $1; exit}' "$tmp/tcpdump.err")
  if [[ -z "$requests" || -z "$captured" || -z "$dropped" ]]; then
    log "capture $name failed (wrk exit $wrk_rc)"
    return 1
  fi
  if [[ "$dropped" != 0 ]]; then
    log "capture $name: tcpdump reports $dropped packets dropped by kernel"
    return 3
  fi
  if (( requests < count * 98 / 100 )); then
    log "capture $name: wrk stopped at ${WRK_MAX_SECS}s with $requests of $count requests (machine too slow? raise WRK_MAX_SECS)"
    return 1
  fi

  local packets syns bytes
  packets=$(capinfos -M -c -T -r "$tmp/cap.pcap" | awk -F'\t' '{print $2}')
  [[ "$packets" == "$captured" ]] || log "warning: capinfos counts $packets packets, tcpdump said $captured"
  # client SYNs = connections opened
  syns=$(tcpdump -r "$tmp/cap.pcap" -nn 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' 2>/dev/null | wc -l)
  bytes=$(stat -c %s "$tmp/cap.pcap")
  mv -f "$tmp/cap.pcap" "$dest"
  cat > "$OUT/$name.meta" <<EOF
capture=$name
mode=$mode
made=$(date -u +%Y-%m-%dT%H:%M:%SZ)
wrk_threads=$threads
wrk_connections=$conns
wrk_requests=$requests
wrk_errors="$errors"
wrk_seconds=$wrk_secs
packets=$packets
tcpdump_received_by_filter=$received
tcpdump_dropped=$dropped
connections=$syns
bytes=$bytes
body_bytes=$BODY_BYTES
EOF
  log "capture $name: $packets packets ($received received by filter, 0 dropped), $syns connections, $requests HTTP requests, $((bytes / 1000000)) MB"
  return 0
}

ensure_capture() { # name mode count
  local name=$1 mode=$2 count=$3
  if [[ $REMAKE == 0 && -s "$OUT/$name.pcap" && -s "$OUT/$name.meta" ]]; then
    log "capture $name exists (${OUT#$REPO/}/$name.pcap); --remake to make it again"
    return 0
  fi
  [[ $(id -u) == 0 ]] || die "making captures needs root (tcpdump on lo): run with sudo"
  rm -f "$OUT/$name.pcap" "$OUT/$name.meta"
  # Attempts, gentlest last: a capture with kernel drops is thrown away.
  local attempts
  if [[ $mode == keepalive ]]; then
    attempts=("2 50" "1 50")           # 50 keep-alive connections in every attempt
  else
    attempts=("2 50" "1 20" "1 8")
  fi
  local a rc
  for a in "${attempts[@]}"; do
    set -- $a
    rc=0
    make_capture "$name" "$mode" "$count" "$1" "$2" || rc=$?
    [[ $rc == 0 ]] && return 0
    [[ $rc == 3 ]] || die "could not make capture $name"
    log "retrying capture $name with a lighter load"
  done
  die "capture $name: tcpdump kept dropping packets; the machine is too busy"
}

WANT_A=1; WANT_B=1
[[ $ONLY == b ]] && WANT_A=0
[[ $ONLY == a ]] && WANT_B=0
[[ $WANT_A == 1 ]] && ensure_capture a-keepalive keepalive "$A_REQUESTS"
[[ $WANT_B == 1 ]] && ensure_capture b-oneshot close "$B_CONNECTIONS"
[[ $CAPTURES_ONLY == 1 ]] && { log "captures ready in ${OUT#$REPO/}/"; exit 0; }

# ---------------------------------------------------------------- podwire
PODWIRE_NOTE=""
if [[ -z "$PODWIRE" ]]; then
  PODWIRE="$REPO/target/release/podwire"
  if [[ $NO_BUILD == 0 && ( $FORCE_BUILD == 1 || ! -x "$PODWIRE" ) ]]; then
    if command -v cargo >/dev/null 2>&1; then
      log "building podwire: cargo build --release -p podwire (at most ${BUILD_TIMEOUT}s)"
      if ! (cd "$REPO" && timeout "$BUILD_TIMEOUT" cargo build --release -p podwire) >&2; then
        PODWIRE_NOTE="cargo build --release -p podwire failed"
      fi
    else
      PODWIRE_NOTE="cargo not in PATH (with sudo: sudo env PATH=\"\$PATH\" bash bench/run.sh)"
    fi
  fi
fi
if [[ -z "$PODWIRE_NOTE" && ! -x "$PODWIRE" ]]; then
  PODWIRE_NOTE="no podwire binary at $PODWIRE"
fi
if [[ -z "$PODWIRE_NOTE" ]] && ! timeout 20 "$PODWIRE" read --help >/dev/null 2>&1; then
  PODWIRE_NOTE="'$PODWIRE read --help' fails: no read subcommand yet?"
fi
if [[ -n "$PODWIRE_NOTE" ]]; then
  log "podwire will not be timed: $PODWIRE_NOTE"
fi
SCRATCH=$(mktemp -d /tmp/podwire-bench-time.XXXXXX)
TMPDIRS+=("$SCRATCH")
PODWIRE_BUILT=""
if [[ -z "$PODWIRE_NOTE" ]]; then
  # Time a private copy: other builds in the same target dir may replace the
  # binary while the benchmark runs.
  PODWIRE_BUILT=$(date -u -r "$PODWIRE" +%Y-%m-%dT%H:%MZ)
  PODWIRE_ORIG=$PODWIRE
  cp "$PODWIRE" "$SCRATCH/podwire"
  PODWIRE="$SCRATCH/podwire"
fi

# ---------------------------------------------------------------- timing
RUNS_TSV="$OUT/runs.tsv"
: > "$RUNS_TSV"
tool_cmd() { # tool capture file -> sets CMD array (stdout to /dev/null)
  local tool=$1 f=$3
  case "$tool" in
    podwire) CMD=("$PODWIRE" read --format jsonl "$f") ;;
    argus)   CMD=(argus -r "$f" -w /dev/null) ;;
    tshark)  CMD=(tshark -r "$f" -q -z conv,tcp) ;;
    tcpdump) CMD=(tcpdump -r "$f" -w /dev/null) ;;
  esac
}

TOOLS=(tcpdump argus tshark)
[[ -z "$PODWIRE_NOTE" ]] && TOOLS=(podwire "${TOOLS[@]}")
CAPS=()
[[ $WANT_A == 1 ]] && CAPS+=(a-keepalive)
[[ $WANT_B == 1 ]] && CAPS+=(b-oneshot)

time_all "${CAPS[@]}"

# ---------------------------------------------------------------- sanity: what the tools produced
declare -A PW_COUNTS=()
SANITY=""
for cap in "${CAPS[@]}"; do
  f="$OUT/$cap.pcap"
  # shellcheck disable=SC1090
  unset wrk_requests connections packets
  source <(grep -E '^(wrk_requests|connections|packets)=' "$OUT/$cap.meta")
  line="- $cap: wrk made ${wrk_requests:-?} HTTP requests over ${connections:-?} connections."
  if [[ -z "$PODWIRE_NOTE" ]]; then
    counts=$( (timeout "$TOOL_TIMEOUT" "$PODWIRE" read --format jsonl "$f" 2>/dev/null || true) \
      | sed -n 's/^{"type":"\([^"]*\)".*/\1/p' | sort | uniq -c | awk '{printf "%s%s=%s", (NR>1?", ":""), $2, $1}')
    PW_COUNTS[$cap]=${counts:-none}
    line+=" podwire records by type: ${counts:-none (no jsonl records: it did not analyse)}."
    if grep -qP "^$cap\tpodwire\t[0-9]+\t[^\t]*\t[^\t]*\t[^\t]*\t[1-9]" "$RUNS_TSV" && [[ -s "$SCRATCH/stderr.$cap.podwire" ]]; then
      line+=" podwire failed: \`$(tail -c 300 "$SCRATCH/stderr.$cap.podwire" | tr '\n`|' '  /')\`."
    fi
  fi
  if command -v ra >/dev/null 2>&1; then
    timeout "$TOOL_TIMEOUT" argus -r "$f" -w "$SCRATCH/flows.argus" 2>/dev/null || true
    nflows=$(timeout 120 ra -n -r "$SCRATCH/flows.argus" -s proto 2>/dev/null | grep -c tcp || true)
    line+=" argus wrote $nflows TCP flow records."
    rm -f "$SCRATCH/flows.argus"
  fi
  nconv=$(timeout "$TOOL_TIMEOUT" tshark -r "$f" -q -z conv,tcp 2>/dev/null | grep -c '<->' || true)
  line+=" tshark listed $nconv TCP conversations."
  SANITY+="$line"$'\n'
done

# ---------------------------------------------------------------- report
V_NGINX=$(ver nginx -v)
V_WRK=$(ver wrk -v | sed 's/ Copyright.*//')
V_TCPDUMP=$({ tcpdump --version 2>&1 || true; } | head -2 | paste -sd' ')
V_TSHARK=$(tshark --version 2>/dev/null | head -1 || true)
V_ARGUS=$({ argus -h 2>&1 || true; } | grep -m1 -i 'version' || echo argus)
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
  awk -F'\t' -v runs="$RUNS" -v note="$PODWIRE_NOTE" -v metadir="$OUT" '
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
    ntools = split("podwire argus tshark tcpdump", tools, " ")
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
        printf "| %s | %s | %s | %.3f | %.3f | %.2f | %.1f |\n", cap, t, pk, MW[k], minof(ww, n[k]), median(cc, n[k]), MR[k]
      }
    }
    print ""
    print "| capture | argus / podwire (target >= 2) | tshark / podwire (target >= 20) | podwire RSS / tshark RSS (target < 0.10) | podwire / tcpdump (I/O floor) | argus CPU / podwire CPU | tshark CPU / podwire CPU |"
    print "|---|---:|---:|---:|---:|---:|---:|"
    for (ci = 1; ci <= ncaps; ci++) {
      cap = caps[ci]; p = cap SUBSEP "podwire"
      if (!(p in MW) || MW[p] <= 0) { printf "| %s | n/a | n/a | n/a | n/a | n/a | n/a |\n", cap; continue }
      a = cap SUBSEP "argus"; s = cap SUBSEP "tshark"; d = cap SUBSEP "tcpdump"
      ra_ = (a in MW) ? sprintf("%.2fx %s", MW[a] / MW[p], (MW[a] / MW[p] >= 2) ? "PASS" : "FAIL") : "n/a"
      rs_ = (s in MW) ? sprintf("%.1fx %s", MW[s] / MW[p], (MW[s] / MW[p] >= 20) ? "PASS" : "FAIL") : "n/a"
      rm_ = (s in MR && MR[s] > 0) ? sprintf("%.3f %s", MR[p] / MR[s], (MR[p] / MR[s] < 0.10) ? "PASS" : "FAIL") : "n/a"
      rd_ = (d in MW && MW[d] > 0) ? sprintf("%.1fx", MW[p] / MW[d]) : "n/a"
      ca_ = (a in MC && MC[p] > 0) ? sprintf("%.1fx", MC[a] / MC[p]) : "n/a"
      cs_ = (s in MC && MC[p] > 0) ? sprintf("%.1fx", MC[s] / MC[p]) : "n/a"
      printf "| %s | %s | %s | %s | %s | %s | %s |\n", cap, ra_, rs_, rm_, rd_, ca_, cs_
    }
  }' "$RUNS_TSV"
)

CAPTABLE=$(
  echo "| capture | packets | received by filter | connections | HTTP requests (wrk) | MB | wrk |"
  echo "|---|---:|---:|---:|---:|---:|---|"
  for cap in "${CAPS[@]}"; do
    (
      source <(grep -E '^[a-z_]+=' "$OUT/$cap.meta")
      echo "| $cap | $packets | $tcpdump_received_by_filter | $connections | $wrk_requests | $((bytes / 1000000)) | -t$wrk_threads -c$wrk_connections, ${wrk_seconds}s, $wrk_errors |"
    )
  done
)

RESULTS=$(cat <<EOF
# podwire read benchmark

$(date -u +%Y-%m-%dT%H:%M:%SZ), repo $GIT_REV, $RUNS runs per tool, wall times in seconds (median of runs), peak RSS = largest maxrss of the runs.
Machine: $CPU, $(nproc) cores, Linux $(uname -r); load average before $LOAD_BEFORE, after $LOAD_AFTER.

Commands (stdout to /dev/null, file in the page cache):
\`podwire read --format jsonl FILE\`, \`argus -r FILE -w /dev/null\`, \`tshark -r FILE -q -z conv,tcp\`, \`tcpdump -r FILE -w /dev/null\`.

## Captures

$CAPTABLE

## Timings

$REPORT

## Sanity

$SANITY
## Versions

- podwire: $V_PODWIRE
- argus: $V_ARGUS
- tshark: $V_TSHARK
- tcpdump: $V_TCPDUMP
- nginx: $V_NGINX (load generator: $V_WRK)
EOF
)
printf '%s\n' "$RESULTS" > "$OUT/results.md"
printf '%s\n' "$RESULTS"
log "written ${OUT#$REPO/}/results.md (raw runs: ${OUT#$REPO/}/runs.tsv)"
