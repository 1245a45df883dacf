#!/usr/bin/env python3
"""Least-privilege and contract checks of podwire's rendered manifests.

    python3 deploy/tests/check_manifests.py RENDER.yaml [--expect-env NAME=VALUE]...
                                            [--expect-servicemonitor] [--expect-networkpolicy]
                                            [--external-tls-secret NAME]

Run by scripts/check-deploy.sh on every render of the Helm chart and on
deploy/manifests/podwire.yaml (schema validation is done there, with
kubernetes-validate). Every failed assertion is printed as
"FAIL: <object>: <what>"; the exit status is 1 when any failed, 0 otherwise.
Needs PyYAML only.

The ServiceMonitor (monitoring.coreos.com/v1) is a CRD kind that
kubernetes-validate has no schema for: its required structure is checked here
instead (check_servicemonitor).

The API's contract: the container port is named https exactly when the agent
serves TLS (PODWIRE_TLS_CERT), and the Services, probes and ServiceMonitor
follow that name and scheme; the TLS files come from one read-only Secret
volume (mode 0400), the only place a Secret may appear besides the Secret
object itself (and the ServiceMonitor's ca.crt reference to it), never in
RBAC; the agent may create token and access reviews exactly when something
needs them (captures, or PODWIRE_API_AUTH=kubernetes); the reader roles
grant exactly `get records.podwire.io` and `get /metrics`, and the only
binding besides the agent's own binds the reader role to the agent's
ServiceAccount (peers ask each other).
"""

import hashlib

import argparse
import re
import sys

import yaml

# Capabilities the agent may ever be given. The defaults are the first four;
# SYS_RESOURCE is tolerated for kernels older than 5.11 (BPF memory charged
# to RLIMIT_MEMLOCK there). SYS_ADMIN never.
ALLOWED_CAPS = {"BPF", "PERFMON", "NET_RAW", "NET_ADMIN", "SYS_RESOURCE"}
FORBIDDEN_CAPS = {"SYS_ADMIN"}

ALLOWED_VERBS = {"get", "list", "watch"}
# (apiGroup, resource) pairs the agent's ClusterRole must grant, exactly.
EXPECTED_RBAC = {
    ("", "pods"),
    ("", "services"),
    ("", "nodes"),
    ("discovery.k8s.io", "endpointslices"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
}
# With capture on: the reviews the agent asks the API server for, create only.
EXPECTED_REVIEWS = {
    ("authentication.k8s.io", "tokenreviews"),
    ("authorization.k8s.io", "subjectaccessreviews"),
}
# The roles for people who capture, exactly, by name suffix after the
# chart's full name: (kind, suffix) -> {(apiGroup, resource, verb)}. The chart
# binds them to no one.
CAPTURE_ROLES = {
    ("ClusterRole", "-capture"): {("", "pods", "capture")},
    ("ClusterRole", "-capture-nodes"): {("", "nodes", "capture")},
    ("Role", "-capture-proxy"): {("", "pods", "list"), ("", "pods/proxy", "get")},
}
# The roles for readers of the API (api.auth kubernetes), exactly. A
# non-resource URL is written (NON_RESOURCE, path, verb). The reader role is
# bound to the agent's ServiceAccount only (PEERS_BINDING); the metrics
# reader to no one.
NON_RESOURCE = "nonResourceURL"
READER_ROLE = ("ClusterRole", "-reader")
API_ROLES = {
    READER_ROLE: {("podwire.io", "records", "get")},
    ("ClusterRole", "-metrics-reader"): {(NON_RESOURCE, "/metrics", "get")},
}
PEERS_BINDING = "-peers"

# The TLS Secret: what cert-manager writes, nothing more.
TLS_SECRET_TYPE = "kubernetes.io/tls"
TLS_SECRET_KEYS = {"tls.crt", "tls.key", "ca.crt"}
# Mode of the TLS files: readable by their owner (the agent's uid 0) only.
TLS_FILE_MODE = 0o400
SA_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
API_AUTH_MODES = ("kubernetes", "none")

# Host paths the agent may mount (read-only): the cgroup filesystem and
# tracefs. Anything else (/, /proc, a runtime socket, /var/lib/kubelet) is a
# finding.
ALLOWED_HOST_PATHS = ("/sys/fs/cgroup", "/sys/kernel/tracing", "/sys/kernel/debug/tracing")

# Kinds the chart may render. An unknown kind (a typo) would only be a
# warning for kubernetes-validate, so it is an error here.
KNOWN_KINDS = {
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "Role",
    "ClusterRoleBinding",
    "Service",
    "DaemonSet",
    "ServiceMonitor",
    "Secret",
    "NetworkPolicy",
}

WORKLOAD_KINDS = {"DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "Job", "CronJob", "Pod"}

PROM_DURATION = re.compile(r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$")
# The ServiceMonitor fields the chart uses, as the CRD (v1) defines them.
SM_SPEC_FIELDS = {
    "attachMetadata", "bodySizeLimit", "endpoints", "fallbackScrapeProtocol", "jobLabel",
    "keepDroppedTargets", "labelLimit", "labelNameLengthLimit", "labelValueLengthLimit",
    "namespaceSelector", "podTargetLabels", "sampleLimit", "scrapeClass", "scrapeProtocols",
    "selector", "selectorMechanism", "serviceDiscoveryRole", "targetLabels", "targetLimit",
    "convertClassicHistogramsToNHCB", "nativeHistogramBucketLimit", "nativeHistogramMinBucketFactor",
    "scrapeClassicHistograms",
}
SM_ENDPOINT_FIELDS = {
    "authorization", "basicAuth", "bearerTokenFile", "bearerTokenSecret", "enableHttp2",
    "filterRunning", "followRedirects", "honorLabels", "honorTimestamps", "interval",
    "metricRelabelings", "noProxy", "oauth2", "params", "path", "port", "proxyConnectHeader",
    "proxyFromEnvironment", "proxyUrl", "relabelings", "scheme", "scrapeTimeout", "targetPort",
    "tlsConfig", "trackTimestampsStaleness",
}


class Checker:
    def __init__(self):
        self.failures = []

    def check(self, ok, where, what):
        if not ok:
            self.failures.append(f"FAIL: {where}: {what}")
        return ok


def name_of(doc):
    meta = doc.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name", "?")
    return f"{doc.get('kind', '?')}/{ns + '/' if ns else ''}{name}"


def pod_spec_of(doc):
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec") or {}
    return ((spec.get("template") or {}).get("spec")) or {}


def cap_name(c):
    c = str(c).upper()
    return c[4:] if c.startswith("CAP_") else c


def all_containers(pod):
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in pod.get(key) or []:
            yield key, c


def check_workload(ck, doc):
    where = name_of(doc)
    pod = pod_spec_of(doc)
    # TLS plaintext (tlsPlaintext.enabled) needs the node's processes and
    # CAP_SYS_PTRACE to read their maps: both, and only, with it on.
    tls_on = any(
        e.get("name") == "PODWIRE_TLS_PLAINTEXT" and e.get("value") == "on"
        for _, c in all_containers(pod)
        for e in c.get("env") or []
    )
    ck.check(
        bool(pod.get("hostPID")) == tls_on,
        where,
        f"hostPID must be true exactly when PODWIRE_TLS_PLAINTEXT is on (is {pod.get('hostPID')!r}, TLS plaintext {tls_on})",
    )
    ck.check(not pod.get("hostIPC"), where, "hostIPC must not be true")
    pod_sc = pod.get("securityContext") or {}

    tolerations = pod.get("tolerations") or []
    ck.check(
        any(t.get("operator") == "Exists" and not t.get("key") for t in tolerations),
        where,
        f"tolerations must include {{operator: Exists}} (no key) to run on every node; got {tolerations}",
    )

    host_volumes = {}
    for v in pod.get("volumes") or []:
        if "hostPath" in v:
            path = (v["hostPath"] or {}).get("path", "")
            host_volumes[v["name"]] = path
            ck.check(
                any(path == p or path.startswith(p + "/") for p in ALLOWED_HOST_PATHS),
                where,
                f"hostPath volume {v['name']!r} mounts {path!r}, not one of {list(ALLOWED_HOST_PATHS)}",
            )

    containers = list(all_containers(pod))
    ck.check(containers, where, "has no containers")
    for key, c in containers:
        cw = f"{where} {key[:-1]} {c.get('name', '?')}"
        sc = c.get("securityContext")
        if not ck.check(isinstance(sc, dict), cw, "has no securityContext"):
            sc = {}
        ck.check(sc.get("privileged") is not True, cw, f"privileged must be false, is {sc.get('privileged')!r}")
        ck.check(
            sc.get("allowPrivilegeEscalation") is False,
            cw,
            f"allowPrivilegeEscalation must be false, is {sc.get('allowPrivilegeEscalation')!r}",
        )
        ck.check(
            sc.get("readOnlyRootFilesystem") is True,
            cw,
            f"readOnlyRootFilesystem must be true, is {sc.get('readOnlyRootFilesystem')!r}",
        )
        caps = sc.get("capabilities") or {}
        drop = {cap_name(x) for x in caps.get("drop") or []}
        add = {cap_name(x) for x in caps.get("add") or []}
        ck.check("ALL" in drop, cw, f"capabilities.drop must contain ALL, is {sorted(drop)}")
        ck.check(not (add & FORBIDDEN_CAPS), cw, f"capabilities.add must not contain {sorted(add & FORBIDDEN_CAPS)}")
        ck.check(
            ("SYS_PTRACE" in add) == tls_on,
            cw,
            f"SYS_PTRACE must be added exactly when PODWIRE_TLS_PLAINTEXT is on (TLS plaintext {tls_on})",
        )
        add.discard("SYS_PTRACE")
        ck.check(
            add <= ALLOWED_CAPS,
            cw,
            f"capabilities.add {sorted(add)} must be a subset of {sorted(ALLOWED_CAPS)} (extra: {sorted(add - ALLOWED_CAPS)})",
        )
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        ck.check(
            seccomp in ("RuntimeDefault", "Localhost"),
            cw,
            f"seccompProfile must be RuntimeDefault or Localhost, is {seccomp!r}",
        )

        for m in c.get("volumeMounts") or []:
            if m.get("name") in host_volumes:
                ck.check(
                    m.get("readOnly") is True,
                    cw,
                    f"hostPath volume {m['name']!r} ({host_volumes[m['name']]}) must be mounted readOnly",
                )

        if key == "containers":
            res = c.get("resources") or {}
            req = res.get("requests") or {}
            lim = res.get("limits") or {}
            ck.check("memory" in req, cw, f"resources.requests.memory missing (requests: {req})")
            ck.check("cpu" in req, cw, f"resources.requests.cpu missing (requests: {req})")
            ck.check("memory" in lim, cw, f"resources.limits.memory missing (limits: {lim})")


def env_map(container):
    out = {}
    for e in container.get("env") or []:
        out[e["name"]] = e
    return out


def check_daemonset(ck, ds, services, service_accounts, expect_env):
    """The agent's contract. Returns what the other checks need to know of
    the agent (its port name and scheme, TLS, auth, ...), or None."""
    where = name_of(ds)
    pod = pod_spec_of(ds)
    ns = (ds.get("metadata") or {}).get("namespace")
    ck.check(pod.get("hostNetwork") is True, where, "hostNetwork must be true (the agent watches the node's network)")
    ck.check(
        pod.get("dnsPolicy") == "ClusterFirstWithHostNet",
        where,
        f"dnsPolicy must be ClusterFirstWithHostNet with hostNetwork, is {pod.get('dnsPolicy')!r}",
    )
    ck.check(pod.get("automountServiceAccountToken") is True, where, "automountServiceAccountToken must be true (the agent reads the API)")
    sa = pod.get("serviceAccountName")
    ck.check(sa in service_accounts, where, f"serviceAccountName {sa!r} is not a ServiceAccount of this render {sorted(service_accounts)}")
    strategy = (ds.get("spec") or {}).get("updateStrategy") or {}
    ck.check(strategy.get("type") == "RollingUpdate", where, f"updateStrategy must be RollingUpdate, is {strategy}")
    surge = (strategy.get("rollingUpdate") or {}).get("maxSurge", 0)
    ck.check(surge in (0, "0", "0%"), where, f"maxSurge must be 0 with hostNetwork (two agents cannot share the node's port), is {surge!r}")

    pod_labels = ((ds.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    agents = [c for c in pod.get("containers") or [] if c.get("name") == "agent"]
    if not ck.check(len(agents) == 1, where, "must have exactly one container named agent"):
        return None
    c = agents[0]
    cw = f"{where} container agent"
    ck.check((c.get("args") or [None])[0] == "agent", cw, f"args must start with 'agent', are {c.get('args')}")
    env = env_map(c)
    # The port's name says whether it serves TLS: `podwire sniff` reaches
    # the agents through the API server's proxy as https:POD:PORT exactly
    # when it is named https.
    tls = "PODWIRE_TLS_CERT" in env
    scheme = "https" if tls else "http"
    ports = c.get("ports") or []
    names = [p.get("name") for p in ports]
    if not ck.check(
        names == [scheme],
        cw,
        f"must have one port, named {scheme!r} ({'with' if tls else 'without'} PODWIRE_TLS_CERT), has {names}",
    ):
        return None
    port = ports[0].get("containerPort")
    for probe in ("livenessProbe", "readinessProbe"):
        get = ((c.get(probe) or {}).get("httpGet")) or {}
        ck.check(
            get.get("path") == "/healthz" and get.get("port") in (scheme, port),
            cw,
            f"{probe} must be GET /healthz on port {scheme}, is {c.get(probe)}",
        )
        ck.check(
            get.get("scheme", "HTTP") == scheme.upper(),
            cw,
            f"{probe} scheme must be {scheme.upper()} (the port {'serves' if tls else 'does not serve'} TLS), is {get.get('scheme', 'HTTP')!r}",
        )

    def value(name):
        e = env.get(name)
        ck.check(e is not None, cw, f"env {name} missing")
        return (e or {}).get("value")

    def field_ref(name):
        e = env.get(name)
        ck.check(e is not None, cw, f"env {name} missing")
        return (((e or {}).get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")

    listen = value("PODWIRE_LISTEN")
    ck.check(
        isinstance(listen, str) and listen.endswith(f":{port}"),
        cw,
        f"PODWIRE_LISTEN {listen!r} must listen on the container port {port}",
    )
    kube = value("PODWIRE_KUBERNETES")
    ck.check(kube in ("auto", "on", "off"), cw, f"PODWIRE_KUBERNETES must be auto|on|off, is {kube!r}")
    node = field_ref("PODWIRE_NODE_NAME")
    ck.check(node == "spec.nodeName", cw, f"PODWIRE_NODE_NAME must come from fieldRef spec.nodeName, is {node!r}")
    cgroot = value("PODWIRE_CGROUP_ROOT")
    ck.check(cgroot == "/host/sys/fs/cgroup", cw, f"PODWIRE_CGROUP_ROOT must be /host/sys/fs/cgroup, is {cgroot!r}")
    mounts = {m.get("mountPath"): m for m in c.get("volumeMounts") or []}
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    cg = mounts.get("/host/sys/fs/cgroup")
    if ck.check(cg is not None, cw, "no volume mounted at /host/sys/fs/cgroup"):
        hp = (volumes.get(cg.get("name")) or {}).get("hostPath") or {}
        ck.check(hp.get("path") == "/sys/fs/cgroup", cw, f"/host/sys/fs/cgroup must be the node's /sys/fs/cgroup, is {hp}")
        ck.check(cg.get("readOnly") is True, cw, "/host/sys/fs/cgroup must be mounted readOnly")

    # The peers address must be the headless Service of this render.
    headless = [
        s for s in services
        if (s.get("spec") or {}).get("clusterIP") == "None" and (s.get("metadata") or {}).get("namespace") == ns
    ]
    if ck.check(len(headless) == 1, where, f"expected one headless Service in {ns}, found {[name_of(s) for s in headless]}"):
        svc = headless[0]
        sw = name_of(svc)
        spec = svc.get("spec") or {}
        ck.check(spec.get("publishNotReadyAddresses") is True, sw, "publishNotReadyAddresses must be true (agents find each other before they are ready)")
        sel = spec.get("selector") or {}
        ck.check(
            sel and all(pod_labels.get(k) == v for k, v in sel.items()),
            sw,
            f"selector {sel} does not select the DaemonSet's pods {pod_labels}",
        )
        expected = f"k8s://{ns}/{svc['metadata']['name']}:{port}"
        peers = (env.get("PODWIRE_PEERS") or {}).get("value")
        ck.check(peers in (None, expected), cw, f"PODWIRE_PEERS must be {expected!r} (the headless Service), is {peers!r}")
    # Every Service in front of the agents names its port like the agent's.
    for svc in services:
        if (svc.get("metadata") or {}).get("namespace") != ns:
            continue
        sw = name_of(svc)
        sports = (svc.get("spec") or {}).get("ports") or []
        ck.check(
            [(p.get("name"), p.get("port"), p.get("targetPort")) for p in sports] == [(scheme, port, scheme)],
            sw,
            f"must have one port {scheme} = {port} with targetPort {scheme}, has {sports}",
        )

    for name, want in expect_env.items():
        got = (env.get(name) or {}).get("value")
        ck.check(got == want, cw, f"env {name} must be {want!r}, is {got!r}")

    check_otlp_env(ck, cw, env)

    auth = value("PODWIRE_API_AUTH")
    ck.check(auth in API_AUTH_MODES, cw, f"PODWIRE_API_AUTH must be one of {API_AUTH_MODES} (the chart says which), is {auth!r}")
    if auth == "kubernetes":
        ck.check(kube in ("auto", "on"), cw, f"PODWIRE_API_AUTH kubernetes needs PODWIRE_KUBERNETES auto or on, is {kube!r}")
    metrics_open = (env.get("PODWIRE_METRICS_OPEN") or {}).get("value")
    ck.check(metrics_open in (None, "true"), cw, f"PODWIRE_METRICS_OPEN must be absent or 'true', is {metrics_open!r}")

    fullname = ds["metadata"]["name"]
    info = {
        "fullname": fullname,
        "namespace": ns,
        "port": port,
        "scheme": scheme,
        "tls": tls,
        "auth": auth,
        "metrics_open": metrics_open == "true",
        "peers": "PODWIRE_PEERS" in env,
        "server_name": None,
        "tls_secret": None,
        "tls_volume": None,
    }
    tls_env = ("PODWIRE_TLS_CERT", "PODWIRE_TLS_KEY", "PODWIRE_PEER_CA", "PODWIRE_PEER_SERVER_NAME")
    if not tls:
        for name in tls_env:
            ck.check(name not in env, cw, f"env {name} without PODWIRE_TLS_CERT")
        return info

    # TLS: the certificate, its key and the peers' CA, all from one secret
    # volume mounted read-only, readable by the owner only; peers verify
    # the name of the ClusterIP Service.
    server_name = value("PODWIRE_PEER_SERVER_NAME")
    ck.check(
        server_name == f"{fullname}.{ns}.svc",
        cw,
        f"PODWIRE_PEER_SERVER_NAME must be {fullname}.{ns}.svc (the name the certificate carries), is {server_name!r}",
    )
    info["server_name"] = server_name
    secret_volumes = [v for v in pod.get("volumes") or [] if "secret" in v]
    if not ck.check(len(secret_volumes) == 1, where, f"expected one secret volume (TLS), found {[v.get('name') for v in secret_volumes]}"):
        return info
    vol = secret_volumes[0]
    info["tls_volume"] = vol["name"]
    sec = vol.get("secret") or {}
    info["tls_secret"] = sec.get("secretName")
    mode = sec.get("defaultMode")
    ck.check(mode == TLS_FILE_MODE, where, f"TLS volume {vol['name']!r} defaultMode must be 0400 ({TLS_FILE_MODE}), is {mode!r}")
    for item in sec.get("items") or []:
        m = item.get("mode", mode)
        ck.check(isinstance(m, int) and m & 0o077 == 0, where, f"TLS volume item {item.get('key')!r} mode {m!r} is readable beyond its owner")
    tls_mounts = [m for m in c.get("volumeMounts") or [] if m.get("name") == vol["name"]]
    if not ck.check(len(tls_mounts) == 1, cw, f"TLS volume {vol['name']!r} must be mounted once, is mounted {len(tls_mounts)} times"):
        return info
    mount = tls_mounts[0]
    ck.check(mount.get("readOnly") is True, cw, f"TLS volume {vol['name']!r} must be mounted readOnly")
    ck.check(not mount.get("subPath"), cw, "TLS volume must not use subPath (a subPath mount never sees the Secret's updates)")
    files = {}
    for item in sec.get("items") or [{"key": k, "path": k} for k in TLS_SECRET_KEYS]:
        files[f"{mount.get('mountPath', '').rstrip('/')}/{item.get('path')}"] = item.get("key")
    for name, key in (("PODWIRE_TLS_CERT", "tls.crt"), ("PODWIRE_TLS_KEY", "tls.key"), ("PODWIRE_PEER_CA", "ca.crt")):
        path = value(name)
        ck.check(files.get(path) == key, cw, f"{name} {path!r} must be the Secret's {key} in the TLS volume ({files})")
    return info


def rule_grants(rule):
    """(apiGroup, resource, verb) for every grant of a rule; a non-resource
    URL as (NON_RESOURCE, path, verb)."""
    grants = {
        (g, r, v)
        for g in rule.get("apiGroups") or []
        for r in rule.get("resources") or []
        for v in rule.get("verbs") or []
    }
    grants |= {(NON_RESOURCE, u, v) for u in rule.get("nonResourceURLs") or [] for v in rule.get("verbs") or []}
    return grants


def role_key(doc, fullname, roles):
    """The (kind, suffix) of `roles` that names this role, or None."""
    for kind, suffix in roles:
        if doc.get("kind") == kind and doc["metadata"]["name"] == fullname + suffix:
            return (kind, suffix)
    return None


def check_exact_roles(ck, found, expected, what):
    """Roles for people: each grants exactly its set (no resourceNames,
    nothing more), and they come all together or not at all."""
    for key, role in found.items():
        granted = set()
        for rule in role.get("rules") or []:
            granted |= rule_grants(rule)
            ck.check(not rule.get("resourceNames"), name_of(role), f"resourceNames not expected: {rule.get('resourceNames')}")
        ck.check(
            granted == expected[key],
            name_of(role),
            f"must grant exactly {sorted(expected[key])}, grants {sorted(granted)}",
        )
    if found:
        ck.check(set(found) == set(expected), "rbac", f"{what} roles must be all of {sorted(expected)}, are {sorted(found)}")


def check_rbac(ck, docs, agent):
    fullname = agent["fullname"]
    roles = [d for d in docs if d.get("kind") in ("ClusterRole", "Role")]
    agent_roles, capture_roles, api_roles = [], {}, {}
    for d in roles:
        if d.get("kind") == "ClusterRole" and d["metadata"]["name"] == fullname:
            agent_roles.append(d)
        elif role_key(d, fullname, CAPTURE_ROLES):
            capture_roles[role_key(d, fullname, CAPTURE_ROLES)] = d
        elif role_key(d, fullname, API_ROLES):
            api_roles[role_key(d, fullname, API_ROLES)] = d
        else:
            ck.check(False, name_of(d), "not a role of the chart (the agent's, the capture roles or the reader roles)")
    ck.check(
        len(agent_roles) == 1,
        "rbac",
        f"expected exactly one agent ClusterRole {fullname!r}, found {[name_of(d) for d in agent_roles]}",
    )
    # Reviews are needed to check a caller's token: for captures, and for
    # every read with PODWIRE_API_AUTH=kubernetes.
    kube_auth = agent["auth"] == "kubernetes"
    need_reviews = bool(capture_roles) or kube_auth
    for role in agent_roles:
        where = name_of(role)
        granted, reviews = set(), set()
        for i, rule in enumerate(role.get("rules") or []):
            rw = f"{where} rule {i}"
            verbs = set(rule.get("verbs") or [])
            resources = rule.get("resources") or []
            groups = rule.get("apiGroups") or []
            is_review = {(g, r) for g in groups for r in resources} <= EXPECTED_REVIEWS and groups and resources
            if is_review:
                ck.check(verbs == {"create"}, rw, f"reviews are created, nothing else: {sorted(verbs)}")
            else:
                ck.check(verbs <= ALLOWED_VERBS, rw, f"verbs {sorted(verbs)} must be a subset of {sorted(ALLOWED_VERBS)}")
            ck.check(not rule.get("nonResourceURLs"), rw, f"nonResourceURLs not allowed: {rule.get('nonResourceURLs')}")
            ck.check("secrets" not in resources, rw, "must not grant access to secrets")
            for r in resources:
                ck.check("*" not in r, rw, f"wildcard resource {r!r}")
                ck.check("/" not in r, rw, f"subresource {r!r} not allowed")
            for g in groups:
                ck.check(g != "*", rw, "wildcard apiGroup")
                for r in resources:
                    (reviews if is_review else granted).add((g, r))
        ck.check(
            granted == EXPECTED_RBAC,
            where,
            f"must grant exactly {sorted(EXPECTED_RBAC)}; extra {sorted(granted - EXPECTED_RBAC)}, missing {sorted(EXPECTED_RBAC - granted)}",
        )
        ck.check(
            reviews in (set(), EXPECTED_REVIEWS),
            where,
            f"reviews must be all of {sorted(EXPECTED_REVIEWS)} or none, are {sorted(reviews)}",
        )
        ck.check(
            bool(reviews) == need_reviews,
            where,
            f"the agent may create reviews exactly when captures or kubernetes API auth need them "
            f"(capture roles: {bool(capture_roles)}, PODWIRE_API_AUTH: {agent['auth']!r}; reviews: {bool(reviews)})",
        )
    check_exact_roles(ck, capture_roles, CAPTURE_ROLES, "capture")
    check_exact_roles(ck, api_roles, API_ROLES, "reader")
    ck.check(
        bool(api_roles) == kube_auth,
        "rbac",
        f"the reader roles must be rendered exactly with PODWIRE_API_AUTH=kubernetes (is {agent['auth']!r}, roles: {sorted(api_roles)})",
    )

    # Bindings: the agent's role to the agent, and the reader role to the
    # agent (peers ask each other with their own token). Nothing else: the
    # roles for people are bound by people.
    sas = {(d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs if d.get("kind") == "ServiceAccount"}
    allowed = {fullname: ("ClusterRole", fullname), fullname + PEERS_BINDING: ("ClusterRole", fullname + READER_ROLE[1])}
    peers_bindings = []
    for b in [d for d in docs if d.get("kind") in ("ClusterRoleBinding", "RoleBinding")]:
        where = name_of(b)
        ref = b.get("roleRef") or {}
        name = b["metadata"]["name"]
        want = allowed.get(name) if b.get("kind") == "ClusterRoleBinding" else None
        ck.check(
            want is not None and (ref.get("kind"), ref.get("name")) == want,
            where,
            f"roleRef {ref} must be the chart's {want or 'own role'}; the roles for people are bound by people",
        )
        if name == fullname + PEERS_BINDING:
            peers_bindings.append(b)
        subjects = b.get("subjects") or []
        ck.check(len(subjects) == 1, where, f"must bind exactly the chart's ServiceAccount, binds {subjects}")
        for s in subjects:
            ck.check(
                s.get("kind") == "ServiceAccount" and (s.get("name"), s.get("namespace")) in sas,
                where,
                f"subject {s} must be the chart's ServiceAccount",
            )
    ck.check(
        bool(peers_bindings) == (kube_auth and agent["peers"]),
        "rbac",
        f"the peers binding ({fullname + PEERS_BINDING}) must exist exactly when peers ask each other with kubernetes API auth",
    )
    # "secrets" must appear nowhere in RBAC objects, resourceNames included.
    for d in docs:
        if d.get("kind") in ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"):
            ck.check("secrets" not in yaml.safe_dump(d), name_of(d), "mentions secrets")


OTLP_ENV = {
    "PODWIRE_OTLP_PROTOCOL", "PODWIRE_OTLP_SIGNALS", "PODWIRE_OTLP_COMPRESSION", "PODWIRE_OTLP_TEMPORALITY",
    "PODWIRE_OTLP_QUEUE_KIB", "PODWIRE_OTLP_HEADERS",
}
# The one environment variable that may (and must) come from a Secret.
SECRET_ENV = "PODWIRE_OTLP_HEADERS"


def check_otlp_env(ck, cw, env):
    """OpenTelemetry export: settings only with an endpoint, valid values,
    and its headers (credentials) only ever from a Secret."""
    endpoint = (env.get("PODWIRE_OTLP_ENDPOINT") or {}).get("value")
    for name in sorted(OTLP_ENV & set(env)):
        ck.check(endpoint is not None, cw, f"env {name} without PODWIRE_OTLP_ENDPOINT")
    if endpoint is not None:
        ck.check(
            isinstance(endpoint, str) and endpoint.startswith(("http://", "https://")),
            cw,
            f"PODWIRE_OTLP_ENDPOINT must be an http:// or https:// URL, is {endpoint!r}",
        )
    for name, allowed in (
        ("PODWIRE_OTLP_COMPRESSION", ("gzip", "none")),
        ("PODWIRE_OTLP_TEMPORALITY", ("cumulative", "delta")),
        ("PODWIRE_OTLP_PROTOCOL", ("http/protobuf", "grpc")),
    ):
        if name in env:
            got = env[name].get("value")
            ck.check(got in allowed, cw, f"{name} must be one of {allowed}, is {got!r}")
    signals = (env.get("PODWIRE_OTLP_SIGNALS") or {}).get("value")
    if signals is not None:
        ck.check(
            bool(signals) and set(signals.split(",")) <= {"traces", "metrics", "logs"},
            cw,
            f"PODWIRE_OTLP_SIGNALS must list traces, metrics, logs, is {signals!r}",
        )
    headers = env.get(SECRET_ENV)
    if headers is not None:
        ref = (headers.get("valueFrom") or {}).get("secretKeyRef") or {}
        ck.check(
            "value" not in headers and ref.get("name") and ref.get("key"),
            cw,
            f"{SECRET_ENV} must come from a Secret (valueFrom.secretKeyRef), never a value in the manifest",
        )


def walk(node, path=()):
    """Every (path, key, value) of a parsed YAML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield path, k, v
            yield from walk(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + (i,))


def check_secrets(ck, docs, agent, external_tls_secret):
    """A Secret may appear only as the TLS Secret and the agent's volume of
    it (and the ServiceMonitor's reference to its ca.crt); RBAC never
    mentions secrets (check_rbac)."""
    tls_secret = agent["tls_secret"]
    secrets = [d for d in docs if d.get("kind") == "Secret"]
    for sec in secrets:
        where = name_of(sec)
        ck.check(
            agent["tls"] and sec["metadata"]["name"] == tls_secret and sec["metadata"].get("namespace") == agent["namespace"],
            where,
            f"the only Secret may be the agent's TLS Secret ({tls_secret!r} with TLS on)",
        )
        ck.check(sec.get("type") == TLS_SECRET_TYPE, where, f"type must be {TLS_SECRET_TYPE}, is {sec.get('type')!r}")
        keys = set(sec.get("data") or {}) | set(sec.get("stringData") or {})
        ck.check(keys == TLS_SECRET_KEYS, where, f"must hold exactly {sorted(TLS_SECRET_KEYS)}, holds {sorted(keys)}")
    if agent["tls"]:
        in_render = [s for s in secrets if s["metadata"]["name"] == tls_secret]
        if external_tls_secret:
            ck.check(
                tls_secret == external_tls_secret and not in_render,
                "tls",
                f"the TLS volume must use the existing Secret {external_tls_secret!r}, not a rendered one (uses {tls_secret!r})",
            )
        elif ck.check(len(in_render) == 1, "tls", f"the TLS volume's Secret {tls_secret!r} is not in the render"):
            # The agents read the peer CA at start: a new generated CA must
            # roll them (checksum/tls-ca on the pod template).
            ds = [d for d in docs if d.get("kind") == "DaemonSet"][0]
            annotations = ((ds["spec"].get("template") or {}).get("metadata") or {}).get("annotations") or {}
            ca = (in_render[0].get("data") or {}).get("ca.crt", "")
            ck.check(
                annotations.get("checksum/tls-ca") == hashlib.sha256(ca.encode()).hexdigest(),
                name_of(ds),
                "pod annotation checksum/tls-ca must be the sha256 of the generated Secret's ca.crt (new CA, new pods)",
            )
    else:
        ck.check(not external_tls_secret, "tls", "--external-tls-secret given but the agent serves no TLS")

    # Any other mention of a Secret in any object is a finding.
    for d in docs:
        if d.get("kind") in ("Secret",):
            continue
        for path, key, value in walk(d):
            if "secret" not in str(key).lower() or any("secret" in str(p).lower() for p in path):
                continue  # (inside a node judged below)
            at = ".".join(str(p) for p in path + (key,))
            if d.get("kind") == "DaemonSet" and key == "secret" and len(path) >= 2 and path[-2] == "volumes":
                vol = d
                for p in path:
                    vol = vol[p]
                ok = vol.get("name") == agent["tls_volume"] and (value or {}).get("secretName") == tls_secret
                ck.check(ok, name_of(d), f"{at}: the only secret volume may be the TLS volume of {tls_secret!r}")
            elif d.get("kind") == "DaemonSet" and key == "secretKeyRef" and path[-1:] == ("valueFrom",):
                # The OTLP headers, and nothing else, from a Secret of the
                # user's (its name is theirs; check_otlp_env checks the rest).
                item = d
                for p in path[:-1]:
                    item = item[p]
                ck.check(
                    item.get("name") == SECRET_ENV,
                    name_of(d),
                    f"{at}: only {SECRET_ENV} may come from a Secret, not {item.get('name')!r}",
                )
            elif d.get("kind") == "DaemonSet" and key == "imagePullSecrets":
                # References for the kubelet's image pulls (imagePullSecrets
                # value), never mounted into the agent.
                pass
            elif d.get("kind") == "ServiceMonitor" and key == "secret" and path[-2:] == ("tlsConfig", "ca"):
                ck.check(
                    value == {"name": tls_secret, "key": "ca.crt"},
                    name_of(d),
                    f"{at} must be the TLS Secret's ca.crt ({tls_secret!r}), is {value}",
                )
            elif d.get("kind") in ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"):
                pass  # check_rbac: "mentions secrets"
            else:
                ck.check(False, name_of(d), f"{at}: a Secret may appear only as the TLS Secret and its volume")


def check_networkpolicy(ck, np, agent, pod_labels):
    """Admits to the API port only listed sources: never every source."""
    where = name_of(np)
    spec = np.get("spec") or {}
    sel = (spec.get("podSelector") or {}).get("matchLabels") or {}
    ck.check(
        sel and all(pod_labels.get(k) == v for k, v in sel.items()) and not (spec.get("podSelector") or {}).get("matchExpressions"),
        where,
        f"podSelector {sel} must select the agent pods {pod_labels}",
    )
    ck.check("Ingress" in (spec.get("policyTypes") or []), where, f"policyTypes must include Ingress, are {spec.get('policyTypes')}")
    ingress = spec.get("ingress") or []
    ck.check(bool(ingress), where, "ingress must not be empty (the kubelet's probes would be refused)")
    for i, rule in enumerate(ingress):
        rw = f"{where} ingress {i}"
        sources = rule.get("from")
        ck.check(bool(sources), rw, "from must list sources (an empty or missing from admits everyone)")
        for src in sources or []:
            ck.check(bool(src), rw, f"empty source {src!r} admits everyone")
            cidr = (src.get("ipBlock") or {}).get("cidr")
            ck.check(cidr not in ("0.0.0.0/0", "::/0"), rw, f"ipBlock {cidr} admits everyone")
        ports = rule.get("ports") or []
        ck.check(bool(ports), rw, "ports must list the API port (none: every port)")
        for p in ports:
            ck.check(
                p.get("port") in (agent["port"], agent["scheme"]) and p.get("protocol", "TCP") == "TCP" and "endPort" not in p,
                rw,
                f"ports must be the API port {agent['port']}/TCP only, has {p}",
            )


def check_servicemonitor(ck, sm, services, agent):
    """The CRD kind kubernetes-validate cannot check: its required structure,
    and how it reaches the agents (scheme, CA, server name, token)."""
    where = name_of(sm)
    ck.check(sm.get("apiVersion") == "monitoring.coreos.com/v1", where, f"apiVersion must be monitoring.coreos.com/v1, is {sm.get('apiVersion')!r}")
    meta = sm.get("metadata") or {}
    ck.check(bool(meta.get("name")) and bool(meta.get("namespace")), where, "metadata.name and metadata.namespace are required")
    spec = sm.get("spec") or {}
    unknown = set(spec) - SM_SPEC_FIELDS
    ck.check(not unknown, where, f"unknown spec fields {sorted(unknown)}")
    sel = (spec.get("selector") or {}).get("matchLabels") or {}
    ck.check(bool(sel), where, "spec.selector.matchLabels is required")
    names = ((spec.get("namespaceSelector") or {}).get("matchNames")) or []
    matched = [
        s for s in services
        if (s.get("metadata") or {}).get("namespace") in names
        and all(((s.get("metadata") or {}).get("labels") or {}).get(k) == v for k, v in sel.items())
    ]
    ck.check(
        len(matched) == 1,
        where,
        f"selector {sel} in namespaces {names} must match exactly one Service (else targets are scraped twice), matches {[name_of(s) for s in matched]}",
    )
    endpoints = spec.get("endpoints") or []
    ck.check(bool(endpoints), where, "spec.endpoints must not be empty")
    port_names = {p.get("name") for s in matched for p in (s.get("spec") or {}).get("ports") or []}
    for i, ep in enumerate(endpoints):
        ew = f"{where} endpoint {i}"
        unknown = set(ep) - SM_ENDPOINT_FIELDS
        ck.check(not unknown, ew, f"unknown endpoint fields {sorted(unknown)}")
        scheme = agent["scheme"]
        ck.check(ep.get("port") == scheme and ep.get("port") in port_names, ew, f"port must be the Service's port {scheme!r}, is {ep.get('port')!r}")
        ck.check(ep.get("path") == "/metrics", ew, f"path must be /metrics, is {ep.get('path')!r}")
        ck.check(ep.get("scheme") == scheme, ew, f"scheme must be {scheme} (as the agent serves), is {ep.get('scheme')!r}")
        tls_config = ep.get("tlsConfig")
        if agent["tls"]:
            tls_config = tls_config or {}
            ck.check(
                (tls_config.get("ca") or {}).get("secret") == {"name": agent["tls_secret"], "key": "ca.crt"},
                ew,
                f"tlsConfig.ca must be the TLS Secret's ca.crt ({agent['tls_secret']!r}), is {tls_config.get('ca')}",
            )
            ck.check(
                tls_config.get("serverName") == agent["server_name"],
                ew,
                f"tlsConfig.serverName must be {agent['server_name']!r} (the name the certificate carries), is {tls_config.get('serverName')!r}",
            )
            ck.check(not tls_config.get("insecureSkipVerify"), ew, "tlsConfig.insecureSkipVerify must not be set")
        else:
            ck.check(tls_config is None, ew, f"tlsConfig without TLS on the agent: {tls_config}")
        # Prometheus's own service account token when the agent checks it,
        # and never to an agent that does not (nobody to show it to).
        want_token = SA_TOKEN if agent["auth"] == "kubernetes" and not agent["metrics_open"] else None
        ck.check(
            ep.get("bearerTokenFile") == want_token,
            ew,
            f"bearerTokenFile must be {want_token!r} (PODWIRE_API_AUTH {agent['auth']!r}, "
            f"PODWIRE_METRICS_OPEN {'set' if agent['metrics_open'] else 'unset'}), is {ep.get('bearerTokenFile')!r}",
        )
        for key in ("authorization", "basicAuth", "bearerTokenSecret", "oauth2"):
            ck.check(key not in ep, ew, f"{key}: the chart scrapes with Prometheus's service account token only")
        for key in ("interval", "scrapeTimeout"):
            if key in ep:
                ck.check(
                    isinstance(ep[key], str) and PROM_DURATION.match(ep[key]) is not None and ep[key] != "",
                    ew,
                    f"{key} {ep[key]!r} is not a Prometheus duration",
                )
        for key in ("relabelings", "metricRelabelings"):
            ck.check(isinstance(ep.get(key, []), list), ew, f"{key} must be a list")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--expect-env", action="append", default=[], metavar="NAME=VALUE",
                    help="the agent container must have this env value")
    ap.add_argument("--expect-secret-env", action="append", default=[], metavar="NAME=SECRET/KEY",
                    help="the agent container must take this env from that Secret's key")
    ap.add_argument("--expect-servicemonitor", action="store_true",
                    help="the render must contain a ServiceMonitor")
    ap.add_argument("--expect-networkpolicy", action="store_true",
                    help="the render must contain a NetworkPolicy")
    ap.add_argument("--external-tls-secret", metavar="NAME",
                    help="the TLS Secret is not rendered: the agent must use this existing one")
    args = ap.parse_args()
    expect_env = dict(e.split("=", 1) for e in args.expect_env)

    ck = Checker()
    docs = []
    for f in args.files:
        with open(f) as fh:
            docs.extend(d for d in yaml.safe_load_all(fh) if d)

    for d in docs:
        ck.check(d.get("kind") in KNOWN_KINDS, name_of(d), f"unexpected kind (known: {sorted(KNOWN_KINDS)})")

    workloads = [d for d in docs if d.get("kind") in WORKLOAD_KINDS]
    daemonsets = [d for d in docs if d.get("kind") == "DaemonSet"]
    services = [d for d in docs if d.get("kind") == "Service"]
    service_accounts = {d["metadata"]["name"] for d in docs if d.get("kind") == "ServiceAccount"}
    sms = [d for d in docs if d.get("kind") == "ServiceMonitor"]

    nps = [d for d in docs if d.get("kind") == "NetworkPolicy"]

    ck.check(len(daemonsets) == 1, "render", f"expected one DaemonSet, found {len(daemonsets)}")
    for w in workloads:
        check_workload(ck, w)
    agent = None
    for ds in daemonsets:
        agent = check_daemonset(ck, ds, services, service_accounts, expect_env)
    if agent is not None:
        check_rbac(ck, docs, agent)
        check_secrets(ck, docs, agent, args.external_tls_secret)
        pod_labels = ((daemonsets[0].get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
        for np in nps:
            check_networkpolicy(ck, np, agent, pod_labels)
        for sm in sms:
            check_servicemonitor(ck, sm, services, agent)
    if args.expect_servicemonitor:
        ck.check(len(sms) == 1, "render", f"expected one ServiceMonitor, found {len(sms)}")
    if args.expect_networkpolicy:
        ck.check(len(nps) == 1, "render", f"expected one NetworkPolicy, found {len(nps)}")

    for e in args.expect_secret_env:
        name, ref = e.split("=", 1)
        secret, key = ref.split("/", 1)
        for ds in daemonsets:
            c = [c for c in pod_spec_of(ds).get("containers") or [] if c.get("name") == "agent"]
            got = ((env_map(c[0]).get(name) or {}).get("valueFrom") or {}).get("secretKeyRef") if c else None
            ck.check(got == {"name": secret, "key": key}, name_of(ds), f"env {name} must come from Secret {secret!r} key {key!r}, is {got}")

    for f in ck.failures:
        print(f)
    kinds = ", ".join(sorted({d.get("kind", "?") for d in docs}))
    if ck.failures:
        print(f"check_manifests: {len(ck.failures)} failed ({len(docs)} objects: {kinds})")
        return 1
    print(f"check_manifests: ok ({len(docs)} objects: {kinds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
