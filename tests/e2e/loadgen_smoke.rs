//! The load generator cannot rot: a short closed-loop and open-loop run against the real bunkerd,
//! with a method mix, every response verified by the generator (rust-nostr) and no failures allowed.

use crate::support::TestServer;
use benches::loadgen::{self, provision, Mix, Options};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_smoke_run_is_fully_verified() {
    let server = TestServer::start().await;
    let token = crate::support::OPERATOR_TOKEN;
    let uris = provision::provision(server.server.admin_addr, token, 4, 2)
        .await
        .unwrap();
    let options = Options {
        relay: server.server.relay_addr,
        uris: uris[..4].to_vec(),
        clients: 4,
        requests: 300,
        duration: Duration::from_secs(60),
        rate: None,
        mix: Mix::parse("sign_event:6,nip44_encrypt:2,ping:1,get_public_key:1").unwrap(),
        timeout: Duration::from_secs(10),
        template_pubkey: false,
        latency_csv: None,
        duty: None,
        source: None,
    };
    let closed = loadgen::run(options.clone()).await.unwrap();
    assert_eq!((closed.sent, closed.ok), (300, 300), "{}", closed.json());
    assert_eq!(
        closed.errors + closed.refused + closed.timeouts + closed.invalid,
        0,
        "{}",
        closed.json()
    );

    // Open loop on the other four URIs (each URI's secret is single-use), from 127.0.0.2, sending
    // for 1 s, pausing 1 s, then sending again: 600 requests at 400/s are 1.5 s of sending.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("lat.csv");
    let open = Options {
        uris: uris[4..].to_vec(),
        requests: 600,
        rate: Some(400.0),
        template_pubkey: true,
        latency_csv: Some(csv.clone()),
        duty: Some(loadgen::Duty::parse("1,1").unwrap()),
        source: Some("127.0.0.2".parse().unwrap()),
        ..options
    };
    let open = loadgen::run(open).await.unwrap();
    assert_eq!((open.sent, open.ok), (600, 600), "{}", open.json());
    assert_eq!(open.invalid + open.timeouts, 0, "{}", open.json());
    assert!(
        open.elapsed_s >= 2.4,
        "1.5 s of sending with a 1-s pause take at least 2.5 s: {}",
        open.json()
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("sent_ms,latency_ms,sent_unix_ms"));
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 600);
    // Sends due just before the pause may go out late on a loaded machine, and the two Unix-time
    // conversions differ by microseconds: the check leaves generous margins at both ends.
    for row in &rows {
        let since_start = row[2] - open.start_unix_ms;
        assert!(
            !(1_700.0..1_990.0).contains(&since_start),
            "a request was sent {since_start:.1} ms after the start, inside the pause"
        );
    }
    assert!(
        rows.iter().any(|r| r[2] - open.start_unix_ms >= 2_000.0),
        "sending resumed after the pause"
    );
    server.server.stop().await;
}
