#!/usr/bin/env bash
# Builds the eBPF objects crates/ebpf embeds: bpf/conn.bpf.o (connection
# lifecycle) and bpf/tls.bpf.o (plaintext inside TLS).
#
#   bash scripts/build-bpf.sh           rebuild bpf/*.bpf.o
#   bash scripts/build-bpf.sh --check   fail if a committed object is stale
#
# The objects are committed so `cargo build` needs no clang. They must not
# depend on the checkout path: sources are named relative to the repo root,
# -fdebug-prefix-map covers the rest, and `llvm-strip -g` drops DWARF while
# keeping .BTF/.BTF.ext (which CO-RE needs).
# Needs: clang llvm libbpf-dev (Debian).
set -euo pipefail
cd "$(dirname "$0")/.."

OBJECTS=(conn tls)

build() { # SOURCE-NAME OUTPUT
    clang -target bpf -O2 -g -D__TARGET_ARCH_x86 -I bpf \
        -fdebug-prefix-map="$PWD"=. \
        -c "bpf/$1.bpf.c" -o "$2"
    llvm-strip -g "$2"
}

case "${1:-}" in
"")
    for o in "${OBJECTS[@]}"; do
        build "$o" "bpf/$o.bpf.o"
        echo "built bpf/$o.bpf.o"
    done
    ;;
--check)
    tmp=$(mktemp --suffix=.bpf.o)
    trap 'rm -f "$tmp"' EXIT
    for o in "${OBJECTS[@]}"; do
        build "$o" "$tmp"
        if ! cmp -s "$tmp" "bpf/$o.bpf.o"; then
            echo "error: bpf/$o.bpf.o is out of date with bpf/*.c/*.h (or was built by another clang);" >&2
            echo "       run: bash scripts/build-bpf.sh" >&2
            exit 1
        fi
        echo "bpf/$o.bpf.o is up to date"
    done
    ;;
*)
    echo "usage: $0 [--check]" >&2
    exit 2
    ;;
esac
