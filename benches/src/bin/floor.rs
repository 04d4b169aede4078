//! `floor`: what one NIP-46 `sign_event` request costs on one core, from per-primitive medians.
//!
//! Role: time each primitive with a plain `Instant` loop (median of 9 batches of ≥ 100 ms; never
//! criterion's files), then print the primitive table, ns per request with and without a cached
//! conversation key and requests/s per core, computed from (1) the raw secp256k1 0.31 primitives
//! on an explicit context — the floor —, (2) the same with re-blinding every 1024 or every secret
//! operation, (3) bunkerd's own wrappers, and (4) the composed request path measured as a whole.
//! The last stdout line is one JSON object.
//!
//! Usage: `cargo run --release -p benches --bin floor [-- --quick]` (`--quick`: 3 batches of
//! ≥ 5 ms, a smoke run whose numbers are noisy). Progress goes to stderr.
//!
//! Must not: run under a debug build for real figures (it says so), or hide a failing fixture.

use std::hint::black_box;

use benches::pipeline::handle_sign_event;
use benches::raw::OUR_RESEED_EVERY;
use benches::report::{self, Line, RequestCost, RequestParts, Row};
use benches::timing::{measure, Options};
use benches::{Fixture, RawSecp};
use proto::nip46::Request;
use proto::nostr::{nip44, verify_schnorr};

/// Collects timed rows.
struct Bench {
    opts: Options,
    rows: Vec<Row>,
}

impl Bench {
    /// Times `f`, records a row, returns its median in ns.
    fn time<R>(&mut self, key: &'static str, label: String, f: impl FnMut() -> R) -> f64 {
        let t = measure(&self.opts, f);
        eprintln!("  {key:<28} {:>10.0} ns", t.median_ns);
        self.rows.push(Row {
            key,
            label,
            median_ns: t.median_ns,
            spread_ns: (t.min_ns, t.max_ns),
        });
        t.median_ns
    }
}

/// Work that is the same whichever secp256k1 binding does the curve arithmetic.
struct Shared {
    decrypt_ns: f64,
    encrypt_ns: f64,
    id_hashes_ns: f64,
}

fn shared(b: &mut Bench, fx: &Fixture) -> Shared {
    let ck = &fx.conversation;
    let (request, reply) = (&fx.request.content, &fx.reply_plaintext);
    let decrypt_ns = b.time(
        "nip44.decrypt_request",
        format!("NIP-44 decrypt request ({}-char payload)", request.len()),
        || nip44::decrypt(ck, black_box(request)),
    );
    let encrypt_ns = b.time(
        "nip44.encrypt_reply",
        format!("NIP-44 encrypt reply ({} B plaintext)", reply.len()),
        || signer::crypto::with(|c| nip44::encrypt(ck, black_box(reply), c)),
    );
    let ids = [
        b.time("id.request", "event id: request".into(), || {
            Fixture::event_id(black_box(&fx.request))
        }),
        b.time("id.note", "event id: note".into(), || {
            black_box(fx).note_id()
        }),
        b.time("id.response", "event id: response".into(), || {
            Fixture::event_id(black_box(&fx.response))
        }),
    ];
    Shared {
        decrypt_ns,
        encrypt_ns,
        id_hashes_ns: ids.iter().sum(),
    }
}

/// Raw 0.31 signing under the three blinding policies: static, every 1024, every op.
fn raw_signs(b: &mut Bench, fx: &Fixture, raw: &mut RawSecp) -> [f64; 3] {
    let (msg, aux) = (fx.note_id(), [7u8; 32]);
    [
        b.time("raw.sign", "raw sign, static context".into(), || {
            raw.sign(black_box(&msg), &aux)
        }),
        b.time(
            "raw.sign_reblind_1024",
            "raw sign, re-blinded every 1024 signs".into(),
            || raw.sign_reblinding(black_box(&msg), &aux, OUR_RESEED_EVERY),
        ),
        b.time(
            "raw.sign_reblind_every",
            "raw sign, re-blinded every sign (0.33)".into(),
            || raw.sign_reblinding(black_box(&msg), &aux, 1),
        ),
    ]
}

/// The floor parts, with `sign_ns` left for the caller to pick a blinding policy.
fn raw_parts(b: &mut Bench, fx: &Fixture, raw: &mut RawSecp, s: &Shared) -> RequestParts {
    b.time(
        "raw.reblind",
        "raw context re-randomize alone".into(),
        || raw.reblind(),
    );
    let (id, sig) = (&fx.request.id, &fx.request.sig);
    let verify_ns = b.time("raw.verify", "raw verify, parsed key".into(), || {
        raw.verify_client(black_box(id), sig)
    });
    let pk = *fx.request.pubkey.as_bytes();
    b.time("raw.lift_x", "raw x-only key parse (lift_x)".into(), || {
        RawSecp::parse_xonly(black_box(&pk))
    });
    let ecdh_ns = b.time("raw.ecdh", "raw ECDH + HKDF-extract".into(), || {
        black_box(&*raw).conversation_key()
    });
    RequestParts {
        verify_ns,
        decrypt_ns: s.decrypt_ns,
        encrypt_ns: s.encrypt_ns,
        sign_ns: 0.0,
        id_hashes_ns: s.id_hashes_ns,
        ecdh_ns,
    }
}

/// bunkerd's `proto::nostr` wrappers as the signer calls them: the thread's `Crypto` (blinded
/// context, OS `aux_rand`), key re-validation.
fn wrapper_parts(b: &mut Bench, fx: &Fixture, s: &Shared) -> RequestParts {
    let msg = fx.note_id();
    let sign_ns = b.time("ours.sign", "Keypair::sign_schnorr (OS aux)".into(), || {
        signer::crypto::with(|c| fx.remote_signer.sign_schnorr(black_box(&msg), c))
    });
    b.time(
        "ours.sign_fixed_aux",
        "Keypair::sign_schnorr_with_aux".into(),
        || {
            signer::crypto::with(|c| {
                fx.remote_signer
                    .sign_schnorr_with_aux(black_box(&msg), &[7; 32], c)
            })
        },
    );
    let e = &fx.request;
    let verify_ns = b.time("ours.verify", "verify_schnorr".into(), || {
        verify_schnorr(&e.pubkey, black_box(&e.id), &e.sig)
    });
    let secret = fx.remote_signer.secret_key();
    let ecdh_ns = b.time("ours.ecdh", "ConversationKey::derive".into(), || {
        nip44::ConversationKey::derive(&secret, black_box(&e.pubkey))
    });
    RequestParts {
        verify_ns,
        decrypt_ns: s.decrypt_ns,
        encrypt_ns: s.encrypt_ns,
        sign_ns,
        id_hashes_ns: s.id_hashes_ns,
        ecdh_ns,
    }
}

/// Work outside the sum (shown for context) and the whole request path measured at once.
fn measured(b: &mut Bench, fx: &Fixture) -> RequestCost {
    b.time(
        "ours.event_verify",
        "Event::verify (id + verify)".into(),
        || black_box(&fx.request).verify(),
    );
    b.time("parse.nip01", "NIP-01 EVENT frame parse".into(), || {
        relay::message::parse(black_box(&fx.request_frame))
    });
    b.time("parse.nip46", "NIP-46 sign_event parse".into(), || {
        Request::parse(black_box(&fx.request_plaintext))
    });
    let sealed = &fx.sealed;
    b.time("kms.open", "DataKey::open, 32-byte secret".into(), || {
        sealed
            .key
            .open(black_box(&sealed.record), &sealed.binding())
    });
    let ck = &fx.conversation;
    RequestCost {
        cached_ns: b.time("pipeline.cached", "request path, cached key".into(), || {
            handle_sign_event(black_box(fx), Some(ck)).expect("fixture request works")
        }),
        uncached_ns: b.time(
            "pipeline.uncached",
            "request path, new session".into(),
            || handle_sign_event(black_box(fx), None).expect("fixture request works"),
        ),
    }
}

fn options() -> Options {
    match std::env::args().nth(1).as_deref() {
        None => Options::DEFAULT,
        Some("--quick") => Options::QUICK,
        Some(_) => {
            eprintln!("usage: floor [--quick]");
            std::process::exit(2);
        }
    }
}

fn lines(b: &mut Bench, fx: &Fixture) -> Vec<Line> {
    let mut raw = RawSecp::new(fx);
    let s = shared(b, fx);
    let [sign, sign_1024, sign_every] = raw_signs(b, fx, &mut raw);
    let floor = raw_parts(b, fx, &mut raw, &s);
    let with_sign = |sign_ns| RequestParts { sign_ns, ..floor }.cost();
    let ours = wrapper_parts(b, fx, &s).cost();
    let pipeline = measured(b, fx);
    vec![
        line(
            "floor",
            "raw 0.31, static context (the floor)",
            with_sign(sign),
        ),
        line(
            "raw_reblind_1024",
            "raw 0.31, re-blind every 1024 signs",
            with_sign(sign_1024),
        ),
        line(
            "raw_reblind_every",
            "raw 0.31, re-blind every sign (0.33)",
            with_sign(sign_every),
        ),
        line("bunkerd_wrappers", "bunkerd wrappers (proto::nostr)", ours),
        line(
            "bunkerd_pipeline",
            "bunkerd request path, measured whole",
            pipeline,
        ),
    ]
}

fn line(key: &'static str, label: &'static str, cost: RequestCost) -> Line {
    Line { key, label, cost }
}

fn main() {
    if cfg!(debug_assertions) {
        eprintln!("warning: debug build; run with --release for real figures");
    }
    let mut b = Bench {
        opts: options(),
        rows: Vec::new(),
    };
    let fx = Fixture::new();
    eprintln!(
        "timing ({} batches of >= {:?} each):",
        b.opts.rounds, b.opts.batch
    );
    let lines = lines(&mut b, &fx);
    println!("## Primitives (median of {} batches)\n", b.opts.rounds);
    println!("{}", report::primitive_table(&b.rows));
    println!("## Per sign_event request (one core)\n");
    println!(
        "sum = verify + NIP-44 decrypt + NIP-44 encrypt + 2 x sign + 3 id hashes (+ ECDH for a new session)\n"
    );
    println!("{}", report::request_table(&lines));
    println!("{}", report::json_line(&b.rows, &lines));
}
