//! Connections through mysql_async, the client this crate uses where sqlx has no
//! support: the replication protocol (the Sync unit's binlog stream) and `LOAD DATA
//! LOCAL INFILE` (the copy's bulk writes).

use std::path::PathBuf;

use mysql_async::{ClientIdentity, Conn, OptsBuilder, SslOpts};
use sqlx::mysql::MySqlSslMode;

use unit_core::{ErrScope, ErrorCode, Rule, Verdict};
use unit_proto::pb;

use crate::adapter::classify::{
    BAD_CERTIFICATE, Operation, RetrySafety, server_text, server_verdict, tls_verdict,
};
use crate::adapter::dsn::MySqlUrl;
use crate::adapter::process_error::{build_process_error, operation_code};
use unit_sql::redact;

/// mysql_async's options for `url`, with TLS as its `ssl-mode` asks (rustls, as sqlx
/// uses): `REQUIRED` encrypts without verifying, `VERIFY_CA` verifies the certificate
/// chain against `ssl-ca`, `VERIFY_IDENTITY` also the server's name; `PREFERRED`
/// encrypts like `REQUIRED` when the server offers TLS (see [`connect`]).
fn options(url: &MySqlUrl, tls: bool) -> OptsBuilder {
    let o = url.connect_options();
    let builder = OptsBuilder::default()
        .ip_or_hostname(o.get_host())
        .tcp_port(o.get_port())
        .user(Some(o.get_username()))
        .pass(url.password())
        .prefer_socket(false)
        // A peer that vanished is noticed by the kernel too, not only by the
        // stream's read timeout.
        .tcp_keepalive(Some(std::time::Duration::from_secs(10)));
    if !tls {
        return builder;
    }
    let files = url.tls_files();
    let mode = url.ssl_mode();
    let verify_chain = matches!(mode, MySqlSslMode::VerifyCa | MySqlSslMode::VerifyIdentity);
    let mut ssl = SslOpts::default()
        .with_danger_accept_invalid_certs(!verify_chain)
        .with_danger_skip_domain_validation(!matches!(mode, MySqlSslMode::VerifyIdentity));
    if let Some(ca) = &files.ca {
        ssl = ssl.with_root_certs(vec![PathBuf::from(ca).into()]);
    }
    if let (Some(cert), Some(key)) = (&files.cert, &files.key) {
        ssl = ssl.with_client_identity(Some(ClientIdentity::new(
            PathBuf::from(cert).into(),
            PathBuf::from(key).into(),
        )));
    }
    builder.ssl_opts(ssl)
}

/// Connects as `url`'s `ssl-mode` asks; `PREFERRED` falls back to a plain connection
/// only when the server offers no TLS.
/// Each new session first runs the statements of `init`.
pub(crate) async fn connect(url: &MySqlUrl, init: &[String]) -> Result<Conn, mysql_async::Error> {
    connect_with(url, init, None).await
}

/// [`connect`], the client taking packets of up to `max_packet` bytes (`None`: the
/// server's `max_allowed_packet`, mysql_async's default).
pub(crate) async fn connect_with(
    url: &MySqlUrl,
    init: &[String],
    max_packet: Option<usize>,
) -> Result<Conn, mysql_async::Error> {
    let opts = |tls| {
        options(url, tls)
            .init(init.to_vec())
            .max_allowed_packet(max_packet)
    };
    match url.ssl_mode() {
        MySqlSslMode::Disabled => Conn::new(opts(false)).await,
        MySqlSslMode::Preferred => match Conn::new(opts(true)).await {
            Err(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer,
            )) => Conn::new(opts(false)).await,
            other => other,
        },
        _ => Conn::new(opts(true)).await,
    }
}

/// Whether the client refused a packet over its `max_allowed_packet` (mysql_common's
/// codec error, which mysql_async hands over as an I/O error and which would otherwise
/// read as a lost connection).
pub(crate) fn is_packet_too_large(err: &mysql_async::Error) -> bool {
    use mysql_async::{Error as E, IoError};
    matches!(err, E::Io(IoError::Io(io))
        if io.kind() == std::io::ErrorKind::Other
            && io.to_string().contains("larger than max_allowed_packet"))
}

/// How a mysql_async failure affects retrying, as [`retry_safety`](crate::adapter::classify::retry_safety)
/// says for sqlx: `None` when the error is not a lost or unavailable connection.
pub(crate) fn retry_safety(err: &mysql_async::Error, op: Operation<'_>) -> Option<RetrySafety> {
    use mysql_async::{DriverError as D, Error as E, IoError};
    match err {
        E::Io(IoError::Io(io)) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            Some(RetrySafety::Safe)
        }
        E::Io(IoError::Io(_))
        | E::Driver(
            D::ConnectionClosed
            | D::PacketOutOfOrder
            | D::UnexpectedPacket { .. }
            | D::PoolDisconnected
            | D::BadCompressedPacketHeader,
        ) => Some(op.lost_connection()),
        _ => None,
    }
}

/// The error as the Go MySQL driver writes it (see [`go_driver_text`](crate::adapter::classify::go_driver_text)).
pub(crate) fn go_driver_text(err: &mysql_async::Error, op: Operation<'_>) -> String {
    if let mysql_async::Error::Server(e) = err {
        return server_text(e.code, &e.state, &e.message);
    }
    let detail = redact(&err.to_string());
    match retry_safety(err, op) {
        Some(RetrySafety::Safe) => format!("driver: bad connection ({detail})"),
        Some(RetrySafety::OutcomeUnknown) => format!("invalid connection ({detail})"),
        None => detail,
    }
}

/// Whether a mysql_async error is worth retrying, by the rules
/// [`explain_mysql_error`](crate::adapter::classify::explain_mysql_error) applies to sqlx's.
pub(crate) fn explain(err: &mysql_async::Error) -> Verdict {
    use mysql_async::{Error as E, IoError};
    if let E::Server(e) = err {
        return server_verdict(e.code, server_text(e.code, &e.state, &e.message));
    }
    let tls = matches!(err, E::Io(IoError::Tls(_)))
        || matches!(err, E::Io(IoError::Io(io)) if io.to_string().contains(BAD_CERTIFICATE));
    if tls {
        return tls_verdict();
    }
    let reason = match retry_safety(err, Operation::Execute("")) {
        Some(_) => "the connection was lost; a new connection can succeed",
        None => "a driver error that DM's rules do not recognise is resumable",
    };
    Verdict::new(true, Rule::Driver { reason })
}

/// The `ProcessError` for a failed operation (see [`process_error`](crate::adapter::process_error::process_error)).
pub(crate) fn process_error(
    err: &mysql_async::Error,
    scope: ErrScope,
    op: Operation<'_>,
) -> pb::ProcessError {
    let code = if matches!(op, Operation::Begin) {
        &ErrorCode::DB_EXECUTE_FAILED_BEGIN
    } else {
        match (retry_safety(err, op), err) {
            (Some(RetrySafety::Safe), _) => &ErrorCode::DB_BAD_CONN,
            (Some(RetrySafety::OutcomeUnknown), _) => &ErrorCode::DB_INVALID_CONN,
            (None, mysql_async::Error::Server(_)) => operation_code(op),
            (None, _) => &ErrorCode::DB_DRIVER_ERROR,
        }
    };
    build_process_error(code, go_driver_text(err, op), scope, op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use unit_core::Policy;

    fn server(code: u16, state: &str, message: &str) -> mysql_async::Error {
        mysql_async::Error::Server(mysql_async::ServerError {
            code,
            message: message.to_owned(),
            state: state.to_owned(),
        })
    }

    #[test]
    fn client_errors_get_the_verdicts_and_codes_of_sqlx_errors() {
        let lost = mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::other("reset")));
        let refused = mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        let cases = [
            // (error, operation, resumable, code, raw cause starts with)
            (
                server(1062, "23000", "Duplicate entry '2'"),
                Operation::Execute("LOAD"),
                false,
                10006,
                "Error 1062 (23000): Duplicate entry",
            ),
            (
                server(1213, "40001", "Deadlock found"),
                Operation::Execute("LOAD"),
                true,
                10006,
                "Error 1213 (40001)",
            ),
            (
                server(1146, "42S02", "Table 'd.t' doesn't exist"),
                Operation::Query("q"),
                false,
                10005,
                "Error 1146",
            ),
            (lost, Operation::Commit, true, 10003, "invalid connection ("),
            (
                refused,
                Operation::Connect,
                true,
                10002,
                "driver: bad connection (",
            ),
        ];
        for (err, op, resumable, code, cause) in cases {
            assert_eq!(explain(&err).is_resumable(), resumable, "{err}");
            let pe = process_error(&err, ErrScope::Downstream, op);
            assert_eq!(pe.err_code, code, "{err}");
            assert!(pe.raw_cause.starts_with(cause), "{}", pe.raw_cause);
            // The policy that acts on the report agrees with the verdict.
            assert_eq!(
                unit_core::Recommended.explain(&pe).is_resumable(),
                resumable,
                "{pe:?}"
            );
        }
    }

    #[test]
    fn passwords_in_server_messages_are_masked() {
        let err = server(1045, "28000", "mysql://u:secret@h/ denied");
        assert!(!go_driver_text(&err, Operation::Connect).contains("secret"));
    }
}
