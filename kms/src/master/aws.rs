//! [`AwsKmsMasterKey`]: the master key as AWS KMS keys; the key material never leaves KMS.
//!
//! Role: wrap, unwrap and rewrap through the AWS KMS API (`Encrypt`, `Decrypt`, `ReEncrypt`)
//! with the vendor's SDK, and model the trait's numbered versions on top of KMS, whose keys have
//! no destroyable versions: version `N` of the master key `<name>` is its own symmetric KMS key,
//! reached by the alias `alias/<name>-v<N>` (N from 1). The current version is the highest N
//! among those aliases (`ListAliases`); rotation creates a key (`CreateKey`) and its alias
//! (`CreateAlias`); retirement schedules the old keys' deletion (`ScheduleKeyDeletion`, the
//! minimum window of [`PENDING_WINDOW_DAYS`] days) and deletes their aliases (`DeleteAlias`).
//! The wrap context is the KMS encryption context `{"bunkerd": base64(context)}`, so a
//! ciphertext opens only for the binding it was wrapped for, and `ReEncrypt` moves a ciphertext
//! to the current version inside KMS (the plaintext never reaches bunkerd).
//!
//! The trait is synchronous and called from plain threads (signer workers, tokio's blocking
//! pool); the SDK is async. The provider owns a private tokio runtime with one worker thread:
//! each call is spawned onto it and the caller waits on a channel, so it works from any thread
//! (a caller on an async thread would block it, as every provider does, but nothing panics), and
//! every SDK call is bounded by [`AWS_KMS_TIMEOUT`].
//!
//! What it must not do: read credentials from bunkerd's configuration (only the SDK's default
//! chain: environment, shared files, container and instance roles; tests alone sign with fixed
//! dummy credentials), put credentials or plaintext into an error, a log line or `Debug`, or
//! report a retired version as anything but [`Error::UnknownKeyVersion`].
//!
//! API reference: <https://docs.aws.amazon.com/kms/latest/APIReference/Welcome.html>.
//!
//! Main types: [`AwsKmsMasterKey`], [`AwsKmsConfig`].

use super::{MasterKey, MasterKeyInfo, Wrapped};
use crate::Error;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyState, KeyUsageType};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;
use zeroize::Zeroizing;

/// Timeout of one AWS KMS API call (retries and credential resolution included).
pub const AWS_KMS_TIMEOUT: Duration = Duration::from_secs(5);
/// Days between retiring a version and KMS destroying its key material: `ScheduleKeyDeletion`'s
/// minimum `PendingWindowInDays`. The key is refused for every use from the moment it is
/// scheduled (AWS answers `KMSInvalidStateException`) and its alias is deleted at once, so the
/// version is gone for bunkerd immediately; within the window an administrator can still cancel
/// the deletion (`CancelKeyDeletion`) and recreate the alias, after it nobody can.
pub const PENDING_WINDOW_DAYS: i32 = 7;
/// Provider kind, as [`MasterKeyInfo::provider`].
const PROVIDER: &str = "aws-kms";
/// The one key of the KMS encryption context; its value is the base64 wrap context.
const CONTEXT_KEY: &str = "bunkerd";
/// Longest master key name: an alias name is at most 256 bytes, `alias/` and `-v<u32>` included.
const MAX_NAME: usize = 200;

/// Which AWS KMS master key to use and how to reach KMS. Credentials are not here: the SDK's
/// default chain finds them (environment variables, shared config and credentials files,
/// web identity, container and instance roles).
#[derive(Clone)]
pub struct AwsKmsConfig {
    /// The master key's name, e.g. `bunkerd`: version N is the KMS key with alias
    /// `alias/<key>-v<N>`. Letters, digits, `/`, `_` and `-`, at most 200 bytes, not starting
    /// with `aws/` (AWS's reserved alias prefix).
    pub key: String,
    /// AWS region, e.g. `eu-west-1`; `None` takes the SDK's default chain (`AWS_REGION`, the
    /// shared config file, the instance metadata).
    pub region: Option<String>,
    /// Endpoint URL instead of the region's public one, e.g. a VPC endpoint
    /// `https://vpce-….kms.eu-west-1.vpce.amazonaws.com`, or a local test server.
    pub endpoint: Option<String>,
}

impl std::fmt::Debug for AwsKmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKmsConfig")
            .field("key", &self.key)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint.as_deref().map(without_userinfo))
            .finish()
    }
}

/// Where the SDK takes its credentials from.
pub(crate) enum Credentials {
    /// The SDK's default chain: the only source outside tests.
    DefaultChain,
    /// Fixed dummy credentials for a local test server (moto accepts any), and no host
    /// environment or shared files at all, so a developer's AWS setup cannot leak into a test.
    #[cfg(any(test, feature = "testing"))]
    ForTests,
}

/// AWS KMS keys as the master key, one KMS key per version. See the module docs.
///
/// IAM permissions used: `kms:ListAliases`; on the version keys `kms:Encrypt`, `kms:Decrypt`,
/// `kms:ReEncryptFrom`, `kms:ReEncryptTo`; for rotation `kms:CreateKey` and `kms:CreateAlias`;
/// for retirement `kms:ScheduleKeyDeletion`, `kms:DescribeKey` and `kms:DeleteAlias`.
pub struct AwsKmsMasterKey {
    runtime: Runtime,
    client: aws_sdk_kms::Client,
    name: String,
    region: Option<String>,
    endpoint: Option<String>,
}

impl AwsKmsMasterKey {
    /// Connects to AWS KMS and checks that the master key has a version (an alias
    /// `alias/<key>-v<N>`) and that KMS answers (`ListAliases`,
    /// <https://docs.aws.amazon.com/kms/latest/APIReference/API_ListAliases.html>).
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] when the key name is invalid, KMS cannot be reached within
    /// [`AWS_KMS_TIMEOUT`] or refuses (credentials, permissions), or the master key has no
    /// version yet (the text says how to create it: [`AwsKmsMasterKey::create_first_version`]).
    pub fn connect(config: AwsKmsConfig) -> Result<AwsKmsMasterKey, Error> {
        Self::open(config, Credentials::DefaultChain, false)
    }

    /// Creates version 1 of a master key that has no version yet — a symmetric
    /// `ENCRYPT_DECRYPT` KMS key (`CreateKey`,
    /// <https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateKey.html>) with the alias
    /// `alias/<key>-v1` (`CreateAlias`,
    /// <https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateAlias.html>) — and
    /// connects to it. The caller needs `kms:CreateKey` and `kms:CreateAlias` (on the key and
    /// on the alias) besides what [`AwsKmsMasterKey::connect`] needs.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] when the master key already has a version, or as
    /// [`AwsKmsMasterKey::connect`].
    pub fn create_first_version(config: AwsKmsConfig) -> Result<AwsKmsMasterKey, Error> {
        Self::open(config, Credentials::DefaultChain, true)
    }

    /// Builds the client, then checks for a version (`create_first` false) or creates version
    /// 1 (`create_first` true).
    pub(crate) fn open(
        config: AwsKmsConfig,
        credentials: Credentials,
        create_first: bool,
    ) -> Result<AwsKmsMasterKey, Error> {
        check_name(&config.key)?;
        let runtime = Runtime::new()?;
        let loader = loader(&config, credentials);
        let sdk_config = runtime.run(async move {
            tokio::time::timeout(AWS_KMS_TIMEOUT, loader.load())
                .await
                .map_err(|_| provider("loading the AWS configuration: no answer within 5 s".into()))
        })?;
        let master = AwsKmsMasterKey {
            runtime,
            client: aws_sdk_kms::Client::new(&sdk_config),
            name: config.key,
            region: config.region,
            endpoint: config.endpoint,
        };
        let versions = master.list()?;
        match (create_first, versions.keys().next_back()) {
            (false, Some(_)) => {}
            (false, None) => return Err(no_version(&master.name)),
            (true, None) => {
                master.create_version(1)?;
            }
            (true, Some(_)) => {
                return Err(provider(format!(
                    "master key {:?} already has versions {:?}; connect to it instead",
                    master.name,
                    versions.keys().collect::<Vec<_>>()
                )))
            }
        }
        Ok(master)
    }

    /// Every version's alias and the KMS key id it points to, by version.
    fn list(&self) -> Result<BTreeMap<u32, String>, Error> {
        let (client, name) = (self.client.clone(), self.name.clone());
        self.runtime.run(list_versions(client, name))
    }

    /// The current version; [`Error::Provider`] when there is none.
    fn current(versions: &BTreeMap<u32, String>, name: &str) -> Result<u32, Error> {
        versions
            .keys()
            .next_back()
            .copied()
            .ok_or_else(|| no_version(name))
    }

    /// Creates the KMS key of `version` and its alias; schedules the key's deletion again when
    /// the alias cannot be created (another rotation took the number), so no key is orphaned.
    fn create_version(&self, version: u32) -> Result<u32, Error> {
        let (client, name) = (self.client.clone(), self.name.clone());
        self.runtime.run(async move {
            let created = call(
                "CreateKey",
                client
                    .create_key()
                    .description(format!("bunkerd master key {name} version {version}"))
                    .key_usage(KeyUsageType::EncryptDecrypt)
                    .key_spec(KeySpec::SymmetricDefault)
                    .send(),
            )
            .await?;
            let key_id = created
                .key_metadata
                .map(|m| m.key_id)
                .ok_or_else(|| provider("CreateKey answered no key metadata".into()))?;
            let aliased = call(
                "CreateAlias",
                client
                    .create_alias()
                    .alias_name(alias(&name, version))
                    .target_key_id(&key_id)
                    .send(),
            )
            .await;
            if let Err(failure) = aliased {
                let _ = schedule_deletion(&client, &key_id).await;
                return Err(failure.into());
            }
            tracing::info!(key = %name, version, "created an AWS KMS master key version");
            Ok(version)
        })
    }
}

impl MasterKey for AwsKmsMasterKey {
    fn info(&self) -> MasterKeyInfo {
        MasterKeyInfo {
            provider: PROVIDER,
            key: self.name.clone(),
        }
    }

    fn current_version(&self) -> Result<u32, Error> {
        Self::current(&self.list()?, &self.name)
    }

    fn versions(&self) -> Result<Vec<u32>, Error> {
        Ok(self.list()?.into_keys().collect())
    }

    fn wrap(&self, plaintext: &[u8], context: &[u8]) -> Result<Wrapped, Error> {
        let version = self.current_version()?;
        let (client, key_id) = (self.client.clone(), alias(&self.name, version));
        let (plaintext, context) = (Blob::new(plaintext), encryption_context(context));
        self.runtime.run(async move {
            let output = call(
                "Encrypt",
                client
                    .encrypt()
                    .key_id(key_id)
                    .plaintext(plaintext)
                    .encryption_context(CONTEXT_KEY, context)
                    .send(),
            )
            .await?;
            let ciphertext = output
                .ciphertext_blob
                .ok_or_else(|| provider("Encrypt answered no ciphertext".into()))?;
            Ok(Wrapped {
                version,
                ciphertext: ciphertext.into_inner(),
            })
        })
    }

    fn unwrap(&self, wrapped: &Wrapped, context: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let version = wrapped.version;
        let (client, key_id) = (self.client.clone(), alias(&self.name, version));
        let ciphertext = Blob::new(wrapped.ciphertext.as_slice());
        let context = encryption_context(context);
        self.runtime.run(async move {
            let output = call(
                "Decrypt",
                client
                    .decrypt()
                    .key_id(key_id)
                    .ciphertext_blob(ciphertext)
                    .encryption_context(CONTEXT_KEY, context)
                    .send(),
            )
            .await
            .map_err(|failure| failure.opening(version))?;
            output
                .plaintext
                .map(|p| Zeroizing::new(p.into_inner()))
                .ok_or_else(|| provider("Decrypt answered no plaintext".into()))
        })
    }

    fn rewrap(&self, wrapped: &Wrapped, context: &[u8]) -> Result<Wrapped, Error> {
        let versions = self.list()?;
        let to = Self::current(&versions, &self.name)?;
        let from = wrapped.version;
        if !versions.contains_key(&from) {
            return Err(Error::UnknownKeyVersion(from));
        }
        let client = self.client.clone();
        let (source, destination) = (alias(&self.name, from), alias(&self.name, to));
        let ciphertext = Blob::new(wrapped.ciphertext.as_slice());
        let context = encryption_context(context);
        self.runtime.run(async move {
            let output = call(
                "ReEncrypt",
                client
                    .re_encrypt()
                    .ciphertext_blob(ciphertext)
                    .source_key_id(source)
                    .source_encryption_context(CONTEXT_KEY, context.clone())
                    .destination_key_id(destination)
                    .destination_encryption_context(CONTEXT_KEY, context)
                    .send(),
            )
            .await
            .map_err(|failure| failure.opening(from))?;
            let ciphertext = output
                .ciphertext_blob
                .ok_or_else(|| provider("ReEncrypt answered no ciphertext".into()))?;
            Ok(Wrapped {
                version: to,
                ciphertext: ciphertext.into_inner(),
            })
        })
    }

    fn rotate(&self) -> Result<u32, Error> {
        let current = Self::current(&self.list()?, &self.name)?;
        let next = current
            .checked_add(1)
            .ok_or(Error::Unsupported("a master key version above u32::MAX"))?;
        self.create_version(next)
    }

    fn retire(&self, keep_from: u32) -> Result<Vec<u32>, Error> {
        let versions = self.list()?;
        if keep_from > Self::current(&versions, &self.name)? {
            return Err(Error::Unsupported(
                "retiring the current master key version",
            ));
        }
        let old: Vec<(u32, String)> = versions
            .into_iter()
            .filter(|(v, _)| *v < keep_from)
            .collect();
        let (client, name) = (self.client.clone(), self.name.clone());
        self.runtime.run(async move {
            let mut retired = Vec::with_capacity(old.len());
            for (version, key_id) in old {
                schedule_deletion(&client, &key_id).await?;
                let deleted = call(
                    "DeleteAlias",
                    client
                        .delete_alias()
                        .alias_name(alias(&name, version))
                        .send(),
                )
                .await;
                match deleted {
                    Err(failure) if failure.code.as_deref() != Some("NotFoundException") => {
                        return Err(failure.into())
                    }
                    _ => {}
                }
                tracing::info!(key = %name, version, "retired an AWS KMS master key version");
                retired.push(version);
            }
            Ok(retired)
        })
    }
}

impl std::fmt::Debug for AwsKmsMasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsKmsMasterKey")
            .field("key", &self.name)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint.as_deref().map(without_userinfo))
            .finish_non_exhaustive()
    }
}

/// The SDK configuration: our HTTP client (rustls with ring), the region and endpoint given,
/// credentials from the default chain (or the tests' dummies).
fn loader(config: &AwsKmsConfig, credentials: Credentials) -> aws_config::ConfigLoader {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).http_client(http);
    match credentials {
        Credentials::DefaultChain => {}
        #[cfg(any(test, feature = "testing"))]
        Credentials::ForTests => {
            loader = loader.empty_test_environment().credentials_provider(
                aws_sdk_kms::config::Credentials::new("testing", "testing", None, None, "tests"),
            );
        }
    }
    if let Some(region) = &config.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &config.endpoint {
        loader = loader.endpoint_url(endpoint.clone());
    }
    loader
}

/// The provider's own tokio runtime: one worker thread runs every SDK call (and the pooled
/// connections), callers wait on a channel. Shut down in the background when dropped, so the
/// provider may be dropped anywhere, an async context included.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    fn new() -> Result<Runtime, Error> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bunkerd-aws-kms")
            .enable_all()
            .build()
            .map(|runtime| Runtime(Some(runtime)))
            .map_err(|e| provider(format!("starting the AWS KMS runtime: {e}")))
    }

    /// Runs `job` on the worker and waits for its result (each SDK call in it is bounded by
    /// [`AWS_KMS_TIMEOUT`], see [`call`]). Works from any thread: nothing here needs, or
    /// refuses, a tokio context.
    fn run<T: Send + 'static>(
        &self,
        job: impl Future<Output = Result<T, Error>> + Send + 'static,
    ) -> Result<T, Error> {
        let Some(runtime) = &self.0 else {
            return Err(provider("the AWS KMS runtime is shut down".into()));
        };
        let (answer, answered) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = answer.send(job.await);
        });
        answered
            .recv()
            .unwrap_or_else(|_| Err(provider("an AWS KMS call ended without an answer".into())))
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// A failed KMS call: the service's error code when it answered, and the operator's text.
struct Failure {
    operation: &'static str,
    /// The KMS error code, e.g. `NotFoundException`, when KMS answered with an error.
    code: Option<String>,
    /// KMS's message, `""` when it sent none or did not answer.
    message: String,
    /// What failed, for [`Error::Provider`]: the SDK error's text, never credentials.
    reason: String,
}

impl Failure {
    fn from_sdk<E, R>(operation: &'static str, error: SdkError<E, R>) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = error.code().map(str::to_owned);
        let message = error.message().unwrap_or_default().to_owned();
        let unreachable = match &error {
            SdkError::DispatchFailure(failure) => failure.is_io() || failure.is_timeout(),
            SdkError::TimeoutError(_) => true,
            _ => false,
        };
        let reason = match (&code, unreachable) {
            (_, true) => format!("cannot reach AWS KMS: {}", error_chain(&error)),
            (Some(code), false) if matches!(error, SdkError::ServiceError(_)) => {
                if message.is_empty() {
                    code.clone()
                } else {
                    format!("{code}: {message}")
                }
            }
            _ => error_chain(&error),
        };
        Failure {
            operation,
            code,
            message,
            reason,
        }
    }

    /// A refused `Decrypt` or `ReEncrypt` of what `version` wrapped, as the crate's errors.
    ///
    /// AWS answers `IncorrectKeyException` when the ciphertext belongs to another KMS key and
    /// `AccessDeniedException` "The ciphertext refers to a customer master key that does not
    /// exist, …" when it names a key this account cannot see. moto answers an
    /// `AccessDeniedException` without any message for both; AWS's permission denials always
    /// carry one (naming the principal and the action), so every other `AccessDeniedException`
    /// is a permission problem, a provider error.
    fn opening(self, version: u32) -> Error {
        match self.code.as_deref() {
            Some("InvalidCiphertextException" | "IncorrectKeyException") => {
                Error::WrongKeyOrTampered
            }
            Some("AccessDeniedException")
                if self.message.is_empty()
                    || self.message.starts_with("The ciphertext refers to") =>
            {
                Error::WrongKeyOrTampered
            }
            Some("NotFoundException" | "KMSInvalidStateException" | "DisabledException") => {
                Error::UnknownKeyVersion(version)
            }
            _ => self.into(),
        }
    }
}

impl From<Failure> for Error {
    fn from(failure: Failure) -> Error {
        provider(format!("{}: {}", failure.operation, failure.reason))
    }
}

/// One SDK call, bounded by [`AWS_KMS_TIMEOUT`].
async fn call<T, E, R>(
    operation: &'static str,
    request: impl Future<Output = Result<T, SdkError<E, R>>>,
) -> Result<T, Failure>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match tokio::time::timeout(AWS_KMS_TIMEOUT, request).await {
        Ok(result) => result.map_err(|e| Failure::from_sdk(operation, e)),
        Err(_) => Err(Failure {
            operation,
            code: None,
            message: String::new(),
            reason: format!(
                "cannot reach AWS KMS: no answer within {} s",
                AWS_KMS_TIMEOUT.as_secs()
            ),
        }),
    }
}

/// Every alias `alias/<name>-v<N>` (all pages of `ListAliases`), as N → target key id.
async fn list_versions(
    client: aws_sdk_kms::Client,
    name: String,
) -> Result<BTreeMap<u32, String>, Error> {
    let prefix = format!("alias/{name}-v");
    let mut versions = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let page = call(
            "ListAliases",
            client
                .list_aliases()
                .limit(100)
                .set_marker(marker.take())
                .send(),
        )
        .await?;
        for entry in page.aliases.unwrap_or_default() {
            let version = entry
                .alias_name
                .as_deref()
                .and_then(|a| a.strip_prefix(&prefix))
                .and_then(parse_version);
            if let (Some(version), Some(key_id)) = (version, entry.target_key_id) {
                versions.insert(version, key_id);
            }
        }
        match page.next_marker {
            Some(next) if page.truncated && !next.is_empty() => marker = Some(next),
            _ => return Ok(versions),
        }
    }
}

/// `ScheduleKeyDeletion` with the minimum window; a key already pending deletion (a retirement
/// interrupted before its `DeleteAlias`) counts as scheduled.
async fn schedule_deletion(client: &aws_sdk_kms::Client, key_id: &str) -> Result<(), Error> {
    let scheduled = call(
        "ScheduleKeyDeletion",
        client
            .schedule_key_deletion()
            .key_id(key_id)
            .pending_window_in_days(PENDING_WINDOW_DAYS)
            .send(),
    )
    .await;
    let failure = match scheduled {
        Ok(_) => return Ok(()),
        Err(failure) if failure.code.as_deref() == Some("KMSInvalidStateException") => failure,
        Err(failure) => return Err(failure.into()),
    };
    let described = call("DescribeKey", client.describe_key().key_id(key_id).send()).await?;
    let state = described.key_metadata.and_then(|m| m.key_state);
    if state == Some(KeyState::PendingDeletion) {
        Ok(())
    } else {
        Err(failure.into())
    }
}

/// A version number as written in an alias: decimal, from 1, no leading zero.
fn parse_version(digits: &str) -> Option<u32> {
    let version: u32 = digits.parse().ok()?;
    (version > 0 && version.to_string() == digits).then_some(version)
}

fn alias(name: &str, version: u32) -> String {
    format!("alias/{name}-v{version}")
}

fn encryption_context(context: &[u8]) -> String {
    B64.encode(context)
}

/// Refuses a name AWS would refuse in an alias, or one that would read as another's version.
fn check_name(name: &str) -> Result<(), Error> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-');
    if name.is_empty()
        || name.len() > MAX_NAME
        || !name.chars().all(allowed)
        || name.starts_with("aws/")
    {
        return Err(provider(format!(
            "invalid master key name {name:?}: use 1 to {MAX_NAME} letters, digits, '/', '_' \
             or '-', not starting with \"aws/\""
        )));
    }
    Ok(())
}

fn no_version(name: &str) -> Error {
    provider(format!(
        "master key {name:?} has no version: no alias alias/{name}-v<N> in this account and \
         region; create version 1 first (bunkerd's first-version creation, or `aws kms \
         create-key` then `aws kms create-alias --alias-name alias/{name}-v1 --target-key-id \
         <key id>`)"
    ))
}

/// An endpoint URL for display, without any `user:password@`.
fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").map_or(("", url), |(s, r)| (s, r));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) if scheme.is_empty() => format!("***@{}", &rest[at + 1..]),
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The error text of `error` and every source below it.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let next = e.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = e.source();
    }
    text
}

fn provider(reason: String) -> Error {
    Error::Provider {
        provider: PROVIDER,
        reason,
    }
}

#[cfg(test)]
mod tests;
