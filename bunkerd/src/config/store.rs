//! [`StoreUrl`]: the `store` setting, naming a PostgreSQL database instead of the embedded
//! RocksDB.
//!
//! Must not: show the URL's password anywhere (`Debug` and [`StoreUrl::redacted`] replace it), or
//! keep it in memory after use (`Zeroizing`).
//!
//! Main type: [`StoreUrl`].

use super::error::invalid;
use super::ConfigError;
use zeroize::Zeroizing;

/// A PostgreSQL connection URL, `postgres://` or `postgresql://` (libpq's URL form: user,
/// password, hosts, ports, database and parameters such as `sslmode`), which may hold a password.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(Zeroizing<String>);

impl StoreUrl {
    /// The URL as given, password included: for the connection only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with the password (if any) replaced by `***`, for logs and messages.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }

    /// Checks the URL's scheme and that it parses as a PostgreSQL connection URL.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for `store`, saying what is wrong without repeating the URL.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let url = self.0.as_str();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid!(
                "store",
                "must be a postgres:// or postgresql:// URL (leave it unset for the embedded RocksDB)"
            ));
        }
        store::PgStore::check_url(url)
            .map_err(|e| invalid!("store", "is not a PostgreSQL URL", format!(": {e}")))
    }
}

impl super::Config {
    /// The password read from `store_password_file`, if one is configured.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for `store-password-file` when the file cannot be read or holds
    /// only whitespace.
    pub fn store_password(&self) -> Result<Option<Zeroizing<String>>, ConfigError> {
        let Some(path) = &self.store_password_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .map(Zeroizing::new)
            .map_err(|e| {
                invalid!(
                    "store-password-file",
                    "cannot be read",
                    format!(": {}: {e}", path.display())
                )
            })?;
        let password = text.trim();
        if password.is_empty() {
            return Err(invalid!("store-password-file", "is empty"));
        }
        Ok(Some(Zeroizing::new(password.to_owned())))
    }
}

/// `url` with the password of its user info (if any) replaced by `***`; anything without `://`
/// becomes `***` whole.
pub(super) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".into();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((user_info, hosts)) => {
            let user = user_info.split(':').next().unwrap_or("");
            let password = if user_info.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{password}@{hosts}{tail}")
        }
        None => url.to_owned(),
    }
}

impl std::str::FromStr for StoreUrl {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(StoreUrl(Zeroizing::new(s.to_owned())))
    }
}

impl<'de> serde::Deserialize<'de> for StoreUrl {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| StoreUrl(Zeroizing::new(s)))
    }
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::StoreUrl;

    #[test]
    fn the_password_never_shows() {
        let cases = [
            (
                "postgres://bunkerd:s3cret@db1:5432,db2/bunkerd?sslmode=require",
                "postgres://bunkerd:***@db1:5432,db2/bunkerd?sslmode=require",
            ),
            ("postgresql://bunkerd@db/b", "postgresql://bunkerd@db/b"),
            ("postgres://db/b", "postgres://db/b"),
            ("postgres://u:p@ss:w@rd@db/b", "postgres://u:***@db/b"),
            ("garbage s3cret", "***"),
        ];
        for (url, shown) in cases {
            let url: StoreUrl = url.parse().unwrap();
            assert_eq!(url.redacted(), shown);
            assert_eq!(format!("{url:?}"), shown);
            assert!(url.check().is_err() || !format!("{url:?}").contains("s3cret"));
        }
        let error = "postgres://u:s3cret@db:notaport/b"
            .parse::<StoreUrl>()
            .unwrap()
            .check()
            .unwrap_err();
        assert!(
            !format!("{error:?} {error}").contains("s3cret"),
            "{error:?}"
        );
        assert!("mysql://db".parse::<StoreUrl>().unwrap().check().is_err());
    }
}
