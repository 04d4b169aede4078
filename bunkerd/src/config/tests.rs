//! Unit tests of the configuration: precedence (flags > file > defaults) for every key, flag and
//! key names, the file's errors, the operator token sources, and each check of
//! [`Config::validate`].

use super::*;
use crate::sched::IoPolicy;
use clap::Parser;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The annotated example shipped in `deploy/`.
const EXAMPLE: &str = include_str!("../../../deploy/bunkerd.example.toml");

/// Sets one key of a layer to a value picked by `n` (1 or 2).
type Setter = fn(&mut Settings, u8);
/// Reads that key's effective value back from a [`Config`], as text.
type Getter = fn(&Config) -> String;

/// Every key: its name, how to set it, how to read it, and its default as the getter renders it.
fn keys() -> Vec<(&'static str, Setter, Getter, String)> {
    let d = Config::for_data_dir(DEFAULT_DATA_DIR);
    vec![
        (
            "data_dir",
            |s, n| s.data_dir = Some(format!("/d{n}").into()),
            |c| c.data_dir.display().to_string(),
            "./data".into(),
        ),
        (
            "store",
            |s, n| s.store = Some(format!("postgres://b:p{n}@db{n}/b").parse().unwrap()),
            |c| format!("{:?}", c.store),
            "None".into(),
        ),
        (
            "store_password_file",
            |s, n| s.store_password_file = Some(format!("/p{n}").into()),
            |c| format!("{:?}", c.store_password_file),
            "None".into(),
        ),
        (
            "store_pool_size",
            |s, n| s.store_pool_size = Some(n.into()),
            |c| c.store_pool_size.to_string(),
            "16".into(),
        ),
        (
            "cluster_bus",
            |s, n| s.cluster_bus = Some(format!("nats://u:p{n}@bus{n}:4222").parse().unwrap()),
            |c| format!("{:?}", c.cluster_bus),
            "None".into(),
        ),
        (
            "listen",
            |s, n| s.listen = Some(format!("127.0.0.1:10{n}").parse().unwrap()),
            |c| c.listen.to_string(),
            d.listen.to_string(),
        ),
        (
            "admin_listen",
            |s, n| s.admin_listen = Some(format!("127.0.0.1:20{n}").parse().unwrap()),
            |c| c.admin_listen.to_string(),
            d.admin_listen.to_string(),
        ),
        (
            "public_url",
            |s, n| s.public_url = Some(format!("wss://r{n}.example")),
            |c| format!("{:?}", c.public_url),
            "None".into(),
        ),
        (
            "admin_public_url",
            |s, n| s.admin_public_url = Some(format!("https://a{n}.example")),
            |c| format!("{:?}", c.admin_public_url),
            "None".into(),
        ),
        (
            "nip49_max_log_n",
            |s, n| s.nip49_max_log_n = Some(n + 10),
            |c| c.nip49_max_log_n.to_string(),
            "18".into(),
        ),
        (
            "admin_auth_failure_burst",
            |s, n| s.admin_auth_failure_burst = Some(n.into()),
            |c| c.admin_auth_failure_burst.to_string(),
            "20".into(),
        ),
        (
            "admin_auth_failures_per_min",
            |s, n| s.admin_auth_failures_per_min = Some(n.into()),
            |c| c.admin_auth_failures_per_min.to_string(),
            "10".into(),
        ),
        (
            "master_key_file",
            |s, n| s.master_key_file = Some(format!("/k{n}").into()),
            |c| format!("{:?}", c.master_key_file),
            "None".into(),
        ),
        (
            "master_key",
            |s, n| s.master_key = Some(format!("transit+http://127.0.0.1:{n}/transit/k")),
            |c| format!("{:?}", c.master_key),
            "None".into(),
        ),
        (
            "master_key_credentials_file",
            |s, n| s.master_key_credentials_file = Some(format!("/c{n}").into()),
            |c| format!("{:?}", c.master_key_credentials_file),
            "None".into(),
        ),
        (
            "workers",
            |s, n| s.workers = Some(n.into()),
            |c| c.workers.to_string(),
            "0".into(),
        ),
        (
            "io_policy",
            |s, n| {
                s.io_policy = Some(if n == 1 {
                    IoPolicy::Normal
                } else {
                    IoPolicy::Batch
                })
            },
            |c| format!("{:?}", c.io_policy),
            "Batch".into(),
        ),
        (
            "queue_capacity",
            |s, n| s.queue_capacity = Some(n.into()),
            |c| c.queue_capacity.to_string(),
            "4096".into(),
        ),
        (
            "tenant_queue_capacity",
            |s, n| s.tenant_queue_capacity = Some(n.into()),
            |c| c.tenant_queue_capacity.to_string(),
            "1024".into(),
        ),
        (
            "real_ip_header",
            |s, n| s.real_ip_header = Some(format!("x-real-ip-{n}")),
            |c| format!("{:?}", c.real_ip_header),
            "None".into(),
        ),
        (
            "shutdown_grace_secs",
            |s, n| s.shutdown_grace_secs = Some(n.into()),
            |c| c.shutdown_grace.as_secs().to_string(),
            "10".into(),
        ),
        (
            "log",
            |s, n| s.log = Some(format!("debug{n}")),
            |c| c.log.clone(),
            "info".into(),
        ),
        (
            "log_format",
            |s, n| {
                s.log_format = Some(if n == 1 {
                    LogFormat::Json
                } else {
                    LogFormat::Text
                })
            },
            |c| format!("{:?}", c.log_format),
            "Text".into(),
        ),
        (
            "approval_ttl_secs",
            |s, n| s.approval_ttl_secs = Some(n.into()),
            |c| c.approval_ttl_secs.to_string(),
            "600".into(),
        ),
        (
            "foreign_relays_max",
            |s, n| s.foreign_relays_max = Some(n.into()),
            |c| c.foreign.max_relays.to_string(),
            "64".into(),
        ),
        (
            "foreign_relays_per_tenant",
            |s, n| s.foreign_relays_per_tenant = Some(n.into()),
            |c| c.foreign.max_relays_per_tenant.to_string(),
            "8".into(),
        ),
        (
            "foreign_sessions_per_tenant",
            |s, n| s.foreign_sessions_per_tenant = Some(n.into()),
            |c| c.foreign.max_sessions_per_tenant.to_string(),
            "1000".into(),
        ),
        (
            "foreign_relays_ca_file",
            |s, n| s.foreign_relays_ca_file = Some(format!("/ca{n}.pem").into()),
            |c| format!("{:?}", c.foreign.ca_file),
            "None".into(),
        ),
        (
            "foreign_relays_allow_private",
            |s, n| s.foreign_relays_allow_private = Some(n == 1),
            |c| c.foreign.allow_private.to_string(),
            "false".into(),
        ),
        (
            "limits.max_subscriptions",
            |s, n| s.limits.max_subscriptions = Some(n.into()),
            |c| c.limits.max_subscriptions.to_string(),
            "32".into(),
        ),
        (
            "limits.max_filters",
            |s, n| s.limits.max_filters = Some(n.into()),
            |c| c.limits.max_filters.to_string(),
            "10".into(),
        ),
        (
            "limits.events_per_sec",
            |s, n| s.limits.events_per_sec = Some(n.into()),
            |c| c.limits.events_per_sec.to_string(),
            "100".into(),
        ),
        (
            "limits.events_burst",
            |s, n| s.limits.events_burst = Some(n.into()),
            |c| c.limits.events_burst.to_string(),
            "200".into(),
        ),
        (
            "limits.max_connections",
            |s, n| s.limits.max_connections = Some(n.into()),
            |c| c.limits.max_connections.to_string(),
            "16384".into(),
        ),
        (
            "limits.max_connections_per_ip",
            |s, n| s.limits.max_connections_per_ip = Some(n.into()),
            |c| c.limits.max_connections_per_ip.to_string(),
            "256".into(),
        ),
        (
            "limits.max_subscriptions_per_ip",
            |s, n| s.limits.max_subscriptions_per_ip = Some(n.into()),
            |c| c.limits.max_subscriptions_per_ip.to_string(),
            "1024".into(),
        ),
        (
            "limits.ip_events_per_sec",
            |s, n| s.limits.ip_events_per_sec = Some(n.into()),
            |c| c.limits.ip_events_per_sec.to_string(),
            "1000".into(),
        ),
        (
            "limits.ip_events_burst",
            |s, n| s.limits.ip_events_burst = Some(n.into()),
            |c| c.limits.ip_events_burst.to_string(),
            "2000".into(),
        ),
        (
            "limits.tenant_requests_per_sec",
            |s, n| s.limits.tenant_requests_per_sec = Some(n.into()),
            |c| c.limits.tenant_requests_per_sec.to_string(),
            "1000".into(),
        ),
        (
            "limits.tenant_burst",
            |s, n| s.limits.tenant_burst = Some(n.into()),
            |c| c.limits.tenant_burst.to_string(),
            "2000".into(),
        ),
        (
            "limits.created_at_window_secs",
            |s, n| s.limits.created_at_window_secs = Some(n.into()),
            |c| c.limits.created_at_window_secs.to_string(),
            "600".into(),
        ),
        (
            "limits.rate_limited_demotion_secs",
            |s, n| s.limits.rate_limited_demotion_secs = Some(n.into()),
            |c| c.limits.rate_limited_demotion_secs.to_string(),
            "10".into(),
        ),
        (
            "limits.unpaired_requests_per_sec",
            |s, n| s.limits.unpaired_requests_per_sec = Some(n.into()),
            |c| c.limits.unpaired_requests_per_sec.to_string(),
            "100".into(),
        ),
        (
            "limits.write_timeout_secs",
            |s, n| s.limits.write_timeout_secs = Some(n.into()),
            |c| c.limits.write_timeout_secs.to_string(),
            "30".into(),
        ),
        (
            "limits.outbound_bytes_per_connection",
            |s, n| s.limits.outbound_bytes_per_connection = Some(n.into()),
            |c| c.limits.outbound_bytes_per_connection.to_string(),
            "1048576".into(),
        ),
        (
            "limits.outbound_bytes_total",
            |s, n| s.limits.outbound_bytes_total = Some(n.into()),
            |c| c.limits.outbound_bytes_total.to_string(),
            "268435456".into(),
        ),
        (
            "limits.ping_interval_secs",
            |s, n| s.limits.ping_interval_secs = Some(n.into()),
            |c| c.limits.ping_interval_secs.to_string(),
            "30".into(),
        ),
        (
            "limits.idle_without_subscription_secs",
            |s, n| s.limits.idle_without_subscription_secs = Some(n.into()),
            |c| c.limits.idle_without_subscription_secs.to_string(),
            "60".into(),
        ),
        (
            "limits.http_idle_timeout_secs",
            |s, n| s.limits.http_idle_timeout_secs = Some(n.into()),
            |c| c.limits.http_idle_timeout_secs.to_string(),
            "30".into(),
        ),
    ]
}

#[test]
fn the_key_table_covers_every_setting() {
    let mut all = Settings::default();
    for (_, set, _, _) in keys() {
        set(&mut all, 1);
    }
    // `operator_token_file` is resolved into the token, tested below; every other field is set.
    all.operator_token_file = Some("/t".into());
    let shown = format!("{all:?}");
    assert!(!shown.contains("None"), "a field has no row: {shown}");
}

#[test]
fn a_flag_beats_the_file_which_beats_the_default_for_every_key() {
    for (name, set, get, default) in keys() {
        let (mut flags, mut file) = (Settings::default(), Settings::default());
        set(&mut flags, 1);
        set(&mut file, 2);
        let (mut expect_flag, mut expect_file) = (Settings::default(), Settings::default());
        set(&mut expect_flag, 1);
        set(&mut expect_file, 2);
        let expect_flag = get(&expect_flag.with_defaults());
        let expect_file = get(&expect_file.with_defaults());
        assert_ne!(expect_flag, expect_file, "{name}: the two values differ");

        let both = Settings::resolve(flags.clone(), file.clone(), None).unwrap();
        assert_eq!(get(&both), expect_flag, "{name}: flag over file");
        let file_only = Settings::resolve(Settings::default(), file, None).unwrap();
        assert_eq!(get(&file_only), expect_file, "{name}: file over default");
        let flag_only = Settings::resolve(flags, Settings::default(), None).unwrap();
        assert_eq!(get(&flag_only), expect_flag, "{name}: flag over default");
        let neither = Settings::resolve(Settings::default(), Settings::default(), None).unwrap();
        assert_eq!(get(&neither), default, "{name}: default");
    }
}

#[test]
fn the_defaults_are_design_md_section_6() {
    let config = Settings::default().with_defaults();
    let expected = Config::for_data_dir("./data");
    assert_eq!(format!("{config:?}"), format!("{expected:?}"));
    assert_eq!(config.validate().map_err(|e| e.to_string()), Ok(()));
}

/// A test parser: `bunkerd serve`'s settings as flags.
#[derive(Debug, clap::Parser)]
struct Flags {
    #[command(flatten)]
    settings: Settings,
}

/// Every setting, as flags and as a file, parses to the same layer; each flag is the key with
/// `-` for `_` (the limits without their `limits.` table prefix).
#[test]
fn flags_and_file_keys_are_named_alike() {
    let values = [
        ("data_dir", "\"/srv/bunkerd\"", "/srv/bunkerd"),
        (
            "store",
            "\"postgres://db/bunkerd\"",
            "postgres://db/bunkerd",
        ),
        ("store_password_file", "\"/run/pg\"", "/run/pg"),
        ("store_pool_size", "8", "8"),
        ("cluster_bus", "\"nats://bus:4222\"", "nats://bus:4222"),
        ("listen", "\"0.0.0.0:7447\"", "0.0.0.0:7447"),
        ("admin_listen", "\"10.0.0.2:7448\"", "10.0.0.2:7448"),
        ("public_url", "\"wss://b.example\"", "wss://b.example"),
        (
            "admin_public_url",
            "\"https://admin.example\"",
            "https://admin.example",
        ),
        ("nip49_max_log_n", "16", "16"),
        ("admin_auth_failure_burst", "5", "5"),
        ("admin_auth_failures_per_min", "6", "6"),
        ("master_key_file", "\"/run/k\"", "/run/k"),
        (
            "master_key",
            "\"transit+https://bao:8200/transit/bunkerd\"",
            "transit+https://bao:8200/transit/bunkerd",
        ),
        ("master_key_credentials_file", "\"/run/c\"", "/run/c"),
        ("operator_token_file", "\"/run/t\"", "/run/t"),
        ("workers", "3", "3"),
        ("io_policy", "\"normal\"", "normal"),
        ("queue_capacity", "100", "100"),
        ("tenant_queue_capacity", "50", "50"),
        ("real_ip_header", "\"x-forwarded-for\"", "x-forwarded-for"),
        ("shutdown_grace_secs", "4", "4"),
        ("log", "\"debug\"", "debug"),
        ("log_format", "\"json\"", "json"),
        ("approval_ttl_secs", "29", "29"),
        ("foreign_relays_max", "30", "30"),
        ("foreign_relays_per_tenant", "31", "31"),
        ("foreign_sessions_per_tenant", "32", "32"),
        ("foreign_relays_ca_file", "\"/run/ca.pem\"", "/run/ca.pem"),
        ("foreign_relays_allow_private", "true", "true"),
    ];
    let limits = [
        ("max_subscriptions", "5", "5"),
        ("max_filters", "3", "3"),
        ("created_at_window_secs", "60", "60"),
        ("events_per_sec", "7", "7"),
        ("events_burst", "8", "8"),
        ("max_connections", "9", "9"),
        ("max_connections_per_ip", "10", "10"),
        ("max_subscriptions_per_ip", "11", "11"),
        ("ip_events_per_sec", "12", "12"),
        ("ip_events_burst", "13", "13"),
        ("tenant_requests_per_sec", "0", "0"),
        ("tenant_burst", "14", "14"),
        ("rate_limited_demotion_secs", "15", "15"),
        ("unpaired_requests_per_sec", "16", "16"),
        ("write_timeout_secs", "17", "17"),
        ("outbound_bytes_per_connection", "18", "18"),
        ("outbound_bytes_total", "19", "19"),
        ("ping_interval_secs", "20", "20"),
        ("idle_without_subscription_secs", "21", "21"),
        ("http_idle_timeout_secs", "22", "22"),
    ];
    let mut toml = String::new();
    let mut argv = vec!["bunkerd".to_owned()];
    for (key, toml_value, flag_value) in values {
        toml.push_str(&format!("{key} = {toml_value}\n"));
        argv.extend([format!("--{}", key.replace('_', "-")), flag_value.into()]);
    }
    toml.push_str("[limits]\n");
    for (key, toml_value, flag_value) in limits {
        toml.push_str(&format!("{key} = {toml_value}\n"));
        argv.extend([format!("--{}", key.replace('_', "-")), flag_value.into()]);
    }
    let from_flags = Flags::try_parse_from(&argv).unwrap().settings;
    let from_file = Settings::from_toml(&toml, Path::new("t.toml")).unwrap();
    assert_eq!(from_flags, from_file);
    assert!(!format!("{from_file:?}").contains("None"), "{from_file:?}");
    assert_eq!(from_file.io_policy, Some(IoPolicy::Normal));
    assert_eq!(from_file.log_format, Some(LogFormat::Json));
    assert_eq!(from_file.limits.created_at_window_secs, Some(60));
}

/// The example's `#key = value` lines with the `#` removed.
fn example_uncommented() -> String {
    EXAMPLE
        .lines()
        .map(|line| match line.strip_prefix('#') {
            Some(rest) if rest == "[limits]" || is_assignment(rest) => rest,
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `line` is `key = value` with a bare lowercase key.
fn is_assignment(line: &str) -> bool {
    line.split_once(" = ").is_some_and(|(key, _)| {
        !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    })
}

#[test]
fn the_example_file_parses_and_lists_every_key_with_its_default() {
    let path = Path::new("deploy/bunkerd.example.toml");
    assert_eq!(
        Settings::from_toml(EXAMPLE, path).unwrap(),
        Settings::default(),
        "everything in the example is commented out"
    );
    let every = Settings::from_toml(&example_uncommented(), path).unwrap();
    assert!(!format!("{every:?}").contains("None"), "{every:?}");
    // Where a default is a value (not computed), the example shows exactly it.
    let shown = every.with_defaults();
    let defaults = Config::for_data_dir(DEFAULT_DATA_DIR);
    for (name, _, get, _) in keys() {
        if !name.contains("url")
            && !name.starts_with("master_key")
            && name != "real_ip_header"
            && name != "foreign_relays_ca_file"
            && name != "store"
            && name != "store_password_file"
            && name != "cluster_bus"
        {
            assert_eq!(get(&shown), get(&defaults), "{name}");
        }
    }
}

#[track_caller]
fn file_error(text: &str) -> ConfigError {
    Settings::from_toml(text, Path::new("/etc/bunkerd.toml")).unwrap_err()
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let e = file_error("listen = \"127.0.0.1:1\"\nlisten_adress = \"x\"\n");
    assert_eq!(e.code(), "config_unknown_key");
    assert_eq!(e.setting(), "listen_adress");
    assert_eq!(
        e.to_string(),
        "invalid configuration: listen_adress: unknown key in /etc/bunkerd.toml at line 2 (the \
         keys are listed in deploy/bunkerd.example.toml)"
    );
    let e = file_error("[limits]\n\nmax_subscription = 3\n");
    assert_eq!(
        (e.setting(), e.code()),
        ("limits.max_subscription", "config_unknown_key")
    );
    assert!(e.to_string().contains("at line 3"), "{e}");
    let e = file_error("[relay]\nlisten = \"127.0.0.1:1\"\n");
    assert_eq!(e.setting(), "relay");
}

#[test]
fn the_operator_token_cannot_be_inline_in_the_file_and_is_not_echoed() {
    let e = file_error("operator_token = \"s3cret-operator-token\"\n");
    assert_eq!(
        (e.setting(), e.code()),
        ("operator_token", "config_unknown_key")
    );
    assert!(!e.to_string().contains("s3cret"), "{e}");
}

#[test]
fn a_bad_value_is_named_with_its_line() {
    let e = file_error("workers = 2\nlisten = \"127.0.0.1\"\n");
    assert_eq!(e.code(), "config_invalid_value");
    assert_eq!(
        e.to_string(),
        "invalid configuration: listen: invalid socket address syntax (in /etc/bunkerd.toml at \
         line 2)"
    );
    assert_eq!(
        file_error("admin_listen = 7448\n").setting(),
        "admin_listen"
    );
    assert_eq!(file_error("workers = -1\n").setting(), "workers");
    assert_eq!(
        file_error("[limits]\ncreated_at_window_secs = \"60\"\n").setting(),
        "limits.created_at_window_secs"
    );
    assert_eq!(file_error("limits = 3\n").setting(), "limits");
    let e = file_error("io_policy = \"fifo\"\n");
    assert_eq!(e.setting(), "io_policy");
    assert!(
        e.to_string().contains("expected one of `batch`, `normal`"),
        "{e}"
    );
    let e = file_error("log_format = \"xml\"\n");
    assert_eq!(e.setting(), "log_format");
}

#[test]
fn a_syntax_error_gives_line_and_column_without_quoting_the_line() {
    let e = file_error("workers = 2\n\nlisten = localhost # secret-looking\n");
    assert_eq!(e.code(), "config_file_syntax");
    assert_eq!(e.setting(), "config");
    let ConfigError::Syntax { line, column, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!((*line, *column), (3, 10));
    let text = e.to_string();
    assert!(
        text.starts_with(
            "invalid configuration: config: /etc/bunkerd.toml: TOML syntax error at line 3, \
             column 10: "
        ),
        "{text}"
    );
    assert!(!text.contains("secret-looking"), "{text}");
    let e = file_error("workers = 1\nworkers = 2\n");
    assert!(matches!(e, ConfigError::Syntax { line: 2, .. }), "{e:?}");
}

#[test]
fn an_unreadable_config_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.toml");
    let e = Settings::load(&path).unwrap_err();
    assert_eq!(
        (e.setting(), e.code()),
        ("config", "config_file_unreadable")
    );
    assert!(
        e.to_string().starts_with(&format!(
            "invalid configuration: config: cannot read {}: ",
            path.display()
        )),
        "{e}"
    );
    std::fs::write(&path, b"log = \"\xff\"\n").unwrap();
    assert_eq!(
        Settings::load(&path).unwrap_err().code(),
        "config_file_unreadable"
    );
    std::fs::write(&path, "workers = 3\n").unwrap();
    assert_eq!(Settings::load(&path).unwrap().workers, Some(3));
}

const TOKEN: &str = "env-token-0123456789";

fn token_of(config: &Config) -> Option<String> {
    config.operator_token.as_ref().map(|t| t.to_string())
}

#[test]
fn the_operator_token_comes_from_the_highest_layer_that_names_one() {
    let dir = tempfile::tempdir().unwrap();
    let flag_file = dir.path().join("flag.token");
    let file_file = dir.path().join("file.token");
    std::fs::write(&flag_file, "  flag-token-0123456789\n").unwrap();
    std::fs::write(&file_file, "file-token-0123456789\n").unwrap();
    let flags = Settings {
        operator_token_file: Some(flag_file),
        ..Settings::default()
    };
    let file = Settings {
        operator_token_file: Some(file_file),
        ..Settings::default()
    };
    let env = || Some(Zeroizing::new(TOKEN.to_owned()));
    let none = Settings::default;

    let c = Settings::resolve(none(), file.clone(), env()).unwrap();
    assert_eq!(token_of(&c).as_deref(), Some(TOKEN), "env over file");
    let c = Settings::resolve(flags.clone(), file.clone(), None).unwrap();
    assert_eq!(
        token_of(&c).as_deref(),
        Some("flag-token-0123456789"),
        "flag over file, trimmed"
    );
    let c = Settings::resolve(none(), file, None).unwrap();
    assert_eq!(
        token_of(&c).as_deref(),
        Some("file-token-0123456789"),
        "file"
    );
    let c = Settings::resolve(none(), none(), env()).unwrap();
    assert_eq!(token_of(&c).as_deref(), Some(TOKEN), "env");
    let c = Settings::resolve(none(), none(), None).unwrap();
    assert_eq!(
        token_of(&c),
        None,
        "none: the server reads or generates its own"
    );

    let e = Settings::resolve(flags, none(), env()).unwrap_err();
    assert_eq!(e.setting(), "operator-token-file");
    assert!(e.to_string().contains("BUNKERD_OPERATOR_TOKEN"), "{e}");
    assert!(!e.to_string().contains(TOKEN), "{e}");
}

#[test]
fn a_bad_operator_token_file_is_named_without_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let flags = |path: &Path| Settings {
        operator_token_file: Some(path.to_path_buf()),
        ..Settings::default()
    };
    let e = Settings::resolve(flags(&missing), Settings::default(), None).unwrap_err();
    assert_eq!(e.setting(), "operator-token-file");
    assert!(
        e.to_string().starts_with(&format!(
            "invalid configuration: operator-token-file: cannot read {}: ",
            missing.display()
        )),
        "{e}"
    );
    let short = dir.path().join("short");
    std::fs::write(&short, "short-secret\n").unwrap();
    let e = Settings::resolve(flags(&short), Settings::default(), None).unwrap_err();
    assert_eq!(e.setting(), "operator-token-file");
    assert!(e.to_string().contains("at least 16 characters"), "{e}");
    assert!(!e.to_string().contains("short-secret"), "{e}");
}

/// A valid config whose data directory is a fresh temp dir.
fn valid(dir: &Path) -> Config {
    let mut config = Config::for_data_dir(dir.join("data"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.admin_listen = "127.0.0.1:0".parse().unwrap();
    config
}

/// Asserts that `config` is refused for `setting`, with `text` in the message; returns the text.
#[track_caller]
fn refused(config: &Config, setting: &str, text: &str) -> String {
    let e = config.validate().expect_err("refused");
    assert_eq!((e.setting(), e.code()), (setting, "config_invalid_setting"));
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("invalid configuration: {setting}: ")),
        "{shown}"
    );
    assert!(shown.contains(text), "{shown}");
    assert!(
        matches!(crate::Error::from(e), crate::Error::Config(s) if s.starts_with(setting)),
        "crate::Error::Config names the setting"
    );
    shown
}

#[test]
fn a_valid_config_passes_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid(dir.path());
    config.public_url = Some("wss://bunker.example:443/path".into());
    config.admin_public_url = Some("https://admin.example/".into());
    config.operator_token = Some(Zeroizing::new(TOKEN.into()));
    config.workers = MAX_WORKERS;
    config.queue_capacity = MAX_QUEUE_CAPACITY;
    config.limits.created_at_window_secs = MAX_CREATED_AT_WINDOW_SECS;
    config.log = "info,relay=debug".into();
    assert_eq!(config.validate().map_err(|e| e.to_string()), Ok(()));
    assert!(!config.data_dir.exists());
}

#[test]
fn the_two_listeners_must_not_collide() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid(dir.path());
    config.listen = "127.0.0.1:7447".parse().unwrap();
    config.admin_listen = "127.0.0.1:7447".parse().unwrap();
    refused(
        &config,
        "admin-listen",
        "must differ from listen (both are port 7447)",
    );
    config.listen = "0.0.0.0:7447".parse().unwrap();
    refused(&config, "admin-listen", "must differ from listen");
    config.admin_listen = "127.0.0.1:7448".parse().unwrap();
    assert!(config.validate().is_ok());
    config.admin_listen = "[::1]:7447".parse().unwrap();
    assert!(config.validate().is_ok(), "another family");
}

#[test]
fn urls_must_have_the_right_scheme_and_a_host() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [
        "http://r.example",
        "ws://",
        "wss:///x",
        "wss://r.example/ x",
        "wss://r#x",
        "r.example",
    ] {
        let mut config = valid(dir.path());
        config.public_url = Some(bad.into());
        let shown = refused(&config, "public-url", "ws:// or wss://");
        assert!(
            !shown.contains("r.example"),
            "the URL is not echoed: {shown}"
        );
    }
    for bad in [
        "ws://a.example",
        "https://",
        "https://a.example/?x=1",
        "https://a.example#f",
    ] {
        let mut config = valid(dir.path());
        config.admin_public_url = Some(bad.into());
        refused(&config, "admin-public-url", "http:// or https://");
    }
}

#[test]
fn counts_and_durations_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let with = |f: fn(&mut Config)| {
        let mut config = valid(dir.path());
        f(&mut config);
        config
    };
    let text = refused(
        &with(|c| c.workers = MAX_WORKERS + 1),
        "workers",
        "(got 1025)",
    );
    assert!(text.contains(&MAX_WORKERS.to_string()), "{text}");
    refused(&with(|c| c.queue_capacity = 0), "queue-capacity", "(got 0)");
    let text = refused(
        &with(|c| c.queue_capacity = MAX_QUEUE_CAPACITY + 1),
        "queue-capacity",
        "must be from 1 to",
    );
    assert!(text.contains(&MAX_QUEUE_CAPACITY.to_string()), "{text}");
    refused(
        &with(|c| c.shutdown_grace = std::time::Duration::ZERO),
        "shutdown-grace-secs",
        "at least 1",
    );
    refused(
        &with(|c| c.limits.max_subscriptions = 0),
        "max-subscriptions",
        "at least 1",
    );
    refused(
        &with(|c| c.limits.created_at_window_secs = 0),
        "created-at-window-secs",
        "(got 0)",
    );
    let text = refused(
        &with(|c| c.limits.created_at_window_secs = MAX_CREATED_AT_WINDOW_SECS + 1),
        "created-at-window-secs",
        "must be from 1 to",
    );
    assert!(
        text.contains(&MAX_CREATED_AT_WINDOW_SECS.to_string()),
        "{text}"
    );
}

#[test]
fn the_admin_limits_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let with = |f: fn(&mut Config)| {
        let mut config = valid(dir.path());
        f(&mut config);
        config
    };
    for log_n in [0, 21, u8::MAX] {
        let mut config = valid(dir.path());
        config.nip49_max_log_n = log_n;
        let text = refused(&config, "nip49-max-log-n", "must be from 1 to 20");
        assert!(text.contains(&format!("(got {log_n})")), "{text}");
    }
    for log_n in [1, 16, 20] {
        let mut config = valid(dir.path());
        config.nip49_max_log_n = log_n;
        assert!(config.validate().is_ok(), "{log_n}");
    }
    refused(
        &with(|c| c.admin_auth_failure_burst = 0),
        "admin-auth-failure-burst",
        "at least 1",
    );
    let off = with(|c| {
        c.admin_auth_failure_burst = 0;
        c.admin_auth_failures_per_min = 0;
    });
    assert!(off.validate().is_ok(), "a burst of 0 with the throttle off");
}

#[test]
fn the_log_filter_must_parse() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid(dir.path());
    config.log = "relay=loud".into();
    refused(&config, "log", "not a valid tracing filter");
}

#[test]
fn a_short_operator_token_is_refused_without_echoing_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid(dir.path());
    config.operator_token = Some(Zeroizing::new("  short-secret \n".into()));
    let shown = refused(&config, "operator-token", "at least 16 characters");
    assert!(!shown.contains("short-secret"), "{shown}");
}

#[test]
fn the_data_dir_must_be_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let mut config = valid(dir.path());
    config.data_dir = file;
    refused(&config, "data-dir", "must be a directory");
    config.data_dir = PathBuf::new();
    refused(&config, "data-dir", "must not be empty");
}

/// Writes a key file of `len` bytes with `mode`.
fn key_file(path: &Path, len: usize, mode: u32) {
    std::fs::write(path, vec![7u8; len]).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_configured_master_key_file_must_exist_and_be_what_kms_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let mut config = valid(dir.path());
    config.master_key_file = Some(path.clone());
    let shown = refused(&config, "master-key-file", "cannot read");
    assert!(
        shown.starts_with(&format!(
            "invalid configuration: master-key-file: cannot read {}: No such file",
            path.display()
        )),
        "{shown}"
    );
    assert!(!path.exists(), "never created");

    key_file(&path, 31, 0o600);
    refused(
        &config,
        "master-key-file",
        "must be 32 raw bytes or a keyring file: ",
    );
    std::fs::write(
        &path,
        format!("1 {}\n2 {}\n", "ab".repeat(32), "cd".repeat(32)),
    )
    .unwrap();
    assert!(config.validate().is_ok(), "a keyring file");
    key_file(&path, 32, 0o644);
    refused(&config, "master-key-file", "has mode 0644");
    key_file(&path, 32, 0o400);
    assert!(config.validate().is_ok());
    assert!(kms::FileMasterKey::load(&path).is_ok(), "kms agrees");

    config.master_key_file = Some(dir.path().to_path_buf());
    refused(&config, "master-key-file", "must be a regular file");
}

#[test]
fn a_kms_master_key_needs_a_supported_uri_and_a_credential() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid(dir.path());
    let credential = dir.path().join("token");
    std::fs::write(&credential, " s.token \n").unwrap();
    config.master_key_credentials_file = Some(credential.clone());
    config.master_key = Some("transit+https://bao.internal:8200/secret/transit/bunkerd".into());
    assert_eq!(
        config.master_key_source().unwrap(),
        MasterKeySource::Transit {
            address: "https://bao.internal:8200".into(),
            mount: "secret/transit".into(),
            key: "bunkerd".into(),
        }
    );
    assert_eq!(config.master_key_credential().unwrap().as_str(), "s.token");
    assert!(config.validate().is_ok());
    for bad in [
        "http://bao:8200/transit/k",
        "transit+ftp://bao/transit/k",
        "transit+http://bao:8200/k",
        "transit+http://user:pw@bao:8200/transit/k",
        "transit+http://bao:8200/transit/k?token=x",
    ] {
        config.master_key = Some(bad.into());
        let shown = refused(
            &config,
            "master-key",
            "must be transit+http[s]://HOST:PORT/MOUNT/KEY",
        );
        assert!(!shown.contains("pw@") || bad.contains("pw@"), "{shown}");
    }
    config.master_key = Some("transit+http://127.0.0.1:8200/transit/k".into());
    std::fs::write(&credential, "  \n").unwrap();
    refused(&config, "master-key-credentials-file", "is empty");
    config.master_key_credentials_file = Some(dir.path().join("absent"));
    refused(&config, "master-key-credentials-file", "cannot read");
    config.master_key_credentials_file = None;
    if std::env::var_os("BAO_TOKEN").is_none() && std::env::var_os("VAULT_TOKEN").is_none() {
        refused(
            &config,
            "master-key-credentials-file",
            "is needed for a transit master key",
        );
    }
    config.master_key_file = Some(dir.path().join("master.key"));
    refused(
        &config,
        "master-key",
        "cannot be combined with master-key-file",
    );
}

#[test]
fn pkcs11_and_aws_kms_master_keys_are_uris_with_their_own_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = valid(dir.path());
    let module = dir.path().join("module.so");
    std::fs::write(&module, b"").unwrap();
    let pin = dir.path().join("pin");
    std::fs::write(&pin, "1234\n").unwrap();
    let uri = format!(
        "pkcs11:token=bunkerd%20prod;object=master;type=secret-key?module-path={}",
        module.display()
    );
    config.master_key = Some(uri);
    assert_eq!(
        config.master_key_source().unwrap(),
        MasterKeySource::Pkcs11 {
            module: module.clone(),
            token: "bunkerd prod".into(),
            object: "master".into(),
        }
    );
    refused(
        &config,
        "master-key-credentials-file",
        "is needed for a PKCS#11",
    );
    config.master_key_credentials_file = Some(pin.clone());
    assert!(config.validate().is_ok());
    assert_eq!(config.master_key_credential().unwrap().as_str(), "1234");
    for (bad, why) in [
        ("pkcs11:token=t;object=k", "module-path is missing"),
        ("pkcs11:object=k?module-path=/m.so", "token is missing"),
        (
            "pkcs11:token=t;object=k?module-path=/m.so&pin-value=1234",
            "never the URI",
        ),
        (
            "pkcs11:token=t;object=k;id=%01?module-path=/m.so",
            "only token, object",
        ),
        (
            "pkcs11:token=t;object=k;type=private?module-path=/m.so",
            "secret-key",
        ),
        ("pkcs11:token=;object=k?module-path=/m.so", "empty"),
    ] {
        config.master_key = Some(bad.into());
        let shown = refused(&config, "master-key", why);
        assert!(!shown.contains("1234"), "a PIN is never echoed: {shown}");
    }
    config.master_key = Some("pkcs11:token=t;object=k?module-path=/nonexistent/m.so".into());
    refused(&config, "master-key", "not a file");

    config.master_key =
        Some("aws-kms:bunkerd?region=eu-west-1&endpoint=http://127.0.0.1:5000".into());
    assert_eq!(
        config.master_key_source().unwrap(),
        MasterKeySource::AwsKms {
            key: "bunkerd".into(),
            region: Some("eu-west-1".into()),
            endpoint: Some("http://127.0.0.1:5000".into()),
        }
    );
    refused(
        &config,
        "master-key-credentials-file",
        "is not used by aws-kms",
    );
    config.master_key_credentials_file = None;
    assert!(config.validate().is_ok());
    config.master_key = Some("aws-kms:bunkerd".into());
    assert_eq!(
        config.master_key_source().unwrap(),
        MasterKeySource::AwsKms {
            key: "bunkerd".into(),
            region: None,
            endpoint: None,
        }
    );
    for (bad, why) in [
        ("aws-kms:", "the key name is missing"),
        ("aws-kms:k?profile=x", "only region and endpoint"),
        ("aws-kms:k?endpoint=ftp://x", "endpoint must be"),
        ("aws-kms:k?endpoint=http://a:b@kms", "without credentials"),
    ] {
        config.master_key = Some(bad.into());
        refused(&config, "master-key", why);
    }
}

#[test]
fn the_default_master_key_file_may_be_absent_but_not_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::for_data_dir(dir.path());
    assert!(config.validate().is_ok(), "absent: the server creates it");
    let path = dir.path().join("master.key");
    key_file(&path, 16, 0o600);
    let shown = refused(
        &config,
        "master-key-file",
        "(the default in data-dir): neither a 32-byte key nor a keyring file",
    );
    assert!(shown.contains(&path.display().to_string()), "{shown}");
}

#[test]
fn error_codes_are_stable() {
    let dir = tempfile::tempdir().unwrap();
    let unreadable = Settings::load(&dir.path().join("x")).unwrap_err();
    let codes = [
        unreadable.code(),
        file_error("x =").code(),
        file_error("x = 1").code(),
        file_error("workers = \"x\"").code(),
        invalid_setting().code(),
    ];
    assert_eq!(
        codes,
        [
            "config_file_unreadable",
            "config_file_syntax",
            "config_unknown_key",
            "config_invalid_value",
            "config_invalid_setting"
        ]
    );
}

fn invalid_setting() -> ConfigError {
    let mut config = Config::for_data_dir("/nonexistent-bunkerd-test");
    config.queue_capacity = 0;
    config.validate().unwrap_err()
}
