# Helpers shared by the benchmarks (run.sh, protocols.sh, serve.sh,
# tls.sh): logging, tool checks, background processes and their cleanup, a
# namespace behind a veth, the binary under test, and the timing of the
# tools side by side. Sourced, never run; the caller sets BENCH_NAME first
# and, for the timing, defines
#   tool_cmd TOOL CAPTURE FILE   sets CMD (an array) and DEST (stdout's file)
# and sets SCRATCH, RUNS_TSV, TOOL_TIMEOUT, RUNS, OUT and TOOLS.
# Optionally it defines cleanup_hook, run first on exit.

log() { printf '[%s %(%H:%M:%S)T] %s\n' "${BENCH_NAME%.sh}" -1 "$*" >&2; }
die() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }

# ---------------------------------------------------------------- tools
missing=()
need() { # command package
  command -v "$1" >/dev/null 2>&1 || missing+=("$1 (Debian package $2)")
}

# report_missing INSTALL_HINT: exits 1 naming what need() found missing.
report_missing() {
  [[ ${#missing[@]} -eq 0 ]] && return 0
  echo "$BENCH_NAME: missing tools:" >&2
  printf '  %s\n' "${missing[@]}" >&2
  echo "install them with: $1" >&2
  exit 1
}

# ---------------------------------------------------------------- cleanup
PIDS=()      # background processes this script started (timeout wrappers)
TMPDIRS=()
NETNS=()     # network namespaces to delete (their veth ends go with them)
cleanup() {
  local p
  if declare -F cleanup_hook >/dev/null; then cleanup_hook || true; fi
  for p in "${PIDS[@]:-}"; do
    [[ -n "$p" ]] && kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]:-}"; do
    [[ -n "$p" ]] && wait "$p" 2>/dev/null || true
  done
  for p in "${NETNS[@]:-}"; do
    [[ -n "$p" ]] && ip netns del "$p" 2>/dev/null || true
  done
  for p in "${TMPDIRS[@]:-}"; do
    [[ -n "$p" && -d "$p" ]] && rm -rf -- "$p"
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() { # pid: drop from PIDS once it has been waited for
  local p keep=()
  for p in "${PIDS[@]:-}"; do [[ -n "$p" && "$p" != "$1" ]] && keep+=("$p"); done
  PIDS=("${keep[@]:-}")
}

stop_bg() { # pid: TERM (forwarded by timeout to its child), wait at most 10 s, then KILL
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
}

# veth_netns NS HOSTIF NET: a namespace NS reached through a veth pair,
# HOSTIF on the host with NET.1/24 and eth0 inside with NET.2/24 (NET is
# the first three octets). Deleted on exit.
veth_netns() {
  local ns=$1 hostif=$2 net=$3
  ip netns add "$ns"
  NETNS+=("$ns")
  ip link add "$hostif" type veth peer name eth0 netns "$ns"
  ip addr add "$net.1/24" dev "$hostif"
  ip link set "$hostif" up
  ip -n "$ns" addr add "$net.2/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
}

# podwire_binary PATH: PATH if given, else builds the release binary and
# prints its path.
podwire_binary() {
  if [[ -n ${1:-} ]]; then echo "$1"; return; fi
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  cargo build --release --manifest-path "$root/Cargo.toml" -q -p podwire >&2
  echo "$root/target/release/podwire"
}

port_listening() { # port: 0 when something listens on it
  command -v ss >/dev/null 2>&1 && ss -Htln "sport = :$1" 2>/dev/null | grep -q .
}

# ---------------------------------------------------------------- timing
# time_one capture tool run file: appends "capture tool run wall_s rss_kib
# cpu_s rc" to RUNS_TSV. Wall time from date +%s%N, CPU time (user+sys) and
# peak RSS from /usr/bin/time.
time_one() {
  local cap=$1 tool=$2 run=$3 f=$4
  DEST=/dev/null
  tool_cmd "$tool" "$cap" "$f"
  local t0 t1 rc=0 rss user sys
  t0=$(date +%s%N)
  timeout -k 5 "$TOOL_TIMEOUT" /usr/bin/time -f '%M %U %S' -o "$SCRATCH/time" \
    "${CMD[@]}" > "$DEST" 2> "$SCRATCH/stderr.$cap.$tool" || rc=$?
  t1=$(date +%s%N)
  read -r rss user sys < <(grep -E '^[0-9]+ [0-9.]+ [0-9.]+$' "$SCRATCH/time" | tail -1) || true
  local wall cpu
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b-a)/1e9}')
  cpu=$(awk -v u="${user:-0}" -v s="${sys:-0}" 'BEGIN{printf "%.2f", u+s}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$cap" "$tool" "$run" "$wall" "${rss:-0}" "$cpu" "$rc" >> "$RUNS_TSV"
  if [[ $rc != 0 ]]; then
    log "  $tool on $cap exited $rc: $(tail -c 300 "$SCRATCH/stderr.$cap.$tool" | tr '\n' ' ')"
  else
    log "  $tool on $cap run $run: ${wall}s, cpu ${cpu}s, $((${rss:-0} / 1024)) MiB"
  fi
}

# time_all CAPTURE...: every tool of TOOLS on every capture (OUT/NAME.pcap),
# RUNS times, interleaved (podwire, tcpdump, ..., then again) so that drift
# in the machine's load hits every tool alike; each capture is read into the
# page cache first and each tool warmed up untimed on a 100-packet file.
# Sets LOAD_BEFORE, LOAD_AFTER, UPTIME_BEFORE and UPTIME_AFTER.
time_all() {
  local cap f run tool
  LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
  UPTIME_BEFORE=$(uptime)
  log "timing ${TOOLS[*]} on $*, $RUNS runs each (load average $LOAD_BEFORE)"
  if awk -v l="${LOAD_BEFORE%% *}" -v n="$(nproc)" 'BEGIN{exit !(l > n / 2)}'; then
    log "warning: the machine is busy (load average $LOAD_BEFORE on $(nproc) cores): wall times will be noisy, compare the CPU columns too"
  fi
  for cap in "$@"; do
    f="$OUT/$cap.pcap"
    cat "$f" > /dev/null   # page cache: every tool reads from memory
    tcpdump -Z root -r "$f" -c 100 -w "$SCRATCH/tiny.pcap" 2>/dev/null || true
    for tool in "${TOOLS[@]}"; do
      DEST=/dev/null
      tool_cmd "$tool" "$cap" "$SCRATCH/tiny.pcap"
      timeout 60 "${CMD[@]}" > /dev/null 2>&1 || true
    done
    for run in $(seq "$RUNS"); do
      for tool in "${TOOLS[@]}"; do
        time_one "$cap" "$tool" "$run" "$f"
      done
    done
  done
  LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
  UPTIME_AFTER=$(uptime)
}

# ---------------------------------------------------------------- report
ver() { { "$@" 2>&1 || true; } | head -1 | tr -d '\r'; }
