//! Fuzz target: NIP-01 subscription filters (`relay::filter::Filter`): parsing and matching,
//! <https://github.com/nostr-protocol/nips/blob/master/01.md>.
//!
//! Input: a filter's JSON text, a NUL, then bytes that build an event (mostly from the filter's
//! own values, so matches are common).
//!
//! Checked: every list holds at most `MAX_FILTER_VALUES` values; the filter written back as JSON
//! parses to the same filter; `Filter::matches` agrees with a plain re-statement of NIP-01's
//! rules (every present field must match; `#p` compares 64-char lowercase hex); `is_addressed` is
//! "names a `#p` recipient".

#![no_main]

use arbitrary::{Result, Unstructured};
use bunkerd_fuzz::{hex, json_str};
use event::{Event, PublicKey};
use libfuzzer_sys::fuzz_target;
use relay::filter::{Filter, MAX_FILTER_VALUES};

/// x of the secp256k1 generator: a valid author key when the filter names none.
const G_X: [u8; 32] = [
    0x79, 0xbe, 0x66, 0x7e, 0xf9, 0xdc, 0xbb, 0xac, 0x55, 0xa0, 0x62, 0x95, 0xce, 0x87, 0x0b, 0x07,
    0x02, 0x9b, 0xfc, 0xdb, 0x2d, 0xce, 0x28, 0xd9, 0x59, 0xf2, 0x81, 0x5b, 0x16, 0xf8, 0x17, 0x98,
];

fn pick<'a, T>(u: &mut Unstructured<'_>, list: Option<&'a Vec<T>>) -> Result<Option<&'a T>> {
    match list {
        Some(l) if !l.is_empty() && u.arbitrary::<bool>()? => Ok(Some(u.choose(l)?)),
        _ => Ok(None),
    }
}

fn near(u: &mut Unstructured<'_>, bound: Option<u64>) -> Result<u64> {
    match bound {
        Some(b) if u.arbitrary::<bool>()? => {
            let delta: i8 = u.int_in_range(-2..=2)?;
            Ok(b.saturating_add_signed(i64::from(delta)))
        }
        _ => u.arbitrary(),
    }
}

/// An event drawn from `u`, its fields mostly taken from `f`.
fn event_for(f: &Filter, u: &mut Unstructured<'_>) -> Result<Event> {
    let id = match pick(u, f.ids.as_ref())? {
        Some(id) => *id,
        None => u.arbitrary()?,
    };
    let pubkey = pick(u, f.authors.as_ref())?
        .and_then(|b| PublicKey::from_bytes(b).ok())
        .unwrap_or_else(|| PublicKey::from_bytes(&G_X).expect("generator"));
    let created_at = if u.arbitrary()? {
        near(u, f.since)?
    } else {
        near(u, f.until)?
    };
    let kind = match pick(u, f.kinds.as_ref())? {
        Some(k) => *k,
        None => u.arbitrary()?,
    };
    let mut tags = Vec::new();
    for _ in 0..u.int_in_range(0..=4)? {
        let mut tag = Vec::new();
        match u.int_in_range(0..=3)? {
            0 => {
                tag.push("p".to_owned());
                match pick(u, f.p_tags.as_ref())? {
                    Some(p) if u.arbitrary()? => tag.push(hex(p).to_uppercase()),
                    Some(p) => tag.push(hex(p)),
                    None => tag.push(u.arbitrary()?),
                }
            }
            1 if !f.other_tags.is_empty() => {
                let (letter, values) = u.choose(&f.other_tags)?;
                tag.push(letter.to_string());
                match pick(u, Some(values))? {
                    Some(v) => tag.push(v.clone()),
                    None => tag.push(u.arbitrary()?),
                }
            }
            _ => tag = u.arbitrary()?,
        }
        tags.push(tag);
    }
    Ok(Event {
        id,
        pubkey,
        created_at,
        kind,
        tags,
        content: String::new(),
        sig: [0; 64],
    })
}

/// NIP-01's matching rules, stated plainly.
fn oracle(f: &Filter, e: &Event) -> bool {
    let tag_has = |name: &str, want: &dyn Fn(&str) -> bool| {
        e.tags
            .iter()
            .any(|t| t.len() >= 2 && t[0] == name && want(&t[1]))
    };
    f.ids.as_ref().is_none_or(|l| l.contains(&e.id))
        && f.authors
            .as_ref()
            .is_none_or(|l| l.contains(e.pubkey.as_bytes()))
        && f.kinds.as_ref().is_none_or(|l| l.contains(&e.kind))
        && f.since.is_none_or(|s| e.created_at >= s)
        && f.until.is_none_or(|u| e.created_at <= u)
        && f.p_tags
            .as_ref()
            .is_none_or(|l| tag_has("p", &|v| l.iter().any(|p| hex(p) == v)))
        && f.other_tags.iter().all(|(letter, values)| {
            tag_has(&letter.to_string(), &|v| values.iter().any(|w| w == v))
        })
}

/// `f` as filter JSON, fields in a fixed order, `#<letter>` lists in their parsed order.
fn to_json(f: &Filter) -> String {
    let hexes = |l: &[[u8; 32]]| {
        let items: Vec<String> = l.iter().map(|b| format!("\"{}\"", hex(b))).collect();
        format!("[{}]", items.join(","))
    };
    let mut fields = Vec::new();
    if let Some(l) = &f.ids {
        fields.push(format!("\"ids\":{}", hexes(l)));
    }
    if let Some(l) = &f.authors {
        fields.push(format!("\"authors\":{}", hexes(l)));
    }
    if let Some(l) = &f.kinds {
        fields.push(format!(
            "\"kinds\":{}",
            serde_json::to_string(l).expect("u16s")
        ));
    }
    if let Some(l) = &f.p_tags {
        fields.push(format!("\"#p\":{}", hexes(l)));
    }
    for (name, v) in [("since", f.since), ("until", f.until), ("limit", f.limit)] {
        if let Some(v) = v {
            fields.push(format!("\"{name}\":{v}"));
        }
    }
    for (letter, values) in &f.other_tags {
        let items: Vec<String> = values.iter().map(|v| json_str(v)).collect();
        fields.push(format!("\"#{letter}\":[{}]", items.join(",")));
    }
    format!("{{{}}}", fields.join(","))
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let Ok(text) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let Ok(filter) = serde_json::from_str::<Filter>(text) else {
        return;
    };
    let lists = [
        filter.ids.as_ref().map_or(0, Vec::len),
        filter.authors.as_ref().map_or(0, Vec::len),
        filter.kinds.as_ref().map_or(0, Vec::len),
        filter.p_tags.as_ref().map_or(0, Vec::len),
    ];
    assert!(lists.iter().all(|&n| n <= MAX_FILTER_VALUES));
    assert!(filter
        .other_tags
        .iter()
        .all(|(_, v)| v.len() <= MAX_FILTER_VALUES));
    assert!(filter
        .other_tags
        .iter()
        .all(|(c, _)| c.is_ascii_alphabetic() && *c != 'p'));

    let written = to_json(&filter);
    let reparsed: Filter = serde_json::from_str(&written).expect("written filter parses");
    assert_eq!(reparsed, filter, "filter JSON round trip: {written}");

    assert_eq!(
        filter.is_addressed(),
        filter.p_tags.as_ref().is_some_and(|p| !p.is_empty())
    );

    let mut u = Unstructured::new(data.get(split + 1..).unwrap_or(&[]));
    while !u.is_empty() {
        let Ok(event) = event_for(&filter, &mut u) else {
            break;
        };
        assert_eq!(
            filter.matches(&event),
            oracle(&filter, &event),
            "matches disagrees with NIP-01 for {event:?}"
        );
    }
});
