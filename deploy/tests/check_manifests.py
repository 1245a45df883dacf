#!/usr/bin/env python3
"""Least-privilege and contract checks of podwire's rendered manifests.

    python3 deploy/tests/check_manifests.py RENDER.yaml [--expect-env NAME=VALUE]...
                                            [--expect-servicemonitor]

Run by scripts/check-deploy.sh on every render of the Helm chart and on
deploy/manifests/podwire.yaml (schema validation is done there, with
kubernetes-validate). Every failed assertion is printed as
"FAIL: <object>: <what>"; the exit status is 1 when any failed, 0 otherwise.
Needs PyYAML only.

The ServiceMonitor (monitoring.coreos.com/v1) is a CRD kind that
kubernetes-validate has no schema for: its required structure is checked here
instead (check_servicemonitor).
"""

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
# The roles for people who capture, exactly, by name suffix: (kind, suffix)
# -> {(apiGroup, resource, verb)}. The chart binds them to no one.
CAPTURE_ROLES = {
    ("ClusterRole", "-capture"): {("", "pods", "capture")},
    ("ClusterRole", "-capture-nodes"): {("", "nodes", "capture")},
    ("Role", "-capture-proxy"): {("", "pods", "list"), ("", "pods/proxy", "get")},
}

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
    ck.check(not pod.get("hostPID"), where, "hostPID must not be true")
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
        return
    c = agents[0]
    cw = f"{where} container agent"
    ck.check((c.get("args") or [None])[0] == "agent", cw, f"args must start with 'agent', are {c.get('args')}")
    ports = {p.get("name"): p for p in c.get("ports") or []}
    http = ports.get("http")
    if not ck.check(http is not None, cw, f"must have a port named http, has {list(ports)}"):
        return
    port = http.get("containerPort")
    for probe in ("livenessProbe", "readinessProbe"):
        get = ((c.get(probe) or {}).get("httpGet")) or {}
        ck.check(
            get.get("path") == "/healthz" and get.get("port") in ("http", port),
            cw,
            f"{probe} must be GET /healthz on port http, is {c.get(probe)}",
        )

    env = env_map(c)

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
        sports = {p.get("name"): p for p in spec.get("ports") or []}
        sp = sports.get("http")
        ck.check(sp is not None and sp.get("port") == port, sw, f"must have port http = {port}, has {spec.get('ports')}")
        expected = f"k8s://{ns}/{svc['metadata']['name']}:{port}"
        peers = (env.get("PODWIRE_PEERS") or {}).get("value")
        ck.check(peers == expected, cw, f"PODWIRE_PEERS must be {expected!r} (the headless Service), is {peers!r}")

    for name, want in expect_env.items():
        got = (env.get(name) or {}).get("value")
        ck.check(got == want, cw, f"env {name} must be {want!r}, is {got!r}")


def rule_grants(rule):
    return {
        (g, r, v)
        for g in rule.get("apiGroups") or []
        for r in rule.get("resources") or []
        for v in rule.get("verbs") or []
    }


def capture_role_key(doc):
    name = doc["metadata"]["name"]
    # Longest suffix first, so a name is matched by its most specific role.
    for kind, suffix in sorted(CAPTURE_ROLES, key=lambda k: -len(k[1])):
        if doc.get("kind") == kind and name.endswith(suffix):
            return (kind, suffix)
    return None


def check_rbac(ck, docs):
    roles = [d for d in docs if d.get("kind") in ("ClusterRole", "Role")]
    agent_roles = [d for d in roles if capture_role_key(d) is None]
    capture_roles = [d for d in roles if capture_role_key(d) is not None]
    ck.check(
        [d.get("kind") for d in agent_roles] == ["ClusterRole"],
        "rbac",
        f"expected exactly one agent ClusterRole and no other Role, found {[name_of(d) for d in agent_roles]}",
    )
    agent_role_names = {(d.get("kind"), d["metadata"]["name"]) for d in agent_roles}
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
            bool(reviews) == bool(capture_roles),
            where,
            "the agent may create reviews exactly when the capture roles are rendered",
        )
    for role in capture_roles:
        key = capture_role_key(role)
        granted = set()
        for rule in role.get("rules") or []:
            granted |= rule_grants(rule)
        ck.check(
            granted == CAPTURE_ROLES[key],
            name_of(role),
            f"must grant exactly {sorted(CAPTURE_ROLES[key])}, grants {sorted(granted)}",
        )
    if capture_roles:
        ck.check(
            {capture_role_key(d) for d in capture_roles} == set(CAPTURE_ROLES),
            "rbac",
            f"capture roles must be all of {sorted(CAPTURE_ROLES)}",
        )
    role_names = agent_role_names
    sas = {(d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs if d.get("kind") == "ServiceAccount"}
    for b in [d for d in docs if d.get("kind") in ("ClusterRoleBinding", "RoleBinding")]:
        where = name_of(b)
        ref = b.get("roleRef") or {}
        ck.check(
            (ref.get("kind"), ref.get("name")) in role_names,
            where,
            f"roleRef {ref} must be the chart's own role, not {ref.get('name')!r}",
        )
        for s in b.get("subjects") or []:
            ck.check(
                s.get("kind") == "ServiceAccount" and (s.get("name"), s.get("namespace")) in sas,
                where,
                f"subject {s} must be the chart's ServiceAccount",
            )
    # "secrets" must appear nowhere in RBAC objects, resourceNames included.
    for d in docs:
        if d.get("kind") in ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding"):
            ck.check("secrets" not in yaml.safe_dump(d), name_of(d), "mentions secrets")


def check_servicemonitor(ck, sm, services):
    """The CRD kind kubernetes-validate cannot check: its required structure."""
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
        ck.check(ep.get("port") == "http" and ep.get("port") in port_names, ew, f"port must be the Service's port 'http', is {ep.get('port')!r}")
        ck.check(ep.get("path") == "/metrics", ew, f"path must be /metrics, is {ep.get('path')!r}")
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
    ap.add_argument("--expect-servicemonitor", action="store_true",
                    help="the render must contain a ServiceMonitor")
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

    ck.check(len(daemonsets) == 1, "render", f"expected one DaemonSet, found {len(daemonsets)}")
    for w in workloads:
        check_workload(ck, w)
    for ds in daemonsets:
        check_daemonset(ck, ds, services, service_accounts, expect_env)
    check_rbac(ck, docs)
    if args.expect_servicemonitor:
        ck.check(len(sms) == 1, "render", f"expected one ServiceMonitor, found {len(sms)}")
    for sm in sms:
        check_servicemonitor(ck, sm, services)

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
