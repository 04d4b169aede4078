//! Restart: after bunkerd stops and starts again on the same data dir, connected clients keep
//! signing without a new `connect`, and every user is still there.

use crate::nostr_tools::run_node;
use crate::support::raw::{pk, secret_of, RawClient, Transport};
use crate::support::{assert_still_served, TestServer};
use nostr_connect::prelude::Keys;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_users_survive_a_restart() {
    let server = TestServer::start().await;
    let tenant = server.provision(None).await.tenant;
    let mut users = Vec::new();
    for _ in 0..3 {
        users.push(server.provision_in(&tenant, None).await);
    }
    // One raw client per user connects before the restart.
    let mut clients = Vec::new();
    for user in &users {
        let mut client = RawClient::connect(server.server.relay_addr).await;
        let params = vec![String::new(), secret_of(&user.bunker_uri)];
        let reply = client
            .request(
                &pk(&user.remote_signer_pubkey),
                "connect",
                params,
                Transport::Nip44,
            )
            .await;
        assert_eq!(reply["result"], "ack");
        clients.push(client.keys.clone());
    }
    // And nostr-tools connects with a fixed client key.
    let node_client = Keys::generate();
    let node_uri = server.bunker_uri(&users[0]).await;
    let third = Keys::generate().secret_key().to_secret_hex();
    let env = vec![(
        "BUNKER_CLIENT_SECRET",
        node_client.secret_key().to_secret_hex(),
    )];
    let (out, _) = run_node(vec![node_uri.clone(), third.clone()], env.clone()).await;
    assert_eq!(out["ok"], true, "{out}");

    let (dir, tmp, addr) = server.stop().await;
    let server = TestServer::start_in(&dir, addr).await;

    for (user, keys) in users.iter().zip(clients) {
        let mut client = RawClient::with_keys(server.server.relay_addr, keys).await;
        assert_still_served(&mut client, user, "after restart").await;
    }
    // nostr-tools, same client key, no connect at all.
    let mut env = env;
    env.push(("SKIP_CONNECT", "1".to_owned()));
    let (out, status) = run_node(vec![node_uri, third], env).await;
    assert_eq!(
        out["ok"], true,
        "nostr-tools without connect after restart: {out}"
    );
    assert_eq!(status, 0);
    server.server.stop().await;
    drop(tmp);
}
