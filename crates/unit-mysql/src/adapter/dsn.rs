//! Connection URLs that keep their password to themselves.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use std::path::PathBuf;

use sqlx::ConnectOptions;
use sqlx::mysql::{MySqlConnectOptions, MySqlSslMode};

use unit_sql::redact;

/// A MySQL connection URL (`mysql://user:password@host:port/database?...`).
///
/// Display and Debug show it with the password masked, so it can be logged and put in
/// errors; the password is only handed to the driver through
/// [`connect_options`](Self::connect_options).
///
/// # TLS
/// Connections are encrypted with rustls (no OpenSSL needed), configured the way MySQL
/// users expect, by the URL's parameters or [`MySqlUrl::with_tls`]:
/// `ssl-mode` (`DISABLED`, `PREFERRED`, `REQUIRED`, `VERIFY_CA`, `VERIFY_IDENTITY`),
/// `ssl-ca` (the CA certificates to verify the server with), `ssl-cert` and `ssl-key`
/// (a client certificate, for users created `REQUIRE X509`). The default is
/// `PREFERRED`, as MySQL's own clients: encrypted whenever the server offers TLS, in
/// the clear with a server that does not, and the server's certificate is not verified.
/// Ask for `VERIFY_IDENTITY` (with `ssl-ca` for a private CA) to be sure of whom you
/// talk to; `REQUIRED` refuses a server without TLS. A certificate that does not verify
/// is an error no retry fixes.
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
    /// The password, percent-decoded, for clients other than sqlx (the binlog stream).
    #[cfg_attr(not(feature = "local-infile"), allow(dead_code))]
    password: Option<String>,
    /// The TLS files asked for (URL parameters, then [`MySqlUrl::with_tls`]), for
    /// clients other than sqlx.
    #[cfg_attr(not(feature = "local-infile"), allow(dead_code))]
    tls_files: TlsSettings,
    /// Set once a connection through this URL (or a clone of it) reached the server.
    reached: Arc<AtomicBool>,
}

/// A connection URL that could not be parsed. Its text never contains the password:
/// a URL that did not parse is never shown (where its password ends is unknown), only
/// what is wrong with it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid MySQL URL: {reason}")]
pub struct UrlError {
    reason: String,
}

/// What a URL must look like, for error messages.
const URL_FORM: &str = "write it as mysql://user:password@host:port/ (percent-encode \
                        # / ? @ : and % in the user and password: # is %23)";

impl FromStr for MySqlUrl {
    type Err = UrlError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let refuse = |reason: String| UrlError { reason };
        // Only an explicit scheme: without one, the driver would read the text as
        // something else and connect to a default server.
        match url.split_once("://").map(|(scheme, _)| scheme) {
            Some(scheme)
                if ["mysql", "mariadb"]
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(scheme)) => {}
            Some(scheme)
                if scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                return Err(refuse(format!(
                    "the scheme {scheme}:// is not MySQL's; {URL_FORM}"
                )));
            }
            _ => {
                return Err(refuse(format!(
                    "it does not start with mysql://; {URL_FORM}"
                )));
            }
        }
        // The URL parser's messages are fixed texts: they never quote the URL.
        let parsed = url::Url::parse(url).map_err(|e| refuse(format!("{e}; {URL_FORM}")))?;
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(refuse(format!("it names no host; {URL_FORM}")));
        }
        let password = parsed.password().map(|p| (p.to_owned(), percent_decode(p)));
        match MySqlConnectOptions::from_url(&parsed) {
            Ok(options) => Ok(Self {
                options,
                shown: redact(url),
                password: password.map(|(_, decoded)| decoded),
                tls_files: url_tls_files(url),
                reached: Arc::default(),
            }),
            // The driver's messages may quote parts of the URL: the password is taken
            // out of them, in both its forms.
            Err(err) => {
                let mut reason = redact(&err.to_string());
                if let Some((encoded, decoded)) = password.filter(|(e, _)| !e.is_empty()) {
                    reason = reason.replace(&encoded, "***").replace(&decoded, "***");
                }
                Err(refuse(reason))
            }
        }
    }
}

/// TLS settings that override a URL's `ssl-*` parameters (see [`MySqlUrl`]).
#[derive(Debug, Clone, Default)]
pub struct TlsSettings {
    /// `ssl-mode`.
    pub mode: Option<MySqlSslMode>,
    /// `ssl-ca`: PEM file of the CA certificates the server's certificate must chain to.
    pub ca: Option<PathBuf>,
    /// `ssl-cert`: PEM file of the client certificate.
    pub cert: Option<PathBuf>,
    /// `ssl-key`: PEM file of the client certificate's key.
    pub key: Option<PathBuf>,
}

impl TlsSettings {
    /// Parses an `ssl-mode` name as MySQL's clients spell it (any case, `-` or `_`).
    ///
    /// # Errors
    /// A message naming the modes when `text` is none of them.
    pub fn parse_mode(text: &str) -> Result<MySqlSslMode, String> {
        text.replace('-', "_")
            .to_ascii_uppercase()
            .parse()
            .map_err(|_| {
                format!(
                    "unknown ssl-mode {text:?}: DISABLED, PREFERRED, REQUIRED, VERIFY_CA or VERIFY_IDENTITY"
                )
            })
    }
}

impl MySqlUrl {
    /// The same URL with `tls` overriding its `ssl-*` parameters.
    #[must_use]
    pub fn with_tls(mut self, tls: &TlsSettings) -> Self {
        if let Some(mode) = tls.mode {
            self.options = self.options.ssl_mode(mode);
        }
        if let Some(ca) = &tls.ca {
            self.options = self.options.ssl_ca(ca);
            self.tls_files.ca = Some(ca.clone());
        }
        if let Some(cert) = &tls.cert {
            self.options = self.options.ssl_client_cert(cert);
            self.tls_files.cert = Some(cert.clone());
        }
        if let Some(key) = &tls.key {
            self.options = self.options.ssl_client_key(key);
            self.tls_files.key = Some(key.clone());
        }
        if let Some(mode) = tls.mode {
            let sep = if self.shown.contains('?') { '&' } else { '?' };
            self.shown = format!("{}{sep}ssl-mode={}", self.shown, mode_name(mode));
        }
        self
    }

    /// The TLS mode asked for (`PREFERRED` unless the URL or [`MySqlUrl::with_tls`]
    /// says otherwise).
    pub fn ssl_mode(&self) -> MySqlSslMode {
        self.options.get_ssl_mode()
    }

    /// Whether the mode refuses an unencrypted connection (`REQUIRED` and stricter).
    pub fn requires_tls(&self) -> bool {
        matches!(
            self.ssl_mode(),
            MySqlSslMode::Required | MySqlSslMode::VerifyCa | MySqlSslMode::VerifyIdentity
        )
    }

    /// The password, for a client other than sqlx. Never log it.
    #[cfg(feature = "local-infile")]
    pub(crate) fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The CA, client certificate and key files asked for, for a client other than
    /// sqlx (the mode is [`MySqlUrl::ssl_mode`]).
    #[cfg(feature = "local-infile")]
    pub(crate) fn tls_files(&self) -> &TlsSettings {
        &self.tls_files
    }

    /// Whether a unit has reached the server through this URL, or a clone of it, in
    /// this process: a server never reached is a setting to correct, one reached
    /// before and lost now is an outage to wait out.
    pub fn reached(&self) -> bool {
        self.reached.load(Ordering::Relaxed)
    }

    /// Records that a connection through this URL reached the server.
    pub(crate) fn mark_reached(&self) {
        self.reached.store(true, Ordering::Relaxed);
    }

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

/// The `ssl-ca`, `ssl-cert` and `ssl-key` parameters of `url` (percent-decoded).
fn url_tls_files(url: &str) -> TlsSettings {
    let mut tls = TlsSettings::default();
    let Some((_, query)) = url.split_once('?') else {
        return tls;
    };
    for pair in query.split('&') {
        let Some((name, value)) = pair.split_once('=') else {
            continue;
        };
        let value = PathBuf::from(percent_decode(value));
        match name.to_ascii_lowercase().replace('_', "-").as_str() {
            "ssl-ca" => tls.ca = Some(value),
            "ssl-cert" => tls.cert = Some(value),
            "ssl-key" => tls.key = Some(value),
            _ => {}
        }
    }
    tls
}

/// `%XX` escapes decoded.
fn percent_decode(encoded: &str) -> String {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The name MySQL's clients give `mode`.
pub fn mode_name(mode: MySqlSslMode) -> &'static str {
    match mode {
        MySqlSslMode::Disabled => "DISABLED",
        MySqlSslMode::Preferred => "PREFERRED",
        MySqlSslMode::Required => "REQUIRED",
        MySqlSslMode::VerifyCa => "VERIFY_CA",
        MySqlSslMode::VerifyIdentity => "VERIFY_IDENTITY",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_tls_files_are_read_from_the_url() {
        let password = |url: &str| url.parse::<MySqlUrl>().expect("url").password;
        assert_eq!(
            password("mysql://u:p%40ss%3Aw@h:3306/db?x=1").as_deref(),
            Some("p@ss:w")
        );
        assert_eq!(password("mysql://u@h/db"), None);
        assert_eq!(password("MariaDB://h/db"), None);
        let tls = url_tls_files(
            "mysql://u@h/?ssl-mode=VERIFY_CA&ssl-ca=/etc/my%20ca.pem&ssl_cert=c.pem&ssl-key=k.pem",
        );
        assert_eq!(tls.ca, Some(PathBuf::from("/etc/my ca.pem")));
        assert_eq!(tls.cert, Some(PathBuf::from("c.pem")));
        assert_eq!(tls.key, Some(PathBuf::from("k.pem")));
        let url: MySqlUrl = "mysql://u:secret@h/".parse().expect("url");
        assert!(!format!("{url:?}").contains("secret"));
    }

    /// Every malformed form a user may type: refused, saying what is wrong, and the
    /// password never in the message (nor the URL, which did not parse).
    #[test]
    fn malformed_urls_are_refused_without_showing_their_password() {
        for (url, says) in [
            (
                "mig:Secret9@127.0.0.1:44001",
                "does not start with mysql://",
            ),
            ("127.0.0.1:3306", "does not start with mysql://"),
            ("ftp://mig:Secret9@127.0.0.1/", "ftp:// is not MySQL's"),
            (
                "postgres://mig:Secret9@127.0.0.1/",
                "postgres:// is not MySQL's",
            ),
            (
                "mysql://mig:Sec#ret9@127.0.0.1:44001/",
                "invalid port number",
            ),
            (
                "mysql://mig:Sec?ret9@127.0.0.1:44001/",
                "invalid port number",
            ),
            (
                "mysql://mig:Sec/ret9@127.0.0.1:44001/",
                "invalid port number",
            ),
            (
                "mysql://mig:Secret9@127.0.0.1:99999/",
                "invalid port number",
            ),
            ("mysql://mig:Secret9@/db", "host"),
            ("mysql://mig:Secret9@[::1/db", "invalid IPv6 address"),
            ("mysql://mig:Secret9@h/db?ssl-mode=SOMETIMES", ""),
            ("", "does not start with mysql://"),
        ] {
            let err = url.parse::<MySqlUrl>().expect_err(url).to_string();
            assert!(err.contains(says), "{url}: {err}");
            for secret in ["Secret9", "Sec#ret9", "ret9"] {
                assert!(!err.contains(secret), "{url}: {err}");
            }
            assert!(err.starts_with("invalid MySQL URL: "), "{url}: {err}");
        }
        // Characters percent-encoded are the password's own.
        let url: MySqlUrl = "mysql://mig:Sec%23ret%2F9@127.0.0.1:44001/"
            .parse()
            .expect("encoded");
        assert_eq!(url.password.as_deref(), Some("Sec#ret/9"));
        assert_eq!(url.to_string(), "mysql://mig:***@127.0.0.1:44001/");
    }
}
