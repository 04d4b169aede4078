//! The floor arithmetic: per-primitive medians → nanoseconds per `sign_event` request →
//! requests per second per core, and the report's text and JSON shapes.
//!
//! Role: one place that states what a request costs: one BIP-340 verify (the request
//! event), one NIP-44 decrypt and one encrypt, two BIP-340 signs (the user's note and the
//! response event), the three event-id hashes (request, note, response), plus one ECDH +
//! HKDF-extract when the conversation key is not cached (a client's first request).
//!
//! Must not: measure anything (see [`crate::timing`]) or round before the final display.
//!
//! Main types: [`RequestParts`], [`RequestCost`], [`Row`], [`Line`].

use serde_json::{json, Value};

#[cfg(test)]
#[path = "report_tests.rs"]
mod tests;

/// Median nanoseconds of each primitive one `sign_event` request needs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestParts {
    /// One BIP-340 verify of the request event's signature (the id hash is in `id_hashes_ns`).
    pub verify_ns: f64,
    /// One NIP-44 v2 decrypt of the request content.
    pub decrypt_ns: f64,
    /// One NIP-44 v2 encrypt of the reply.
    pub encrypt_ns: f64,
    /// One BIP-340 sign; a request needs two.
    pub sign_ns: f64,
    /// The three NIP-01 id computations (request, note, response), summed.
    pub id_hashes_ns: f64,
    /// One conversation-key derivation (ECDH + HKDF-extract), only without a cached key.
    pub ecdh_ns: f64,
}

/// Nanoseconds per `sign_event` request, with and without a cached conversation key.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RequestCost {
    /// Session already holds the conversation key.
    pub cached_ns: f64,
    /// First request of a session: the key is derived too.
    pub uncached_ns: f64,
}

impl RequestParts {
    /// `verify + decrypt + encrypt + 2 × sign + id hashes`, and the same `+ ecdh`.
    pub fn cost(&self) -> RequestCost {
        let cached = self.verify_ns
            + self.decrypt_ns
            + self.encrypt_ns
            + 2.0 * self.sign_ns
            + self.id_hashes_ns;
        RequestCost {
            cached_ns: cached,
            uncached_ns: cached + self.ecdh_ns,
        }
    }
}

impl RequestCost {
    /// Requests per second on one core with a cached key: `1e9 / cached_ns`.
    pub fn cached_per_second(&self) -> f64 {
        per_second(self.cached_ns)
    }

    /// Requests per second on one core when every request derives its key: `1e9 / uncached_ns`.
    pub fn uncached_per_second(&self) -> f64 {
        per_second(self.uncached_ns)
    }

    /// `{"cached_ns","uncached_ns","cached_rps","uncached_rps"}`, ns rounded to 1 ns and rates to
    /// 1 request/s.
    pub fn to_json(&self) -> Value {
        json!({
            "cached_ns": self.cached_ns.round(),
            "uncached_ns": self.uncached_ns.round(),
            "cached_rps": self.cached_per_second().round(),
            "uncached_rps": self.uncached_per_second().round(),
        })
    }
}

/// Calls per second on one core for a call of `ns` nanoseconds (`1e9 / ns`; infinite for 0).
pub fn per_second(ns: f64) -> f64 {
    1e9 / ns
}

/// One line of the primitive table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Stable key for the JSON line, e.g. `raw.sign`.
    pub key: &'static str,
    /// Human label, e.g. `schnorr sign (static context)`.
    pub label: String,
    /// Median nanoseconds per call.
    pub median_ns: f64,
    /// Fastest and slowest timed batch, nanoseconds per call.
    pub spread_ns: (f64, f64),
}

/// The primitive table as aligned Markdown: key, label, median, min–max.
pub fn primitive_table(rows: &[Row]) -> String {
    let mut out =
        String::from("| key | primitive | median ns | min–max ns |\n|---|---|---:|---:|\n");
    for r in rows {
        out.push_str(&format!(
            "| `{}` | {} | {:.0} | {:.0}–{:.0} |\n",
            r.key, r.label, r.median_ns, r.spread_ns.0, r.spread_ns.1
        ));
    }
    out
}

/// One line of the per-request table: a request cost and what it was computed from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    /// Stable snake_case key for the JSON line, e.g. `floor`.
    pub key: &'static str,
    /// Human label, e.g. `raw secp256k1 0.31, static context (the floor)`.
    pub label: &'static str,
    /// The cost per request.
    pub cost: RequestCost,
}

/// The per-request table as Markdown: one line per computation with ns and requests/s/core.
pub fn request_table(lines: &[Line]) -> String {
    let mut out = String::from(
        "| computed from | cached key: ns/req | req/s/core | new session: ns/req | req/s/core |\n\
         |---|---:|---:|---:|---:|\n",
    );
    for line in lines {
        let c = &line.cost;
        out.push_str(&format!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} |\n",
            line.label,
            c.cached_ns,
            c.cached_per_second(),
            c.uncached_ns,
            c.uncached_per_second()
        ));
    }
    out
}

/// The final machine-readable line: `{"primitives_ns":{key: median},"per_request":{name: cost}}`.
pub fn json_line(rows: &[Row], lines: &[Line]) -> String {
    let primitives: serde_json::Map<String, Value> = rows
        .iter()
        .map(|r| (r.key.to_owned(), json!(r.median_ns.round())))
        .collect();
    let per_request: serde_json::Map<String, Value> = lines
        .iter()
        .map(|line| (line.key.to_owned(), line.cost.to_json()))
        .collect();
    json!({ "primitives_ns": primitives, "per_request": per_request }).to_string()
}
