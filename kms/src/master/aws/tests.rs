//! The AWS KMS provider against a real moto server: the conformance suite (and the retired
//! versions' keys pending deletion in KMS), a master key without a version refused with the way
//! to create one, an unreachable or silent KMS as clear provider errors, and calls from tokio's
//! blocking pool and from many threads at once.

use super::{AwsKmsConfig, AwsKmsMasterKey, Credentials, AWS_KMS_TIMEOUT};
use crate::master::conformance;
use crate::testing::Moto;
use crate::MasterKey;
use aws_sdk_kms::types::KeyState;
use std::sync::Arc;

/// Every KMS key moto holds whose description names master key `name`: (version, state).
fn key_states(master: &AwsKmsMasterKey, name: &str) -> Vec<(u32, KeyState)> {
    let client = master.client.clone();
    let prefix = format!("bunkerd master key {name} version ");
    let mut states = master
        .runtime
        .run(async move {
            let keys = client.list_keys().send().await.unwrap().keys.unwrap();
            let mut states = Vec::new();
            for key in keys {
                let id = key.key_id.unwrap();
                let described = client.describe_key().key_id(id).send().await.unwrap();
                let metadata = described.key_metadata.unwrap();
                let version = metadata
                    .description
                    .as_deref()
                    .and_then(|d| d.strip_prefix(&prefix).and_then(|v| v.parse::<u32>().ok()));
                if let (Some(version), Some(state)) = (version, metadata.key_state) {
                    states.push((version, state));
                }
            }
            Ok::<_, crate::Error>(states)
        })
        .unwrap();
    states.sort_by_key(|(version, _)| *version);
    states
}

#[test]
fn aws_kms_passes_the_conformance_suite() {
    let moto = Moto::start();
    let master = Arc::new(moto.create_first_version("bunkerd").unwrap());
    let other = moto.create_first_version("other").unwrap();
    assert_eq!(master.info().to_string(), "aws-kms master key \"bunkerd\"");
    conformance::run(master.clone(), Arc::new(other));

    // The suite rotated three times and retired all but the last version: the older keys are
    // pending deletion in KMS (their aliases gone), the current one is enabled.
    let current = master.current_version().unwrap();
    assert_eq!(master.versions().unwrap(), vec![current]);
    let states = key_states(&master, "bunkerd");
    assert_eq!(states.len(), current as usize, "one KMS key per version");
    for (version, state) in states {
        let expected = if version == current {
            KeyState::Enabled
        } else {
            KeyState::PendingDeletion
        };
        assert_eq!(state, expected, "version {version}");
    }
}

#[test]
fn a_master_key_without_a_version_is_refused_with_the_way_to_create_one() {
    let moto = Moto::start();
    let error = moto.connect("bunkerd").unwrap_err();
    assert_eq!(error.code(), "provider");
    let text = error.to_string();
    assert!(text.contains("has no version"), "{text}");
    assert!(text.contains("alias/bunkerd-v1"), "{text}");

    let created = moto.create_first_version("bunkerd").unwrap();
    assert_eq!(created.versions().unwrap(), vec![1]);
    let error = moto.create_first_version("bunkerd").unwrap_err();
    assert!(
        error.to_string().contains("already has versions"),
        "{error}"
    );

    // Another key whose name extends this one's is not one of its versions.
    let longer = moto.create_first_version("bunkerd-v2").unwrap();
    longer.rotate().unwrap();
    let master = moto.connect("bunkerd").unwrap();
    assert_eq!(master.versions().unwrap(), vec![1]);
    assert_eq!(longer.versions().unwrap(), vec![1, 2]);

    for bad in ["", "aws/bunkerd", "bunk erd", "bunkerd:1"] {
        let error = moto.connect(bad).unwrap_err();
        assert!(
            error.to_string().contains("invalid master key name"),
            "{error}"
        );
    }
}

#[test]
fn an_unreachable_kms_is_a_provider_error_and_unhealthy() {
    let moto = Moto::start();
    let master = moto.create_first_version("bunkerd").unwrap();
    let wrapped = master.wrap(b"dek", b"context").unwrap();
    let endpoint = moto.endpoint.clone();
    drop(moto);
    for error in [
        master.health().unwrap_err(),
        master.wrap(b"dek", b"context").unwrap_err(),
        master.unwrap(&wrapped, b"context").unwrap_err(),
        master.rewrap(&wrapped, b"context").unwrap_err(),
        AwsKmsMasterKey::open(config(&endpoint), Credentials::ForTests, false).unwrap_err(),
    ] {
        assert_eq!(error.code(), "provider");
        let text = format!("{error} {error:?}");
        assert!(text.contains("aws-kms"), "{text}");
        assert!(text.contains("cannot reach AWS KMS"), "{text}");
        assert!(!text.contains("testing"), "no credential in {text}");
    }

    // A server that takes the connection and never answers: the call's timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", silent.local_addr().unwrap());
    let started = std::time::Instant::now();
    let error = AwsKmsMasterKey::open(config(&endpoint), Credentials::ForTests, false).unwrap_err();
    assert!(
        error.to_string().contains("no answer within 5 s"),
        "{error}"
    );
    assert!(
        started.elapsed() < AWS_KMS_TIMEOUT * 2,
        "{:?}",
        started.elapsed()
    );
}

fn config(endpoint: &str) -> AwsKmsConfig {
    AwsKmsConfig {
        key: "bunkerd".into(),
        region: Some(Moto::REGION.into()),
        endpoint: Some(endpoint.into()),
    }
}

#[test]
fn the_provider_works_from_a_blocking_pool_thread() {
    let moto = Moto::start();
    let master = Arc::new(moto.create_first_version("bunkerd").unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let on_pool = Arc::clone(&master);
    let wrapped = runtime
        .block_on(async move {
            tokio::task::spawn_blocking(move || {
                let wrapped = on_pool.wrap(b"dek", b"context").unwrap();
                let opened = on_pool.unwrap(&wrapped, b"context").unwrap();
                assert_eq!(opened.as_slice(), b"dek");
                wrapped
            })
            .await
        })
        .unwrap();

    // Many threads at once share the provider's one worker.
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                for _ in 0..4 {
                    let opened = master.unwrap(&wrapped, b"context").unwrap();
                    assert_eq!(opened.as_slice(), b"dek");
                }
            });
        }
    });

    // Dropping the provider (its runtime) inside an async context does not panic.
    runtime.block_on(async move { drop(master) });
}
