//! NIP-01 subscription filters: parsing and matching.
//!
//! Fields: `ids`, `authors`, `kinds`, `#<letter>`, `since`, `until`, `limit` (NIP-01 §"From client to
//! relay"). Lists match when the event's field equals any listed value; all present fields must match
//! (AND); a REQ's several filters are OR-ed. `ids`, `authors`, `#e` and `#p` values must be exact
//! 64-character lowercase hex (no prefix matching). `since <= created_at <= until`, both inclusive.
//! Unknown fields (e.g. NIP-50 `search`) are ignored rather than refused: over-delivering a kind-24133
//! event is harmless, refusing a REQ makes some clients think the relay is dead (docs/protocol-notes.md §11.12).
//!
//! Pure: no I/O.

use event::Event;
use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// Most values one filter list may hold; larger lists are refused (`invalid:`), bounding the cost of
/// matching and of the subscription index.
pub const MAX_FILTER_VALUES: usize = 256;

/// A parsed filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Event ids, 32 bytes each.
    pub ids: Option<Vec<[u8; 32]>>,
    /// Author pubkeys, 32-byte x-only.
    pub authors: Option<Vec<[u8; 32]>>,
    /// Kinds.
    pub kinds: Option<Vec<u16>>,
    /// `#p` values, 32-byte pubkeys.
    pub p_tags: Option<Vec<[u8; 32]>>,
    /// Other `#<letter>` filters: (letter, values).
    pub other_tags: Vec<(char, Vec<String>)>,
    /// Lower bound on `created_at`, unix seconds, inclusive.
    pub since: Option<u64>,
    /// Upper bound on `created_at`, unix seconds, inclusive.
    pub until: Option<u64>,
    /// Most stored events to return before `EOSE`; `0` means none (live only).
    pub limit: Option<u64>,
}

impl Filter {
    /// Whether `event` matches every field present in this filter.
    pub fn matches(&self, event: &Event) -> bool {
        let in_list = |list: &Option<Vec<[u8; 32]>>, v: &[u8; 32]| {
            list.as_ref().is_none_or(|l| l.contains(v))
        };
        in_list(&self.ids, &event.id)
            && in_list(&self.authors, event.pubkey.as_bytes())
            && self.kinds.as_ref().is_none_or(|k| k.contains(&event.kind))
            && self.since.is_none_or(|s| event.created_at >= s)
            && self.until.is_none_or(|u| event.created_at <= u)
            && self.p_tags.as_ref().is_none_or(|ps| {
                tag_values(event, "p").any(|v| hex32(v).is_some_and(|b| ps.contains(&b)))
            })
            && self.other_tags.iter().all(|(letter, values)| {
                let mut buf = [0u8; 4];
                let name: &str = letter.encode_utf8(&mut buf);
                let found = tag_values(event, name).any(|v| values.iter().any(|want| want == v));
                found
            })
    }

    /// Whether the filter names `#p` recipients, the only filters that receive events here. A
    /// response is delivered only to a subscription naming its recipient (the client), so nobody can
    /// watch whom a remote signer talks to by subscribing to its `authors` (ARCHITECTURE.md, decisions). Every
    /// NIP-46 client library subscribes with `#p: [client pubkey]`.
    pub fn is_addressed(&self) -> bool {
        self.p_tags.as_ref().is_some_and(|p| !p.is_empty())
    }
}

/// The first values of every tag named `name`.
fn tag_values<'a>(event: &'a Event, name: &'a str) -> impl Iterator<Item = &'a str> {
    event
        .tags
        .iter()
        .filter(move |t| t.first().is_some_and(|n| n == name))
        .filter_map(|t| t.get(1).map(String::as_str))
}

/// Decodes exactly 64 lowercase hex characters.
pub(crate) fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FilterVisitor)
    }
}

struct FilterVisitor;

impl<'de> Visitor<'de> for FilterVisitor {
    type Value = Filter;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a NIP-01 filter object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Filter, A::Error> {
        let mut filter = Filter::default();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "ids" => filter.ids = Some(hex_list(map.next_value()?)?),
                "authors" => filter.authors = Some(hex_list(map.next_value()?)?),
                "kinds" => filter.kinds = Some(bounded(map.next_value()?)?),
                "since" => filter.since = Some(map.next_value()?),
                "until" => filter.until = Some(map.next_value()?),
                "limit" => filter.limit = Some(map.next_value()?),
                "#p" => filter.p_tags = Some(hex_list(map.next_value()?)?),
                tag if is_tag_key(tag) => {
                    let letter = tag[1..].chars().next().expect("checked length");
                    filter
                        .other_tags
                        .push((letter, bounded(map.next_value()?)?));
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(filter)
    }
}

fn is_tag_key(key: &str) -> bool {
    let b = key.as_bytes();
    b.len() == 2 && b[0] == b'#' && b[1].is_ascii_alphabetic()
}

fn bounded<T, E: de::Error>(list: Vec<T>) -> Result<Vec<T>, E> {
    if list.len() > MAX_FILTER_VALUES {
        return Err(E::custom("too many values in a filter list"));
    }
    Ok(list)
}

fn hex_list<E: de::Error>(list: Vec<String>) -> Result<Vec<[u8; 32]>, E> {
    bounded(list)?
        .iter()
        .map(|s| {
            hex32(s).ok_or_else(|| E::custom("ids, authors and #p need 64-char lowercase hex"))
        })
        .collect()
}

#[cfg(test)]
mod tests;
