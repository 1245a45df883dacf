#!/usr/bin/env bash
# Builds the krew archives and fills deploy/krew/podwire.yaml for a release.
#
#   scripts/krew-package.sh VERSION OUTDIR ARCH=BINARY [ARCH=BINARY ...]
#
# ARCH is amd64 or arm64, BINARY a podwire binary built for it. Writes
# OUTDIR/podwire-linux-ARCH.tar.gz (the binary as `podwire`) and
# OUTDIR/podwire.yaml with each archive's sha256. An architecture not given
# gets a sha256 of zeros and a warning (fine for checks, not for a release).
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 VERSION OUTDIR ARCH=BINARY..." >&2; exit 2; }
version=$1 out=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
declare -A sha=([amd64]=$(printf '0%.0s' {1..64}) [arm64]=$(printf '0%.0s' {1..64}))
for pair in "$@"; do
    arch=${pair%%=*} bin=${pair#*=}
    case $arch in amd64|arm64) ;; *) echo "unknown arch $arch" >&2; exit 2 ;; esac
    stage=$(mktemp -d)
    install -m 0755 "$bin" "$stage/podwire"
    # Reproducible: fixed owner, mode and time, sorted names.
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
        -C "$stage" -cf - podwire | gzip -n >"$out/podwire-linux-$arch.tar.gz"
    rm -rf "$stage"
    sha[$arch]=$(sha256sum "$out/podwire-linux-$arch.tar.gz" | cut -d' ' -f1)
done
for arch in amd64 arm64; do
    [[ ${sha[$arch]} =~ ^0+$ ]] && echo "warning: no $arch archive; its sha256 is zeros" >&2
done
VERSION=$version SHA256_AMD64=${sha[amd64]} SHA256_ARM64=${sha[arm64]} python3 - "$root/deploy/krew/podwire.yaml" >"$out/podwire.yaml" <<'PY'
import os, string, sys
print(string.Template(open(sys.argv[1]).read()).substitute(os.environ), end="")
PY
echo "$out/podwire.yaml"
