#!/usr/bin/env python3
"""Checks the deploy files: every YAML file parses, and the files agree with each other.

Run from anywhere: `python3 deploy/check.py` (needs PyYAML: Debian's python3-yaml, which comes with
clang's recommended packages). tests/e2e/deploy.rs runs it. It checks what a typo would silently
break and no schema catches: the compose file publishes the admin port on loopback only and mounts
what prometheus.yml and the Grafana provisioning name; the Kubernetes manifests run non-root with a
read-only root file system and no capabilities, probe /readyz and /healthz on the admin port, and
reference the Secret keys, volumes and ports that exist. Prints one line per problem and exits 1,
or prints a summary and exits 0.
"""

import json
import pathlib
import sys

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


def containers_of(pod):
    return pod.get("initContainers", []) + pod.get("containers", [])


def check_kubernetes():
    manifests = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in load(f"k8s/{path.name}"):
            if doc.get("kind") == "Kustomization":
                for resource in doc.get("resources", []):
                    check((DEPLOY / "k8s" / resource).is_file(), f"kustomization: {resource} exists")
                check("secret.example.yaml" not in doc.get("resources", []),
                      "kustomization never applies the example Secret")
                continue
            check(all(k in doc for k in ("apiVersion", "kind", "metadata")), f"{path.name}: a manifest")
            manifests[(doc.get("kind"), doc.get("metadata", {}).get("name"))] = doc

    sts = manifests.get(("StatefulSet", "bunkerd"), {})
    spec = sts.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    check(spec.get("replicas") == 1, "statefulset: one replica")
    check(("Service", spec.get("serviceName")) in manifests, "statefulset: its serviceName exists")
    pod_security = pod.get("securityContext", {})
    check(pod_security.get("runAsNonRoot") is True and pod_security.get("runAsUser") == 10001,
          "statefulset: runs as non-root uid 10001")
    for c in containers_of(pod):
        sc = c.get("securityContext", {})
        check(sc.get("readOnlyRootFilesystem") is True, f"container {c.get('name')}: read-only root")
        check(sc.get("allowPrivilegeEscalation") is False, f"container {c.get('name')}: no privilege escalation")
        check(sc.get("capabilities", {}).get("drop") == ["ALL"], f"container {c.get('name')}: drops ALL capabilities")
    main = next((c for c in pod.get("containers", []) if c.get("name") == "bunkerd"), {})
    port_names = {p.get("name"): p.get("containerPort") for p in main.get("ports", [])}
    check(port_names == {"relay": 7447, "admin": 7448}, "bunkerd container: ports relay 7447, admin 7448")
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = main.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path and get.get("port") == "admin", f"bunkerd container: {probe} {path} on admin")
    mounts = {m.get("name"): m.get("mountPath") for m in main.get("volumeMounts", [])}
    claims = [t.get("metadata", {}).get("name") for t in spec.get("volumeClaimTemplates", [])]
    check(mounts.get("data") == "/data" and "data" in claims, "bunkerd container: /data on the volume claim")

    secret = manifests.get(("Secret", "bunkerd-secrets"), {})
    secret_keys = set(secret.get("data", {})) | set(secret.get("stringData", {}))
    env = {e.get("name"): e for e in main.get("env", [])}
    ref = env.get("BUNKERD_OPERATOR_TOKEN", {}).get("valueFrom", {}).get("secretKeyRef", {})
    check(ref.get("name") == "bunkerd-secrets" and ref.get("key") in secret_keys,
          "BUNKERD_OPERATOR_TOKEN comes from a key of the example Secret")
    volumes = {v.get("name"): v for v in pod.get("volumes", [])}
    secret_volume = volumes.get("secrets", {}).get("secret", {})
    check(secret_volume.get("secretName") == "bunkerd-secrets"
          and {i.get("key") for i in secret_volume.get("items", [])} <= secret_keys,
          "the secrets volume mounts keys of the example Secret")
    key_file = env.get("BUNKERD_MASTER_KEY_FILE", {}).get("value", "")
    copies = [c.get("command", []) for c in pod.get("initContainers", [])]
    check(any(cmd and cmd[-1] == key_file for cmd in copies), "an init container writes BUNKERD_MASTER_KEY_FILE")
    check(volumes.get("run", {}).get("emptyDir", {}).get("medium") == "Memory"
          and key_file.startswith(mounts.get("run", "?") + "/"),
          "the master key copy lives in a memory-backed volume")

    admin = manifests.get(("Service", "bunkerd-admin"), {}).get("spec", {})
    check(admin.get("type", "ClusterIP") == "ClusterIP", "admin Service is ClusterIP")
    check([p.get("name") for p in admin.get("ports", [])] == ["admin"], "admin Service exposes the admin port only")
    admin_labels = manifests.get(("Service", "bunkerd-admin"), {}).get("metadata", {}).get("labels", {})
    monitor = manifests.get(("ServiceMonitor", "bunkerd"), {}).get("spec", {})
    selector = monitor.get("selector", {}).get("matchLabels", {})
    check(selector and all(admin_labels.get(k) == v for k, v in selector.items()),
          "ServiceMonitor selects the admin Service")
    endpoints = monitor.get("endpoints", [{}])
    check(endpoints[0].get("port") == "admin" and endpoints[0].get("path") == "/metrics",
          "ServiceMonitor scrapes admin /metrics")
    check(admin_labels.get(monitor.get("jobLabel")) == "bunkerd", "ServiceMonitor's job label is bunkerd")
    ingress = manifests.get(("Ingress", "bunkerd-relay"), {}).get("spec", {})
    backends = [p["backend"]["service"]["name"] for r in ingress.get("rules", []) for p in r["http"]["paths"]]
    check(backends == ["bunkerd-relay"] and ("Service", "bunkerd-relay") in manifests,
          "the Ingress routes to the relay Service")
    return len(manifests)


def main():
    check_compose_prometheus_grafana()
    count = check_kubernetes()
    for name in ("prometheus/alerts.yml", "prometheus/alerts.test.yml"):
        check(bool(load(name)), f"{name} parses")
    for p in problems:
        print(f"deploy check: {p}")
    if problems:
        return 1
    print(f"deploy check: ok (compose, Prometheus, Grafana, {count} Kubernetes manifests)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
