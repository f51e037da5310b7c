#!/usr/bin/env python3
"""Offline checks of dotpool's Kubernetes manifests (no cluster, no
kubeconform in Debian): the key fields of each object, checked against the
rules below and against the container image's contract (the DOTPOOL_*
variables container/entrypoint.sh documents, the probe script, the tmpfs).

Usage: check_manifests.py ENTRYPOINT FILE.yaml...
Prints one line per problem; exit 1 if any. With --env-out DIR, writes the
environment of each dotpool container to DIR/<object>.<container>.env
(NAME=value lines) for the entrypoint test.
"""
import os
import re
import sys

import yaml

API = {"Deployment": "apps/v1", "DaemonSet": "apps/v1", "Service": "v1",
       "ConfigMap": "v1", "Namespace": "v1"}
DNS1123 = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SAFE_SYSCTLS = {"net.ipv4.ip_unprivileged_port_start", "net.ipv4.ping_group_range",
                "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
                "kernel.shm_rmid_forced"}
RUN_DIR = "/run/unbound"
READY = "/usr/local/bin/dotpool-ready"

problems = []


def problem(where, msg):
    problems.append(f"{where}: {msg}")


def entrypoint_vars(path):
    """DOTPOOL_* names the entrypoint reads (from its code, not comments)."""
    with open(path) as f:
        code = "\n".join(l for l in f.read().splitlines() if not l.lstrip().startswith("#"))
    names = set(re.findall(r"\$\{?(DOTPOOL_[A-Z_]+)", code))
    return names | {"DOTPOOL_CONF"}


def get(obj, path, default=None):
    for p in path.split("."):
        if not isinstance(obj, dict) or p not in obj:
            return default
        obj = obj[p]
    return obj


def check_port(where, p):
    if not isinstance(p, int) or not 1 <= p <= 65535:
        problem(where, f"port {p!r} is not an integer 1..65535")


def is_dotpool(c):
    return "dotpool" in str(c.get("image", "")) or c.get("name") == "dotpool"


def check_container(where, c, volumes, known_env, pod):
    name = c.get("name")
    if not name or not DNS1123.match(name):
        problem(where, f"container name {name!r} invalid")
    if not c.get("image"):
        problem(where, "no image")
    sc = c.get("securityContext") or {}
    for key, want in (("runAsNonRoot", True), ("readOnlyRootFilesystem", True),
                      ("allowPrivilegeEscalation", False)):
        if sc.get(key) is not want:
            problem(where, f"securityContext.{key} must be {want}")
    if "ALL" not in (get(sc, "capabilities.drop") or []):
        problem(where, "capabilities.drop must contain ALL")
    if get(sc, "capabilities.add"):
        problem(where, "adds capabilities")
    for port in c.get("ports") or []:
        check_port(f"{where} port {port.get('name')}", port.get("containerPort"))
        if port.get("protocol", "TCP") not in ("TCP", "UDP", "SCTP"):
            problem(where, f"bad protocol {port.get('protocol')}")
    for m in c.get("volumeMounts") or []:
        if m.get("name") not in volumes:
            problem(where, f"volumeMount {m.get('name')} has no volume")
    if not get(c, "resources.requests"):
        problem(where, "no resource requests")
    if not is_dotpool(c):
        return None
    # the image's contract
    if not isinstance(sc.get("runAsUser"), int) or sc.get("runAsUser") == 0:
        problem(where, "dotpool must run as a numeric non-root uid (the image's 10053)")
    mounts = {m.get("mountPath"): m.get("name") for m in c.get("volumeMounts") or []}
    vol = volumes.get(mounts.get(RUN_DIR))
    if not vol or "emptyDir" not in vol:
        problem(where, f"{RUN_DIR} must be an emptyDir (the root filesystem is read-only)")
    rp = c.get("readinessProbe") or {}
    cmd = get(rp, "exec.command") or []
    if not cmd or cmd[0] != READY:
        problem(where, f"readinessProbe must exec {READY} (upstream health)")
    if "--control" in cmd:
        problem(where, "readinessProbe must follow the upstreams, not just the daemon")
    lcmd = get(c, "livenessProbe.exec.command") or []
    if lcmd[:1] != [READY] or "--control" not in lcmd:
        problem(where, f"livenessProbe must be '{READY} --control' (no restarts for upstream outages)")
    env = {}
    for e in c.get("env") or []:
        n = e.get("name")
        if n in env:
            problem(where, f"env {n} set twice")
        if "value" in e and not isinstance(e["value"], str):
            problem(where, f"env {n} value must be a string, got {e['value']!r}")
        if n and n.startswith("DOTPOOL_") and n not in known_env:
            problem(where, f"env {n} is not read by the entrypoint (typo?)")
        env[n] = e.get("value", "")
    metrics = env.get("DOTPOOL_METRICS_PORT", "9153")
    if metrics != "0" and not any(p.get("containerPort") == int(metrics)
                                  for p in c.get("ports") or []):
        problem(where, f"metrics port {metrics} is not declared in ports")
    listen = int(env.get("DOTPOOL_LISTEN_PORT", "53") or 0)
    if listen < 1024 and "DOTPOOL_UPSTREAMS" in env:
        sysctls = {s["name"]: s["value"] for s in get(pod, "securityContext.sysctls") or []}
        start = sysctls.get("net.ipv4.ip_unprivileged_port_start")
        if start is None or int(start) > listen:
            problem(where, f"listens on {listen} as non-root without net.ipv4.ip_unprivileged_port_start <= {listen}")
    if "DOTPOOL_UPSTREAMS" not in env and RUN_DIR not in mounts:
        problem(where, "neither DOTPOOL_UPSTREAMS nor a mounted config")
    return env


def check_workload(doc, where, known_env, configmaps, envs):
    spec = doc.get("spec") or {}
    sel = get(spec, "selector.matchLabels") or {}
    labels = get(spec, "template.metadata.labels") or {}
    if not sel:
        problem(where, "no spec.selector.matchLabels")
    for k, v in sel.items():
        if labels.get(k) != v:
            problem(where, f"selector {k}={v} does not match the pod labels")
    pod = get(spec, "template.spec") or {}
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    for v in volumes.values():
        cm = get(v, "configMap.name")
        if cm and (doc["metadata"].get("namespace"), cm) not in configmaps:
            problem(where, f"volume {v['name']} names ConfigMap {cm}, not in these manifests")
    for s in get(pod, "securityContext.sysctls") or []:
        if s.get("name") not in SAFE_SYSCTLS:
            problem(where, f"sysctl {s.get('name')} is not a safe sysctl")
        if not isinstance(s.get("value"), str):
            problem(where, f"sysctl {s.get('name')} value must be a string")
    if pod.get("dnsPolicy") == "None" and not get(pod, "dnsConfig.nameservers"):
        problem(where, "dnsPolicy None without dnsConfig.nameservers")
    containers = [("container", c) for c in pod.get("containers") or []]
    containers += [("initContainer", c) for c in pod.get("initContainers") or []]
    if not pod.get("containers"):
        problem(where, "no containers")
    names = [c.get("name") for _, c in containers]
    if len(names) != len(set(names)):
        problem(where, "duplicate container names")
    ports = {}
    for kind, c in containers:
        cw = f"{where} {kind} {c.get('name')}"
        if kind == "initContainer" and is_dotpool(c) and c.get("restartPolicy") != "Always":
            problem(cw, "a dotpool init container must be a native sidecar (restartPolicy: Always)")
        env = check_container(cw, c, volumes, known_env, pod)
        if env is not None:
            envs[f"{doc['kind']}.{doc['metadata']['name']}.{c['name']}"] = env
        for p in c.get("ports") or []:
            ports[p.get("name")] = p
    if pod.get("dnsPolicy") == "None" and "127.0.0.1" in (get(pod, "dnsConfig.nameservers") or []):
        if not any(is_dotpool(c) for _, c in containers):
            problem(where, "resolves through 127.0.0.1 without a dotpool container")
    return labels, ports


def main(argv):
    args = argv[1:]
    env_out = None
    if args[:1] == ["--env-out"]:
        env_out, args = args[1], args[2:]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    known_env = entrypoint_vars(args[0])
    docs = []
    for path in args[1:]:
        with open(path) as f:
            for i, d in enumerate(yaml.safe_load_all(f)):
                if d is not None:
                    docs.append((f"{os.path.basename(path)}#{i}", d))
    configmaps = {(d.get("metadata", {}).get("namespace"), d.get("metadata", {}).get("name"))
                  for _, d in docs if d.get("kind") == "ConfigMap"}
    workloads, services, envs = [], [], {}
    seen = set()
    for where, d in docs:
        kind = d.get("kind")
        if kind not in API:
            problem(where, f"unexpected kind {kind!r}")
            continue
        if d.get("apiVersion") != API[kind]:
            problem(where, f"{kind} must be apiVersion {API[kind]}, not {d.get('apiVersion')}")
        name = get(d, "metadata.name")
        if not name or not DNS1123.match(name) or len(name) > 63:
            problem(where, f"metadata.name {name!r} is not a DNS-1123 label")
        key = (kind, get(d, "metadata.namespace"), name)
        if key in seen:
            problem(where, f"{kind} {name} defined twice")
        seen.add(key)
        where = f"{where} {kind}/{name}"
        if kind in ("Deployment", "DaemonSet"):
            labels, ports = check_workload(d, where, known_env, configmaps, envs)
            workloads.append((get(d, "metadata.namespace"), labels, ports))
        elif kind == "Service":
            services.append((where, d))
        elif kind == "ConfigMap":
            for k, v in (d.get("data") or {}).items():
                if not isinstance(v, str):
                    problem(where, f"data.{k} is not a string")
    for where, s in services:
        spec = s.get("spec") or {}
        sel = spec.get("selector") or {}
        match = [w for w in workloads if w[0] == get(s, "metadata.namespace")
                 and all(w[1].get(k) == v for k, v in sel.items())]
        if not sel or not match:
            problem(where, "selector matches no workload in these manifests")
            continue
        for p in spec.get("ports") or []:
            check_port(f"{where} {p.get('name')}", p.get("port"))
            t = p.get("targetPort")
            if isinstance(t, str):
                if t not in match[0][2]:
                    problem(where, f"targetPort {t} is not a container port name")
                elif match[0][2][t].get("protocol", "TCP") != p.get("protocol", "TCP"):
                    problem(where, f"targetPort {t} protocol differs")
        protos = {(p.get("port"), p.get("protocol", "TCP")) for p in spec.get("ports") or []}
        if (53, "UDP") not in protos or (53, "TCP") not in protos:
            problem(where, "a DNS Service needs port 53 over both UDP and TCP")
        if spec.get("internalTrafficPolicy") != "Local":
            problem(where, "the node-local Service needs internalTrafficPolicy: Local")
    if env_out:
        os.makedirs(env_out, exist_ok=True)
        for k, env in envs.items():
            with open(os.path.join(env_out, k + ".env"), "w") as f:
                for n, v in env.items():
                    f.write(f"{n}={v}\n")
    for p in problems:
        print(p)
    print(f"check_manifests: {len(docs)} objects, {len(envs)} dotpool containers, "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
