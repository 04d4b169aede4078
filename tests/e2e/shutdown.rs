//! Graceful stop: a request the relay acknowledged with `OK true` always gets its response before
//! the socket is closed with 1001, even when the server is stopped in the middle of a burst.

use crate::support::raw::{pk, secret_of, RawClient, Transport};
use crate::support::TestServer;
use nostr_connect::prelude::{nip44, Event, JsonUtil};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_request_is_answered_when_the_server_stops() {
    let server = TestServer::start().await;
    let user = server.provision(None).await;
    let remote = pk(&user.remote_signer_pubkey);
    let mut client = RawClient::connect(server.server.relay_addr).await;
    let params = vec![String::new(), secret_of(&user.bunker_uri)];
    assert_eq!(
        client
            .request(&remote, "connect", params, Transport::Nip44)
            .await["result"],
        "ack"
    );

    // A burst of pipelined sign_event requests; the server is stopped at the first OK.
    let mut request_of_event: HashMap<String, String> = HashMap::new();
    for n in 0..40 {
        let template = json!({"kind": 1, "content": format!("burst {n}"), "tags": []}).to_string();
        let request = json!({"id": format!("b{n}"), "method": "sign_event", "params": [template]});
        let event = client.request_event(&remote, &request.to_string(), Transport::Nip44);
        request_of_event.insert(event.id.to_hex(), format!("b{n}"));
        client.send_text(&json!(["EVENT", event]).to_string()).await;
    }
    let first_ok = client.next_matching(|v| v[0] == "OK").await;
    let stopping = tokio::spawn(server.server.stop());
    let (mut messages, code) = client.until_close().await;
    messages.insert(0, first_ok);
    stopping.await.unwrap();
    assert_eq!(code, 1001, "closed as going away");

    let acknowledged: HashSet<&str> = messages
        .iter()
        .filter(|m| m[0] == "OK" && m[2] == true)
        .map(|m| request_of_event[m[1].as_str().unwrap()].as_str())
        .collect();
    let answered: HashSet<String> = messages
        .iter()
        .filter(|m| m[0] == "EVENT")
        .map(|m| {
            let event = Event::from_json(m[2].to_string()).unwrap();
            let plain = nip44::decrypt(client.keys.secret_key(), &remote, &event.content).unwrap();
            let reply: Value = serde_json::from_str(&plain).unwrap();
            reply["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(!acknowledged.is_empty());
    for id in &acknowledged {
        assert!(
            answered.contains(*id),
            "request {id} got OK true but no response"
        );
    }
}
