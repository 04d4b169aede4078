//! The PKCS#11 provider against a real SoftHSM2 token, each test in a subprocess of its own
//! (`SoftHsm::in_subprocess`: the module reads `SOFTHSM2_CONF` once per process): the
//! conformance suite, versions that never leave the token, a session logged out behind the
//! provider's back, and a wrong PIN, a missing token, key or module as clear provider errors
//! that never show the PIN.

use super::{Pkcs11MasterKey, IV_LEN, TAG_LEN};
use crate::master::conformance;
use crate::testing::SoftHsm;
use crate::{Error, MasterKey, Wrapped};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass};
use std::sync::Arc;
use zeroize::Zeroizing;

#[test]
fn pkcs11_passes_the_conformance_suite() {
    let Some(hsm) = SoftHsm::in_subprocess() else {
        return;
    };
    hsm.add_token("other-token", "other-pin");
    let master = Pkcs11MasterKey::create_first_version(hsm.config("bunkerd")).unwrap();
    let mut other = hsm.config("other");
    other.token_label = "other-token".into();
    other.pin = Zeroizing::new("other-pin".into());
    let other = Pkcs11MasterKey::create_first_version(other).unwrap();
    assert_eq!(master.info().to_string(), "pkcs11 master key \"bunkerd\"");

    // IV ‖ ciphertext ‖ tag; a second provider on the same key (and token) opens it, and
    // closing its session leaves the first logged in.
    let wrapped = master.wrap(b"dek", b"context").unwrap();
    assert_eq!(wrapped.ciphertext.len(), IV_LEN + 3 + TAG_LEN);
    let again = Pkcs11MasterKey::connect(hsm.config("bunkerd")).unwrap();
    assert_eq!(
        again.unwrap(&wrapped, b"context").unwrap().as_slice(),
        b"dek"
    );
    drop(again);
    assert_eq!(
        master.unwrap(&wrapped, b"context").unwrap().as_slice(),
        b"dek"
    );
    let short = Wrapped {
        version: wrapped.version,
        ciphertext: wrapped.ciphertext[..IV_LEN + TAG_LEN - 1].to_vec(),
    };
    assert_eq!(
        master.unwrap(&short, b"context").unwrap_err().code(),
        "wrong_key_or_tampered"
    );

    conformance::run(Arc::new(master), Arc::new(other));
}

#[test]
fn the_key_is_not_extractable() {
    let Some(hsm) = SoftHsm::in_subprocess() else {
        return;
    };
    let master = Pkcs11MasterKey::create_first_version(hsm.config("bunkerd")).unwrap();
    assert_eq!(master.rotate().unwrap(), 2);
    master
        .with_session(|session| {
            let versions = master.list(session)?;
            assert_eq!(versions.keys().copied().collect::<Vec<_>>(), vec![1, 2]);
            for (version, handle) in versions {
                // CKA_VALUE is never returned.
                let info = session
                    .get_attribute_info(handle, &[AttributeType::Value])
                    .unwrap();
                assert!(matches!(info[..], [AttributeInfo::Sensitive]), "{info:?}");
                let value = session
                    .get_attributes(handle, &[AttributeType::Value])
                    .unwrap();
                assert!(value.is_empty(), "v{version}: CKA_VALUE was readable");

                // Generated in the token, and never extractable or readable since.
                let attributes = session
                    .get_attributes(
                        handle,
                        &[
                            AttributeType::Id,
                            AttributeType::Token,
                            AttributeType::Sensitive,
                            AttributeType::Extractable,
                            AttributeType::AlwaysSensitive,
                            AttributeType::NeverExtractable,
                            AttributeType::Local,
                        ],
                    )
                    .unwrap();
                assert_eq!(
                    attributes,
                    vec![
                        Attribute::Id(version.to_be_bytes().to_vec()),
                        Attribute::Token(true),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(false),
                        Attribute::AlwaysSensitive(true),
                        Attribute::NeverExtractable(true),
                        Attribute::Local(true),
                    ]
                );

                // Neither attribute can be turned back, and no key can wrap it out.
                assert!(session
                    .update_attributes(handle, &[Attribute::Extractable(true)])
                    .is_err());
                assert!(session
                    .update_attributes(handle, &[Attribute::Sensitive(false)])
                    .is_err());
                let wrapping = session
                    .generate_key(
                        &Mechanism::AesKeyGen,
                        &[
                            Attribute::Class(ObjectClass::SECRET_KEY),
                            Attribute::KeyType(KeyType::AES),
                            Attribute::ValueLen(32.into()),
                            Attribute::Token(false),
                            Attribute::Wrap(true),
                        ],
                    )
                    .unwrap();
                let refused = session
                    .wrap_key(&Mechanism::AesKeyWrap, wrapping, handle)
                    .unwrap_err();
                assert!(
                    matches!(refused, P11Error::Pkcs11(RvError::KeyUnextractable, _)),
                    "{refused}"
                );
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn a_session_logged_out_behind_the_providers_back_logs_in_again() {
    let Some(hsm) = SoftHsm::in_subprocess() else {
        return;
    };
    let master = Pkcs11MasterKey::create_first_version(hsm.config("bunkerd")).unwrap();
    let wrapped = master.wrap(b"dek", b"context").unwrap();
    master.lock().as_ref().unwrap().logout().unwrap();
    assert_eq!(master.current_version().unwrap(), 1);
    master.lock().as_ref().unwrap().logout().unwrap();
    assert_eq!(
        master.unwrap(&wrapped, b"context").unwrap().as_slice(),
        b"dek"
    );
    assert_eq!(
        master
            .unwrap(
                &Wrapped {
                    version: 7,
                    ..wrapped
                },
                b"context"
            )
            .unwrap_err()
            .code(),
        "unknown_key_version"
    );
}

#[test]
fn a_wrong_pin_or_missing_token_is_a_clear_provider_error_without_the_pin() {
    let Some(hsm) = SoftHsm::in_subprocess() else {
        return;
    };
    let pins = ["wrong-pin-7531", hsm.pin.as_str()];
    let check = |error: Error, expected: &str| {
        assert_eq!(error.code(), "provider", "{error}");
        let shown = format!("{error} {error:?}");
        assert!(shown.contains(expected), "{shown}");
        for pin in pins {
            assert!(!shown.contains(pin), "the PIN shown in: {shown}");
        }
    };

    // First, before any login: once the token is logged in, this process is not asked again.
    let mut wrong = hsm.config("bunkerd");
    wrong.pin = Zeroizing::new(pins[0].into());
    check(
        Pkcs11MasterKey::create_first_version(wrong).unwrap_err(),
        "C_Login returned CKR_PIN_INCORRECT",
    );

    let mut absent = hsm.config("bunkerd");
    absent.token_label = "absent".into();
    check(
        Pkcs11MasterKey::connect(absent).unwrap_err(),
        &format!(
            "no initialized token labelled \"absent\" (tokens: [{:?}])",
            hsm.token_label
        ),
    );
    let mut no_module = hsm.config("bunkerd");
    no_module.module = "/nonexistent/libpkcs11.so".into();
    check(
        Pkcs11MasterKey::connect(no_module).unwrap_err(),
        "PKCS#11 module /nonexistent/libpkcs11.so",
    );

    // No version: connect says how to create one; only the explicit call creates it, once.
    check(
        Pkcs11MasterKey::connect(hsm.config("bunkerd")).unwrap_err(),
        "holds no version of key \"bunkerd\"; create version 1 explicitly",
    );
    let master = Pkcs11MasterKey::create_first_version(hsm.config("bunkerd")).unwrap();
    check(
        Pkcs11MasterKey::create_first_version(hsm.config("bunkerd")).unwrap_err(),
        "already holds key \"bunkerd\" (versions up to 1); nothing was created",
    );
    assert_eq!(master.versions().unwrap(), vec![1]);
    let connected = Pkcs11MasterKey::connect(hsm.config("bunkerd")).unwrap();
    assert_eq!(connected.current_version().unwrap(), 1);

    let shown = format!("{:?} {connected:?}", hsm.config("bunkerd"));
    assert!(!shown.contains(&hsm.pin), "{shown}");
    assert!(shown.contains("bunkerd"), "{shown}");
}
