#!/usr/bin/env bash
# Runs every test podwire has, the way CI does.
#
#   bash scripts/test.sh
#
# As root on Debian it first installs what the tests drive (tshark, tcpdump,
# nginx, dnsmasq, dig, curl, openssl, iproute2); without root, tests that
# need root or a missing tool print "SKIPPED: <reason>" and pass.
# Set PODWIRE_FUZZ_SECONDS=N to also run each fuzz target for N seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(tshark tcpdump nginx-light curl bind9-dnsutils dnsmasq-base openssl iproute2 procps clang llvm libbpf-dev bpftool prometheus python3 python3-venv nftables chromium postgresql mariadb-server mariadb-client redis-server nghttp2-server nghttp2-client libssl-dev golang-go binutils)
# node and npm run the web UI's browser test (ui/tests); any node >= 18 will
# do, so Debian's are only installed when none is here.
command -v node >/dev/null || APT_PACKAGES+=(nodejs)
command -v npm >/dev/null || APT_PACKAGES+=(npm)
# kubectl runs the krew-installed plugin in check-deploy; any kubectl will do
# (Debian's is old but has plugins), so only install one when none is here.
command -v kubectl >/dev/null || APT_PACKAGES+=(kubernetes-client)

# Grafana's own Node Graph field names (npm's @grafana/data), for the
# contract test of the k8spacket-compatible endpoints. Fetched once into
# target/ (a test input, never part of the product).
GRAFANA_DATA_VERSION=11.6.0
fetch_grafana_data() {
    local dir=target/test-data/grafana-data-$GRAFANA_DATA_VERSION
    [ -f "$dir/package/dist/esm/utils/nodeGraph.mjs" ] && return
    mkdir -p "$dir"
    if ! curl -fsSL --max-time 120 \
        "https://registry.npmjs.org/@grafana/data/-/data-$GRAFANA_DATA_VERSION.tgz" |
        tar xz -C "$dir" package/dist/esm/utils/nodeGraph.mjs; then
        echo "note: could not fetch @grafana/data $GRAFANA_DATA_VERSION (its test will be skipped)"
    fi
}

install_packages() {
    local missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        return
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        echo "note: not root or no apt-get: not installing ${missing[*]} (tests needing them will be skipped)"
        return
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

# playwright-core for the UI's browser test, as pinned by
# ui/tests/package-lock.json; only when that lock file is newer than the install.
install_ui_test_deps() {
    [ ui/tests/node_modules/.package-lock.json -nt ui/tests/package-lock.json ] && return
    command -v npm >/dev/null || { echo "note: no npm: the web UI's browser test will be skipped"; return; }
    if ! npm ci --prefix ui/tests --no-audit --no-fund --loglevel=error >/dev/null; then
        echo "note: npm ci --prefix ui/tests failed (the web UI's browser test will be skipped)"
        # In CI the browser test must run, not skip.
        [ "${CI:-}" = true ] && exit 1
    fi
}

# Python's grpcio for the gRPC lab test (the python3 on PATH; PyPI).
install_python_test_deps() {
    python3 -c 'import grpc' 2>/dev/null && return
    if ! python3 -m pip install --quiet grpcio; then
        echo "note: pip install grpcio failed (the gRPC lab test will be skipped)"
        [ "${CI:-}" = true ] && exit 1
    fi
}

# schemathesis (PyPI, pinned) for the API's conformance to docs/openapi.json,
# in a venv of its own under target/test-data.
SCHEMATHESIS_VERSION=4.32.5
install_schemathesis() {
    local venv=target/test-data/venv-st
    [ "$(cat "$venv/.podwire-stamp" 2>/dev/null)" = "$SCHEMATHESIS_VERSION" ] && return
    rm -rf "$venv"
    if python3 -m venv "$venv" &&
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"; then
        printf '%s' "$SCHEMATHESIS_VERSION" >"$venv/.podwire-stamp"
    else
        echo "note: pip install schemathesis failed (the API conformance test will be skipped)"
        [ "${CI:-}" = true ] && exit 1
    fi
}

# opentelemetry-proto (PyPI, pinned; the official generated OTLP messages
# and gRPC services) and grpcio (to serve those) for the OTLP export tests'
# receiver, in a venv under target/test-data.
OTLP_PROTO_VERSION=1.45.2
OTLP_GRPCIO_VERSION=1.85.4
install_otlp_proto() {
    local venv=target/test-data/venv-otlp
    local stamp="$OTLP_PROTO_VERSION grpcio $OTLP_GRPCIO_VERSION"
    [ "$(cat "$venv/.podwire-stamp" 2>/dev/null)" = "$stamp" ] && return
    rm -rf "$venv"
    if python3 -m venv "$venv" &&
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            "opentelemetry-proto==$OTLP_PROTO_VERSION" "grpcio==$OTLP_GRPCIO_VERSION"; then
        printf '%s' "$stamp" >"$venv/.podwire-stamp"
    else
        echo "note: pip install opentelemetry-proto failed (the OTLP export tests will be skipped)"
        [ "${CI:-}" = true ] && exit 1
    fi
}

install_packages
install_python_test_deps
install_schemathesis
install_otlp_proto
fetch_grafana_data
install_ui_test_deps
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== bpf object up to date"; bash scripts/build-bpf.sh --check
echo "== cargo test"
# In CI the web UI's browser test must run (Chromium, node and playwright-core
# were installed above), not skip.
if [ "${CI:-}" = true ]; then
    export PODWIRE_REQUIRE_BROWSER=1 PODWIRE_REQUIRE_SCHEMATHESIS=1 PODWIRE_REQUIRE_OTLP=1
    # CI runs as root with every tool installed above: a test that would
    # skip (no root, a tool missing) fails instead (podwire_lab::skip).
    # Only the capture corpus beside the repository stays optional.
    export PODWIRE_NO_SKIP=1
fi
# tcpdump (installed above) brings libpcap: the filter compiler's tests must
# then run, not skip.
if dpkg-query -W -f='${Status}' libpcap0.8 2>/dev/null | grep -q "install ok installed"; then
    export PODWIRE_REQUIRE_LIBPCAP=1
fi
cargo test --workspace --locked

# The Helm chart and plain manifests: helm lint, renders validated against
# the Kubernetes OpenAPI schemas, least privilege (its own == headers).
bash scripts/check-deploy.sh

if [ "${PODWIRE_FUZZ_SECONDS:-0}" -gt 0 ]; then
    echo "== fuzz (${PODWIRE_FUZZ_SECONDS}s per target)"
    bash scripts/fuzz.sh "${PODWIRE_FUZZ_SECONDS}"
fi
