//! Criterion benches of the raw secp256k1 0.31 primitives on one explicit `Secp256k1::new()`
//! context: the floor that bunkerd's wrappers are compared with.
//!
//! Role: sign (static context, re-blinded every 1024 signatures as bunkerd does, and re-blinded
//! every signature as secp256k1 0.33 does), one re-blinding alone, verify on a parsed key, `lift_x`
//! and raw ECDH + HKDF-extract. Must not: use bunkerd's wrappers (see `crypto.rs`).

use std::hint::black_box;

use benches::raw::OUR_RESEED_EVERY;
use benches::{criterion_config, Fixture, RawSecp};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn secp_raw(c: &mut Criterion) {
    let fx = Fixture::new();
    let mut raw = RawSecp::new(&fx);
    let msg = fx.note_id();
    let aux = [7u8; 32];
    let mut g = c.benchmark_group("secp256k1_0_31_raw");
    g.throughput(Throughput::Elements(1));
    g.bench_function("schnorr_sign_static_ctx", |b| {
        b.iter(|| raw.sign(black_box(&msg), &aux))
    });
    for (name, every) in [("every_1024", OUR_RESEED_EVERY), ("every_op", 1)] {
        g.bench_function(format!("schnorr_sign_reblind_{name}"), |b| {
            b.iter(|| raw.sign_reblinding(black_box(&msg), &aux, every))
        });
    }
    g.bench_function("context_randomize", |b| b.iter(|| raw.reblind()));
    g.bench_function("schnorr_verify", |b| {
        b.iter(|| raw.verify_client(black_box(&fx.request.id), &fx.request.sig))
    });
    let pk = *fx.request.pubkey.as_bytes();
    g.bench_function("xonly_parse_lift_x", |b| {
        b.iter(|| RawSecp::parse_xonly(black_box(&pk)))
    });
    g.bench_function("ecdh_conversation_key", |b| {
        b.iter(|| black_box(&raw).conversation_key())
    });
    g.finish();
}

criterion_group! {
    name = secp_raw_benches;
    config = criterion_config();
    targets = secp_raw
}
criterion_main!(secp_raw_benches);
