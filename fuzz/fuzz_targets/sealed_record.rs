//! Fuzz target: the sealed-record opener (`kms::DataKey::open`, the format in `kms/src/envelope.rs`).
//!
//! Records are sealed here too, with AES-256-GCM and the AAD built from the format's description
//! (`"bunkerd kms envelope v1" ‖ header ‖` four length-prefixed binding fields), so the fuzzer
//! controls what the opener finds behind a valid tag.
//!
//! Input: a mode byte (its value modulo 3), then bytes drawn into
//! - mode 0: a binding and a record, opened as sent;
//! - mode 1: a header (version, algorithm, key id: each mostly right), a nonce, a plaintext, the
//!   binding it is sealed under and the binding it is opened with (mostly the same): the opener
//!   must succeed exactly when the header is right and the bindings are equal, and otherwise fail
//!   with the first error of the documented order;
//! - mode 2: a plaintext and a binding: `DataKey::seal` must write the documented layout (this
//!   file opens it), open back, and refuse the record with any one byte changed.
//!
//! Always checked: no panic; errors come in the documented order (length, version, algorithm,
//! key id, tag).

#![no_main]

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use arbitrary::{Arbitrary, Result, Unstructured};
use kms::{Binding, DataKey, Error};
use libfuzzer_sys::fuzz_target;

const KEY: [u8; 32] = [0x24; 32];
const KEY_ID: u32 = 0x0102_0304;

/// Owned binding fields drawn from the input.
#[derive(Arbitrary, Debug, Clone, PartialEq)]
struct Fields {
    record: String,
    tenant: String,
    owner: String,
    role: String,
}

impl Fields {
    fn binding(&self) -> Binding<'_> {
        Binding {
            record: &self.record,
            tenant: &self.tenant,
            owner: &self.owner,
            role: &self.role,
        }
    }

    fn aad(&self, header: &[u8]) -> Vec<u8> {
        let mut aad = b"bunkerd kms envelope v1".to_vec();
        aad.extend_from_slice(header);
        for field in [&self.record, &self.tenant, &self.owner, &self.role] {
            let len = u16::try_from(field.len()).expect("fields are short here");
            aad.extend_from_slice(&len.to_be_bytes());
            aad.extend_from_slice(field.as_bytes());
        }
        aad
    }
}

/// The error's kind, for comparing (`kms::Error` is not `PartialEq`).
fn kind(r: &std::result::Result<zeroize::Zeroizing<Vec<u8>>, Error>) -> String {
    match r {
        Ok(p) => format!("ok {:?}", p.as_slice()),
        Err(Error::Truncated) => "truncated".into(),
        Err(Error::UnknownVersion(v)) => format!("version {v}"),
        Err(Error::UnknownAlgorithm(a)) => format!("algorithm {a}"),
        Err(Error::UnknownKeyId { expected, found }) => format!("key id {expected} {found}"),
        Err(Error::WrongKeyOrTampered) => "tag".into(),
        Err(e) => format!("unexpected {e}"),
    }
}

/// What opening `sealed` with the right key must give, up to the tag check.
fn first_error(sealed: &[u8]) -> Option<String> {
    if sealed.len() < 34 {
        return Some("truncated".into());
    }
    if sealed[0] != 1 {
        return Some(format!("version {}", sealed[0]));
    }
    if sealed[1] != 1 {
        return Some(format!("algorithm {}", sealed[1]));
    }
    let id = u32::from_be_bytes(sealed[2..6].try_into().expect("4 bytes"));
    (id != KEY_ID).then(|| format!("key id {KEY_ID} {id}"))
}

fn seal(header: &[u8; 6], nonce: &[u8; 12], plaintext: &[u8], fields: &Fields) -> Vec<u8> {
    let aes = Aes256Gcm::new(&KEY.into());
    let aad = fields.aad(header);
    let body = aes
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("encrypts");
    [&header[..], nonce, &body].concat()
}

fn mostly<T: Copy>(u: &mut Unstructured<'_>, right: T) -> Result<T>
where
    T: for<'a> Arbitrary<'a>,
{
    Ok(if u.ratio(7u8, 8u8)? {
        right
    } else {
        u.arbitrary()?
    })
}

fn run(mode: u8, u: &mut Unstructured<'_>) -> Result<()> {
    let key = DataKey::from_bytes(KEY, KEY_ID);
    match mode % 3 {
        0 => {
            let fields: Fields = u.arbitrary()?;
            let sealed = u.bytes(u.len())?;
            let got = kind(&key.open(sealed, &fields.binding()));
            let want = first_error(sealed).unwrap_or_else(|| "tag".into());
            assert_eq!(got, want);
        }
        1 => {
            let id = mostly(u, KEY_ID)?.to_be_bytes();
            let header = [mostly(u, 1u8)?, mostly(u, 1u8)?, id[0], id[1], id[2], id[3]];
            let nonce: [u8; 12] = u.arbitrary()?;
            let sealed_with: Fields = u.arbitrary()?;
            let opened_with = if u.ratio(3u8, 4u8)? {
                sealed_with.clone()
            } else {
                u.arbitrary()?
            };
            let plaintext = u.bytes(u.len())?;
            let sealed = seal(&header, &nonce, plaintext, &sealed_with);
            let got = kind(&key.open(&sealed, &opened_with.binding()));
            let want = match first_error(&sealed) {
                Some(e) => e,
                None if sealed_with == opened_with => kind(&Ok(plaintext.to_vec().into())),
                None => "tag".into(),
            };
            assert_eq!(got, want);
        }
        _ => {
            let fields: Fields = u.arbitrary()?;
            let flip: usize = u.arbitrary()?;
            let bit: u8 = u.int_in_range(0..=7)?;
            let plaintext = u.bytes(u.len())?;
            let sealed = key.seal(plaintext, &fields.binding());
            assert_eq!(sealed.len(), plaintext.len() + 34);
            let header: [u8; 6] = sealed[..6].try_into().expect("6 bytes");
            assert_eq!(header[..2], [1, 1]);
            assert_eq!(header[2..], KEY_ID.to_be_bytes());
            let nonce: [u8; 12] = sealed[6..18].try_into().expect("12 bytes");
            let aes = Aes256Gcm::new(&KEY.into());
            let aad = fields.aad(&header);
            let opened = aes
                .decrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: &sealed[18..],
                        aad: &aad,
                    },
                )
                .expect("seal writes the documented layout");
            assert_eq!(opened, plaintext);
            let back = key.open(&sealed, &fields.binding()).expect("opens");
            assert_eq!(back.as_slice(), plaintext);
            let mut changed = sealed.clone();
            changed[flip % sealed.len()] ^= 1 << bit;
            assert!(
                key.open(&changed, &fields.binding()).is_err(),
                "a changed record opened"
            );
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let _ = run(mode, &mut Unstructured::new(rest));
});
