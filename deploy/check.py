#!/usr/bin/env python3
"""Checks the deploy files: every YAML file parses, and the files agree with each other.

Run from anywhere: `python3 deploy/check.py` (needs PyYAML: Debian's python3-yaml, which comes with
clang's recommended packages). tests/e2e/deploy.rs runs it. It checks what a typo would silently
break and no schema catches: the compose files publish the admin ports on loopback only and mount
what prometheus.yml and the Grafana provisioning name; in the cluster compose file every bunkerd-N
node shares the store, the bus, the master key and the operator token, and HAProxy and Prometheus
name every node; the Kubernetes manifests (deploy/k8s and deploy/k8s/cluster) run non-root with a
read-only root file system and no capabilities, probe /readyz and /healthz on the admin port, and
reference the Secret keys, volumes and ports that exist. Prints one line per problem and exits 1,
or prints a summary and exits 0.
"""

import json
import pathlib
import posixpath
import re
import sys
import urllib.parse

try:
    import yaml
except ImportError:
    sys.exit("deploy/check.py needs PyYAML (Debian: apt-get install python3-yaml)")

DEPLOY = pathlib.Path(__file__).resolve().parent
problems = []


def check(ok, what):
    if not ok:
        problems.append(what)


def load(relative):
    """All YAML documents of one file (a parse error is reported, not raised)."""
    path = DEPLOY / relative
    try:
        return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    except yaml.YAMLError as e:
        problems.append(f"{relative}: does not parse: {e}")
        return []


def one(relative):
    docs = load(relative)
    return docs[0] if docs else {}


def check_compose_prometheus_grafana():
    compose = one("docker-compose.yml")
    services = compose.get("services", {})
    check({"bunkerd", "prometheus", "grafana"} <= set(services), "compose: bunkerd, prometheus, grafana")
    bunkerd = services.get("bunkerd", {})
    ports = [str(p) for p in bunkerd.get("ports", [])]
    check("7447:7447" in ports, "compose: bunkerd publishes the relay port 7447")
    admin = [p for p in ports if "7448" in p]
    check(admin and all(p.startswith("127.0.0.1:") for p in admin),
          "compose: the admin port 7448 is published on 127.0.0.1 only")
    check("bunkerd-data:/data" in bunkerd.get("volumes", []), "compose: bunkerd keeps /data in a volume")

    prometheus = one("prometheus/prometheus.yml")
    check("alerts.yml" in prometheus.get("rule_files", []), "prometheus.yml loads alerts.yml")
    jobs = {j.get("job_name"): j for j in prometheus.get("scrape_configs", [])}
    targets = [t for c in jobs.get("bunkerd", {}).get("static_configs", []) for t in c.get("targets", [])]
    check(targets == ["bunkerd:7448"], "prometheus.yml: job bunkerd scrapes bunkerd:7448")
    check(jobs.get("bunkerd", {}).get("metrics_path", "/metrics") == "/metrics", "prometheus.yml: /metrics")
    mounts = services.get("prometheus", {}).get("volumes", [])
    for name in ("prometheus.yml", "alerts.yml"):
        check(f"./prometheus/{name}:/etc/prometheus/{name}:ro" in mounts, f"compose: prometheus mounts {name}")

    datasource = one("grafana/provisioning/datasources/prometheus.yml").get("datasources", [{}])[0]
    check(datasource.get("url") == "http://prometheus:9090", "grafana data source points at prometheus:9090")
    provider = one("grafana/provisioning/dashboards/bunkerd.yml").get("providers", [{}])[0]
    path = provider.get("options", {}).get("path")
    grafana_mounts = services.get("grafana", {}).get("volumes", [])
    check(f"./grafana/dashboards:{path}:ro" in grafana_mounts, "compose: grafana mounts the dashboards path")
    for kind in ("datasources", "dashboards"):
        check(f"./grafana/provisioning/{kind}:/etc/grafana/provisioning/{kind}:ro" in grafana_mounts,
              f"compose: grafana mounts provisioning/{kind}")

    dashboard = json.loads((DEPLOY / "grafana/dashboards/bunkerd.json").read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    check(variables.get("datasource", {}).get("current", {}).get("value") == datasource.get("uid"),
          "dashboard's default data source is the provisioned one")


def environment(service):
    """A compose service's environment as a dict (compose takes a mapping or KEY=VALUE items)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: None if v is None else str(v) for k, v in env.items()}


def published(service):
    """(host IP, host port, container port) of each port a compose service publishes; a missing
    host IP is "" (every interface)."""
    out = []
    for p in service.get("ports", []):
        if isinstance(p, dict):
            out.append((str(p.get("host_ip", "")), str(p.get("published", "")), str(p.get("target"))))
            continue
        parts = str(p).split("/")[0].rsplit(":", 2)
        out.append(tuple([""] * (3 - len(parts)) + parts))
    return out


def loopback(host_ip):
    return host_ip.startswith("127.") or host_ip in ("::1", "[::1]")


def mounts(service):
    """{container path: (source, read-only)} of a compose service's volumes."""
    out = {}
    for v in service.get("volumes", []):
        if isinstance(v, dict):
            out[v.get("target")] = (v.get("source"), bool(v.get("read_only")))
            continue
        parts = str(v).split(":")
        if len(parts) == 1:
            out[parts[0]] = (None, False)
        else:
            out[parts[1]] = (parts[0], len(parts) > 2 and "ro" in parts[2].split(","))
    return out


def mount_of(service, path):
    """(source, container path) of the mount of a compose service that holds `path`."""
    found = [(t, src) for t, (src, _) in mounts(service).items() if path.startswith(t.rstrip("/") + "/")]
    if not found:
        return None, None
    target, source = max(found, key=lambda f: len(f[0]))
    return source, target


def haproxy_seconds(value):
    """An HAProxy time value (default unit ms) in seconds."""
    m = re.fullmatch(r"(\d+)(us|ms|s|m|h|d)?", value)
    if not m:
        return 0
    return int(m[1]) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}[m[2] or "ms"]


def check_cluster_compose():
    """deploy/cluster: the nodes share what they must, and HAProxy and Prometheus name each of them."""
    compose = one("cluster/docker-compose.yml")
    services = compose.get("services", {})
    volumes = set(compose.get("volumes") or {})
    nodes = sorted(n for n in services if re.fullmatch(r"bunkerd-\d+", n))
    check(len(nodes) >= 2, "cluster compose: at least two bunkerd-N services")
    check({"postgres", "nats", "haproxy", "prometheus"} <= set(services),
          "cluster compose: postgres, nats, haproxy, prometheus")
    if not nodes:
        return

    # Only HAProxy's relay port may be public; admin ports and Prometheus stay on loopback.
    for name, service in services.items():
        for host_ip, _, port in published(service):
            check((name == "haproxy" and port == "7447") or loopback(host_ip),
                  f"cluster compose: {name} publishes port {port} on 127.0.0.1 only")
    check(any(port == "7447" and host == "7447" for _, host, port in published(services.get("haproxy", {}))),
          "cluster compose: haproxy publishes the relay port 7447")

    # Every node: the same store, bus, key and token.
    envs = {n: environment(services[n]) for n in nodes}
    shared = ("BUNKERD_STORE", "BUNKERD_STORE_PASSWORD_FILE", "BUNKERD_CLUSTER_BUS",
              "BUNKERD_MASTER_KEY_FILE", "BUNKERD_OPERATOR_TOKEN_FILE")
    for key in shared:
        values = {envs[n].get(key) for n in nodes}
        check(len(values) == 1 and None not in values, f"cluster compose: every node has the same {key}")
    env = envs[nodes[0]]
    store = urllib.parse.urlsplit(env.get("BUNKERD_STORE") or "")
    check(store.scheme in ("postgres", "postgresql") and store.hostname in services,
          "cluster compose: BUNKERD_STORE is a postgres:// URL of a compose service")
    bus = urllib.parse.urlsplit(env.get("BUNKERD_CLUSTER_BUS") or "")
    check(bus.scheme in ("nats", "tls") and bus.hostname in services,
          "cluster compose: BUNKERD_CLUSTER_BUS is a nats:// URL of a compose service")
    for dep in {store.hostname, bus.hostname} & set(services):
        check("healthcheck" in services[dep], f"cluster compose: {dep} has a health check")

    # The nodes' image is built (by one of the services) from deploy/Dockerfile.
    builds = [svc["build"] for svc in services.values()
              if svc.get("image") == services[nodes[0]].get("image") and isinstance(svc.get("build"), dict)]
    check(builds and all((DEPLOY / "cluster" / b.get("context", ".") / b.get("dockerfile", "Dockerfile")).resolve()
                         == DEPLOY / "Dockerfile" for b in builds),
          "cluster compose: the nodes' image is built from deploy/Dockerfile")

    def depends(name):
        d = services[name].get("depends_on")
        return d if isinstance(d, dict) else {}

    for n in nodes:
        node = services[n]
        check(not any(port == "7447" for _, _, port in published(node)),
              f"cluster compose: {n}: the relay is reached through haproxy only")
        check(node.get("read_only") is True and node.get("cap_drop") == ["ALL"]
              and "no-new-privileges:true" in node.get("security_opt", []),
              f"cluster compose: {n}: read-only, no capabilities, no-new-privileges")
        check(node.get("ulimits", {}).get("core") in (0, {"soft": 0, "hard": 0}),
              f"cluster compose: {n}: no core files")
        check("stop_grace_period" in node, f"cluster compose: {n}: a stop grace period for the drain")
        check(node.get("image") == services[nodes[0]].get("image"), f"cluster compose: {n}: the nodes' image")
        for dep in {store.hostname, bus.hostname} & set(services):
            check(depends(n).get(dep, {}).get("condition") == "service_healthy",
                  f"cluster compose: {n}: waits for {dep} to be healthy")

    # The key, the token and the database password: files in named volumes that every node
    # mounts, written by one one-shot service that the nodes wait for.
    writers_of_all = set()
    for key in ("BUNKERD_MASTER_KEY_FILE", "BUNKERD_OPERATOR_TOKEN_FILE", "BUNKERD_STORE_PASSWORD_FILE"):
        path = env.get(key) or ""
        sources = {mount_of(services[n], path)[0] for n in nodes}
        source = sources.pop() if len(sources) == 1 else None
        check(source in volumes, f"cluster compose: {key} is in a named volume every node mounts")
        relative = path[len(mount_of(services[nodes[0]], path)[1] or ""):]
        writers = [w for w, svc in services.items() if w not in nodes
                   and any(src == source and not ro for src, ro in mounts(svc).values())]
        check(len(writers) == 1, f"cluster compose: one service writes the volume of {key}")
        for w in writers:
            target = next(t for t, (src, _) in mounts(services[w]).items() if src == source)
            command = json.dumps(services[w].get("command", ""))
            check(target.rstrip("/") + relative in command, f"cluster compose: {w} writes {key} ({path})")
        writers_of_all.update(writers)
    for w in sorted(writers_of_all):
        check(services[w].get("read_only") is True and services[w].get("cap_drop") == ["ALL"]
              and set(services[w].get("cap_add", [])) <= {"CHOWN"},
              f"cluster compose: {w}: read-only, no capabilities but CAP_CHOWN")
        for n in nodes:
            check(depends(n).get(w, {}).get("condition") == "service_completed_successfully",
                  f"cluster compose: {n} starts after {w} completed")

    # PostgreSQL: the user, database and password the nodes use, and not the master key.
    postgres = services.get(store.hostname, {})
    pg_env = environment(postgres)
    check(pg_env.get("POSTGRES_USER") == store.username and pg_env.get("POSTGRES_DB") == store.path.lstrip("/"),
          "cluster compose: postgres creates the user and database of BUNKERD_STORE")
    password = env.get("BUNKERD_STORE_PASSWORD_FILE") or ""
    node_source, node_dir = mount_of(services[nodes[0]], password)
    pg_file = pg_env.get("POSTGRES_PASSWORD_FILE") or ""
    pg_source, pg_dir = mount_of(postgres, pg_file)
    check(node_source is not None and pg_source == node_source
          and pg_file[len(pg_dir or ""):] == password[len(node_dir or ""):],
          "cluster compose: postgres reads the password file the nodes read")
    key_volume = mount_of(services[nodes[0]], env.get("BUNKERD_MASTER_KEY_FILE") or "")[0]
    check(all(src != key_volume for src, _ in mounts(postgres).values()),
          "cluster compose: postgres does not mount the master key's volume")

    check_haproxy(services.get("haproxy", {}), nodes)
    check_cluster_prometheus(services.get("prometheus", {}), nodes)


def check_haproxy(service, nodes):
    check(mounts(service).get("/usr/local/etc/haproxy/haproxy.cfg", (None,))[0] == "./haproxy.cfg",
          "cluster compose: haproxy mounts ./haproxy.cfg")
    lines = [line.split("#")[0].split() for line in (DEPLOY / "cluster/haproxy.cfg").read_text().splitlines()]
    lines = [line for line in lines if line]
    text = "\n".join(" ".join(line) for line in lines)
    servers = [line for line in lines if line[0] == "server"]
    check(sorted(line[2].rsplit(":", 1)[0] for line in servers) == nodes,
          "haproxy.cfg: one server line per bunkerd-N service")
    for line in servers:
        port = line[line.index("port") + 1] if "port" in line[:-1] else None
        check(line[2].endswith(":7447") and "check" in line and port == "7448",
              f"haproxy.cfg: server {line[1]} forwards to 7447 and checks port 7448")
    check(any(line[0] == "bind" and line[1].endswith(":7447") for line in lines), "haproxy.cfg: binds 7447")
    for directive in ("mode tcp", "balance leastconn", "option httpchk GET /readyz",
                      "on-marked-down shutdown-sessions"):
        check(directive in text, f"haproxy.cfg: {directive}")
    timeouts = {line[1]: haproxy_seconds(line[2]) for line in lines if line[0] == "timeout" and len(line) > 2}
    for name in ("client", "server", "tunnel"):
        check(timeouts.get(name, 0) >= 3600, f"haproxy.cfg: timeout {name} of an hour or more (websockets)")


def check_cluster_prometheus(service, nodes):
    config = one("cluster/prometheus.yml")
    jobs = {j.get("job_name"): j for j in config.get("scrape_configs", [])}
    targets = [t for c in jobs.get("bunkerd", {}).get("static_configs", []) for t in c.get("targets", [])]
    check(sorted(targets) == [f"{n}:7448" for n in nodes],
          "cluster/prometheus.yml: job bunkerd scrapes every bunkerd-N on 7448")
    check(jobs.get("bunkerd", {}).get("metrics_path", "/metrics") == "/metrics", "cluster/prometheus.yml: /metrics")
    volumes = mounts(service)
    check(volumes.get("/etc/prometheus/prometheus.yml", (None,))[0] == "./prometheus.yml"
          and "--config.file=/etc/prometheus/prometheus.yml" in service.get("command", []),
          "cluster compose: prometheus runs with ./prometheus.yml")
    rules = config.get("rule_files", [])
    check(bool(rules), "cluster/prometheus.yml loads the alert rules")
    for rule in rules:
        # Relative to the configuration file, in the repository and in the container alike.
        here = (DEPLOY / "cluster" / rule).resolve()
        inside = posixpath.normpath(posixpath.join("/etc/prometheus", rule))
        source = volumes.get(inside, (None,))[0]
        check(here == (DEPLOY / "prometheus/alerts.yml") and source is not None
              and (DEPLOY / "cluster" / source).resolve() == here,
              f"cluster/prometheus.yml: {rule} is deploy/prometheus/alerts.yml here and in the container")


def containers_of(pod):
    return pod.get("initContainers", []) + pod.get("containers", [])


def load_kustomization(directory):
    """The manifests under deploy/<directory>, by (kind, name), the example Secret included."""
    manifests, listed = {}, []
    files = sorted((DEPLOY / directory).glob("*.yaml"))
    for path in files:
        for doc in load(f"{directory}/{path.name}"):
            if doc.get("kind") == "Kustomization":
                listed = doc.get("resources", [])
                for resource in listed:
                    check((DEPLOY / directory / resource).is_file(), f"{directory}/kustomization: {resource} exists")
                check("secret.example.yaml" not in listed,
                      f"{directory}/kustomization never applies the example Secret")
                continue
            check(all(k in doc for k in ("apiVersion", "kind", "metadata")), f"{directory}/{path.name}: a manifest")
            manifests[(doc.get("kind"), doc.get("metadata", {}).get("name"))] = doc
    for path in files:
        if path.name not in ("kustomization.yaml", "secret.example.yaml"):
            check(path.name in listed, f"{directory}/kustomization lists {path.name}")
    return manifests


def check_pod(where, pod, manifests, claims=()):
    """What the single-node and the clustered pods have in common (`claims`: the names of volume
    claim templates). Returns the bunkerd container, its environment by name, the pod's volumes
    by name and the container's mounts by volume."""
    pod_security = pod.get("securityContext", {})
    check(pod_security.get("runAsNonRoot") is True and pod_security.get("runAsUser") == 10001,
          f"{where}: runs as non-root uid 10001")
    volumes = {v.get("name"): v for v in pod.get("volumes", [])}
    for c in containers_of(pod):
        sc = c.get("securityContext", {})
        name = f"{where}: container {c.get('name')}"
        check(sc.get("readOnlyRootFilesystem") is True, f"{name}: read-only root")
        check(sc.get("allowPrivilegeEscalation") is False, f"{name}: no privilege escalation")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"{name}: drops ALL capabilities")
        check(all(m.get("name") in volumes or m.get("name") in claims for m in c.get("volumeMounts", [])),
              f"{name}: mounts volumes that exist")
    main = next((c for c in pod.get("containers", []) if c.get("name") == "bunkerd"), {})
    port_names = {p.get("name"): p.get("containerPort") for p in main.get("ports", [])}
    check(port_names == {"relay": 7447, "admin": 7448}, f"{where}: bunkerd container ports relay 7447, admin 7448")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = main.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") == "admin", f"{where}: bunkerd {probe} {path} on admin")

    secret = manifests.get(("Secret", "bunkerd-secrets"), {})
    secret_keys = set(secret.get("data", {})) | set(secret.get("stringData", {}))
    env = {e.get("name"): e for e in main.get("env", [])}
    for name, e in env.items():
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            check(ref.get("name") == "bunkerd-secrets" and ref.get("key") in secret_keys,
                  f"{where}: {name} comes from a key of the example Secret")
    check("secretKeyRef" in env.get("BUNKERD_OPERATOR_TOKEN", {}).get("valueFrom", {}),
          f"{where}: BUNKERD_OPERATOR_TOKEN comes from the Secret")
    for name, volume in volumes.items():
        if "secret" in volume:
            items = {i.get("key") for i in volume["secret"].get("items", [])}
            check(volume["secret"].get("secretName") == "bunkerd-secrets" and items and items <= secret_keys,
                  f"{where}: volume {name} mounts keys of the example Secret")
    mounts = {m.get("name"): m.get("mountPath") for m in main.get("volumeMounts", [])}
    # A Secret volume is group-readable under fsGroup, and bunkerd refuses such a key file.
    check(not any("master.key" in {i.get("key") for i in volumes.get(m, {}).get("secret", {}).get("items", [])}
                  for m in mounts),
          f"{where}: the bunkerd container does not mount the master key's Secret")
    key_file = env.get("BUNKERD_MASTER_KEY_FILE", {}).get("value", "")
    copies = [c.get("command", []) for c in pod.get("initContainers", [])]
    check(any(cmd and cmd[-1] == key_file for cmd in copies), f"{where}: an init container writes BUNKERD_MASTER_KEY_FILE")
    check(volumes.get("run", {}).get("emptyDir", {}).get("medium") == "Memory"
          and key_file.startswith(mounts.get("run", "?") + "/"),
          f"{where}: the master key copy lives in a memory-backed volume")
    return main, env, volumes, mounts


def check_services(where, manifests, pod_labels):
    """The relay and admin Services, the ServiceMonitor and the Ingress."""
    for (kind, name), doc in manifests.items():
        if kind == "Service":
            selector = doc.get("spec", {}).get("selector", {})
            check(selector and all(pod_labels.get(k) == v for k, v in selector.items()),
                  f"{where}: Service {name} selects the bunkerd pods")
    admin = manifests.get(("Service", "bunkerd-admin"), {}).get("spec", {})
    check(admin.get("type", "ClusterIP") == "ClusterIP", f"{where}: admin Service is ClusterIP")
    check([p.get("name") for p in admin.get("ports", [])] == ["admin"], f"{where}: admin Service exposes the admin port only")
    admin_labels = manifests.get(("Service", "bunkerd-admin"), {}).get("metadata", {}).get("labels", {})
    monitor = manifests.get(("ServiceMonitor", "bunkerd"), {}).get("spec", {})
    selector = monitor.get("selector", {}).get("matchLabels", {})
    check(selector and all(admin_labels.get(k) == v for k, v in selector.items()),
          f"{where}: ServiceMonitor selects the admin Service")
    endpoints = monitor.get("endpoints", [{}])
    check(endpoints[0].get("port") == "admin" and endpoints[0].get("path") == "/metrics",
          f"{where}: ServiceMonitor scrapes admin /metrics")
    check(admin_labels.get(monitor.get("jobLabel")) == "bunkerd", f"{where}: ServiceMonitor's job label is bunkerd")
    ingress = manifests.get(("Ingress", "bunkerd-relay"), {}).get("spec", {})
    backends = [p["backend"]["service"]["name"] for r in ingress.get("rules", []) for p in r["http"]["paths"]]
    check(backends == ["bunkerd-relay"] and ("Service", "bunkerd-relay") in manifests,
          f"{where}: the Ingress routes to the relay Service")


def check_kubernetes():
    """deploy/k8s: one replica on RocksDB."""
    manifests = load_kustomization("k8s")
    sts = manifests.get(("StatefulSet", "bunkerd"), {})
    spec = sts.get("spec", {})
    template = spec.get("template", {})
    check(spec.get("replicas") == 1, "statefulset: one replica")
    check(("Service", spec.get("serviceName")) in manifests, "statefulset: its serviceName exists")
    claims = [t.get("metadata", {}).get("name") for t in spec.get("volumeClaimTemplates", [])]
    _, _, _, mounts = check_pod("statefulset", template.get("spec", {}), manifests, claims)
    check(mounts.get("data") == "/data" and "data" in claims, "statefulset: /data on the volume claim")
    check_services("k8s", manifests, template.get("metadata", {}).get("labels", {}))
    return len(manifests)


def check_kubernetes_cluster():
    """deploy/k8s/cluster: interchangeable replicas on PostgreSQL and NATS."""
    manifests = load_kustomization("k8s/cluster")
    check(not any(kind == "StatefulSet" for kind, _ in manifests), "k8s/cluster: no StatefulSet")
    deployment = manifests.get(("Deployment", "bunkerd"), {})
    spec = deployment.get("spec", {})
    template = spec.get("template", {})
    pod_labels = template.get("metadata", {}).get("labels", {})
    replicas = spec.get("replicas", 1)
    check(replicas >= 3, "k8s/cluster deployment: three replicas or more")
    _, env, volumes, mounts = check_pod("k8s/cluster deployment", template.get("spec", {}), manifests)
    for key in ("BUNKERD_STORE", "BUNKERD_CLUSTER_BUS"):
        check("secretKeyRef" in env.get(key, {}).get("valueFrom", {}), f"k8s/cluster deployment: {key} comes from the Secret")
    password = env.get("BUNKERD_STORE_PASSWORD_FILE", {}).get("value", "")
    files = {f"{path}/{i.get('path')}" for name, path in mounts.items()
             for i in volumes.get(name, {}).get("secret", {}).get("items", [])}
    check(password in files, "k8s/cluster deployment: BUNKERD_STORE_PASSWORD_FILE is a mounted key of the Secret")
    check(mounts.get("data") == "/data" and "emptyDir" in volumes.get("data", {}),
          "k8s/cluster deployment: /data on an emptyDir (the store is PostgreSQL)")
    budget = manifests.get(("PodDisruptionBudget", "bunkerd"), {}).get("spec", {})
    check(isinstance(budget.get("minAvailable"), int) and 2 <= budget["minAvailable"] < replicas,
          "k8s/cluster: the PodDisruptionBudget keeps two pods or more and lets one go")
    selector = budget.get("selector", {}).get("matchLabels", {})
    check(selector and all(pod_labels.get(k) == v for k, v in selector.items()),
          "k8s/cluster: the PodDisruptionBudget selects the bunkerd pods")
    check_services("k8s/cluster", manifests, pod_labels)
    return len(manifests)


def main():
    check_compose_prometheus_grafana()
    check_cluster_compose()
    count = check_kubernetes()
    cluster_count = check_kubernetes_cluster()
    for name in ("prometheus/alerts.yml", "prometheus/alerts.test.yml"):
        check(bool(load(name)), f"{name} parses")
    for p in dict.fromkeys(problems):
        print(f"deploy check: {p}")
    if problems:
        return 1
    print(f"deploy check: ok (compose, cluster compose, HAProxy, Prometheus, Grafana, {count} Kubernetes "
          f"manifests, {cluster_count} clustered)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
