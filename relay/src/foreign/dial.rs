//! Opening a websocket to a foreign relay: name resolution under the address policy, TCP, TLS for
//! `wss://` (rustls with the system's CA roots plus any configured), and the RFC 6455 client
//! handshake (fastwebsockets). Every step is bounded by the caller's timeout.

use fastwebsockets::{handshake, WebSocket};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// A websocket to a foreign relay, after the handshake.
pub(crate) type RelaySocket = WebSocket<TokioIo<Upgraded>>;

/// Why a dial failed (logged and counted; never carries more than the relay's URL).
#[derive(Debug, thiserror::Error)]
pub(crate) enum DialError {
    /// The URL has no host, or a scheme other than `ws`/`wss`.
    #[error("not a ws:// or wss:// URL with a host")]
    Url,
    /// Name resolution failed or gave no address.
    #[error("cannot resolve the relay's host")]
    Resolve,
    /// Every address the name resolved to is private, loopback or link-local, and
    /// `foreign_relays_allow_private` is off.
    #[error(
        "the relay's host resolves only to private addresses (foreign_relays_allow_private is off)"
    )]
    Private,
    /// TCP connect failed.
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    /// TLS handshake failed (certificate, name, protocol).
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    /// The websocket handshake failed (status, headers).
    #[error("websocket handshake failed: {0}")]
    Handshake(fastwebsockets::WebSocketError),
}

/// Why the TLS roots could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// The configured CA file cannot be read or holds no PEM certificate.
    #[error("foreign_relays_ca_file {path}: {why}")]
    CaFile {
        /// The file.
        path: String,
        /// What went wrong.
        why: String,
    },
}

/// The TLS client for `wss://` relays: the platform's CA roots (rustls-native-certs) plus the
/// PEM certificates of `ca_file`, if given.
///
/// # Errors
///
/// [`TlsSetupError::CaFile`] when `ca_file` cannot be read or holds no certificate that parses.
pub(crate) fn tls(ca_file: Option<&Path>) -> Result<TlsConnector, TlsSetupError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let fail = |why: String| TlsSetupError::CaFile {
            path: path.display().to_string(),
            why,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| fail(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| fail(e.to_string()))?;
        let (added, _) = roots.add_parsable_certificates(certs);
        if added == 0 {
            return Err(fail("no PEM certificate in it".into()));
        }
    }
    // ring, not aws-lc-rs: no C toolchain beyond what RocksDB needs. rustls 0.23.48 deprecates
    // this provider for lacking post-quantum key exchange; relays offer classic groups too.
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Whether `ip` is an address a hosted service should not be steered to by a relay URL: loopback,
/// private (RFC 1918, RFC 4193), link-local, carrier-grade NAT (RFC 6598), benchmarking (RFC
/// 2544), IETF protocol assignments (192.0.0.0/24), reserved (240.0.0.0/4), unspecified,
/// multicast, or an IPv6 address carrying one of those IPv4 addresses (IPv4-mapped,
/// IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`).
pub(crate) fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || (a == 192 && b == 0 && c == 0)
                || a >= 240
                || a == 0
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let o = v6.octets();
            let embedded = if let Some(v4) = v6.to_ipv4_mapped() {
                Some(v4)
            } else if seg[..6] == [0; 6] || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                // IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d).
                Some(std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]))
            } else if seg[0] == 0x2002 {
                // 6to4: 2002:AABB:CCDD::/48 carries a.b.c.d.
                Some(std::net::Ipv4Addr::new(o[2], o[3], o[4], o[5]))
            } else {
                None
            };
            if let Some(v4) = embedded {
                return is_private(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
        }
    }
}

/// Opens a websocket to `url` (`ws://` or `wss://`), reaching only public addresses unless
/// `allow_private`. Unbounded in time: the caller wraps it in a timeout.
///
/// # Errors
///
/// Each step's [`DialError`].
pub(crate) async fn dial(
    url: &url::Url,
    tls: &TlsConnector,
    allow_private: bool,
) -> Result<RelaySocket, DialError> {
    let secure = match url.scheme() {
        "wss" => true,
        "ws" => false,
        _ => return Err(DialError::Url),
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or(DialError::Url)?;
    let port = url.port_or_known_default().ok_or(DialError::Url)?;
    // `url` writes IPv6 hosts in brackets; resolution wants them bare.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|_| DialError::Resolve)?
        .collect();
    if addrs.is_empty() {
        return Err(DialError::Resolve);
    }
    let allowed: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| allow_private || !is_private(a.ip()))
        .collect();
    if allowed.is_empty() {
        return Err(DialError::Private);
    }
    let tcp = TcpStream::connect(&allowed[..])
        .await
        .map_err(DialError::Connect)?;
    let _ = tcp.set_nodelay(true);
    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let authority = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let request = hyper::Request::builder()
        .method("GET")
        .uri(target)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::UPGRADE, "websocket")
        .header(hyper::header::CONNECTION, "upgrade")
        .header("Sec-WebSocket-Key", handshake::generate_key())
        .header("Sec-WebSocket-Version", "13")
        .header(hyper::header::USER_AGENT, "bunkerd")
        .body(Empty::<Bytes>::new())
        .map_err(|_| DialError::Url)?;
    let socket = if secure {
        let name = ServerName::try_from(bare.to_owned()).map_err(|_| DialError::Url)?;
        let stream = tls.connect(name, tcp).await.map_err(DialError::Tls)?;
        handshake::client(&Spawn, request, stream).await
    } else {
        handshake::client(&Spawn, request, tcp).await
    };
    let (ws, _response) = socket.map_err(DialError::Handshake)?;
    Ok(ws)
}

/// Runs hyper's connection future for the handshake on the current runtime.
struct Spawn;

impl<F> hyper::rt::Executor<F> for Spawn
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        tokio::spawn(future);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_addresses_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "198.18.0.1",
            "192.0.0.8",
            "240.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "::10.0.0.1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "2606:4700::1111",
            "100.128.0.1",
            "64:ff9b::101:101",
            "2002:101:101::1",
        ] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }
}
