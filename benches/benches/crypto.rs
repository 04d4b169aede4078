//! Criterion benches of bunkerd's own crypto wrappers (`proto::nostr`): BIP-340 sign and verify,
//! NIP-44 conversation-key derivation, NIP-44 v2 and NIP-04 encrypt/decrypt, NIP-01 event ids.
//!
//! Role: the per-primitive medians behind the floor report's "bunkerd wrappers" line. Must not:
//! time on inputs that fail (the fixture checks itself). Every bench reports its throughput:
//! one element per call, or plaintext bytes for the ciphers.

use std::hint::black_box;

use benches::{criterion_config, Fixture};
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use event::compute_id;
use proto::nostr::{nip04, nip44, verify_schnorr, Crypto};

type Group<'a> = BenchmarkGroup<'a, criterion::measurement::WallTime>;

fn crypto(c: &mut Criterion) {
    let fx = Fixture::new();
    let mut g = c.benchmark_group("crypto");
    schnorr(&mut g, &fx);
    conversation_key(&mut g, &fx);
    for (name, text) in [("300B", &fx.small), ("4KiB", &fx.large)] {
        nip44_round(&mut g, &fx, name, text);
    }
    nip04_round(&mut g, &fx);
    event_id(&mut g, &fx);
    g.finish();
}

fn schnorr(g: &mut Group<'_>, fx: &Fixture) {
    let msg = fx.note_id();
    let pk = fx.request.pubkey;
    g.throughput(Throughput::Elements(1));
    let crypto = &mut Crypto::from_os_rng();
    g.bench_function("schnorr_sign", |b| {
        b.iter(|| fx.user.sign_schnorr(black_box(&msg), crypto))
    });
    g.bench_function("schnorr_sign_fixed_aux", |b| {
        b.iter(|| {
            fx.user
                .sign_schnorr_with_aux(black_box(&msg), &[7; 32], crypto)
        })
    });
    g.bench_function("schnorr_verify", |b| {
        b.iter(|| verify_schnorr(&pk, black_box(&fx.request.id), &fx.request.sig))
    });
}

fn conversation_key(g: &mut Group<'_>, fx: &Fixture) {
    let secret = fx.remote_signer.secret_key();
    let peer = fx.client.public_key();
    g.throughput(Throughput::Elements(1));
    g.bench_function("nip44_conversation_key", |b| {
        b.iter(|| nip44::ConversationKey::derive(&secret, black_box(&peer)))
    });
}

fn nip44_round(g: &mut Group<'_>, fx: &Fixture, name: &str, text: &str) {
    let ck = &fx.conversation;
    let crypto = &mut Crypto::from_os_rng();
    let payload = nip44::encrypt(ck, text, crypto).expect("fixture text encrypts");
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function(format!("nip44_encrypt_{name}"), |b| {
        b.iter(|| nip44::encrypt(ck, black_box(text), crypto))
    });
    g.bench_function(format!("nip44_decrypt_{name}"), |b| {
        b.iter(|| nip44::decrypt(ck, black_box(&payload)))
    });
}

fn nip04_round(g: &mut Group<'_>, fx: &Fixture) {
    let key = &fx.nip04;
    let text = &fx.small;
    let crypto = &mut Crypto::from_os_rng();
    let payload = nip04::encrypt(key, text, crypto);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("nip04_encrypt_300B", |b| {
        b.iter(|| nip04::encrypt(key, black_box(text), crypto))
    });
    g.bench_function("nip04_decrypt_300B", |b| {
        b.iter(|| nip04::decrypt(key, black_box(&payload)))
    });
}

/// The id of the response event a `sign_event` produces (944-char NIP-44 content, one p tag).
fn event_id(g: &mut Group<'_>, fx: &Fixture) {
    let e = &fx.response;
    g.throughput(Throughput::Elements(1));
    g.bench_function("event_id_response", |b| {
        b.iter(|| {
            compute_id(
                &e.pubkey,
                e.created_at,
                e.kind,
                &e.tags,
                black_box(&e.content),
            )
        })
    });
}

criterion_group! {
    name = crypto_benches;
    config = criterion_config();
    targets = crypto
}
criterion_main!(crypto_benches);
