//! The transit provider against a real OpenBao dev server: the conformance suite, the key
//! refused unless `derived`, a bad token and an unreachable server as clear provider errors.

use super::{TransitConfig, TransitMasterKey};
use crate::master::conformance;
use crate::testing::Bao;
use crate::MasterKey;
use std::sync::Arc;
use zeroize::Zeroizing;

fn config(bao: &Bao, key: &str) -> TransitConfig {
    TransitConfig {
        address: bao.address.clone(),
        mount: "transit".into(),
        key: key.into(),
        token: Zeroizing::new(bao.token.clone()),
        ca_pem: None,
    }
}

#[test]
fn transit_passes_the_conformance_suite() {
    let bao = Bao::start();
    bao.create_key("bunkerd", true);
    bao.create_key("other", true);
    let master = TransitMasterKey::connect(config(&bao, "bunkerd")).unwrap();
    let other = TransitMasterKey::connect(config(&bao, "other")).unwrap();
    assert_eq!(master.info().to_string(), "transit master key \"bunkerd\"");
    conformance::run(Arc::new(master), Arc::new(other));
}

#[test]
fn transit_refuses_a_key_that_is_not_derived_or_missing_and_a_bad_token() {
    let bao = Bao::start();
    bao.create_key("flat", false);
    let error = TransitMasterKey::connect(config(&bao, "flat")).unwrap_err();
    assert_eq!(error.code(), "provider");
    assert!(error.to_string().contains("derived=true"), "{error}");

    let error = TransitMasterKey::connect(config(&bao, "absent")).unwrap_err();
    assert!(error.to_string().contains("HTTP 404"), "{error}");

    let mut bad = config(&bao, "flat");
    bad.token = Zeroizing::new("not-the-token".into());
    let error = TransitMasterKey::connect(bad).unwrap_err();
    let shown = format!("{error} {error:?}");
    assert!(shown.contains("HTTP 403"), "{shown}");
    assert!(!shown.contains("not-the-token"), "{shown}");
}

#[test]
fn an_unreachable_transit_server_is_a_provider_error_and_unhealthy() {
    let bao = Bao::start();
    bao.create_key("bunkerd", true);
    let master = TransitMasterKey::connect(config(&bao, "bunkerd")).unwrap();
    let wrapped = master.wrap(b"dek", b"context").unwrap();
    drop(bao);
    for error in [
        master.health().unwrap_err(),
        master.wrap(b"dek", b"context").unwrap_err(),
        master.unwrap(&wrapped, b"context").unwrap_err(),
    ] {
        assert_eq!(error.code(), "provider");
        assert!(error.to_string().contains("cannot reach"), "{error}");
    }
}
