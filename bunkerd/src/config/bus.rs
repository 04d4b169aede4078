//! [`BusUrl`]: the `cluster_bus` setting, the NATS server through which the nodes of a cluster
//! tell each other of changes and hand each other response events.
//!
//! Must not: show the URL's password or token anywhere (`Debug` and [`BusUrl::redacted`] replace
//! it), or keep it in memory after use (`Zeroizing`).

use super::error::invalid;
use super::ConfigError;
use zeroize::Zeroizing;

/// A NATS server URL: `nats://host:port` (or `tls://` for TLS), with optional
/// `user:password@` or `token@` user info.
#[derive(Clone, PartialEq, Eq)]
pub struct BusUrl(Zeroizing<String>);

impl BusUrl {
    /// The URL without its user info, and the credentials that user info held, percent-decoded:
    /// the connection takes them apart, so that the NATS client, which logs the server's address
    /// at debug level, never holds them in it.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for `cluster-bus`, for a URL that does not parse (the URL is not
    /// repeated).
    pub fn parts(&self) -> Result<(String, BusAuth), ConfigError> {
        let mut parsed = url::Url::parse(&self.0)
            .map_err(|e| invalid!("cluster-bus", "is not a URL", format!(": {e}")))?;
        let decode = |s: &str| {
            Zeroizing::new(
                percent_encoding::percent_decode_str(s)
                    .decode_utf8_lossy()
                    .into_owned(),
            )
        };
        let auth = match (parsed.username(), parsed.password()) {
            ("", None) => BusAuth::None,
            (token, None) => BusAuth::Token(decode(token)),
            (user, Some(password)) => {
                BusAuth::UserPassword(decode(user).to_string(), decode(password))
            }
        };
        // Neither fails on a URL with a host, which `check` made sure of.
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        Ok((parsed.to_string(), auth))
    }

    /// The URL with its credentials replaced by `***`, for logs and messages: the password of
    /// `user:password@`, and the whole of `token@` (NATS reads user info without a `:` as a
    /// token, unlike PostgreSQL's user name).
    pub fn redacted(&self) -> String {
        let shown = super::store::redact(&self.0);
        match shown.split_once("://") {
            Some((scheme, rest)) => {
                let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
                match rest[..authority_end].rsplit_once('@') {
                    Some((user, _)) if !user.contains(':') => {
                        format!("{scheme}://***@{}", &rest[user.len() + 1..])
                    }
                    _ => shown,
                }
            }
            None => shown,
        }
    }

    /// Checks the scheme and that the URL names a host.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for `cluster-bus`, without repeating the URL.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let parsed = url::Url::parse(&self.0)
            .map_err(|e| invalid!("cluster-bus", "is not a URL", format!(": {e}")))?;
        if !matches!(parsed.scheme(), "nats" | "tls") {
            return Err(invalid!("cluster-bus", "must be a nats:// or tls:// URL"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid!("cluster-bus", "names no host"));
        }
        Ok(())
    }
}

/// The credentials of a [`BusUrl`], for the NATS connection's options.
pub enum BusAuth {
    /// No user info.
    None,
    /// `token@`.
    Token(Zeroizing<String>),
    /// `user:password@`.
    UserPassword(String, Zeroizing<String>),
}

impl std::str::FromStr for BusUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(BusUrl(Zeroizing::new(s.to_owned())))
    }
}

impl<'de> serde::Deserialize<'de> for BusUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| BusUrl(Zeroizing::new(s)))
    }
}

impl std::fmt::Debug for BusUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::{BusAuth, BusUrl};

    #[test]
    fn only_nats_urls_with_a_host_pass_and_the_password_never_shows() {
        let url: BusUrl = "nats://bunkerd:s3cret@bus:4222".parse().unwrap();
        url.check().unwrap();
        assert_eq!(format!("{url:?}"), "nats://bunkerd:***@bus:4222");
        let token: BusUrl = "nats://s3cret@bus:4222".parse().unwrap();
        token.check().unwrap();
        assert_eq!(token.redacted(), "nats://***@bus:4222");
        assert_eq!(format!("{token:?}"), "nats://***@bus:4222");
        "tls://bus:4222".parse::<BusUrl>().unwrap().check().unwrap();
        for bad in [
            "http://bus:4222",
            "nats://",
            "bus:4222",
            "nats://u:s3cret@:4222",
        ] {
            let error = bad.parse::<BusUrl>().unwrap().check().unwrap_err();
            assert!(!format!("{error:?} {error}").contains("s3cret"), "{error}");
        }
    }

    #[test]
    fn credentials_leave_the_address_the_client_connects_to() {
        let url: BusUrl = "tls://bunkerd:s%40cret@bus:4222".parse().unwrap();
        let (address, auth) = url.parts().unwrap();
        assert_eq!(address, "tls://bus:4222");
        assert!(
            matches!(auth, BusAuth::UserPassword(user, password) if user == "bunkerd" && *password == "s@cret")
        );
        let (address, auth) = "nats://s3cret@bus:4222"
            .parse::<BusUrl>()
            .unwrap()
            .parts()
            .unwrap();
        assert_eq!(address, "nats://bus:4222");
        assert!(matches!(auth, BusAuth::Token(token) if *token == "s3cret"));
        let (address, auth) = "nats://bus:4222"
            .parse::<BusUrl>()
            .unwrap()
            .parts()
            .unwrap();
        assert_eq!(address, "nats://bus:4222");
        assert!(matches!(auth, BusAuth::None));
    }
}
