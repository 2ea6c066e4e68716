//! Connection URLs that keep their password to themselves.

use std::fmt;
use std::str::FromStr;

use sqlx::mysql::MySqlConnectOptions;

use crate::redact::redact;

/// A MySQL connection URL (`mysql://user:password@host:port/database?...`).
///
/// Display and Debug show it with the password masked, so it can be logged and put in
/// errors; the password is only handed to the driver through
/// [`connect_options`](Self::connect_options).
///
/// ```
/// use unit_mysql::MySqlUrl;
/// let url: MySqlUrl = "mysql://app:s3cr3t@db.internal:3306/shop".parse()?;
/// assert_eq!(url.to_string(), "mysql://app:***@db.internal:3306/shop");
/// assert!(!format!("{url:?}").contains("s3cr3t"));
/// # Ok::<(), unit_mysql::UrlError>(())
/// ```
#[derive(Clone)]
pub struct MySqlUrl {
    options: MySqlConnectOptions,
    shown: String,
}

/// A connection URL that could not be parsed. Its text never contains the password.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid MySQL URL {url}: {reason}")]
pub struct UrlError {
    url: String,
    reason: String,
}

impl FromStr for MySqlUrl {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let shown = redact(url);
        match MySqlConnectOptions::from_str(url) {
            Ok(options) => Ok(Self { options, shown }),
            // sqlx's parse errors may quote the URL: mask it too.
            Err(err) => Err(UrlError {
                url: shown,
                reason: redact(&err.to_string()),
            }),
        }
    }
}

impl MySqlUrl {
    /// The options to open a connection or a pool with. Do not log them: their Debug
    /// output includes the password.
    pub fn connect_options(&self) -> MySqlConnectOptions {
        self.options.clone()
    }
}

impl fmt::Display for MySqlUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Debug for MySqlUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MySqlUrl").field(&self.shown).finish()
    }
}
