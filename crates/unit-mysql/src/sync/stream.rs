//! The source's binlog as a stream of decoded events, read with mysql_async (the
//! maintained Rust client that speaks the replication protocol).

use futures_util::StreamExt;
use mysql_async::binlog::events::{Event, EventData, RowsEventData};
use mysql_async::binlog::value::BinlogValue;
use mysql_async::prelude::Queryable;
use std::path::PathBuf;

use mysql_async::{
    BinlogStream, BinlogStreamRequest, ClientIdentity, Conn, GnoInterval, OptsBuilder, Sid, SslOpts,
};
use sqlx::mysql::MySqlSslMode;

use super::session::StatementSession;
use crate::dsn::MySqlUrl;

/// Where the stream starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartAt {
    /// A file and offset.
    File {
        /// The binlog file.
        file: String,
        /// The offset in it.
        pos: u64,
    },
    /// After MariaDB's GTID state (`domain-server-seq,...`), as
    /// `@slave_connect_state` takes it.
    MariaGtid(String),
    /// After MySQL's executed GTID set (`COM_BINLOG_DUMP_GTID`).
    MysqlGtid(crate::position::MysqlGtidSet),
}

/// One row image: a value per column (`None` where the image leaves it out).
pub(crate) type RowImage = Vec<Option<BinlogValue<'static>>>;

/// A row change's before and after images (`None` where the event has none).
pub(crate) type RowPair = (Option<RowImage>, Option<RowImage>);

/// What a row event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowsKind {
    Insert,
    Update,
    Delete,
}

impl RowsKind {
    /// `insert`, `update` or `delete`.
    pub(crate) fn verb(self) -> &'static str {
        match self {
            RowsKind::Insert => "insert",
            RowsKind::Update => "update",
            RowsKind::Delete => "delete",
        }
    }
}

/// The parts of a binlog event the Sync unit acts on.
#[derive(Debug)]
pub(crate) enum Decoded {
    /// The next events come from `file`, starting at `pos`.
    Rotate { file: String, pos: u64 },
    /// MariaDB's GTID event: a transaction (or, `standalone`, one DDL) begins.
    Gtid {
        domain: u32,
        server: u32,
        seq: u64,
        standalone: bool,
    },
    /// MySQL's GTID event: the next transaction's `uuid:gno`.
    MysqlGtid { uuid: [u8; 16], gno: u64 },
    /// `BEGIN` as a query event.
    Begin,
    /// The end of a transaction: an XID event or a `COMMIT` query event.
    Commit,
    /// Any other statement (DDL, ...), with its default database and its session.
    Query {
        schema: String,
        /// The statement's text, decoded as UTF-8 (for reading names from it).
        sql: String,
        /// The statement's bytes, in its session's `character_set_client`.
        text: Vec<u8>,
        session: StatementSession,
    },
    /// Rows of one table.
    Rows(RowsChange),
    /// Nothing to act on (format description, table map, heartbeat, ...).
    Other,
    /// An event that cannot be applied exactly (an incident, compressed or LOAD DATA
    /// events, an XA prepare, a type not understood): replication stops, saying why.
    Refused(String),
}

/// One row event: the changes of one statement to one table.
#[derive(Debug)]
pub(crate) struct RowsChange {
    pub(crate) database: String,
    pub(crate) table: String,
    pub(crate) columns: usize,
    pub(crate) kind: RowsKind,
    /// Before and after images.
    pub(crate) rows: Vec<RowPair>,
    /// The source's session checked foreign keys (and so ran their cascades, which
    /// the binlog does not hold) when it made these changes.
    pub(crate) foreign_key_checks: bool,
    /// Every column is in the images (`binlog_row_image=FULL` in the writing session).
    pub(crate) full_image: bool,
}

/// A decoded event with where it ends.
#[derive(Debug)]
pub(crate) struct SourceEvent {
    pub(crate) decoded: Decoded,
    /// The offset just after this event in its file (0 for artificial events).
    pub(crate) end_pos: u64,
    /// When the source wrote it (seconds since the epoch; 0 for artificial events).
    pub(crate) timestamp: u32,
}

/// An error reading the stream.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The client failed (connection, server error).
    #[error(transparent)]
    Client(#[from] mysql_async::Error),
    /// An event could not be decoded.
    #[error("binlog event cannot be decoded: {0}")]
    Decode(#[from] std::io::Error),
    /// The server ended the stream.
    #[error("the source ended the binlog stream")]
    Ended,
    /// No packet (not even a heartbeat) arrived for this long: the source or the
    /// network is gone without closing the connection.
    #[error("no packet from the source for {} s, not even a heartbeat: the connection is taken for dead", .0.as_secs_f64())]
    Timeout(std::time::Duration),
}

impl StreamError {
    /// The server's error number, when the server refused the request.
    pub fn server_number(&self) -> Option<u16> {
        match self {
            Self::Client(mysql_async::Error::Server(e)) => Some(e.code),
            _ => None,
        }
    }
}

/// The binlog stream of a source.
pub(crate) struct Source {
    stream: BinlogStream,
    /// `@@binlog_checksum` is on: the first artificial ROTATE's name carries 4 CRC bytes.
    checksum: bool,
    /// A FORMAT_DESCRIPTION was read: the reader strips checksums from then on.
    seen_format: bool,
}

/// mysql_async's options for `url`, with TLS as its `ssl-mode` asks (rustls, as sqlx
/// uses): `REQUIRED` encrypts without verifying, `VERIFY_CA` verifies the certificate
/// chain against `ssl-ca`, `VERIFY_IDENTITY` also the server's name; `PREFERRED`
/// encrypts like `REQUIRED` when the server offers TLS (see [`Source::open`]).
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
async fn connect(url: &MySqlUrl) -> Result<Conn, mysql_async::Error> {
    match url.ssl_mode() {
        MySqlSslMode::Disabled => Conn::new(options(url, false)).await,
        MySqlSslMode::Preferred => match Conn::new(options(url, true)).await {
            Err(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer,
            )) => Conn::new(options(url, false)).await,
            other => other,
        },
        _ => Conn::new(options(url, true)).await,
    }
}

impl Source {
    /// Opens a stream from `start`, as replica `server_id` (which must differ from the
    /// source's and from other replicas').
    pub(crate) async fn open(
        url: &MySqlUrl,
        server_id: u32,
        start: &StartAt,
        mariadb: bool,
    ) -> Result<Self, StreamError> {
        let mut conn = connect(url).await?;
        let checksum: Option<String> = conn
            .query_first("SELECT CAST(@@GLOBAL.binlog_checksum AS CHAR)")
            .await?;
        let checksum = checksum.is_some_and(|c| !c.eq_ignore_ascii_case("NONE"));
        // One heartbeat a second while the source is idle.
        conn.query_drop("SET @master_heartbeat_period = 1000000000")
            .await?;
        if mariadb {
            // Without it MariaDB rewrites its GTID events as BEGIN queries.
            conn.query_drop("SET @mariadb_slave_capability = 4").await?;
        }
        let request = BinlogStreamRequest::new(server_id);
        let stream = match start {
            StartAt::File { file, pos } => {
                conn.get_binlog_stream(request.with_filename(file.as_bytes()).with_pos(*pos))
                    .await?
            }
            StartAt::MysqlGtid(set) => {
                let sids = set.intervals().into_iter().map(|(uuid, intervals)| {
                    Sid::new(uuid).with_intervals(
                        intervals
                            .into_iter()
                            .map(|(start, end)| GnoInterval::new(start, end))
                            .collect(),
                    )
                });
                let request = request
                    .with_gtid()
                    .with_gtid_set(sids)
                    .with_filename(b"")
                    .with_pos(4u64);
                conn.get_binlog_stream(request).await?
            }
            StartAt::MariaGtid(state) => {
                let state = state.replace('\'', "");
                conn.query_drop(format!("SET @slave_connect_state = '{state}'"))
                    .await?;
                conn.query_drop("SET @slave_gtid_strict_mode = 1").await?;
                conn.get_binlog_stream(request.with_filename(b"").with_pos(4u64))
                    .await?
            }
        };
        Ok(Self {
            stream,
            checksum,
            seen_format: false,
        })
    }

    /// The next event, decoded.
    pub(crate) async fn next(&mut self) -> Result<SourceEvent, StreamError> {
        let event = match self.stream.next().await {
            Some(event) => event?,
            None => return Err(StreamError::Ended),
        };
        let header = event.header();
        let decoded = self.decode(&event)?;
        Ok(SourceEvent {
            decoded,
            end_pos: u64::from(header.log_pos()),
            timestamp: header.timestamp(),
        })
    }

    fn decode(&mut self, event: &Event) -> Result<Decoded, StreamError> {
        let header = event.header();
        let raw_type = header.event_type_raw();
        // MariaDB's own events, unknown to mysql_common.
        if raw_type == MARIA_GTID_EVENT {
            let data = event.data();
            if data.len() < 13 {
                return Err(StreamError::Decode(std::io::Error::other(
                    "short MariaDB GTID event",
                )));
            }
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&data[..8]);
            let mut domain = [0u8; 4];
            domain.copy_from_slice(&data[8..12]);
            return Ok(Decoded::Gtid {
                seq: u64::from_le_bytes(seq),
                domain: u32::from_le_bytes(domain),
                server: header.server_id(),
                standalone: data[12] & 1 != 0,
            });
        }
        if let Some(refused) = refused_type(raw_type) {
            return Ok(Decoded::Refused(refused));
        }
        let Some(data) = event.read_data()? else {
            // Types mysql_common does not decode: MariaDB's annotations, binlog
            // checkpoints and GTID lists, and the start of encryption are bookkeeping;
            // anything else is not understood.
            return Ok(match raw_type {
                160 | 161 | 163 | 164 => Decoded::Other,
                other => Decoded::Refused(format!(
                    "binlog event of type {other}, which this Sync unit does not understand"
                )),
            });
        };
        Ok(match data {
            EventData::RotateEvent(r) => {
                let mut name = r.name_raw().to_vec();
                // The artificial ROTATE arrives before the FORMAT_DESCRIPTION, so its
                // checksum was not stripped.
                if self.checksum && !self.seen_format {
                    name.truncate(name.len().saturating_sub(4));
                }
                Decoded::Rotate {
                    file: String::from_utf8_lossy(&name).into_owned(),
                    pos: r.position(),
                }
            }
            EventData::FormatDescriptionEvent(_) => {
                self.seen_format = true;
                Decoded::Other
            }
            EventData::XidEvent(_) => Decoded::Commit,
            EventData::GtidEvent(g) => Decoded::MysqlGtid {
                uuid: g.sid(),
                gno: g.gno(),
            },
            EventData::QueryEvent(q) => {
                let sql = q.query();
                let trimmed = sql.trim();
                if trimmed.eq_ignore_ascii_case("BEGIN") {
                    Decoded::Begin
                } else if trimmed.eq_ignore_ascii_case("COMMIT") {
                    Decoded::Commit
                } else {
                    Decoded::Query {
                        schema: q.schema().into_owned(),
                        sql: sql.into_owned(),
                        text: q.query_raw().to_vec(),
                        session: StatementSession::from_status_vars(q.status_vars().0.as_bytes()),
                    }
                }
            }
            EventData::RowsEvent(rows) => self.rows(&rows)?,
            _ => Decoded::Other,
        })
    }

    fn rows(&self, event: &RowsEventData<'_>) -> Result<Decoded, StreamError> {
        let kind = match event {
            RowsEventData::WriteRowsEvent(_) | RowsEventData::WriteRowsEventV1(_) => {
                RowsKind::Insert
            }
            RowsEventData::UpdateRowsEvent(_)
            | RowsEventData::UpdateRowsEventV1(_)
            | RowsEventData::PartialUpdateRowsEvent(_) => RowsKind::Update,
            RowsEventData::DeleteRowsEvent(_) | RowsEventData::DeleteRowsEventV1(_) => {
                RowsKind::Delete
            }
        };
        let Some(tme) = self.stream.get_tme(event.table_id()) else {
            return Err(StreamError::Decode(std::io::Error::other(format!(
                "row event for table id {} without its table map",
                event.table_id()
            ))));
        };
        // The pre-5.6 TIME format (MariaDB 5.3's, type 11) is not read exactly by the
        // decoder: refuse it rather than write wrong times.
        for i in 0..usize::try_from(tme.columns_count()).unwrap_or(0) {
            if matches!(
                tme.get_raw_column_type(i),
                Ok(Some(mysql_async::consts::ColumnType::MYSQL_TYPE_TIME))
            ) {
                return Err(StreamError::Decode(std::io::Error::other(format!(
                    "column {} of {}.{} is in the old TIME format (before MySQL 5.6), which the \
                     binlog decoder does not read exactly; convert it on the source \
                     (SET GLOBAL mysql56_temporal_format = ON, then ALTER TABLE ... FORCE)",
                    i + 1,
                    tme.database_name(),
                    tme.table_name()
                ))));
            }
        }
        let mut rows = Vec::new();
        for row in event.rows(tme) {
            let (before, after) = row?;
            let image = |row: Option<mysql_async::binlog::row::BinlogRow>| {
                row.map(|mut r| {
                    (0..r.len())
                        .map(|i| r.take(i).map(BinlogValue::into_owned))
                        .collect::<RowImage>()
                })
            };
            rows.push((image(before), image(after)));
        }
        Ok(Decoded::Rows(RowsChange {
            database: tme.database_name().into_owned(),
            table: tme.table_name().into_owned(),
            columns: usize::try_from(tme.columns_count()).unwrap_or(usize::MAX),
            kind,
            rows,
            foreign_key_checks: !event
                .flags()
                .contains(mysql_async::binlog::RowsEventFlags::NO_FOREIGN_KEY_CHECKS),
            full_image: [event.columns_before_image(), event.columns_after_image()]
                .into_iter()
                .flatten()
                .all(|bits| bits.all()),
        }))
    }
}

/// Why an event of type `raw` cannot be applied, if it cannot.
fn refused_type(raw: u8) -> Option<String> {
    Some(match raw {
        26 => "an INCIDENT event: the source lost changes it could not log (LOST_EVENTS), so \
               the target can no longer be made equal by replication; copy again"
            .to_owned(),
        6..=12 | 17 | 18 => "a LOAD DATA event logged as a statement (binlog_format=STATEMENT \
                             or MIXED in its session): its rows are not in the binlog"
            .to_owned(),
        38 => "an XA PREPARE: XA transactions are not applied (their rows could be rolled back \
               after the prepare); commit them with plain transactions on the source"
            .to_owned(),
        40 => "a compressed transaction (MySQL's binlog_transaction_compression=ON), which is \
               not decoded; turn it off on the source"
            .to_owned(),
        165..=171 => "a compressed event (MariaDB's log_bin_compress=ON), which is not \
                      decoded; turn log_bin_compress off on the source"
            .to_owned(),
        0 | 1 | 20..=22 => format!("a binlog event of obsolete type {raw}"),
        _ => return None,
    })
}

/// MariaDB's GTID_EVENT type code.
const MARIA_GTID_EVENT: u8 = 162;
