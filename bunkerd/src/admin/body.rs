//! Request bodies and query strings of the admin API: a body read bounded in bytes and time, one
//! JSON object parsed without echoing a value, and query parameters form-decoded.
//!
//! Must not: quote a body's values in an error (they may be secrets), or wait for a body without
//! a deadline.

use super::{wire, ApiError, MAX_BODY_BYTES};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use zeroize::Zeroizing;

/// Longest time a client may take to send a request body once its head is read.
const BODY_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) async fn read_body(req: Request<Incoming>) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    let body = http_body_util::Limited::new(req.into_body(), MAX_BODY_BYTES).collect();
    let body = tokio::time::timeout(BODY_READ_TIMEOUT, body)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "body_timeout",
                "request body not received within 10 s",
            )
        })?
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "request body too large or unreadable",
            )
        })?
        .to_bytes();
    Ok(Zeroizing::new(body.to_vec()))
}

/// Parses `text` as one JSON object into `T` (never an array of its fields: [`wire::object`]).
///
/// # Errors
///
/// `400 invalid_json`, naming a missing or unknown field, otherwise only the position: serde's
/// text can quote the offending *value* (e.g. `invalid type: string "…"`), which could be a secret.
pub(crate) fn parse_object<T: serde::de::DeserializeOwned>(text: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(text);
    wire::object(&mut de)
        .and_then(|value| de.end().map(|()| value))
        .map_err(|e| json_error(&e))
}

/// The `400 invalid_json` of a serde error (see [`parse_object`]).
pub(super) fn json_error(e: &serde_json::Error) -> ApiError {
    let detail = e.to_string();
    let message = if detail.starts_with("missing field") || detail.starts_with("unknown field") {
        format!("invalid JSON body: {detail}")
    } else {
        format!(
            "invalid JSON body at line {} column {}",
            e.line(),
            e.column()
        )
    };
    ApiError::bad_request("invalid_json", message)
}

/// The first value of `name` in the query string `query`, form-decoded.
pub(super) fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::query_param;

    #[test]
    fn query_values_are_form_decoded() {
        let q = "cursor=a%2Bb&limit=%31%30&method=user%2Ecreate&name=two+words&empty=&bare";
        assert_eq!(query_param(q, "cursor").as_deref(), Some("a+b"));
        assert_eq!(query_param(q, "limit").as_deref(), Some("10"));
        assert_eq!(query_param(q, "method").as_deref(), Some("user.create"));
        assert_eq!(query_param(q, "name").as_deref(), Some("two words"));
        assert_eq!(query_param(q, "empty").as_deref(), Some(""));
        assert_eq!(query_param(q, "bare").as_deref(), Some(""));
        assert_eq!(query_param(q, "missing"), None);
        // The first occurrence wins; an escaped key matches its decoded name.
        assert_eq!(query_param("a=1&a=2", "a").as_deref(), Some("1"));
        assert_eq!(query_param("%6Cimit=5", "limit").as_deref(), Some("5"));
    }
}
