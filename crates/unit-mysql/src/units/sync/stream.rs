//! The source's binlog as a stream of decoded events, read with mysql_async (the
//! maintained Rust client that speaks the replication protocol).

use futures_util::StreamExt;
use mysql_async::binlog::events::{Event, EventData, RowsEventData};
use mysql_async::binlog::value::BinlogValue;
use mysql_async::prelude::Queryable;

use mysql_async::{BinlogStream, BinlogStreamRequest, GnoInterval, Sid};
use mysql_common::packets::Tag;

use super::ddl::session::StatementSession;
use crate::adapter::client::{connect_with, is_packet_too_large};
use crate::adapter::dsn::MySqlUrl;

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
    MysqlGtid(crate::catalog::position::MysqlGtidSet),
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
        /// The xid (as SQL: `X'..',X'..',n`) of the XA transaction this GTID starts,
        /// when it starts one that ends at its `XA PREPARE`.
        prepared_xa: Option<String>,
    },
    /// MySQL's GTID event: the next transaction's `uuid:gno` (`uuid:tag:gno` when
    /// tagged, lower case).
    MysqlGtid {
        uuid: [u8; 16],
        tag: Option<String>,
        gno: u64,
    },
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
    /// The end of an XA transaction's first phase (`XA_PREPARE_LOG_EVENT`); with
    /// `one_phase`, its commit (`XA COMMIT ... ONE PHASE`).
    XaPrepare { one_phase: bool },
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
    /// It came out of a compressed transaction (MySQL's `Transaction_payload_event`):
    /// it has no position of its own (`end_pos` is 0, but for the transaction's last
    /// event, which ends where the compressed transaction ends).
    pub(crate) compressed: bool,
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
    /// The next event is larger than the stream takes
    /// ([`SyncSettings::max_event_bytes`](crate::units::task::SyncSettings::max_event_bytes)):
    /// every retry would meet it again.
    #[error("the next binlog event is larger than the stream takes (max_event_bytes)")]
    TooLarge,
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
    /// A MariaDB source's `@@binlog_checksum` is on: the first artificial ROTATE's name
    /// carries 4 CRC bytes.
    checksum: bool,
    /// A FORMAT_DESCRIPTION was read: the reader strips checksums from then on.
    seen_format: bool,
    /// The compressed transaction whose events are being read.
    payload: Option<Payload>,
}

/// A compressed transaction (`Transaction_payload_event`, `binlog_transaction_compression=ON`)
/// whose events the client decompresses and hands over one by one after it.
#[derive(Debug)]
struct Payload {
    /// Where it ends in its file: the position after its last event.
    end_pos: u64,
    /// The bytes of its events, as the source recorded them.
    size: u64,
    /// The bytes of the events read out of it so far.
    read: u64,
}

/// `TRANSACTION_PAYLOAD_EVENT`.
const TRANSACTION_PAYLOAD: u8 = 40;

impl Source {
    /// Opens a stream from `start`, as replica `server_id` (which must differ from the
    /// source's and from other replicas').
    /// Events of up to `max_event` bytes are taken (as a replica's
    /// `slave_max_allowed_packet`); a larger one ends the stream with
    /// [`StreamError::TooLarge`].
    pub(crate) async fn open(
        url: &MySqlUrl,
        server_id: u32,
        start: &StartAt,
        mariadb: bool,
        max_event: usize,
    ) -> Result<Self, StreamError> {
        let mut conn = connect_with(url, &[], Some(max_event)).await?;
        let checksum: Option<String> = conn
            .query_first("SELECT CAST(@@GLOBAL.binlog_checksum AS CHAR)")
            .await?;
        // Only MariaDB's first artificial ROTATE carries the 4 CRC bytes in its name; a
        // MySQL source's (9.7 seen) comes without them, and cutting 4 bytes there
        // made `binlog.000001` into `binlog.00`.
        let checksum = mariadb && checksum.is_some_and(|c| !c.eq_ignore_ascii_case("NONE"));
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
                let mut sids = Vec::new();
                for (uuid, tag, intervals) in set.intervals() {
                    let sid = Sid::new(uuid).with_intervals(
                        intervals
                            .into_iter()
                            .map(|(start, end)| GnoInterval::new(start, end))
                            .collect(),
                    );
                    sids.push(match tag {
                        Some(tag) => sid.with_tag(Tag::new(tag).map_err(|e| {
                            StreamError::Decode(std::io::Error::new(
                                std::io::ErrorKind::InvalidInput,
                                format!("a GTID tag of the start set: {e}"),
                            ))
                        })?),
                        None => sid,
                    });
                }
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
            payload: None,
        })
    }

    /// The next event, decoded.
    pub(crate) async fn next(&mut self) -> Result<SourceEvent, StreamError> {
        let event = match self.stream.next().await {
            Some(Err(e)) if is_packet_too_large(&e) => return Err(StreamError::TooLarge),
            Some(event) => event?,
            None => return Err(StreamError::Ended),
        };
        let header = event.header();
        let end_pos = u64::from(header.log_pos());
        if header.event_type_raw() == TRANSACTION_PAYLOAD {
            return self.payload_start(&event, end_pos);
        }
        let Some(payload) = self.payload.as_mut() else {
            let decoded = self.decode(&event)?;
            return Ok(SourceEvent {
                decoded,
                end_pos,
                timestamp: header.timestamp(),
                compressed: false,
            });
        };
        // The events of a compressed transaction carry no position; the client hands
        // them over right after it, and they fill it exactly.
        if end_pos != 0 {
            return Err(payload_lost(format!(
                "an event at position {end_pos} came before the compressed transaction ending at {} \
                 was read whole",
                payload.end_pos
            )));
        }
        payload.read += u64::from(header.event_size());
        let (read, size, payload_end) = (payload.read, payload.size, payload.end_pos);
        let decoded = self.decode(&event)?;
        // A transaction ends with its commit (an XID or a COMMIT query), or an XA
        // transaction's first phase with its prepare.
        let last = matches!(decoded, Decoded::Commit | Decoded::XaPrepare { .. });
        if read > size || last && read != size {
            return Err(payload_lost(format!(
                "its events hold {read} bytes where the source recorded {size}"
            )));
        }
        if last {
            self.payload = None;
        }
        Ok(SourceEvent {
            decoded,
            end_pos: if last { payload_end } else { 0 },
            timestamp: header.timestamp(),
            compressed: true,
        })
    }

    /// A compressed transaction begins: its events follow, decompressed by the client.
    fn payload_start(&mut self, event: &Event, end_pos: u64) -> Result<SourceEvent, StreamError> {
        use mysql_async::binlog::events::TransactionPayloadEvent;
        if let Some(open) = &self.payload {
            return Err(payload_lost(format!(
                "another began before the one ending at {} was read whole",
                open.end_pos
            )));
        }
        let payload = event.read_event::<TransactionPayloadEvent<'_>>()?;
        let size = payload.uncompressed_size();
        if size == 0 {
            return Err(payload_lost("it holds no events".to_owned()));
        }
        self.payload = Some(Payload {
            end_pos,
            size,
            read: 0,
        });
        Ok(SourceEvent {
            decoded: Decoded::Other,
            end_pos: 0,
            timestamp: event.header().timestamp(),
            compressed: true,
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
                prepared_xa: maria_gtid_xid(data).map_err(StreamError::Decode)?,
            });
        }
        if (MARIA_QUERY_COMPRESSED..=MARIA_DELETE_ROWS_COMPRESSED).contains(&raw_type) {
            let inflated = inflate_event(event).map_err(|e| {
                StreamError::Decode(std::io::Error::other(format!(
                    "MariaDB compressed event (type {raw_type}) cannot be inflated: {e}"
                )))
            })?;
            return self.decode(&inflated);
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
                tag: g.tag().map(|t| t.to_ascii_lowercase()),
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
            EventData::XaPrepareLogEvent(data) => Decoded::XaPrepare {
                one_phase: data.first().is_some_and(|&b| b != 0),
            },
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
            let (before, mut after) = (image(before), image(after));
            // A partial update (MySQL's PARTIAL_JSON) logs a JSON column it left
            // unchanged as an empty diff: its value is the before image's. A diff that
            // changes something is refused where the value is written.
            if let (Some(before), Some(after)) = (&before, &mut after) {
                for (old, new) in before.iter().zip(after.iter_mut()) {
                    if matches!(new, Some(BinlogValue::JsonDiff(d)) if d.is_empty()) {
                        new.clone_from(old);
                    }
                }
            }
            rows.push((before, after));
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

/// A compressed transaction whose events did not all arrive: never passed over.
fn payload_lost(detail: String) -> StreamError {
    StreamError::Decode(std::io::Error::other(format!(
        "a compressed transaction (binlog_transaction_compression) could not be read whole: {detail}"
    )))
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
        0 | 1 | 20..=22 => format!("a binlog event of obsolete type {raw}"),
        _ => return None,
    })
}

/// The xid of a MariaDB GTID event that starts a prepared XA transaction
/// (`FL_PREPARED_XA`), as SQL; `None` for any other GTID event.
fn maria_gtid_xid(data: &[u8]) -> std::io::Result<Option<String>> {
    const FL_GROUP_COMMIT_ID: u8 = 2;
    const FL_PREPARED_XA: u8 = 64;
    let flags = data[12];
    if flags & FL_PREPARED_XA == 0 {
        return Ok(None);
    }
    let at = 13
        + if flags & FL_GROUP_COMMIT_ID != 0 {
            8
        } else {
            0
        };
    let short = || std::io::Error::other("short MariaDB GTID event of an XA transaction");
    let head = data.get(at..at + 6).ok_or_else(short)?;
    let format_id = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let (gtrid, bqual) = (usize::from(head[4]), usize::from(head[5]));
    let xid = data.get(at + 6..at + 6 + gtrid + bqual).ok_or_else(short)?;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02X}")).collect::<String>();
    Ok(Some(format!(
        "X'{}',X'{}',{format_id}",
        hex(&xid[..gtrid]),
        hex(&xid[gtrid..])
    )))
}

/// MariaDB's compressed events (`log_bin_compress=ON`): a query (165), and rows
/// events V1 (166 to 168: write, update, delete) and V2 (169 to 171).
const MARIA_QUERY_COMPRESSED: u8 = 165;
const MARIA_WRITE_ROWS_COMPRESSED_V1: u8 = 166;
const MARIA_WRITE_ROWS_COMPRESSED: u8 = 169;
const MARIA_DELETE_ROWS_COMPRESSED: u8 = 171;

/// A MariaDB compressed event as the plain event it compresses: the same header
/// (its type and size changed) and data, the compressed part inflated. The part is the
/// query's text of a query event, the rows (after the column bitmaps) of a rows event;
/// it starts with a byte `1aaa0nnn` (algorithm `aaa`, 0 for zlib, then `nnn` bytes
/// of the inflated length, big-endian), and the zlib stream follows.
fn inflate_event(event: &Event) -> std::io::Result<Event> {
    use mysql_async::binlog::EventType;
    use std::io::{Error, Read};
    let header = event.header();
    let raw_type = header.event_type_raw();
    let data = event.data();
    let fde = event.fde();
    let short = || Error::other("event shorter than its headers");
    let (plain_type, start) = if raw_type == MARIA_QUERY_COMPRESSED {
        // Post-header: thread id (4), time (4), db length (1), error (2), status
        // variables' length (2); then status variables, db name, NUL, the query.
        let post = usize::from(fde.get_event_type_header_length(EventType::QUERY_EVENT));
        let db_len = usize::from(*data.get(8).ok_or_else(short)?);
        let vars = data.get(11..13).ok_or_else(short)?;
        let vars_len = usize::from(u16::from_le_bytes([vars[0], vars[1]]));
        (EventType::QUERY_EVENT as u8, post + vars_len + db_len + 1)
    } else {
        let v1 = raw_type < MARIA_WRITE_ROWS_COMPRESSED;
        let (first_plain, first_compressed) = if v1 {
            (
                EventType::WRITE_ROWS_EVENT_V1,
                MARIA_WRITE_ROWS_COMPRESSED_V1,
            )
        } else {
            (EventType::WRITE_ROWS_EVENT, MARIA_WRITE_ROWS_COMPRESSED)
        };
        let plain = first_plain as u8 + (raw_type - first_compressed);
        let post = usize::from(fde.get_event_type_header_length(first_plain));
        let mut at = post;
        if !v1 {
            // A V2 rows event's extra data: its length (2 bytes, counting itself).
            let extra = data.get(at..at + 2).ok_or_else(short)?;
            at += usize::from(u16::from_le_bytes([extra[0], extra[1]]));
        }
        // Column count (length-encoded), then one bitmap (two for an update).
        let (width, len) = length_encoded(data.get(at..).ok_or_else(short)?).ok_or_else(short)?;
        let bitmap = usize::try_from(width.div_ceil(8)).map_err(Error::other)?;
        let update = plain == EventType::UPDATE_ROWS_EVENT_V1 as u8
            || plain == EventType::UPDATE_ROWS_EVENT as u8;
        at += len + bitmap * if update { 2 } else { 1 };
        (plain, at)
    };
    let compressed = data.get(start..).ok_or_else(short)?;
    let (&flags, rest) = compressed.split_first().ok_or_else(short)?;
    if flags & 0x80 == 0 || flags & 0x70 != 0 {
        return Err(Error::other(format!(
            "unknown compression header byte {flags:#04x} (only zlib is known)"
        )));
    }
    let len_len = usize::from(flags & 0x07);
    let size_bytes = rest.get(..len_len).ok_or_else(short)?;
    let size = size_bytes
        .iter()
        .fold(0usize, |n, &b| (n << 8) | usize::from(b));
    let mut inflated = Vec::with_capacity(size);
    flate2::read::ZlibDecoder::new(&rest[len_len..])
        .take(u64::try_from(size).map_err(Error::other)? + 1)
        .read_to_end(&mut inflated)?;
    if inflated.len() != size {
        return Err(Error::other(format!(
            "inflated to {} bytes, the event says {size}",
            inflated.len()
        )));
    }
    let checksum = event.checksum();
    let body_len = 19 + start + inflated.len() + checksum.map_or(0, |c| c.len());
    let mut raw = Vec::with_capacity(body_len);
    raw.extend_from_slice(&header.timestamp().to_le_bytes());
    raw.push(plain_type);
    raw.extend_from_slice(&header.server_id().to_le_bytes());
    raw.extend_from_slice(&u32::try_from(body_len).map_err(Error::other)?.to_le_bytes());
    raw.extend_from_slice(&header.log_pos().to_le_bytes());
    raw.extend_from_slice(&header.flags_raw().to_le_bytes());
    raw.extend_from_slice(&data[..start]);
    raw.extend_from_slice(&inflated);
    if let Some(checksum) = checksum {
        raw.extend_from_slice(&checksum);
    }
    Event::read(fde, raw.as_slice())
}

/// A length-encoded integer at the start of `bytes`, and how many bytes it takes.
fn length_encoded(bytes: &[u8]) -> Option<(u64, usize)> {
    let (&first, rest) = bytes.split_first()?;
    let wide = |n: usize| {
        let b = rest.get(..n)?;
        Some((
            b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)),
            n + 1,
        ))
    };
    match first {
        0..=250 => Some((u64::from(first), 1)),
        252 => wide(2),
        253 => wide(3),
        254 => wide(8),
        _ => None,
    }
}

/// MariaDB's GTID_EVENT type code.
const MARIA_GTID_EVENT: u8 = 162;

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_async::binlog::BinlogVersion;
    use mysql_async::binlog::events::FormatDescriptionEvent;
    use std::io::Write;

    /// A raw event of `raw_type` with `data` after the 19-byte header, read back.
    fn event(raw_type: u8, data: &[u8]) -> Event {
        let fde = FormatDescriptionEvent::new(BinlogVersion::Version4);
        let mut raw = vec![0, 0, 0, 0, raw_type, 1, 0, 0, 0];
        raw.extend_from_slice(&u32::try_from(19 + data.len()).unwrap().to_le_bytes());
        raw.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        raw.extend_from_slice(data);
        Event::read(&fde, raw.as_slice()).unwrap()
    }

    #[test]
    fn a_compressed_query_is_inflated_and_bad_ones_are_errors() {
        let sql = b"ALTER TABLE t ADD c INT";
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(sql).unwrap();
        let packed = zlib.finish().unwrap();
        // Post-header (no status variables), db "d", NUL, then the compressed text.
        let mut data = vec![0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, b'd', 0];
        data.extend_from_slice(&[0x81, u8::try_from(sql.len()).unwrap()]);
        data.extend_from_slice(&packed);
        let inflated = inflate_event(&event(MARIA_QUERY_COMPRESSED, &data)).unwrap();
        assert_eq!(inflated.header().event_type_raw(), 2);
        match inflated.read_data().unwrap() {
            Some(EventData::QueryEvent(q)) => assert_eq!(q.query_raw(), sql),
            other => panic!("{other:?}"),
        }
        // A wrong length, an unknown algorithm, a truncated event: errors, no panic.
        let mut wrong = data.clone();
        wrong[15] = 0x81;
        wrong[16] = 3;
        assert!(inflate_event(&event(MARIA_QUERY_COMPRESSED, &wrong)).is_err());
        let mut lz = data.clone();
        lz[15] = 0x91;
        assert!(inflate_event(&event(MARIA_QUERY_COMPRESSED, &lz)).is_err());
        for cut in [3, 10, 14, 16] {
            assert!(inflate_event(&event(MARIA_QUERY_COMPRESSED, &data[..cut])).is_err());
            assert!(inflate_event(&event(MARIA_WRITE_ROWS_COMPRESSED, &data[..cut])).is_err());
        }
        assert_eq!(length_encoded(&[252, 1, 2]), Some((0x201, 3)));
        assert_eq!(length_encoded(&[253, 1]), None);
    }
}
