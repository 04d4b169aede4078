//! Criterion bench of `kms::DataKey::open` on a sealed 32-byte secret key (AES-256-GCM, binding
//! AAD): the cost of unsealing a user key on a directory cache miss.
//!
//! Role: shows that unsealing is negligible next to the secp256k1 work (one `Keypair::new` after
//! the open is a point multiplication). Must not: time a failing open (checked before timing).

use std::hint::black_box;

use benches::{criterion_config, Fixture};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn envelope(c: &mut Criterion) {
    let fx = Fixture::new();
    let sealed = &fx.sealed;
    let binding = sealed.binding();
    assert!(sealed.key.open(&sealed.record, &binding).is_ok());
    let mut g = c.benchmark_group("envelope");
    g.throughput(Throughput::Elements(1));
    g.bench_function("data_key_open_32B", |b| {
        b.iter(|| sealed.key.open(black_box(&sealed.record), &binding))
    });
    g.finish();
}

criterion_group! {
    name = envelope_benches;
    config = criterion_config();
    targets = envelope
}
criterion_main!(envelope_benches);
