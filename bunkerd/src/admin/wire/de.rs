//! serde helpers for request bodies: what the derive alone would accept and the API must not.
//!
//! - [`object`]: serde's derived `Deserialize` for a struct also accepts a JSON *array* of its
//!   fields in order (so `[]` would read as a body with every field absent). Request bodies and
//!   the objects inside them are read only from JSON objects.
//! - [`object_or_null`]: the same for an optional object field where `null` means "absent".
//! - [`non_null`]: an optional field that may be absent but not `null`.
//! - [`double_option`]: PATCH fields where absent, `null` and a value mean three things.

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// Deserializes `T` from a JSON object only (never from an array of its fields).
///
/// # Errors
///
/// serde's `invalid type` error for anything but an object; `T`'s own errors.
pub(crate) fn object<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_map(ObjectVisitor(PhantomData))
}

struct ObjectVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map))
    }
}

/// An optional object field: `null` → `None`, an object → `Some`, anything else an error. Absent
/// fields need `#[serde(default)]`.
///
/// # Errors
///
/// As [`object`].
pub(crate) fn object_or_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct OrNull<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for OrNull<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object or null")
        }

        fn visit_none<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Option<T>, E> {
            Ok(None)
        }

        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Option<T>, D2::Error> {
            object(d).map(Some)
        }
    }

    d.deserialize_option(OrNull(PhantomData))
}

/// A field that may be absent (`#[serde(default)]` gives `None`) but, when present, holds a `T`:
/// `null` is refused (where `T` itself refuses it: strings, numbers, arrays, booleans).
///
/// # Errors
///
/// `T`'s errors, including serde's `invalid type: null`.
pub(crate) fn non_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// `Option<Option<T>>` for PATCH bodies: absent → `None` (leave), `null` → `Some(None)` (clear),
/// value → `Some(Some(v))`. Serializing writes `null` for `Some(None)`; absent fields are skipped
/// by `skip_serializing_if`.
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Reads a present field (absent ones are `None` through `#[serde(default)]`).
    pub(crate) fn deserialize<'de, T, D>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }

    /// Writes `Some(None)` as `null` and `Some(Some(v))` as `v`.
    pub(crate) fn serialize<T, S>(value: &Option<Option<T>>, s: S) -> Result<S::Ok, S::Error>
    where
        T: Serialize,
        S: Serializer,
    {
        value.as_ref().and_then(Option::as_ref).serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        a: Option<u32>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(default, deserialize_with = "object_or_null")]
        inner: Option<Inner>,
        #[serde(default, deserialize_with = "non_null")]
        name: Option<String>,
    }

    fn parse(text: &str) -> Result<Outer, serde_json::Error> {
        object(&mut serde_json::Deserializer::from_str(text))
    }

    #[test]
    fn only_objects_are_read() {
        assert_eq!(
            parse(r#"{"inner": {"a": 1}}"#).unwrap().inner,
            Some(Inner { a: Some(1) })
        );
        assert_eq!(parse(r#"{"inner": null}"#).unwrap().inner, None);
        for bad in [
            "[]",
            r#"[null, "x"]"#,
            r#"{"inner": []}"#,
            r#"{"inner": [1]}"#,
            "null",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn non_null_fields_refuse_null() {
        assert_eq!(parse("{}").unwrap().name, None);
        assert_eq!(
            parse(r#"{"name": "x"}"#).unwrap().name.as_deref(),
            Some("x")
        );
        assert!(parse(r#"{"name": null}"#).is_err());
    }
}
