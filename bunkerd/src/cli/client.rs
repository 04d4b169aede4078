//! Sending one request to the admin API: one TCP connection, hyper's HTTP/1.1 client connection
//! (`hyper::client::conn::http1`), `Authorization: Bearer <token>`, the whole answer read into
//! memory.
//!
//! Must not: speak TLS (the admin API is plain HTTP on a private listener; TLS, when the API is
//! exposed, is terminated in front of it), follow redirects, retry (a retried POST could create a
//! second tenant or user), or log. The request body (which may hold a secret key or password) is
//! handed to hyper as a zeroizing buffer and written with vectored writes, so hyper does not copy
//! it into its own write buffer; hyper's copy of the `Authorization` header and of the response as
//! read from the socket are not zeroized.
//!
//! Main items: [`Endpoint`], [`send`].

use super::print::Reply;
use super::request::ApiRequest;
use super::CliError;
use http_body_util::BodyExt;
use hyper::body::{Buf, Frame, SizeHint};
use hyper::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use zeroize::Zeroizing;

/// How long connecting may take (DNS and TCP).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the whole exchange may take once connected. Generous: deleting a tenant with many
/// users, or importing an ncryptsec (scrypt, NIP-49), takes seconds on a loaded server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// Largest response body read, bytes. The biggest answers are audit and user pages of 1000 items
/// (about 0.5 MiB).
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// Where the admin API is: parsed from `--url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Host name or IP address to connect to (IPv6 without brackets).
    pub(crate) host: String,
    /// TCP port (default 80).
    pub(crate) port: u16,
    /// The `Host` header: the URL's authority.
    pub(crate) authority: String,
    /// Path prefix without a trailing `/` (empty for the root), prepended to every route.
    pub(crate) base_path: String,
}

impl Endpoint {
    /// Parses `http://host[:port][/prefix]`.
    ///
    /// # Errors
    ///
    /// [`CliError::Usage`] when `url` is not an absolute `http://` URL, carries credentials
    /// (`user@`), a query or a fragment.
    pub(crate) fn parse(url: &str) -> Result<Self, CliError> {
        const BAD: CliError = CliError::Usage(
            "--url must look like http://host:port (plain HTTP: TLS is terminated in front of the \
             admin API)",
        );
        let uri: hyper::Uri = url.parse().map_err(|_| BAD)?;
        if uri.scheme_str() != Some("http") || url.contains('#') || uri.query().is_some() {
            return Err(BAD);
        }
        let authority = uri.authority().ok_or(BAD)?;
        if authority.as_str().contains('@') || authority.host().is_empty() {
            return Err(BAD);
        }
        let host = authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Ok(Endpoint {
            host: host.to_owned(),
            port: authority.port_u16().unwrap_or(80),
            authority: authority.as_str().to_owned(),
            base_path: uri.path().trim_end_matches('/').to_owned(),
        })
    }
}

/// Sends `request` to `endpoint` with `token` as bearer token and reads the whole answer.
///
/// # Errors
///
/// [`CliError::Unavailable`] when connecting fails or takes over 10 s, or the exchange fails or
/// takes over 120 s; [`CliError::BadResponse`] (status 0) when the answer is larger than 16 MiB;
/// [`CliError::Usage`] when the token cannot be an HTTP header value.
pub(crate) async fn send(
    endpoint: &Endpoint,
    token: &str,
    request: &ApiRequest,
) -> Result<Reply, CliError> {
    let mut authorization = HeaderValue::from_str(&Zeroizing::new(format!("Bearer {token}")))
        .map_err(|_| CliError::Usage("the token cannot be sent in an HTTP header"))?;
    authorization.set_sensitive(true);
    let connect = tokio::net::TcpStream::connect((endpoint.host.as_str(), endpoint.port));
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| CliError::Unavailable("connecting timed out"))?
        .map_err(|e| {
            CliError::Unavailable(match e.kind() {
                std::io::ErrorKind::ConnectionRefused => "connection refused",
                _ => "connection failed",
            })
        })?;
    let _ = stream.set_nodelay(true);
    let mut builder = Request::builder()
        .method(request.method.clone())
        .uri(format!("{}{}", endpoint.base_path, request.path))
        .header(HOST, endpoint.authority.as_str())
        .header(AUTHORIZATION, authorization)
        .header(ACCEPT, "application/json")
        .header(
            USER_AGENT,
            concat!("bunkerd-admin/", env!("CARGO_PKG_VERSION")),
        );
    if request.body.is_some() {
        builder = builder.header(CONTENT_TYPE, "application/json");
    }
    let http_request = builder
        .body(SecretBody(request.body.clone()))
        .map_err(|_| CliError::Usage("the request cannot be formed from these arguments"))?;
    let exchange = async move {
        let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
            .writev(true)
            .handshake(TokioIo::new(stream))
            .await?;
        let driver = tokio::spawn(connection);
        let response = sender.send_request(http_request).await?;
        let status = response.status().as_u16();
        let body = http_body_util::Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map(|collected| Zeroizing::new(collected.to_bytes().to_vec()));
        driver.abort();
        Ok::<_, hyper::Error>((status, body))
    };
    let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| CliError::Unavailable("no answer in time"))?
        .map_err(|_| CliError::Unavailable("the connection failed before the answer"))?;
    let body = body.map_err(|_| CliError::BadResponse { status })?;
    Ok(Reply { status, body })
}

/// A request body held in a zeroizing buffer, sent as one frame.
struct SecretBody(Option<Zeroizing<Vec<u8>>>);

impl hyper::body::Body for SecretBody {
    type Data = SecretBuf;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<SecretBuf>, Infallible>>> {
        let frame = self
            .0
            .take()
            .filter(|b| !b.is_empty())
            .map(|bytes| Ok(Frame::data(SecretBuf { bytes, pos: 0 })));
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.0.as_ref().is_none_or(|b| b.is_empty())
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.as_ref().map_or(0, |b| b.len() as u64))
    }
}

/// The bytes of a [`SecretBody`], zeroized when hyper drops them after writing.
struct SecretBuf {
    bytes: Zeroizing<Vec<u8>>,
    pos: usize,
}

impl Buf for SecretBuf {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn chunk(&self) -> &[u8] {
        &self.bytes[self.pos..]
    }

    fn advance(&mut self, cnt: usize) {
        assert!(cnt <= self.remaining(), "advance past the end of the body");
        self.pos += cnt;
    }
}
