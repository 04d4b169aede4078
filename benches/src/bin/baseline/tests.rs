//! Tests of the baseline server: handshake, URI file, single-use secrets, readiness, and loadgen
//! runs against it with and without TCP_NODELAY.

use super::*;
use benches::loadgen::{self, Mix, Options, Report};
use nostr::nips::nip46::NostrConnectURI;

#[track_caller]
fn check_accept(key: &str, expected: &str) {
    assert_eq!(accept_key(key), expected, "accept key of {key:?}");
}

#[test]
fn accept_key_matches_rfc_6455() {
    // RFC 6455 §1.3's worked example.
    check_accept("dGhlIHNhbXBsZSBub25jZQ==", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn header_is_found_case_insensitively_and_not_in_the_request_line() {
    let head = "GET /sec-websocket-key:x HTTP/1.1\r\nHost: a\r\nSEC-WebSocket-Key:  k==  \r\n\r\n";
    assert_eq!(header(head, "sec-websocket-key"), Some("k=="));
    assert_eq!(header(head, "upgrade"), None);
}

#[test]
fn relay_url_is_percent_encoded() {
    assert_eq!(
        percent_encode("ws://127.0.0.1:18447"),
        "ws%3A%2F%2F127.0.0.1%3A18447"
    );
    assert_eq!(
        percent_encode("ws://[::1]:7"),
        "ws%3A%2F%2F%5B%3A%3A1%5D%3A7"
    );
}

#[test]
fn uris_interleave_users_and_parse_back() {
    let users: Vec<User> = (0..3).map(|_| User::new(2)).collect();
    let uris = bunker_uris(&users, "ws://127.0.0.1:18447");
    assert_eq!(uris.len(), 6);
    for (line, uri) in uris.iter().enumerate() {
        let (user, k) = (&users[line % 3], line / 3);
        assert!(uri.contains("?relay=ws%3A%2F%2F127.0.0.1%3A18447&secret="));
        let NostrConnectURI::Bunker {
            remote_signer_public_key,
            relays,
            secret,
        } = NostrConnectURI::parse(uri).unwrap()
        else {
            panic!("not a bunker URI: {uri}");
        };
        assert_eq!(remote_signer_public_key, user.signer.public_key());
        assert_eq!(
            relays[0].as_str_without_trailing_slash(),
            "ws://127.0.0.1:18447"
        );
        assert_eq!(secret.as_deref(), Some(user.secrets[k].as_str()));
        assert_eq!(user.secrets[k].len(), 32);
    }
}

fn connect(policy: &SingleUse, client: &Keys, secret: Option<&str>) -> bool {
    let request = NostrConnectRequest::Connect {
        remote_signer_public_key: Keys::generate().public_key(),
        secret: secret.map(str::to_owned),
    };
    policy.approve(&client.public_key(), &request)
}

#[track_caller]
fn check_answered(policy: &SingleUse, client: &Keys, expected: bool) {
    let answered = policy.approve(&client.public_key(), &NostrConnectRequest::GetPublicKey);
    assert_eq!(answered, expected);
}

#[test]
fn secrets_work_once_and_only_connected_clients_are_answered() {
    let policy = SingleUse::new(&["a".repeat(32), "b".repeat(32)]);
    let (first, second, stranger) = (Keys::generate(), Keys::generate(), Keys::generate());
    check_answered(&policy, &first, false);
    assert!(connect(&policy, &first, Some(&"a".repeat(32))));
    check_answered(&policy, &first, true);
    assert!(
        !connect(&policy, &second, Some(&"a".repeat(32))),
        "secret reused"
    );
    assert!(!connect(&policy, &second, None), "no secret");
    assert!(!connect(&policy, &second, Some("c")), "unknown secret");
    check_answered(&policy, &second, false);
    assert!(connect(&policy, &second, Some(&"b".repeat(32))));
    check_answered(&policy, &second, true);
    check_answered(&policy, &stranger, false);
}

#[test]
fn readiness_counts_down_signer_subscriptions_only() {
    let users: Vec<User> = (0..2).map(|_| User::new(1)).collect();
    let (readiness, pending) = Readiness::new(&users);
    let nip46 = |key: PublicKey| Filter::new().pubkey(key).kind(nostr::Kind::NostrConnect);
    readiness.note(&nip46(Keys::generate().public_key()));
    readiness.note(&Filter::new().kind(nostr::Kind::NostrConnect));
    assert_eq!(*pending.borrow(), 2);
    readiness.note(&nip46(users[1].signer.public_key()));
    assert_eq!(*pending.borrow(), 1);
    readiness.note(&nip46(users[0].signer.public_key()));
    assert_eq!(*pending.borrow(), 0);
}

/// Runs `upgrade` on the server end of a loopback connection whose client sends `request`;
/// returns the server's outcome and everything the client read.
async fn handshake(request: &'static [u8]) -> (Result<(), String>, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let client = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.write_all(request).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.unwrap();
        answer
    });
    let (mut server, _) = listener.accept().await.unwrap();
    let outcome = upgrade(&mut server).await;
    drop(server);
    (outcome, client.await.unwrap())
}

#[tokio::test]
async fn upgrade_answers_101_with_the_accept_key() {
    let (outcome, answer) = handshake(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await;
    assert_eq!(outcome, Ok(()));
    assert!(answer.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    assert!(answer.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(answer.ends_with("\r\n\r\n"));
}

#[tokio::test]
async fn upgrade_refuses_bad_handshakes() {
    let cases: [(&'static [u8], &str); 4] = [
        (
            b"POST / HTTP/1.1\r\nSec-WebSocket-Key: k\r\n\r\n",
            "not a GET request",
        ),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "no Sec-WebSocket-Key"),
        (
            b"GET / HTTP/1.1\r\nSec-WebSocket-Key: k\r\n\r\nframe",
            "data sent before",
        ),
        (b"GET / HTTP/1.1\r\n", "closed during the handshake"),
    ];
    for (request, error) in cases {
        let (outcome, answer) = handshake(request).await;
        let message = outcome.unwrap_err();
        assert!(message.starts_with(error), "{message:?} for {request:?}");
        assert_eq!(answer, "");
    }
}

fn cli(stock_listener: bool, users: usize, uris_per_user: usize) -> Cli {
    Cli {
        listen: "127.0.0.1:0".parse().unwrap(),
        users,
        uris_per_user,
        out: PathBuf::new(),
        duration: 60,
        stock_listener,
    }
}

fn options(started: &Started, uris: &[String], requests: usize) -> Options {
    Options {
        relay: started.addr,
        uris: uris.to_vec(),
        clients: uris.len(),
        requests,
        duration: Duration::from_secs(60),
        rate: None,
        mix: Mix::parse("sign_event:6,nip44_encrypt:2,ping:1,get_public_key:1").unwrap(),
        timeout: Duration::from_secs(10),
        // rust-nostr's signer drops templates without `pubkey`.
        template_pubkey: true,
        latency_csv: None,
        duty: None,
        source: None,
    }
}

#[track_caller]
fn check_all_verified(report: &Report, requests: usize) {
    assert_eq!(
        (report.sent, report.ok),
        (requests, requests),
        "{}",
        report.json()
    );
    let failed = report.errors + report.refused + report.timeouts + report.invalid;
    assert_eq!(failed, 0, "{}", report.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_run_against_the_baseline_is_fully_verified() {
    let started = start(&cli(false, 3, 2)).await.unwrap();
    let report = loadgen::run(options(&started, &started.uris, 300))
        .await
        .unwrap();
    check_all_verified(&report, 300);
    // Every secret is spent now: connecting again with one is refused.
    let again = loadgen::run(options(&started, &started.uris[..1], 1)).await;
    assert_eq!(again.unwrap_err(), "connect failed: Rejected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stock_listener_serves_too() {
    let started = start(&cli(true, 1, 1)).await.unwrap();
    let report = loadgen::run(options(&started, &started.uris, 20))
        .await
        .unwrap();
    check_all_verified(&report, 20);
}
