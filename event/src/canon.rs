//! The canonical NIP-01 JSON writer: strings, tag arrays and integers appended to a `String`.
//!
//! Why our own writer instead of serde_json's formatter: event ids are hashes of this exact text,
//! so its escaping rules are part of the protocol, not a formatting detail a dependency upgrade may
//! change. Rules (NIP-01 and `docs/protocol-notes.md` §8.1): compact, UTF-8 verbatim; escape
//! exactly `\n`, `\"`, `\\`, `\r`, `\t`, `\b`, `\f`; other C0 controls (U+0000–U+001F) as `\u00xx`
//! with lowercase hex; `/` and DEL (U+007F) verbatim.
//!
//! Must not: allocate per character or reorder anything. Main items: [`push_str`], [`push_tags`].

/// Appends `s` as a JSON string literal (quotes included) with the NIP-01 escapes.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        // Every byte that needs escaping is ASCII, so `i` is always a char boundary.
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if short.is_empty() {
            push_unicode_escape(out, b);
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn push_unicode_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u00");
    out.push(char::from(HEX[usize::from(b >> 4)]));
    out.push(char::from(HEX[usize::from(b & 0x0f)]));
}

/// Appends `tags` as a JSON array of arrays of strings, e.g. `[["p","ab…"],["t",""]]`.
pub(crate) fn push_tags(out: &mut String, tags: &[Vec<String>]) {
    out.push('[');
    for (i, tag) in tags.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('[');
        for (j, item) in tag.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_str(out, item);
        }
        out.push(']');
    }
    out.push(']');
}

/// Appends an unsigned integer in plain decimal (no sign, exponent or leading zeros).
pub(crate) fn push_u64(out: &mut String, n: u64) {
    out.push_str(&n.to_string());
}

/// Size of `s` as a JSON literal when it needs no escapes (the common case; a lower bound
/// otherwise), for `String::with_capacity`.
pub(crate) fn estimate_str(s: &str) -> usize {
    s.len() + 2
}

/// Approximate size of `tags` as JSON (no escapes assumed), for `String::with_capacity`.
pub(crate) fn estimate_tags(tags: &[Vec<String>]) -> usize {
    2 + tags
        .iter()
        .map(|t| 3 + t.iter().map(|s| estimate_str(s) + 1).sum::<usize>())
        .sum::<usize>()
}
