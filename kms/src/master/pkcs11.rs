//! [`Pkcs11MasterKey`]: the master key as AES-256 secret keys inside a PKCS#11 token (an HSM,
//! or SoftHSM2 in tests); the key bytes never leave the token.
//!
//! Role: wrap, unwrap, rotate and retire through a PKCS#11 module (`C_Encrypt`/`C_Decrypt` with
//! `CKM_AES_GCM`, `C_GenerateKey` with `CKM_AES_KEY_GEN`, `C_DestroyObject`), logged in as the
//! token's user.
//! What it must not do: put the PIN into an error, a log line or `Debug`; create a key version
//! on a normal start (only [`Pkcs11MasterKey::create_first_version`] and
//! [`MasterKey::rotate`] create one); accept a key object that is extractable or not sensitive.
//!
//! **Versions.** Version `N` of key label `L` is one token object: `CKO_SECRET_KEY`,
//! `CKK_AES`, `CKA_VALUE_LEN` 32, `CKA_LABEL` = `L`, `CKA_ID` = `N` as 4 bytes big-endian,
//! `CKA_TOKEN`, `CKA_PRIVATE`, `CKA_SENSITIVE` true, `CKA_EXTRACTABLE` false, `CKA_ENCRYPT` and
//! `CKA_DECRYPT` true (and no other use). The highest version is current; retiring destroys the
//! objects. [`Pkcs11MasterKey::connect`] refuses a label with no version, and any version
//! object that is not such a key.
//!
//! **Ciphertext** (what [`Wrapped::ciphertext`] holds): `IV (12 bytes) ‖ ciphertext ‖ tag (16
//! bytes)`, AES-256-GCM inside the token, the IV fresh from the OS generator for every wrap
//! (an HSM that substitutes its own IV writes it into the same buffer, and that is what is
//! stored), the wrap `context` as the GCM additional data, a 128-bit tag.
//!
//! **Rewrap** is the trait's default, unwrap then wrap: both run in the token, but the data key
//! passes through bunkerd's memory between them (in a [`Zeroizing`] buffer), as for the file
//! provider; PKCS#11 has no re-encrypt operation.
//!
//! **Sessions.** One read/write session per provider, logged in as the user at connect, guarded
//! by a mutex: calls are serialized (a PKCS#11 session runs one operation at a time; master key
//! operations are rare: data-key wraps and unwraps, rotations). When the module reports the
//! session lost (closed, invalid handle, token removed, user logged out), the session is
//! reopened, logged in again with the PIN kept in memory, and the call retried once.
//!
//! **Modules.** A PKCS#11 library may be `C_Initialize`d once per process: each module path
//! (canonicalized) is loaded and initialized once, shared by every provider, and never
//! finalized. A module configured by the environment (SoftHSM2's `SOFTHSM2_CONF`) reads it at
//! that first `C_Initialize`. Login state is per token for the whole process: a second provider
//! on a token that is already logged in is not asked for its PIN again by the module.
//!
//! Main types: [`Pkcs11MasterKey`], [`Pkcs11Config`].

use super::{MasterKey, MasterKeyInfo, Wrapped};
use crate::envelope::fill_random;
use crate::Error;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as P11Error, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, SessionState, UserType};
use cryptoki::types::AuthPin;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};
use zeroize::Zeroizing;

/// Bytes of the GCM IV at the start of every ciphertext.
pub const IV_LEN: usize = 12;
/// Bytes of the GCM tag at the end of every ciphertext.
pub const TAG_LEN: usize = 16;
/// Bytes of an AES-256 key version.
const KEY_LEN: u64 = 32;

/// Which token and key to use, and how to log in.
pub struct Pkcs11Config {
    /// The PKCS#11 module (shared library), e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// Label of the token (`CKA_LABEL` of its token info) holding the key.
    pub token_label: String,
    /// `CKA_LABEL` of the key's version objects.
    pub key_label: String,
    /// The token's user PIN. Kept in memory to log in again after a lost session.
    pub pin: Zeroizing<String>,
}

impl std::fmt::Debug for Pkcs11Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Config")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .finish_non_exhaustive()
    }
}

/// A key in a PKCS#11 token as the master key. See the module docs.
pub struct Pkcs11MasterKey {
    module: PathBuf,
    pkcs11: Pkcs11,
    token_label: String,
    key_label: String,
    pin: Zeroizing<String>,
    /// The logged-in session; `None` after one was lost, until the next call reopens it.
    session: Mutex<Option<Session>>,
}

/// Why an operation inside a session failed.
enum Fail {
    /// A PKCS#11 call failed while doing `.0`.
    Call(&'static str, P11Error),
    /// Already the crate's error.
    Kms(Error),
}

impl From<Error> for Fail {
    fn from(error: Error) -> Fail {
        Fail::Kms(error)
    }
}

/// Tags a cryptoki result with what it was doing.
trait Doing<T> {
    fn doing(self, what: &'static str) -> Result<T, Fail>;
}

impl<T> Doing<T> for Result<T, P11Error> {
    fn doing(self, what: &'static str) -> Result<T, Fail> {
        self.map_err(|e| Fail::Call(what, e))
    }
}

impl Pkcs11MasterKey {
    /// Loads the module (once per process), finds the token by label, logs in and checks that
    /// the token holds at least one well-formed version of the key (module docs).
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] when the module cannot be loaded or initialized, no token (or more
    /// than one) has the label, the PIN is refused (`CKR_PIN_INCORRECT`, `CKR_PIN_LOCKED`), the
    /// token holds no version of the key (the text says how to create version 1), or a version
    /// object is not a sensitive, non-extractable AES-256 key.
    pub fn connect(config: Pkcs11Config) -> Result<Pkcs11MasterKey, Error> {
        let master = Pkcs11MasterKey::open(config)?;
        master.with_session(|session| master.current(session).map(drop))?;
        Ok(master)
    }

    /// Creates version 1 of the key in the token (`C_GenerateKey`, see the module docs) and
    /// connects to it: the explicit first step for a new key, for an operator command and
    /// tests. A normal start uses [`Pkcs11MasterKey::connect`], which never creates a key.
    ///
    /// # Errors
    ///
    /// [`Error::Provider`] as [`Pkcs11MasterKey::connect`], when the token already holds a
    /// version of the key (nothing is created), or when the token refuses to generate it.
    pub fn create_first_version(config: Pkcs11Config) -> Result<Pkcs11MasterKey, Error> {
        let master = Pkcs11MasterKey::open(config)?;
        master.with_session(|session| {
            let versions = master.list(session)?;
            if let Some(current) = versions.keys().next_back() {
                return Err(Fail::Kms(provider(format!(
                    "token {:?} already holds key {:?} (versions up to {current}); nothing was \
                     created",
                    master.token_label, master.key_label
                ))));
            }
            master.generate(session, 1)
        })?;
        Ok(master)
    }

    /// Loads the module, opens and logs in the session; checks nothing about the key.
    fn open(config: Pkcs11Config) -> Result<Pkcs11MasterKey, Error> {
        let pkcs11 = module(&config.module)?;
        let master = Pkcs11MasterKey {
            module: config.module,
            pkcs11,
            token_label: config.token_label,
            key_label: config.key_label,
            pin: config.pin,
            session: Mutex::new(None),
        };
        let session = master.login()?;
        *master.lock() = Some(session);
        Ok(master)
    }

    /// Finds the token, opens a read/write session and logs the user in.
    fn login(&self) -> Result<Session, Error> {
        let fail = |what: &str, e: P11Error| provider(format!("{what}: {}", describe(&e)));
        let slots = self
            .pkcs11
            .get_slots_with_initialized_token()
            .map_err(|e| fail("listing the tokens", e))?;
        let mut labels = Vec::new();
        let mut found = Vec::new();
        for slot in slots {
            let info = self
                .pkcs11
                .get_token_info(slot)
                .map_err(|e| fail("reading a token's info", e))?;
            if info.label() == self.token_label {
                found.push(slot);
            }
            labels.push(info.label().to_owned());
        }
        let slot = match found.as_slice() {
            [slot] => *slot,
            [] => {
                return Err(provider(format!(
                    "module {} has no initialized token labelled {:?} (tokens: {labels:?})",
                    self.module.display(),
                    self.token_label
                )))
            }
            _ => {
                return Err(provider(format!(
                    "module {} has {} tokens labelled {:?}; labels must be unique",
                    self.module.display(),
                    found.len(),
                    self.token_label
                )))
            }
        };
        let session = self
            .pkcs11
            .open_rw_session(slot)
            .map_err(|e| fail("opening a session", e))?;
        let pin = AuthPin::from(self.pin.as_str());
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) | Err(P11Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
            Err(e) => Err(fail(
                &format!("logging in to token {:?}", self.token_label),
                e,
            )),
        }
    }

    /// Runs `op` in the logged-in session, reopening it once if the module reports it lost.
    fn with_session<T>(&self, mut op: impl FnMut(&Session) -> Result<T, Fail>) -> Result<T, Error> {
        let mut guard = self.lock();
        let mut retried = false;
        loop {
            let session = match guard.as_ref() {
                Some(session) => session,
                None => &*guard.insert(self.login()?),
            };
            match op(session) {
                Ok(value) => return Ok(value),
                Err(Fail::Call(_, e)) if !retried && session_lost(&e) => {
                    *guard = None;
                    retried = true;
                }
                Err(Fail::Call(what, e)) => {
                    return Err(provider(format!("{what}: {}", describe(&e))))
                }
                Err(Fail::Kms(e)) => return Err(e),
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Session>> {
        self.session.lock().unwrap_or_else(|poisoned| {
            // A panic mid-call may have left an operation active: start a fresh session.
            let mut guard = poisoned.into_inner();
            *guard = None;
            self.session.clear_poison();
            guard
        })
    }

    /// The template every version object matches; `version` narrows it to one.
    fn template(&self, version: Option<u32>) -> Vec<Attribute> {
        let mut template = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Token(true),
            Attribute::Label(self.key_label.as_bytes().to_vec()),
        ];
        if let Some(version) = version {
            template.push(Attribute::Id(version.to_be_bytes().to_vec()));
        }
        template
    }

    /// Every version object of the key, checked (module docs), by version.
    fn list(&self, session: &Session) -> Result<BTreeMap<u32, ObjectHandle>, Fail> {
        let handles = session
            .find_objects(&self.template(None))
            .doing("finding the key's versions")?;
        let mut versions = BTreeMap::new();
        for handle in handles {
            let attributes = session
                .get_attributes(handle, &CHECKED)
                .doing("reading a key version's attributes")?;
            let version = self.check(&attributes)?;
            if versions.insert(version, handle).is_some() {
                return Err(Fail::Kms(provider(format!(
                    "key {:?} has two objects with version {version} (CKA_ID {:08x}); \
                     destroy one",
                    self.key_label, version
                ))));
            }
        }
        Ok(versions)
    }

    /// The version a key object holds, if it is a sensitive, non-extractable AES-256 key.
    fn check(&self, attributes: &[Attribute]) -> Result<u32, Error> {
        let mut id = None;
        let mut good = 0;
        for attribute in attributes {
            match attribute {
                Attribute::Id(bytes) => id = Some(bytes.clone()),
                Attribute::KeyType(kind) if *kind == KeyType::AES => good += 1,
                Attribute::ValueLen(len) if u64::from(*len) == KEY_LEN => good += 1,
                Attribute::Sensitive(true)
                | Attribute::Extractable(false)
                | Attribute::Encrypt(true)
                | Attribute::Decrypt(true) => good += 1,
                _ => {}
            }
        }
        let version = id
            .and_then(|id| <[u8; 4]>::try_from(id.as_slice()).ok())
            .map(u32::from_be_bytes)
            .filter(|v| *v > 0);
        match version {
            Some(version) if good == CHECKED.len() - 1 => Ok(version),
            Some(version) => Err(provider(format!(
                "version {version} of key {:?} is not a sensitive, non-extractable AES-256 key \
                 allowed to encrypt and decrypt; refusing it",
                self.key_label
            ))),
            None => Err(provider(format!(
                "an object labelled {:?} has a CKA_ID that is not a version (4 bytes \
                 big-endian, from 1)",
                self.key_label
            ))),
        }
    }

    /// The highest version and its object.
    fn current(&self, session: &Session) -> Result<(u32, ObjectHandle), Fail> {
        let versions = self.list(session)?;
        if versions.is_empty() {
            logged_in(session)?;
        }
        versions.into_iter().next_back().ok_or_else(|| {
            Fail::Kms(provider(format!(
                "token {:?} holds no version of key {:?}; create version 1 explicitly \
                 (Pkcs11MasterKey::create_first_version, the operator's key-creation command), \
                 or generate in the token an AES-256 secret key with CKA_LABEL {:?}, CKA_ID \
                 00000001, CKA_TOKEN, CKA_SENSITIVE, CKA_ENCRYPT and CKA_DECRYPT true and \
                 CKA_EXTRACTABLE false",
                self.token_label, self.key_label, self.key_label
            )))
        })
    }

    /// The object of one version, if the token holds it.
    fn find(&self, session: &Session, version: u32) -> Result<Option<ObjectHandle>, Fail> {
        let handles = session
            .find_objects(&self.template(Some(version)))
            .doing("finding a key version")?;
        match handles.as_slice() {
            [] => Ok(None),
            [handle] => Ok(Some(*handle)),
            _ => Err(Fail::Kms(provider(format!(
                "key {:?} has {} objects with version {version}; destroy all but one",
                self.key_label,
                handles.len()
            )))),
        }
    }

    /// Generates `version` in the token; refuses (and destroys it again) if another process
    /// created the same version meanwhile.
    fn generate(&self, session: &Session, version: u32) -> Result<(), Fail> {
        let mut template = self.template(Some(version));
        template.extend([
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(KEY_LEN.into()),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
        ]);
        let handle = session
            .generate_key(&Mechanism::AesKeyGen, &template)
            .doing("generating a key version (CKM_AES_KEY_GEN)")?;
        let same = session
            .find_objects(&self.template(Some(version)))
            .doing("finding a key version")?;
        if same.len() > 1 {
            let _ = session.destroy_object(handle);
            return Err(Fail::Kms(provider(format!(
                "version {version} of key {:?} was created concurrently by another process",
                self.key_label
            ))));
        }
        Ok(())
    }
}

/// The attributes [`Pkcs11MasterKey::check`] reads: the id, then what must hold.
const CHECKED: [AttributeType; 7] = [
    AttributeType::Id,
    AttributeType::KeyType,
    AttributeType::ValueLen,
    AttributeType::Sensitive,
    AttributeType::Extractable,
    AttributeType::Encrypt,
    AttributeType::Decrypt,
];

impl MasterKey for Pkcs11MasterKey {
    fn info(&self) -> MasterKeyInfo {
        MasterKeyInfo {
            provider: "pkcs11",
            key: self.key_label.clone(),
        }
    }

    fn current_version(&self) -> Result<u32, Error> {
        self.with_session(|session| Ok(self.current(session)?.0))
    }

    fn versions(&self) -> Result<Vec<u32>, Error> {
        self.with_session(|session| Ok(self.list(session)?.into_keys().collect()))
    }

    fn wrap(&self, plaintext: &[u8], context: &[u8]) -> Result<Wrapped, Error> {
        self.with_session(|session| {
            let (version, handle) = self.current(session)?;
            let mut iv = [0u8; IV_LEN];
            fill_random(&mut iv);
            let body = {
                let params = GcmParams::new(&mut iv, context, (TAG_LEN as u64 * 8).into())
                    .doing("preparing CKM_AES_GCM")?;
                session
                    .encrypt(&Mechanism::AesGcm(params), handle, plaintext)
                    .doing("encrypting (CKM_AES_GCM)")?
            };
            if body.len() != plaintext.len() + TAG_LEN {
                return Err(Fail::Kms(provider(format!(
                    "CKM_AES_GCM answered {} bytes for {} bytes of plaintext",
                    body.len(),
                    plaintext.len()
                ))));
            }
            let mut ciphertext = Vec::with_capacity(IV_LEN + body.len());
            ciphertext.extend_from_slice(&iv);
            ciphertext.extend_from_slice(&body);
            Ok(Wrapped {
                version,
                ciphertext,
            })
        })
    }

    fn unwrap(&self, wrapped: &Wrapped, context: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        if wrapped.ciphertext.len() < IV_LEN + TAG_LEN {
            return Err(Error::WrongKeyOrTampered);
        }
        let (iv, body) = wrapped.ciphertext.split_at(IV_LEN);
        self.with_session(|session| {
            let Some(handle) = self.find(session, wrapped.version)? else {
                logged_in(session)?;
                return Err(Fail::Kms(Error::UnknownKeyVersion(wrapped.version)));
            };
            let mut iv = <[u8; IV_LEN]>::try_from(iv).map_err(|_| Error::WrongKeyOrTampered)?;
            let params = GcmParams::new(&mut iv, context, (TAG_LEN as u64 * 8).into())
                .doing("preparing CKM_AES_GCM")?;
            match session.decrypt(&Mechanism::AesGcm(params), handle, body) {
                Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
                Err(e) if tag_check_failed(session, &e) => {
                    Err(Fail::Kms(Error::WrongKeyOrTampered))
                }
                Err(e) => Err(Fail::Call("decrypting (CKM_AES_GCM)", e)),
            }
        })
    }

    fn rotate(&self) -> Result<u32, Error> {
        self.with_session(|session| {
            let (current, _) = self.current(session)?;
            let next = current
                .checked_add(1)
                .ok_or(Error::Unsupported("a master key version above u32::MAX"))?;
            self.generate(session, next)?;
            Ok(next)
        })
    }

    fn retire(&self, keep_from: u32) -> Result<Vec<u32>, Error> {
        self.with_session(|session| {
            let (current, _) = self.current(session)?;
            if keep_from > current {
                return Err(Fail::Kms(Error::Unsupported(
                    "retiring the current master key version",
                )));
            }
            let mut retired = Vec::new();
            for (version, handle) in self.list(session)?.range(..keep_from) {
                session
                    .destroy_object(*handle)
                    .doing("destroying a key version")?;
                retired.push(*version);
            }
            Ok(retired)
        })
    }
}

impl std::fmt::Debug for Pkcs11MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11MasterKey")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .finish_non_exhaustive()
    }
}

/// The process's context for the module at `path`, loaded and `C_Initialize`d on first use.
fn module(path: &Path) -> Result<Pkcs11, Error> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let canonical = path
        .canonicalize()
        .map_err(|e| provider(format!("PKCS#11 module {}: {e}", path.display())))?;
    let mut modules = MODULES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(pkcs11) = modules.get(&canonical) {
        return Ok(pkcs11.clone());
    }
    let pkcs11 = Pkcs11::new(&canonical).map_err(|e| {
        provider(format!(
            "loading PKCS#11 module {}: {}",
            path.display(),
            describe(&e)
        ))
    })?;
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(P11Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(provider(format!(
                "initializing PKCS#11 module {}: {}",
                path.display(),
                describe(&e)
            )))
        }
    }
    modules.insert(canonical, pkcs11.clone());
    Ok(pkcs11)
}

/// Checks that the session is still logged in as the user: logged out (the token reset, or a
/// `C_Logout` elsewhere in the process), it sees no private object, so an empty search is not
/// yet an answer. A logged-out session fails as `CKR_USER_NOT_LOGGED_IN`, a lost session.
fn logged_in(session: &Session) -> Result<(), Fail> {
    let info = session
        .get_session_info()
        .doing("reading the session's state")?;
    if info.session_state() == SessionState::RwUser {
        Ok(())
    } else {
        Err(Fail::Call(
            "searching the token logged out",
            P11Error::Pkcs11(RvError::UserNotLoggedIn, Function::FindObjects),
        ))
    }
}

/// Whether a failed call means the session is gone (reopen it and retry).
fn session_lost(error: &P11Error) -> bool {
    matches!(
        error,
        P11Error::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::UserNotLoggedIn,
            _
        )
    )
}

/// Whether a failed `C_Decrypt` is the GCM tag check: `CKR_ENCRYPTED_DATA_INVALID` (or
/// `_LEN_RANGE`) as the standard says, or `CKR_GENERAL_ERROR` from `C_Decrypt` itself with the
/// session still working, which is what SoftHSM2 (2.6) answers for a failed tag.
fn tag_check_failed(session: &Session, error: &P11Error) -> bool {
    match error {
        P11Error::Pkcs11(RvError::EncryptedDataInvalid | RvError::EncryptedDataLenRange, _) => true,
        P11Error::Pkcs11(RvError::GeneralError, Function::Decrypt) => {
            session.get_session_info().is_ok()
        }
        _ => false,
    }
}

/// A cryptoki error as `C_<Function>: CKR_<CODE>`, with a hint for a refused PIN. Never holds
/// the PIN (cryptoki's errors carry no argument values).
fn describe(error: &P11Error) -> String {
    match error {
        P11Error::Pkcs11(rv, function) => {
            let hint = match rv {
                RvError::PinIncorrect => " (the PIN does not open the token)",
                RvError::PinLocked => " (the token's user PIN is locked)",
                RvError::PinExpired => " (the token's user PIN has expired)",
                _ => "",
            };
            format!("C_{function:?} returned {}{hint}", ckr_name(rv))
        }
        other => other.to_string(),
    }
}

/// `CKR_SCREAMING_CASE` of a return value (cryptoki names them in CamelCase).
fn ckr_name(rv: &RvError) -> String {
    match rv {
        RvError::VendorDefined(code) => format!("CKR_VENDOR_DEFINED({code:#x})"),
        RvError::UnknownErrorCode(code) => format!("unknown CK_RV {code:#x}"),
        other => {
            let mut name = String::from("CKR");
            for c in format!("{other:?}").chars() {
                if c.is_ascii_uppercase() {
                    name.push('_');
                }
                name.push(c.to_ascii_uppercase());
            }
            name
        }
    }
}

fn provider(reason: String) -> Error {
    Error::Provider {
        provider: "pkcs11",
        reason,
    }
}

#[cfg(test)]
mod tests;
