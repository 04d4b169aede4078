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
    };
    let closed = loadgen::run(options.clone()).await.unwrap();
    assert_eq!((closed.sent, closed.ok), (300, 300), "{}", closed.json());
    assert_eq!(
        closed.errors + closed.refused + closed.timeouts + closed.invalid,
        0,
        "{}",
        closed.json()
    );

    // Open loop on the other four URIs (each URI's secret is single-use).
    let open = Options {
        uris: uris[4..].to_vec(),
        requests: 200,
        rate: Some(400.0),
        template_pubkey: true,
        latency_csv: None,
        ..options
    };
    let open = loadgen::run(open).await.unwrap();
    assert_eq!((open.sent, open.ok), (200, 200), "{}", open.json());
    assert_eq!(open.invalid + open.timeouts, 0, "{}", open.json());
    assert!(
        open.elapsed_s >= 0.4,
        "200 requests at 400/s take about half a second"
    );
    server.server.stop().await;
}
