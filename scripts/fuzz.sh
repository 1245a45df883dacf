#!/usr/bin/env bash
# Runs every cargo-fuzz target for N seconds (default 60), corpus seeded from
# the repository's real captures and parser fixtures.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#
# cargo-fuzz wants nightly for its sanitizer flags; the machine's stable
# toolchain accepts them with RUSTC_BOOTSTRAP=1, so no other toolchain is
# needed. A crash leaves its input in fuzz/artifacts/<target>/ and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(pipeline tls http dns live filter http2 sql postgres mysql redis kafka keylog)
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.2
export RUSTC_BOOTSTRAP=1

# Seeds: whole captures for the pipeline; raw streams for the parsers.
seed() {
    local target=$1; shift
    mkdir -p "fuzz/corpus/$target"
    for f in "$@"; do
        [ -f "$f" ] && cp -n "$f" "fuzz/corpus/$target/" 2>/dev/null || true
    done
}
# The pipeline target reads a mode byte first: an even byte then a capture file.
mkdir -p fuzz/corpus/pipeline
for f in crates/podwire/tests/data/*.pcap crates/podwire/tests/data/*.pcapng crates/parse-*/tests/data/*.pcap; do
    [ -f "$f" ] && { printf '\x00'; head -c 65536 "$f"; } > "fuzz/corpus/pipeline/$(basename "$f")"
done
seed tls crates/parse-tls/tests/data/*.bin
# Key logs: [len(keys) u16 BE] ++ keys ++ the capture's first 24 KiB
# (handshakes and the first requests), real secrets for real ciphertext.
mkdir -p fuzz/corpus/keylog
for f in crates/tls-decrypt/tests/data/*.pcap*; do
    k="${f%.pcap*}.keys"  # the pcapng with secrets inside has none: /dev/null
    [ -f "$k" ] || k=/dev/null
    python3 -c 'import sys; k=open(sys.argv[1],"rb").read(); c=open(sys.argv[2],"rb").read()[:24576]; sys.stdout.buffer.write(len(k).to_bytes(2,"big")+k+c)' "$k" "$f" \
        > "fuzz/corpus/keylog/$(basename "$f")"
done
seed http crates/parse-http/tests/data/*.bin
seed dns crates/parse-dns/tests/data/*.bin
# The request protocols' targets from their stream fixtures.
python3 scripts/fuzz-seeds.py fuzz/corpus
mkdir -p fuzz/corpus/filter fuzz/corpus/live
printf 'ip=10.0.0.1&port=80&since=5m&limit=10' > fuzz/corpus/filter/basic
printf 'domain=Example.COM.&state=open&proto=udp&until=2026-11-22T10:00:00%%2B00:00' > fuzz/corpus/filter/encoded

for t in "${targets[@]}"; do
    # Build first, in full view: a compile error must not hide behind `tail`.
    cargo fuzz build "$t"
done
for t in "${targets[@]}"; do
    echo "== fuzz $t for ${secs}s"
    cargo fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=512 -timeout=10 -print_final_stats=1 2>&1 | tail -n 12
done
