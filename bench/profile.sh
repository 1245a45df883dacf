#!/usr/bin/env bash
# Profile `podwire read --format jsonl` on a benchmark capture.
#
#   sudo bash bench/profile.sh [--capture a|b] [--podwire PATH] [--callgraph] [--callgrind]
#
# Uses `perf record -e cpu-clock` (hardware counters are not available on the
# project's VMs, the software clock is) and prints a flat profile; the full
# report goes to bench/out/profile-<capture>.txt. --callgraph adds DWARF call
# stacks (best with a binary built with debug line tables:
#   CARGO_PROFILE_RELEASE_DEBUG=line-tables-only cargo build --release -p podwire).
# --callgrind (or no working perf) runs valgrind's callgrind on the first
# 100k packets instead (about 50x slower than native).
# The captures are made by bench/run.sh (--captures-only is enough).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
OUT=${BENCH_OUT:-$HERE/out}
CAP=a
PODWIRE="$REPO/target/release/podwire"
CALLGRAPH=0
CALLGRIND=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --capture) CAP=${2:?}; shift ;;
    --podwire) PODWIRE=${2:?}; shift ;;
    --callgraph) CALLGRAPH=1 ;;
    --callgrind) CALLGRIND=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
case "$CAP" in
  a) FILE="$OUT/a-keepalive.pcap" ;;
  b) FILE="$OUT/b-oneshot.pcap" ;;
  *) echo "profile.sh: --capture wants a or b" >&2; exit 2 ;;
esac
[[ -s "$FILE" ]] || { echo "profile.sh: no $FILE: make it with 'sudo bash bench/run.sh --captures-only'" >&2; exit 1; }
[[ -x "$PODWIRE" ]] || { echo "profile.sh: no podwire binary at $PODWIRE (cargo build --release -p podwire)" >&2; exit 1; }
REPORT="$OUT/profile-$CAP.txt"
TMP=$(mktemp -d /tmp/podwire-profile.XXXXXX)
trap 'rm -rf -- "$TMP"' EXIT

echo "== wall time and peak RSS, output to /dev/null"
/usr/bin/time -f '%e s wall, %U s user, %S s sys, %M KiB peak RSS' \
  timeout 600 "$PODWIRE" read --format jsonl "$FILE" > /dev/null
echo "== the same with the output counted (bytes of jsonl)"
timeout 600 "$PODWIRE" read --format jsonl "$FILE" | wc -c

if [[ $CALLGRIND == 0 ]] && command -v perf >/dev/null 2>&1 \
   && perf stat -e cpu-clock true >/dev/null 2>&1; then
  args=(-e cpu-clock -F 2999)
  [[ $CALLGRAPH == 1 ]] && args+=(--call-graph dwarf,16384)
  echo "== perf record ${args[*]}"
  timeout 900 perf record "${args[@]}" -o "$TMP/perf.data" -- \
    "$PODWIRE" read --format jsonl "$FILE" > /dev/null
  if [[ $CALLGRAPH == 1 ]]; then
    timeout 900 perf report -i "$TMP/perf.data" --stdio --children --percent-limit 1 > "$REPORT" 2>/dev/null
  else
    timeout 900 perf report -i "$TMP/perf.data" --stdio --no-children --percent-limit 0.3 > "$REPORT" 2>/dev/null
  fi
  echo "== top of the flat profile (full report: ${REPORT#$REPO/})"
  timeout 300 perf report -i "$TMP/perf.data" --stdio --no-children -g none --percent-limit 1 2>/dev/null \
    | grep -v '^#' | grep -v '^$' | head -40
else
  command -v valgrind >/dev/null 2>&1 || { echo "profile.sh: neither perf nor valgrind works here" >&2; exit 1; }
  echo "== callgrind on the first 100k packets"
  tcpdump -Z root -r "$FILE" -c 100000 -w "$TMP/head.pcap" 2>/dev/null
  timeout 1800 valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" \
    "$PODWIRE" read --format jsonl "$TMP/head.pcap" > /dev/null 2> "$TMP/vg.err" || { tail "$TMP/vg.err" >&2; exit 1; }
  callgrind_annotate --inclusive=no "$TMP/cg.out" > "$REPORT" 2>/dev/null
  echo "== top of callgrind_annotate (full report: ${REPORT#$REPO/})"
  sed -n '1,60p' "$REPORT"
fi
