//! Tests of the route table: every route unique and found by its own path; unknown paths and
//! methods.

use super::*;

#[test]
fn every_route_is_unique_and_matches_itself() {
    for (i, spec) in ROUTES.iter().enumerate() {
        let concrete = spec
            .path
            .split('/')
            .map(|p| if p.starts_with('{') { "x1" } else { p })
            .collect::<Vec<_>>()
            .join("/");
        match lookup(&spec.method, &concrete) {
            Lookup::Found(m) => assert_eq!(m.spec.id, spec.id, "{}", spec.path),
            other => panic!("{} {} → {other:?}", spec.method, spec.path),
        }
        for other in &ROUTES[i + 1..] {
            assert!(
                !(other.method == spec.method && other.path == spec.path),
                "duplicate route {} {}",
                spec.method,
                spec.path
            );
        }
    }
}

#[test]
fn unknown_paths_and_methods() {
    assert!(matches!(
        lookup(&Method::GET, "/v2/tenants"),
        Lookup::NotFound
    ));
    assert!(matches!(
        lookup(&Method::PUT, "/v1/tenants"),
        Lookup::MethodNotAllowed { ref allow } if allow == "POST, GET"
    ));
    let Lookup::Found(m) = lookup(&Method::GET, "/v1/tenants/abc/users/def") else {
        panic!("no match")
    };
    assert_eq!(m.param("tenant"), "abc");
    assert_eq!(m.param("user"), "def");
}
