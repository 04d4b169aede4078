//! Query strings of the admin API, against the real server: values are decoded as
//! `application/x-www-form-urlencoded` (percent-escapes decoded, `+` read as a space), so a client
//! that percent-encodes a cursor, a limit or a filter gets exactly what the plain value gets.

use crate::support::TestServer;
use serde_json::{json, Value};

/// Every byte of `text` as a `%XX` escape.
fn escape_all(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

/// The `id`s of a page's items.
fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("a page")
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percent_encoded_query_values_are_decoded() {
    let server = TestServer::start().await;
    let admin = server.admin();
    let tenant = admin.post_ok("/v1/tenants", json!({"name": "query"})).await;
    let tenant = tenant["id"].as_str().unwrap().to_owned();
    for name in ["a", "b", "c"] {
        admin
            .post_ok(
                &format!("/v1/tenants/{tenant}/users"),
                json!({"name": name}),
            )
            .await;
    }
    let users = format!("/v1/tenants/{tenant}/users");

    // A cursor and a limit sent fully percent-encoded give the same page as sent plainly.
    let first = admin.get_ok(&format!("{users}?limit=1")).await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_owned();
    let plain = admin
        .get_ok(&format!("{users}?cursor={cursor}&limit=1"))
        .await;
    let escaped = admin
        .get_ok(&format!("{users}?cursor={}&limit=%31", escape_all(&cursor)))
        .await;
    assert_eq!(ids(&plain).len(), 1, "{plain}");
    assert_ne!(ids(&plain), ids(&first));
    assert_eq!(ids(&escaped), ids(&plain), "{escaped}");
    assert_eq!(escaped["next_cursor"], plain["next_cursor"]);

    // An escaped filter value (`%2E` is `.`) filters like the plain one.
    let audit = format!("/v1/tenants/{tenant}/audit");
    let plain = admin.get_ok(&format!("{audit}?method=user.create")).await;
    let escaped = admin.get_ok(&format!("{audit}?method=user%2Ecreate")).await;
    assert_eq!(plain["items"].as_array().unwrap().len(), 3, "{plain}");
    assert_eq!(escaped["items"], plain["items"]);

    // A limit is decimal digits only: `%2B1` decodes to `+1` and a bare `+` to a space, and neither
    // `+1` nor ` 1` is one (the document's `integer`).
    for limit in ["%2B1", "+1"] {
        let (status, body) = admin
            .call("GET", &format!("{users}?limit={limit}"), None)
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_input")),
            "{limit}: {body}"
        );
    }
    // Same for a filter: a decoded space is outside the action alphabet.
    let (status, body) = admin
        .call("GET", &format!("{audit}?method=user+create"), None)
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_input")),
        "{body}"
    );
    server.server.stop().await;
}
