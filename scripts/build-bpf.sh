#!/usr/bin/env bash
# Builds the eBPF object bpf/conn.bpf.o that crates/ebpf embeds.
#
#   bash scripts/build-bpf.sh           rebuild bpf/conn.bpf.o
#   bash scripts/build-bpf.sh --check   fail if the committed object is stale
#
# The object is committed so `cargo build` needs no clang. It must not depend
# on the checkout path: sources are named relative to the repo root,
# -fdebug-prefix-map covers the rest, and `llvm-strip -g` drops DWARF while
# keeping .BTF/.BTF.ext (which CO-RE needs).
# Needs: clang llvm libbpf-dev (Debian).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=bpf/conn.bpf.o

build() {
    clang -target bpf -O2 -g -D__TARGET_ARCH_x86 -I bpf \
        -fdebug-prefix-map="$PWD"=. \
        -c bpf/conn.bpf.c -o "$1"
    llvm-strip -g "$1"
}

case "${1:-}" in
"")
    build "$OUT"
    echo "built $OUT"
    ;;
--check)
    tmp=$(mktemp --suffix=.bpf.o)
    trap 'rm -f "$tmp"' EXIT
    build "$tmp"
    if ! cmp -s "$tmp" "$OUT"; then
        echo "error: $OUT is out of date with bpf/*.c/*.h (or was built by another clang);" >&2
        echo "       run: bash scripts/build-bpf.sh" >&2
        exit 1
    fi
    echo "$OUT is up to date"
    ;;
*)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
