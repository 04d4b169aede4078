//! Criterion benches of the request-side parsing: the NIP-01 `["EVENT",{…}]` frame of a
//! kind-24133 request (~430-char NIP-44 content), the decrypted NIP-46 `sign_event` request, and
//! `Event::verify` of the request (id hash + BIP-340 verify).
//!
//! Role: the per-request work the floor sum leaves out (JSON), and the verify it includes. Must
//! not: time a parse that fails (results are checked once before timing).

use std::hint::black_box;

use benches::{criterion_config, Fixture};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use proto::nip46::Request;
use relay::message;

fn parse(c: &mut Criterion) {
    let fx = Fixture::new();
    assert!(message::parse(&fx.request_frame).is_ok());
    assert!(Request::parse(&fx.request_plaintext).is_ok());
    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("nip01_event_frame", |b| {
        b.iter(|| message::parse(black_box(&fx.request_frame)))
    });
    g.bench_function("nip46_sign_event_request", |b| {
        b.iter(|| Request::parse(black_box(&fx.request_plaintext)))
    });
    g.bench_function("event_verify_request", |b| {
        b.iter(|| black_box(&fx.request).verify())
    });
    g.finish();
}

criterion_group! {
    name = parse_benches;
    config = criterion_config();
    targets = parse
}
criterion_main!(parse_benches);
