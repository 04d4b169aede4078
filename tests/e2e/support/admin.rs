//! A minimal admin API client over hyper's HTTP/1 client connection.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::net::SocketAddr;

/// Talks to one admin listener, optionally with a bearer token.
#[derive(Debug, Clone)]
pub struct Admin {
    addr: SocketAddr,
    token: Option<String>,
}

impl Admin {
    pub fn new(addr: SocketAddr, token: Option<&str>) -> Self {
        Admin {
            addr,
            token: token.map(str::to_owned),
        }
    }

    /// Sends one request with this client's bearer token (if any); returns the status and the body
    /// parsed as JSON (Null when empty).
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        match &self.token {
            Some(token) => {
                let bearer = format!("Bearer {token}");
                self.call_with_headers(method, path, body, &[("authorization", &bearer)])
                    .await
            }
            None => self.call_with_headers(method, path, body, &[]).await,
        }
    }

    /// POSTs JSON and asserts a 2xx answer.
    #[track_caller]
    pub fn post_ok(
        &self,
        path: &str,
        body: Value,
    ) -> impl std::future::Future<Output = Value> + '_ {
        let path = path.to_owned();
        async move {
            let (status, value) = self.call("POST", &path, Some(&body.to_string())).await;
            assert!(
                (200..300).contains(&status),
                "POST {path} → {status} {value}"
            );
            value
        }
    }
}

impl Admin {
    /// The admin listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The absolute URL of `path_and_query` as this client addresses it (`http://<addr><path>`):
    /// what the server rebuilds from the Host header for NIP-98's `u` tag.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// Sends one request with exactly the given extra headers (e.g. an arbitrary `Authorization`):
    /// this client's bearer token is NOT sent. `host` and `content-type` are set as [`Admin::call`]
    /// sets them unless `headers` names them. Returns the status and the JSON body (Null when empty).
    pub async fn call_with_headers(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        self.try_call_with_headers(method, path, body, headers)
            .await
            .unwrap_or_else(|e| panic!("admin {method} {path}: {e}"))
    }

    /// [`Admin::call`] for a server that may be gone: `Err` says what failed (connect, request,
    /// body) instead of panicking.
    pub async fn try_call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, Value), String> {
        let bearer = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| ("authorization", b))
            .into_iter()
            .collect();
        self.try_call_with_headers(method, path, body, &headers)
            .await
    }

    async fn try_call_with_headers(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, Value), String> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(conn);
        let named = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        let mut req = Request::builder().method(method).uri(path);
        if !named("host") {
            req = req.header("host", self.addr.to_string());
        }
        if !named("content-type") {
            req = req.header("content-type", "application/json");
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
            .unwrap();
        let res = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let status = res.status().as_u16();
        let json = res
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else if json {
            serde_json::from_slice(&bytes).expect("JSON responses parse")
        } else {
            // `/metrics` (Prometheus text) and the relay port's plain-text pages.
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        };
        Ok((status, value))
    }

    /// Sends `method path` with a JSON body (or none) and asserts a 2xx answer; returns the body.
    pub async fn send_ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let text = body.map(|b| b.to_string());
        let (status, value) = self.call(method, path, text.as_deref()).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path} → {status} {value}"
        );
        value
    }

    /// GETs `path` and asserts a 2xx answer; returns the body.
    pub async fn get_ok(&self, path: &str) -> Value {
        self.send_ok("GET", path, None).await
    }

    /// PUTs JSON to `path` and asserts a 2xx answer; returns the body.
    pub async fn put_ok(&self, path: &str, body: Value) -> Value {
        self.send_ok("PUT", path, Some(body)).await
    }

    /// PATCHes JSON to `path` and asserts a 2xx answer; returns the body.
    pub async fn patch_ok(&self, path: &str, body: Value) -> Value {
        self.send_ok("PATCH", path, Some(body)).await
    }

    /// DELETEs `path` and asserts a 2xx answer; returns the body (Null when empty).
    pub async fn delete_ok(&self, path: &str) -> Value {
        self.send_ok("DELETE", path, None).await
    }
}
