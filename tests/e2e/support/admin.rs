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

    /// Sends one request; returns the status and the body parsed as JSON (Null when empty).
    pub async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("admin connect");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("admin handshake");
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
            .header("content-type", "application/json");
        if let Some(token) = &self.token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
            .unwrap();
        let res = sender.send_request(req).await.expect("admin request");
        let status = res.status().as_u16();
        let bytes = res
            .into_body()
            .collect()
            .await
            .expect("admin body")
            .to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("admin responses are JSON")
        };
        (status, value)
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
