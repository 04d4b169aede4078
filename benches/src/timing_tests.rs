//! Tests of the timing loop's calibration and median.

use super::*;

#[track_caller]
fn check(values: &[f64], expected: f64) {
    assert_eq!(median(values), expected);
}

#[test]
fn median_of_odd_and_even_counts() {
    check(&[1.0], 1.0);
    check(&[1.0, 2.0, 9.0], 2.0);
    check(&[1.0, 2.0, 4.0, 9.0], 3.0);
}

#[test]
fn measure_calibrates_and_orders_its_bounds() {
    let opts = Options {
        batch: Duration::from_micros(200),
        rounds: 3,
    };
    let mut calls = 0u64;
    let t = measure(&opts, || {
        calls += 1;
        black_box(calls).wrapping_mul(3)
    });
    assert!(t.iters >= 1);
    // Calibration batches plus the three timed ones all ran.
    assert!(calls >= 3 * t.iters);
    assert!(t.min_ns <= t.median_ns && t.median_ns <= t.max_ns);
    assert!(t.median_ns > 0.0);
}
