//! Unit tests of the pool: hand-over rounds, a job's copy of its response, the side lane of
//! refusal replies.

use super::*;

/// An outbox that counts deliveries.
#[derive(Default)]
struct Counted(AtomicUsize);

impl Outbox for Counted {
    fn deliver(&self, _event: Event) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_job_that_wants_its_response_gets_a_copy_of_what_went_to_the_outbox() {
    use proto::nostr::{nip44, Crypto, Keypair, UnsignedEvent};
    let bunker = Bunker::open(
        Arc::new(store::MemStore::new()),
        Arc::new(kms::MemMasterKey::generate()),
        crate::BunkerConfig::new("ws://127.0.0.1:7447"),
    )
    .unwrap();
    let tenant = bunker.admin().create_tenant("acme", 1).unwrap().id;
    let user = bunker
        .admin()
        .create_user(&tenant, crate::admin::NewUser::default(), 1)
        .unwrap();
    let remote = user.remote_signer_pubkey;
    let outbox = Arc::new(Counted::default());
    let pool = Pool::start(Arc::new(bunker), outbox.clone(), PoolConfig::default());
    let mut crypto = Crypto::from_os_rng();
    let client = Keypair::generate(&mut crypto);
    let key = nip44::ConversationKey::derive(&client.secret_key(), &remote).unwrap();
    for (n, want_response) in [(1, true), (2, false)] {
        // `ping` is answered without a session.
        let request = format!(r#"{{"id":"p{n}","method":"ping","params":[]}}"#);
        let event = client.sign_event(
            UnsignedEvent {
                created_at: unix_now(),
                kind: crate::KIND_NOSTR_CONNECT,
                tags: vec![vec!["p".into(), remote.to_hex()]],
                content: nip44::encrypt(&key, &request, &mut crypto).unwrap(),
            },
            &mut crypto,
        );
        let (tx, rx) = std::sync::mpsc::channel();
        let job = Job {
            event: event.into_verified().unwrap(),
            first_seen: Box::new(|_| true),
            done: Box::new(move |processed: Processed| tx.send(processed).unwrap()),
            queued_at: Instant::now(),
            tenant: tenant.as_str().into(),
            demoted: false,
            want_response,
            origin: None,
        };
        pool.submitter().try_submit(job).unwrap();
        let processed = rx.recv_timeout(Duration::from_secs(30)).unwrap();
        assert!(processed.accepted.is_ok());
        assert_eq!(outbox.0.load(Ordering::SeqCst), n, "delivered either way");
        match processed.response {
            Some(response) => {
                assert!(want_response);
                assert_eq!(response.pubkey, remote);
                let reply = nip44::decrypt(&key, &response.content).unwrap();
                assert_eq!(reply, r#"{"id":"p1","result":"pong"}"#);
            }
            None => assert!(!want_response),
        }
    }
    pool.shutdown();
}

#[test]
fn a_refusal_job_runs_in_the_side_lane_and_reports_a_reply_it_could_not_make() {
    let bunker = Bunker::open(
        Arc::new(store::MemStore::new()),
        Arc::new(kms::MemMasterKey::generate()),
        crate::BunkerConfig::new("ws://127.0.0.1:7447"),
    )
    .unwrap();
    let outbox = Arc::new(Counted::default());
    let pool = Pool::start(Arc::new(bunker), outbox.clone(), PoolConfig::default());
    // A well-formed event addressed to nobody hosted here: answered with nothing.
    let json = serde_json::json!({
        "id": "0".repeat(64), "pubkey": "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        "created_at": 1, "kind": 24133, "tags": [["p", "ab".repeat(32)]], "content": "x",
        "sig": "0".repeat(128),
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let job = RefusalJob {
        event: Event::from_json(&json.to_string()).unwrap(),
        refusal: Refusal::RateLimited("slow down"),
        done: Box::new(move |sent| tx.send(sent).unwrap()),
    };
    pool.submitter().try_submit_refusal(job).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(30)), Ok(false));
    assert!(
        pool.submitter().queued_by_tenant().is_empty(),
        "the side lane is no tenant's"
    );
    pool.shutdown();
    assert_eq!(outbox.0.load(Ordering::SeqCst), 0);
}

#[test]
fn a_round_is_waited_for_until_its_tracked_verdicts_are_written() {
    let round = Arc::new(Round::default());
    let totals = WaitTotals::default();
    // Nothing tracked: no wait at all, whatever the bound, and nothing counted.
    let waited = round.wait(Duration::from_secs(3600));
    assert_eq!(waited, Waited::No);
    totals.record(waited);

    ROUND.with(|current| *current.borrow_mut() = Some(round.clone()));
    let (first, second) = (track_handover().unwrap(), track_handover().unwrap());
    ROUND.with(|current| current.borrow_mut().take());
    assert!(
        track_handover().is_none(),
        "outside a round nothing is tracked"
    );
    assert_eq!(round.unwritten.load(Ordering::Acquire), 2);

    // One verdict written, one still held (a client that does not read): the wait ends at its
    // bound.
    drop(first);
    let bound = Duration::from_millis(20);
    let waited = round.wait(bound);
    let Waited::TimedOut(time) = waited else {
        panic!("{waited:?}")
    };
    assert!(time >= bound, "{time:?}");
    totals.record(waited);

    // The last one written on another thread wakes the waiter before its (long) bound.
    let writer = std::thread::spawn(move || drop(second));
    let waited = round.wait(Duration::from_secs(3600));
    assert!(matches!(waited, Waited::Written(_)), "{waited:?}");
    totals.record(waited);
    writer.join().unwrap();
    assert_eq!(round.unwritten.load(Ordering::Acquire), 0);

    let counted = totals.get();
    assert_eq!((counted.written, counted.timed_out), (1, 1));
    assert!(counted.waited >= bound, "{counted:?}");
}
