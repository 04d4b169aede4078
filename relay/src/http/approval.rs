//! `GET /approvals/<token>`: the page an `auth_url` reply points to (NIP-46 "Auth Challenges",
//! <https://github.com/nostr-protocol/nips/blob/master/46.md>). It shows what waits for an admin's
//! decision — the client, the permission, a preview of the event to sign, how long it has — and
//! its outcome as it changes (the page reloads itself every few seconds while pending, with an
//! HTML `meta` refresh: no script, no outside asset).
//!
//! The token (64 lowercase hex, 32 random bytes) is the only key: any other path, or an unknown
//! token, answers the same 404, so the page reveals nothing to someone who does not hold the URL.
//! Each lookup takes a token of the client address's event bucket, like NIP-05. Approving and
//! denying happen in the admin API, not here.

use super::{text, Body};
use crate::dispatch::{unix_now, ApprovalPage};
use crate::state::RelayState;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use std::fmt::Write;
use std::sync::Arc;

/// The path prefix of approval pages.
pub const PREFIX: &str = "/approvals/";

/// Seconds between reloads of a pending page.
const REFRESH_SECS: u64 = 3;

/// Serves one approval page.
pub(crate) async fn page(
    req: &Request<Incoming>,
    state: &Arc<RelayState>,
    peer: std::net::IpAddr,
) -> Response<Body> {
    if let Some(refused) = super::refuse_lookup(req, state, peer) {
        return refused;
    }
    let token = req.uri().path().strip_prefix(PREFIX).unwrap_or("");
    let well_formed = token.len() == 64
        && token
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !well_formed {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    let dispatch = state.dispatch.clone();
    let token = token.to_owned();
    let found = tokio::task::spawn_blocking(move || dispatch.approval_page(&token))
        .await
        .ok()
        .flatten();
    let Some(page) = found else {
        return text(StatusCode::NOT_FOUND, "not found\n");
    };
    Response::builder()
        .header(CONTENT_TYPE, "text/html; charset=utf-8")
        .header(CACHE_CONTROL, "no-store")
        .header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        )
        .header("Referrer-Policy", "no-referrer")
        .header("X-Content-Type-Options", "nosniff")
        .body(Body::from(render(&page, unix_now())))
        .expect("valid response")
}

/// The page's HTML; every value from the request or the client is escaped.
pub(crate) fn render(page: &ApprovalPage, now: u64) -> String {
    let pending = page.status == "pending";
    let mut html = String::from("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    if pending {
        let _ = write!(
            html,
            "<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">"
        );
    }
    html.push_str(
        "<title>Signing request</title><style>body{font-family:system-ui,sans-serif;max-width:40em;\
         margin:2em auto;padding:0 1em;line-height:1.5}dt{font-weight:600}pre{white-space:pre-wrap;\
         background:#f4f4f4;padding:.5em}.status{font-size:1.3em}</style></head><body>",
    );
    html.push_str("<h1>A signing request waits for approval</h1>");
    let status = match page.status {
        "pending" => {
            let left = page.expires_at.saturating_sub(now);
            format!(
                "Waiting for an administrator: {} min {} s left.",
                left / 60,
                left % 60
            )
        }
        "approved" | "remembered" => "Approved: the request was signed.".to_owned(),
        "denied" => "Denied by an administrator.".to_owned(),
        _ => "Expired: nobody decided in time.".to_owned(),
    };
    let _ = write!(html, "<p class=\"status\">{}</p><dl>", escape(&status));
    let client = match &page.client_name {
        Some(name) => format!("{name} ({})", page.client_pubkey),
        None => page.client_pubkey.clone(),
    };
    let _ = write!(html, "<dt>Client</dt><dd>{}</dd>", escape(&client));
    let _ = write!(
        html,
        "<dt>Asks for</dt><dd><code>{}</code></dd>",
        escape(&page.permission)
    );
    if let Some(preview) = &page.preview {
        let _ = write!(
            html,
            "<dt>Content</dt><dd><pre>{}</pre></dd>",
            escape(preview)
        );
    }
    html.push_str("</dl></body></html>");
    html
}

/// HTML-escapes text for element content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(status: &'static str) -> ApprovalPage {
        ApprovalPage {
            permission: "sign_event:0".into(),
            client_name: Some("<script>alert(1)</script>".into()),
            client_pubkey: "ab".repeat(32),
            preview: Some("{\"name\":\"a & b\"}".into()),
            created_at: 100,
            expires_at: 700,
            status,
        }
    }

    #[test]
    fn escapes_everything_the_client_wrote_and_refreshes_only_while_pending() {
        let html = render(&page("pending"), 160);
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("a &amp; b"));
        assert!(html.contains("9 min 0 s left"));
        assert!(html.contains("http-equiv=\"refresh\""));
        assert!(!html.contains("<script"), "no script at all");
        let done = render(&page("denied"), 160);
        assert!(done.contains("Denied"));
        assert!(!done.contains("refresh"));
    }
}
