//! Tests of the floor arithmetic and the report shapes.

use super::*;

fn parts() -> RequestParts {
    RequestParts {
        verify_ns: 20_000.0,
        decrypt_ns: 3_000.0,
        encrypt_ns: 4_000.0,
        sign_ns: 15_000.0,
        id_hashes_ns: 3_000.0,
        ecdh_ns: 40_000.0,
    }
}

#[track_caller]
fn check(cost: RequestCost, cached_ns: f64, uncached_ns: f64) {
    assert_eq!(cost.cached_ns, cached_ns, "cached");
    assert_eq!(cost.uncached_ns, uncached_ns, "uncached");
}

#[test]
fn cost_adds_two_signs_and_ecdh_only_when_uncached() {
    // 20 + 3 + 4 + 2×15 + 3 = 60 µs; + 40 µs ECDH.
    check(parts().cost(), 60_000.0, 100_000.0);
}

#[test]
fn rates_are_per_second_per_core() {
    let cost = parts().cost();
    assert!((cost.cached_per_second() - 16_666.666).abs() < 0.01);
    assert_eq!(cost.uncached_per_second(), 10_000.0);
    assert_eq!(per_second(1_000.0), 1_000_000.0);
}

#[test]
fn json_line_names_every_primitive_and_line() {
    let rows = [Row {
        key: "raw.sign",
        label: "sign".to_owned(),
        median_ns: 12_345.4,
        spread_ns: (12_000.0, 13_000.0),
    }];
    let lines = [Line {
        key: "floor",
        label: "floor",
        cost: parts().cost(),
    }];
    let v: Value = serde_json::from_str(&json_line(&rows, &lines)).unwrap();
    assert_eq!(v["primitives_ns"]["raw.sign"], json!(12_345.0));
    assert_eq!(v["per_request"]["floor"]["cached_ns"], json!(60_000.0));
    assert_eq!(v["per_request"]["floor"]["uncached_rps"], json!(10_000.0));
}

#[test]
fn tables_have_one_line_per_entry() {
    let rows = vec![
        Row {
            key: "a",
            label: "A".to_owned(),
            median_ns: 1.0,
            spread_ns: (1.0, 1.0),
        };
        3
    ];
    assert_eq!(primitive_table(&rows).lines().count(), 2 + 3);
    let line = Line {
        key: "floor",
        label: "floor",
        cost: parts().cost(),
    };
    let table = request_table(&[line]);
    assert_eq!(table.lines().count(), 3);
    assert!(table.contains("| floor | 60000 | 16667 | 100000 | 10000 |"));
}
