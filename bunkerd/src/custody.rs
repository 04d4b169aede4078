//! The master key at start: build the configured provider, and never create a key over data.
//!
//! Role: turn [`MasterKeySource`] into a [`kms::MasterKey`]; create the default development key
//! file only when the store holds no wrapped keys; turn the vault's self-test failures into
//! errors naming the setting (exit 64). Runs on the blocking pool, after the store is open and
//! before anything is written to it.
//! Must not: write to the store, or put a credential into an error or log line.
//!
//! Main items: [`master_key`], [`self_test_error`], [`ProviderHealth`] (for `/readyz`).

use crate::config::{Config, MasterKeySource};
use crate::Error;
use kms::{
    AwsKmsConfig, AwsKmsMasterKey, FileMasterKey, MasterKey, Pkcs11Config, Pkcs11MasterKey,
    TransitConfig, TransitMasterKey,
};
use std::sync::Arc;
use store::Store;

/// The configured master key. The default key file is created only while `store` holds no
/// wrapped keys (a fresh data directory).
///
/// # Errors
///
/// [`Error::MasterKey`] (exit 64) when the default key file is missing but the store holds keys,
/// or a key file cannot be read; [`Error::Config`] from the settings;
/// [`Error::Kms`] with [`kms::Error::Provider`] when a KMS cannot be reached or refuses.
pub(crate) fn master_key(config: &Config, store: &dyn Store) -> Result<Arc<dyn MasterKey>, Error> {
    match config.master_key_source().map_err(Error::from)? {
        MasterKeySource::File { path, default } => {
            if path.exists() || !default {
                return FileMasterKey::load(&path)
                    .map(|k| Arc::new(k) as Arc<dyn MasterKey>)
                    .map_err(|e| Error::MasterKey {
                        setting: "master-key-file",
                        message: e.to_string(),
                    });
            }
            if let Some(needed) = kms::store_master_key(store)? {
                return Err(Error::MasterKey {
                    setting: "master-key-file",
                    message: format!(
                        "{} is missing, but the store in {} holds keys wrapped by {needed}: \
                         configure that key (master-key-file or master-key); bunkerd never \
                         creates a master key over existing data",
                        path.display(),
                        config.data_dir.join("db").display()
                    ),
                });
            }
            Ok(Arc::new(FileMasterKey::create(&path)?))
        }
        MasterKeySource::Transit {
            address,
            mount,
            key,
        } => {
            let transit = TransitMasterKey::connect(TransitConfig {
                address,
                mount,
                key,
                token: config.master_key_credential().map_err(Error::from)?,
                ca_pem: config.master_key_ca().map_err(Error::from)?,
            })?;
            Ok(Arc::new(transit))
        }
        MasterKeySource::Pkcs11 { .. } => {
            Ok(Arc::new(Pkcs11MasterKey::connect(pkcs11_config(config)?)?))
        }
        MasterKeySource::AwsKms { .. } => {
            Ok(Arc::new(AwsKmsMasterKey::connect(aws_kms_config(config)?)?))
        }
    }
}

/// `bunkerd create-master-key`: creates version 1 of the configured PKCS#11 or AWS KMS master
/// key (the file provider creates its default key itself; a transit key is created in OpenBao
/// with `bao write -f transit/keys/NAME derived=true`). Returns the new key's description.
///
/// # Errors
///
/// [`Error::MasterKey`] for a file or transit key, or when the provider already holds a version
/// of the key (nothing is created); [`Error::Kms`] when the provider cannot be reached or
/// refuses.
pub fn create_master_key(config: &Config) -> Result<String, Error> {
    let exists = |existing: &dyn MasterKey| {
        let info = existing.info();
        Error::MasterKey {
            setting: "master-key",
            message: format!(
                "the {} key {:?} already exists (versions {:?}); nothing was created",
                info.provider,
                info.key,
                existing.versions().unwrap_or_default()
            ),
        }
    };
    let created: Box<dyn MasterKey> = match config.master_key_source().map_err(Error::from)? {
        MasterKeySource::Pkcs11 { .. } => {
            if let Ok(existing) = Pkcs11MasterKey::connect(pkcs11_config(config)?) {
                return Err(exists(&existing));
            }
            Box::new(Pkcs11MasterKey::create_first_version(pkcs11_config(
                config,
            )?)?)
        }
        MasterKeySource::AwsKms { .. } => {
            if let Ok(existing) = AwsKmsMasterKey::connect(aws_kms_config(config)?) {
                return Err(exists(&existing));
            }
            Box::new(AwsKmsMasterKey::create_first_version(aws_kms_config(
                config,
            )?)?)
        }
        MasterKeySource::File { .. } | MasterKeySource::Transit { .. } => {
            return Err(Error::MasterKey {
                setting: "master-key",
                message: "create-master-key is for pkcs11: and aws-kms: keys; a key file is \
                          created by `bunkerd serve` on an empty data directory, a transit key \
                          with `bao write -f transit/keys/NAME derived=true`"
                    .into(),
            })
        }
    };
    let info = created.info();
    Ok(format!(
        "created {} key {:?} version {}",
        info.provider,
        info.key,
        created.current_version()?
    ))
}

fn pkcs11_config(config: &Config) -> Result<Pkcs11Config, Error> {
    let MasterKeySource::Pkcs11 {
        module,
        token,
        object,
    } = config.master_key_source()?
    else {
        unreachable!("called for a pkcs11 source only")
    };
    Ok(Pkcs11Config {
        module,
        token_label: token,
        key_label: object,
        pin: config.master_key_credential()?,
    })
}

fn aws_kms_config(config: &Config) -> Result<AwsKmsConfig, Error> {
    let MasterKeySource::AwsKms {
        key,
        region,
        endpoint,
    } = config.master_key_source()?
    else {
        unreachable!("called for an aws-kms source only")
    };
    Ok(AwsKmsConfig {
        key,
        region,
        endpoint,
    })
}

/// Maps the signer's start-up error: a failed master-key self-test names the setting.
pub(crate) fn self_test_error(config: &Config, error: signer::Error) -> Error {
    match error {
        signer::Error::Kms(kms::Error::Custody(message)) => Error::MasterKey {
            setting: if config.master_key.is_some() {
                "master-key"
            } else {
                "master-key-file"
            },
            message,
        },
        signer::Error::Kms(e @ kms::Error::Provider { .. }) => Error::Kms(e),
        other => Error::Signer(other),
    }
}

/// How long a master-key provider health check is reused: `/readyz` and scrapes never send a
/// KMS more than one request per this period, whoever asks.
pub(crate) const PROVIDER_HEALTH_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(5);

/// The master-key provider's last health check.
#[derive(Default)]
pub(crate) struct ProviderHealth {
    last: std::sync::Mutex<Option<(std::time::Instant, bool)>>,
}

impl ProviderHealth {
    /// Whether the provider answered its last check, re-checking when that is older than
    /// [`PROVIDER_HEALTH_MAX_AGE`]. Blocks (on the blocking pool) for at most the provider's
    /// own timeout; concurrent callers wait for that one check.
    pub(crate) fn healthy(&self, master: &dyn kms::MasterKey) -> bool {
        let mut last = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, healthy)) = *last {
            if at.elapsed() < PROVIDER_HEALTH_MAX_AGE {
                return healthy;
            }
        }
        let healthy = match master.health() {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(code = e.code(), "master key provider unhealthy: {e}");
                false
            }
        };
        *last = Some((std::time::Instant::now(), healthy));
        healthy
    }
}
