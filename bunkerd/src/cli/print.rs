//! Rendering an admin API answer for a terminal: a table for pages (`{"items","next_cursor"}`),
//! `key: value` lines for one object, pretty JSON for policies, a short sentence for empty bodies;
//! with `--json`, the body exactly as received. Timestamps (`*_at`, Unix seconds; `time_ms`, Unix
//! milliseconds) print as UTC RFC 3339.
//!
//! Must not: do I/O (it returns strings; `cli::run` writes them), or put a response's secret (an
//! admin token, a bunker URI) anywhere but stdout.
//!
//! Main items: [`render`], [`Output`], [`View`], [`Reply`].

use super::CliError;
use crate::admin::wire::{ErrorBody, Page};
use serde_json::Value;
use std::fmt::Write;
use zeroize::Zeroizing;

/// An HTTP answer: status and body (which may hold a new admin token or bunker URI secret).
pub(crate) struct Reply {
    /// HTTP status code.
    pub(crate) status: u16,
    /// The body as received.
    pub(crate) body: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reply")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Table columns or leading fields: (JSON key, with `.` for nesting; table header, unused by
/// [`View::Fields`]).
pub(crate) type Columns = &'static [(&'static str, &'static str)];

/// How a successful answer prints without `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// A page: one row per item, these columns.
    Table(Columns),
    /// One object: `key: value` lines, these keys first (in order), then the others by name.
    Fields(Columns),
    /// Indented JSON (policies).
    Pretty,
    /// An empty answer (204): this sentence.
    Done(&'static str),
}

/// How to print a command's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Output {
    /// The view without `--json`.
    pub(crate) view: View,
    /// A line for stderr after a success (e.g. "shown once").
    pub(crate) note: Option<&'static str>,
}

impl Output {
    /// `view` with no note.
    pub(crate) fn new(view: View) -> Self {
        Output { view, note: None }
    }
}

/// What to print for a success.
#[derive(Debug)]
pub(crate) struct Rendered {
    /// For stdout.
    pub(crate) stdout: Zeroizing<String>,
    /// For stderr (a note, or where the next page starts).
    pub(crate) stderr: Option<String>,
}

/// What to print for a failure: stdout (the raw error body with `--json`) and the error.
#[derive(Debug)]
pub(crate) struct Failed {
    /// For stdout.
    pub(crate) stdout: Zeroizing<String>,
    /// The error (printed to stderr by the caller).
    pub(crate) error: CliError,
}

/// Renders `reply` for `output`, or as raw JSON when `json`.
///
/// # Errors
///
/// [`CliError::Api`] for a non-2xx answer with the API's error shape, [`CliError::BadResponse`] for
/// any other non-2xx answer and for a 2xx answer that is not the JSON the view expects.
pub(crate) fn render(reply: &Reply, output: &Output, json: bool) -> Result<Rendered, Failed> {
    let raw = if json {
        let mut text = Zeroizing::new(String::from_utf8_lossy(&reply.body).into_owned());
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text
    } else {
        Zeroizing::new(String::new())
    };
    if !(200..300).contains(&reply.status) {
        return Err(Failed {
            stdout: raw,
            error: api_error(reply),
        });
    }
    if json {
        return Ok(Rendered {
            stdout: raw,
            stderr: output.note.map(str::to_owned),
        });
    }
    human(reply, output).map_err(|error| Failed {
        stdout: Zeroizing::new(String::new()),
        error,
    })
}

fn api_error(reply: &Reply) -> CliError {
    match serde_json::from_slice::<ErrorBody>(&reply.body) {
        Ok(ErrorBody { error }) => CliError::Api {
            status: reply.status,
            code: error.code,
            message: error.message,
        },
        Err(_) => CliError::BadResponse {
            status: reply.status,
        },
    }
}

fn human(reply: &Reply, output: &Output) -> Result<Rendered, CliError> {
    let bad = || CliError::BadResponse {
        status: reply.status,
    };
    let mut stderr = output.note.map(str::to_owned);
    if reply.body.is_empty() {
        let text = match output.view {
            View::Done(done) => done,
            _ => "ok",
        };
        return Ok(Rendered {
            stdout: Zeroizing::new(format!("{text}\n")),
            stderr,
        });
    }
    let value = || serde_json::from_slice::<Value>(&reply.body).map_err(|_| bad());
    let stdout = match output.view {
        View::Table(columns) => {
            // The page's items stay generic JSON: the columns name the fields printed.
            let page: Page<Value> = serde_json::from_slice(&reply.body).map_err(|_| bad())?;
            if let Some(cursor) = &page.next_cursor {
                stderr = Some(format!("more: continue with --cursor {cursor}"));
            }
            table(columns, &page.items)
        }
        View::Fields(columns) => fields(columns, &value()?),
        View::Pretty | View::Done(_) => {
            let mut text = serde_json::to_string_pretty(&value()?).expect("a Value serializes");
            text.push('\n');
            text
        }
    };
    Ok(Rendered {
        stdout: Zeroizing::new(stdout),
        stderr,
    })
}

/// A table: a header row and one row per item, columns padded to their widest cell, separated by
/// two spaces; `(none)` for an empty page.
pub(crate) fn table(columns: Columns, items: &[Value]) -> String {
    if items.is_empty() {
        return "(none)\n".to_owned();
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|(key, _)| cell(key, lookup(item, key)))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, header))| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let headers: Vec<String> = columns.iter().map(|(_, h)| (*h).to_owned()).collect();
    for row in std::iter::once(&headers).chain(&rows) {
        let mut line = String::new();
        for (i, text) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(text);
            } else {
                let _ = write!(line, "{text:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `key: value` lines: `leading` keys first in their order, then every other key by name.
pub(crate) fn fields(leading: Columns, value: &Value) -> String {
    let Some(object) = value.as_object() else {
        return format!("{value}\n");
    };
    let mut keys: Vec<&str> = leading
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| object.contains_key(*k))
        .collect();
    let mut rest: Vec<&str> = object
        .keys()
        .map(String::as_str)
        .filter(|k| !keys.contains(k))
        .collect();
    rest.sort_unstable();
    keys.extend(rest);
    let mut out = String::new();
    for key in keys {
        let _ = writeln!(out, "{key}: {}", cell(key, &object[key]));
    }
    out
}

/// The value at `path` (keys joined by `.`), `Null` when absent.
fn lookup<'a>(value: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(value, |v, key| &v[key])
}

/// One value as text: `-` for null, strings bare, `*_at` seconds and `time_ms` milliseconds as UTC
/// RFC 3339, objects and arrays as compact JSON.
fn cell(key: &str, value: &Value) -> String {
    let leaf = key.rsplit('.').next().unwrap_or(key);
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        Value::Number(n) if leaf == "time_ms" => n
            .as_u64()
            .map_or_else(|| n.to_string(), |ms| rfc3339(ms / 1000, Some(ms % 1000))),
        Value::Number(n) if leaf.ends_with("_at") => n
            .as_u64()
            .map_or_else(|| n.to_string(), |secs| rfc3339(secs, None)),
        other => other.to_string(),
    }
}

/// `secs` (Unix seconds) as `YYYY-MM-DDTHH:MM:SSZ`, with `.mmm` when `millis` is given.
pub(crate) fn rfc3339(secs: u64, millis: Option<u64>) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    match millis {
        Some(ms) => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z"),
        None => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"),
    }
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar (Howard
/// Hinnant's `civil_from_days` algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
