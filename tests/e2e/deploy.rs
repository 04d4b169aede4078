//! Deployment files: the files under `deploy/` agree with bunkerd and with each other.
//!
//! - `promtool` (Debian's `prometheus` package; `.ci/run` installs it) checks the alert rules and
//!   the Prometheus configuration, runs the rules' unit tests (`deploy/prometheus/alerts.test.yml`),
//!   and parses every PromQL expression of the Grafana dashboard.
//! - A real bunkerd, after one request of each kind, exports every metric that an alert or a
//!   dashboard panel queries (histogram series `_bucket`/`_sum`/`_count` count as their base name;
//!   `up` is Prometheus's own).
//! - `deploy/check.py` parses the compose file, the Prometheus and Grafana files and the Kubernetes
//!   manifests as YAML and checks that they reference each other correctly (ports, mounts, Secret
//!   keys, probes). It needs python3 with PyYAML; without any python3 that part is skipped with a
//!   note on stderr.

use crate::support::raw::{pk, secret_of, RawClient, Transport};
use crate::support::TestServer;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use nostr_connect::prelude::Timestamp;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(relative: &str) -> String {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Runs `promtool args…` from the workspace root and asserts it succeeds; returns its stdout.
#[track_caller]
fn promtool(args: &[&str]) -> String {
    let out = match Command::new("promtool")
        .args(args)
        .current_dir(workspace_root())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not installed: it comes with Debian's `prometheus` package \
             (apt-get install prometheus), which .ci/run installs"
        ),
        Err(e) => panic!("promtool cannot run: {e}"),
    };
    assert!(
        out.status.success(),
        "promtool {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `expr` of every rule in a Prometheus rules file, single-line or block scalar (`expr: |`),
/// read without a YAML library: a block is every following line indented deeper than `expr:`.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    let mut exprs = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(value) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            let block: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || indent(l) > indent(line))
                .map(|l| l.trim())
                .collect();
            exprs.push(block.join(" ").trim().to_owned());
        } else {
            exprs.push(value.to_owned());
        }
    }
    exprs
}

/// Every `expr` of the dashboard's panels (at any depth).
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("expr", Value::String(expr)) => out.push(expr.clone()),
                        _ => walk(value, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// The dashboard's template variables by name.
fn dashboard_variables(dashboard: &Value) -> BTreeMap<String, Value> {
    dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .map(|v| (v["name"].as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

/// The metric names a PromQL (or Grafana `label_values(…)`) expression reads: identifiers outside
/// quoted strings that start with `bunkerd_` or `process_`, or are `up`. Grafana variables (`$x`)
/// and label names are neither.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            i += 1;
            while i < chars.len() && chars[i] != c {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let variable = start > 0 && chars[start - 1] == '$';
            let metric =
                word.starts_with("bunkerd_") || word.starts_with("process_") || word == "up";
            if metric && !variable {
                names.insert(word);
            }
        } else {
            i += 1;
        }
    }
    names
}

/// Metric family name → type, from a scrape's `# TYPE` lines.
fn exported_families(scrape: &str) -> BTreeMap<String, String> {
    scrape
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_owned(), kind.trim().to_owned()))
        .collect()
}

/// Whether `name` is a series of an exported family: the family itself, or a histogram's (or
/// summary's) `_bucket`, `_sum` or `_count` series.
fn is_exported(name: &str, families: &BTreeMap<String, String>) -> bool {
    families.contains_key(name)
        || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix).is_some_and(|base| {
                families
                    .get(base)
                    .is_some_and(|kind| kind == "histogram" || kind == "summary")
            })
        })
}

/// Every metric the alert rules and the dashboard read, each with where it is used.
fn metrics_used() -> BTreeMap<String, BTreeSet<&'static str>> {
    let alerts = rule_exprs(&read("deploy/prometheus/alerts.yml"));
    let alert_count = read("deploy/prometheus/alerts.yml")
        .lines()
        .filter(|l| l.trim_start().starts_with("- alert:"))
        .count();
    assert_eq!(alerts.len(), alert_count, "one expr per alert: {alerts:#?}");
    let dashboard: Value =
        serde_json::from_str(&read("deploy/grafana/dashboards/bunkerd.json")).unwrap();
    let mut panels = dashboard_exprs(&dashboard);
    assert!(panels.len() >= 10, "the dashboard's exprs: {panels:#?}");
    for variable in dashboard_variables(&dashboard).values() {
        if let Some(definition) = variable["definition"].as_str() {
            panels.push(definition.to_owned());
        }
    }
    let mut used: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for (source, exprs) in [("alerts.yml", alerts), ("bunkerd.json", panels)] {
        for expr in exprs {
            let names = metric_names(&expr);
            assert!(!names.is_empty(), "{source}: no metric found in {expr:?}");
            for name in names {
                used.entry(name).or_default().insert(source);
            }
        }
    }
    used
}

#[test]
fn alert_rules_and_prometheus_config_pass_promtool_and_the_rule_tests() {
    let rules = promtool(&["check", "rules", "deploy/prometheus/alerts.yml"]);
    assert!(rules.contains("SUCCESS: 8 rules found"), "{rules}");
    promtool(&["check", "config", "deploy/prometheus/prometheus.yml"]);
    promtool(&["check", "config", "deploy/cluster/prometheus.yml"]);
    let tests = promtool(&["test", "rules", "deploy/prometheus/alerts.test.yml"]);
    assert!(tests.contains("SUCCESS"), "{tests}");
}

#[test]
fn every_dashboard_expression_is_valid_promql() {
    let dashboard: Value =
        serde_json::from_str(&read("deploy/grafana/dashboards/bunkerd.json")).unwrap();
    let variables = dashboard_variables(&dashboard);
    assert_eq!(
        variables["tenant"]["definition"],
        "label_values(bunkerd_requests_total, tenant)"
    );
    assert_eq!(variables["datasource"]["query"], "prometheus");
    // Each expression becomes a recording rule, with Grafana's variables replaced by values of the
    // kind Grafana substitutes, so that promtool parses it as PromQL.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, expr) in dashboard_exprs(&dashboard).iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "1m")
            .replace("$tenant", ".*");
        assert!(
            !expr.contains('$'),
            "a variable the test does not substitute: {expr}"
        );
        // A JSON string is a valid YAML double-quoted scalar.
        let quoted = serde_json::to_string(&expr).unwrap();
        rules.push_str(&format!(
            "      - record: dashboard:expr_{i}\n        expr: {quoted}\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dashboard-rules.yml");
    std::fs::write(&path, rules).unwrap();
    promtool(&["check", "rules", path.to_str().unwrap()]);
}

#[test]
fn metric_names_are_read_from_promql() {
    let names = metric_names(
        r#"sum by (le) (rate(bunkerd_request_duration_seconds_bucket{tenant=~"$tenant", x="bunkerd_no"}[$__rate_interval])) / on (job) up and process_open_fds"#,
    );
    let expected = [
        "bunkerd_request_duration_seconds_bucket",
        "process_open_fds",
        "up",
    ];
    assert_eq!(names, expected.iter().map(|s| s.to_string()).collect());
    let exprs = rule_exprs(
        "- alert: A\n  expr: |\n    a_total\n      > 1\n  for: 1m\n- alert: B\n  expr: up == 0\n",
    );
    assert_eq!(exprs, ["a_total > 1", "up == 0"]);
}

/// `GET path` on the admin listener: status and body text.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", addr.to_string())
        .body(Empty::<Bytes>::new())
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Sends `ping` requests until the tenant's rate limit refuses one (at most 20).
async fn until_rate_limited(client: &mut RawClient, remote: &nostr_connect::prelude::PublicKey) {
    for n in 0..20 {
        let request = json!({"id": format!("burst-{n}"), "method": "ping", "params": []});
        let event = client.request_event(remote, &request.to_string(), Transport::Nip44);
        let (accepted, message) = client.publish(&event).await;
        if !accepted && message.starts_with("rate-limited:") {
            return;
        }
    }
    panic!("20 requests at a 1/s limit with a burst of 1, and none was rate-limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_alerts_and_the_dashboard_use_is_exported() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let mut client = RawClient::connect(server.server.relay_addr).await;
    // A session (connect), an answered request, a policy refusal (a NIP-47 wallet request, kind
    // 23194, is refused by default).
    let ack = client
        .request(
            &remote,
            "connect",
            vec![
                user.remote_signer_pubkey.clone(),
                secret_of(&user.bunker_uri),
            ],
            Transport::Nip44,
        )
        .await;
    assert_eq!(ack["result"], "ack");
    let now = Timestamp::now().as_secs();
    for kind in [1, 23194] {
        let template = json!({"kind": kind, "content": "m", "tags": [], "created_at": now});
        client
            .request(
                &remote,
                "sign_event",
                vec![template.to_string()],
                Transport::Nip44,
            )
            .await;
    }
    // Relay refusals: blocked, invalid, duplicate.
    crate::metrics::relay_refusals(&mut client, &remote).await;
    // A rate-limited request: the tenant's limit lowered to 1 request per second.
    let limits = json!({"limits": {"requests_per_sec": 1, "burst": 1}});
    server
        .admin()
        .patch_ok(&format!("/v1/tenants/{}", user.tenant), limits)
        .await;
    until_rate_limited(&mut client, &remote).await;

    let (status, scrape) = get(server.server.admin_addr, "/metrics").await;
    assert_eq!(status, 200, "GET /metrics on the admin listener: {scrape}");
    let families = exported_families(&scrape);
    let missing: Vec<String> = metrics_used()
        .into_iter()
        .filter(|(name, _)| name != "up" && !is_exported(name, &families))
        // The PostgreSQL engine leaves the database's size to PostgreSQL's own monitoring.
        .filter(|(name, _)| !(crate::support::on_postgres() && name == "bunkerd_store_size_bytes"))
        .map(|(name, used_in)| format!("{name} (used in {used_in:?})"))
        .collect();
    assert!(
        missing.is_empty(),
        "used by deploy/ but not exported by bunkerd: {missing:#?}\nexported: {:?}",
        families.keys().collect::<Vec<_>>()
    );
}

/// Runs `python args…` from the workspace root.
fn python(python: &str, args: &[&str]) -> std::io::Result<Output> {
    Command::new(python)
        .args(args)
        .current_dir(workspace_root())
        .output()
}

#[test]
fn compose_prometheus_grafana_and_kubernetes_files_parse_and_agree() {
    // pyenv's python3 may lack PyYAML where Debian's /usr/bin/python3 has python3-yaml.
    let candidates = ["python3", "/usr/bin/python3"];
    let runnable: Vec<&str> = candidates
        .into_iter()
        .filter(|p| python(p, &["-c", "import yaml"]).is_ok_and(|o| o.status.success()))
        .collect();
    let Some(python3) = runnable.first() else {
        let any_python = candidates.iter().any(|p| python(p, &["--version"]).is_ok());
        assert!(
            !any_python,
            "python3 is installed but has no PyYAML: install Debian's python3-yaml"
        );
        eprintln!(
            "skipped: no python3, so deploy/check.py (YAML parse and cross-checks) did not run"
        );
        return;
    };
    let out = python(python3, &["deploy/check.py"]).expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "deploy/check.py failed:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("deploy check: ok"), "{stdout}");
}
