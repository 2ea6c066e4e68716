//! The arguments of `unitctl migrate` (`Args`, `Mode`, `VerificationArg`), and their
//! validation for each engine: what cannot run is a `BadArgs`, exit status 2.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use unit_mysql::{BinlogPosition, Consistency, MySqlUrl, TlsSettings, Verification};
use unit_mysql::{ObjectKind, ObjectKinds};

/// What `unitctl migrate` was asked to do.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// DM's task file (YAML): name, task-mode, meta-schema, target-database,
    /// mysql-instances, block-allow-list, mydumpers, loaders, syncers; options given
    /// here override it.
    #[arg(long)]
    pub(crate) config: Option<std::path::PathBuf>,
    /// DM's source file (YAML) of the task's source: source-id, enable-gtid,
    /// server-id, from.
    #[arg(long)]
    pub(crate) source_config: Option<std::path::PathBuf>,
    /// Source URL, `mysql://user:password@host:port` (or `from` of `--source-config`);
    /// `postgres://...` on both sides copies PostgreSQL tables (full mode).
    #[arg(long)]
    pub(crate) source: Option<String>,
    /// Target URL, `mysql://user:password@host:port` (or `target-database` of
    /// `--config`).
    #[arg(long)]
    pub(crate) target: Option<String>,
    /// Serve the HTTP status and control API and /metrics at this address (e.g.
    /// `127.0.0.1:8261`); off by default. A non-loopback address needs
    /// `--listen-public`.
    #[arg(long)]
    pub(crate) listen: Option<String>,
    /// Allow `--listen` on an address other hosts can reach (the API can stop and
    /// start the task and has no authentication).
    #[arg(long)]
    pub(crate) listen_public: bool,
    /// The source's name in status and metrics (DM's source-id; default: the
    /// source file's, else `source`).
    #[arg(long)]
    pub(crate) source_id: Option<String>,
    /// The database on the target holding the task's checkpoints (DM's meta-schema).
    #[arg(long, default_value = "unit_checkpoint")]
    pub(crate) checkpoint_database: String,
    /// TLS mode for the source: DISABLED, PREFERRED (the default: encrypted whenever the
    /// server offers TLS, certificate not verified), REQUIRED, VERIFY_CA or
    /// VERIFY_IDENTITY; overrides the URL's `ssl-mode`.
    #[arg(long)]
    pub(crate) source_ssl_mode: Option<String>,
    /// PEM file of the CA certificates the source's certificate must chain to.
    #[arg(long)]
    pub(crate) source_ssl_ca: Option<std::path::PathBuf>,
    /// PEM file of a client certificate for the source.
    #[arg(long)]
    pub(crate) source_ssl_cert: Option<std::path::PathBuf>,
    /// PEM file of the key of the source's client certificate.
    #[arg(long)]
    pub(crate) source_ssl_key: Option<std::path::PathBuf>,
    /// TLS mode for the target (as `--source-ssl-mode`).
    #[arg(long)]
    pub(crate) target_ssl_mode: Option<String>,
    /// PEM file of the CA certificates the target's certificate must chain to.
    #[arg(long)]
    pub(crate) target_ssl_ca: Option<std::path::PathBuf>,
    /// PEM file of a client certificate for the target.
    #[arg(long)]
    pub(crate) target_ssl_cert: Option<std::path::PathBuf>,
    /// PEM file of the key of the target's client certificate.
    #[arg(long)]
    pub(crate) target_ssl_key: Option<std::path::PathBuf>,
    /// Databases to copy (comma-separated; `*` and `?` allowed); default: all but system ones.
    #[arg(long, value_delimiter = ',')]
    pub(crate) databases: Vec<String>,
    /// `db.table` patterns to copy (comma-separated); default: every table of the databases.
    #[arg(long, value_delimiter = ',')]
    pub(crate) tables: Vec<String>,
    /// `db.table` patterns to leave out (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub(crate) exclude: Vec<String>,
    /// Task name; checkpoints are kept per task.
    #[arg(long, default_value = "migrate")]
    pub(crate) task: String,
    /// Rows per chunk (one target transaction with its checkpoint).
    #[arg(long, default_value_t = 5000)]
    pub(crate) chunk_rows: usize,
    /// Parts copied at the same time (whole tables, or key ranges of big tables).
    #[arg(long, default_value_t = 4)]
    pub(crate) concurrency: usize,
    /// Split a table of at least twice this many rows (by the server's estimate) whose
    /// key starts with an integer into key ranges copied at the same time; 0: never.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) split_rows: u64,
    /// The most rows per second the copy writes, all tables together (default: no
    /// limit).
    #[arg(long)]
    pub(crate) max_rows_per_second: Option<u64>,
    /// The most value bytes per second the copy writes, all tables together (default:
    /// no limit).
    #[arg(long)]
    pub(crate) max_bytes_per_second: Option<u64>,
    /// The load guard: the copy writes no chunk while the source's Threads_running is
    /// above this (the copy's own reads count too; default: no guard).
    #[arg(long)]
    pub(crate) max_source_threads_running: Option<u64>,
    /// Write every chunk with multi-row INSERTs instead of `LOAD DATA LOCAL INFILE`
    /// streamed from memory (the default, where the target allows `local_infile`
    /// and the table has transactions; the values written are the same).
    #[arg(long)]
    pub(crate) no_load_data_local: bool,
    /// How each copied table is compared with its source: `checksum-table` (the
    /// servers' CHECKSUM TABLE, only between servers of the same version),
    /// `row-text` (a CRC32 of each row's text, any versions), or `auto` (the first
    /// when the versions are equal).
    #[arg(long, value_enum, default_value_t = VerificationArg::Auto)]
    pub(crate) verification: VerificationArg,
    /// Kinds of objects other than tables not to migrate (comma-separated: views,
    /// triggers, procedures, functions, routines, events, sequences); they are listed
    /// as left out in the summary.
    #[arg(long, value_delimiter = ',')]
    pub(crate) skip_objects: Vec<String>,
    /// Print one JSON status line per interval and JSON events.
    #[arg(long)]
    pub(crate) json: bool,
    /// Seconds between progress reports.
    #[arg(long, default_value = "1", value_parser = seconds)]
    pub(crate) interval: Duration,
    /// Seconds between auto-resume checks (DM: 5).
    #[arg(long, default_value = "5", value_parser = seconds)]
    pub(crate) check_interval: Duration,
    /// Seconds to wait for a database connection before pausing (then auto-resume
    /// tries again with back-off).
    #[arg(long, default_value = "10", value_parser = seconds)]
    pub(crate) connect_timeout: Duration,
    /// Seconds a source or target that the task reached before may stay unreachable
    /// (its connections lost or refused, with no progress) before auto-resume stops
    /// and the task pauses for a person (exit 1); the status shows how long so far.
    /// A server never reached is refused at once.
    #[arg(long, default_value = "300", value_parser = seconds)]
    pub(crate) max_unavailable: Duration,
    /// DM's task mode: `full` copies a quiet source and verifies it; `all` copies from
    /// a consistent point, then replicates the source's binlog until stopped (or until
    /// `--cutover`); `incremental` only replicates, from `--start-position`.
    #[arg(long, value_enum, default_value_t = Mode::Full)]
    pub(crate) mode: Mode,
    /// How the copy of mode `all` is made consistent with a binlog position: `flush`
    /// (FLUSH TABLES WITH READ LOCK for milliseconds), `lock` (LOCK TABLES ... READ),
    /// `none` (no lock; replication replays idempotently over the copy's span), or
    /// `auto` (flush, else lock, else none).
    #[arg(long, default_value = "auto")]
    pub(crate) consistency: String,
    /// Cutover (modes `all` and `incremental`): with writes to the source stopped,
    /// apply everything up to the source's current position, verify every table (row
    /// count and checksum), print the final position, and exit 0.
    #[arg(long)]
    pub(crate) cutover: bool,
    /// Mode `incremental`: replicate from `FILE:POSITION` of the source's binlog.
    #[arg(long)]
    pub(crate) start_position: Option<String>,
    /// Mode `incremental`: the GTID set of `--start-position` (with `--use-gtid`,
    /// the stream starts from it).
    #[arg(long)]
    pub(crate) start_gtid: Option<String>,
    /// The replica id to read the binlog as (default: derived from the task name).
    #[arg(long)]
    pub(crate) server_id: Option<u32>,
    /// Row changes per target transaction of the replication.
    #[arg(long, default_value_t = 1000)]
    pub(crate) sync_batch: usize,
    /// Target connections applying row changes in parallel, by their keys (1 keeps
    /// the source's transactions whole on the target).
    #[arg(long, default_value_t = 4)]
    pub(crate) sync_workers: usize,
    /// The most consecutive inserts, or deletes by key, of one table merged into one
    /// statement by a worker (1: a statement per row change).
    #[arg(long, default_value_t = 200)]
    pub(crate) sync_merge_rows: usize,
    /// Start the binlog stream from the recorded GTID set instead of the file and
    /// offset (to follow a source replaced by a server of the same GTID history).
    #[arg(long)]
    pub(crate) use_gtid: bool,
    /// Copy and replicate system-versioned tables as their current rows only (their
    /// history is not copied); without it they are refused.
    #[arg(long)]
    pub(crate) versioned_current_rows: bool,
}

/// `--mode`'s values (DM's task modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    Full,
    Incremental,
    All,
}

/// `--verification`'s values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum VerificationArg {
    Auto,
    ChecksumTable,
    RowText,
}

impl VerificationArg {
    pub(crate) fn chosen(self) -> Option<Verification> {
        match self {
            Self::Auto => None,
            Self::ChecksumTable => Some(Verification::ChecksumTable),
            Self::RowText => Some(Verification::RowText),
        }
    }
}

/// `FILE:POSITION`.
pub(crate) fn start_position(text: Option<&str>) -> Result<BinlogPosition, String> {
    let text = text.ok_or("mode incremental needs --start-position FILE:POSITION")?;
    let (file, pos) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text:?} is not FILE:POSITION"))?;
    let pos: u64 = pos
        .parse()
        .map_err(|_| format!("{pos:?} is not a binlog offset"))?;
    // The replication protocol carries an offset in 32 bits, and a binlog file starts
    // with a 4-byte header: a larger offset would be cut, a smaller one is no event.
    if !(4..=u64::from(u32::MAX)).contains(&pos) {
        return Err(format!(
            "{pos} is not an offset in a binlog file (from 4 to {})",
            u32::MAX
        ));
    }
    if file.is_empty() {
        return Err(format!("{text:?} has no file name"));
    }
    Ok(BinlogPosition {
        file: file.to_owned(),
        pos,
        gtid: String::new(),
    })
}

/// Checks that `file` can be read and holds a PEM block whose label ends with `what`
/// (`CERTIFICATE`, `PRIVATE KEY`): a TLS file that is not one would otherwise fail
/// every connection without naming the file.
fn pem_file(file: &std::path::Path, what: &str) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read it: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let found = text.lines().any(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|label| label.ends_with(what))
    });
    if found {
        Ok(())
    } else {
        Err(format!(
            "not a PEM file holding a {} (no -----BEGIN ...{what}----- line)",
            what.to_ascii_lowercase()
        ))
    }
}

/// A positive number of seconds.
fn seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err("must be a positive number of seconds".to_owned()),
    }
}

/// Arguments that cannot run, and why: said on standard error, exit status 2.
#[derive(Debug)]
pub(crate) struct BadArgs(pub(crate) String);

impl BadArgs {
    /// Says why (`unitctl: ...`); exit status 2.
    pub(crate) fn exit(&self) -> ExitCode {
        eprintln!("unitctl: {}", self.0);
        ExitCode::from(2)
    }
}

impl From<String> for BadArgs {
    fn from(message: String) -> Self {
        Self(message)
    }
}

impl From<&str> for BadArgs {
    fn from(message: &str) -> Self {
        Self(message.to_owned())
    }
}

/// Whether `url` names a PostgreSQL server.
pub(crate) fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// What the MySQL engine runs with, checked: the servers with their TLS settings,
/// the API's address, and the kinds of objects migrated.
pub(crate) struct MySqlChecked {
    pub(crate) source: MySqlUrl,
    pub(crate) target: MySqlUrl,
    pub(crate) listen: Option<SocketAddr>,
    pub(crate) objects: ObjectKinds,
}

impl Args {
    /// The source and target URLs.
    ///
    /// # Errors
    /// Either is missing.
    pub(crate) fn urls(&self) -> Result<(&str, &str), BadArgs> {
        let Some(source) = self.source.as_deref() else {
            return Err("--source is missing (or a --source-config with `from`)".into());
        };
        let Some(target) = self.target.as_deref() else {
            return Err("--target is missing (or a --config with `target-database`)".into());
        };
        Ok((source, target))
    }

    /// Checks the arguments of a MySQL migration from `source` to `target`.
    ///
    /// # Errors
    /// The first argument that cannot run, in the order of the options' checks.
    pub(crate) fn check_mysql(&self, source: &str, target: &str) -> Result<MySqlChecked, BadArgs> {
        let args = self;
        let source: MySqlUrl = source.parse().map_err(|e| format!("--source: {e}"))?;
        let target: MySqlUrl = target.parse().map_err(|e| format!("--target: {e}"))?;
        let listen = match args.listen.as_deref() {
            Some(text) => Some(
                crate::serve::listen_address(text, args.listen_public)
                    .map_err(|e| format!("--listen: {e}"))?,
            ),
            None => None,
        };
        let tls = |mode: &Option<String>,
                   ca: &Option<std::path::PathBuf>,
                   cert: &Option<std::path::PathBuf>,
                   key: &Option<std::path::PathBuf>|
         -> Result<TlsSettings, String> {
            Ok(TlsSettings {
                mode: mode.as_deref().map(TlsSettings::parse_mode).transpose()?,
                ca: ca.clone(),
                cert: cert.clone(),
                key: key.clone(),
            })
        };
        for (option, file, pem) in [
            ("--source-ssl-ca", &args.source_ssl_ca, "CERTIFICATE"),
            ("--source-ssl-cert", &args.source_ssl_cert, "CERTIFICATE"),
            ("--source-ssl-key", &args.source_ssl_key, "PRIVATE KEY"),
            ("--target-ssl-ca", &args.target_ssl_ca, "CERTIFICATE"),
            ("--target-ssl-cert", &args.target_ssl_cert, "CERTIFICATE"),
            ("--target-ssl-key", &args.target_ssl_key, "PRIVATE KEY"),
        ] {
            if let Some(file) = file {
                pem_file(file, pem).map_err(|e| format!("{option} {}: {e}", file.display()))?;
            }
        }
        let source = match tls(
            &args.source_ssl_mode,
            &args.source_ssl_ca,
            &args.source_ssl_cert,
            &args.source_ssl_key,
        ) {
            Ok(t) => source.with_tls(&t),
            Err(e) => return Err(format!("--source-ssl-mode: {e}").into()),
        };
        let target = match tls(
            &args.target_ssl_mode,
            &args.target_ssl_ca,
            &args.target_ssl_cert,
            &args.target_ssl_key,
        ) {
            Ok(t) => target.with_tls(&t),
            Err(e) => return Err(format!("--target-ssl-mode: {e}").into()),
        };
        if args.chunk_rows == 0
            || args.concurrency == 0
            || args.sync_batch == 0
            || args.sync_workers == 0
            || args.sync_merge_rows == 0
            || args.max_rows_per_second == Some(0)
            || args.max_bytes_per_second == Some(0)
        {
            return Err(
                "--chunk-rows, --concurrency, --sync-batch, --sync-workers, --sync-merge-rows, --max-rows-per-second and --max-bytes-per-second must be at least 1".into(),
            );
        }
        if let Err(e) = args.consistency.parse::<Consistency>() {
            return Err(format!("--consistency: {e}").into());
        }
        if args.cutover && args.mode == Mode::Full {
            return Err("--cutover needs --mode all or incremental".into());
        }
        if args.mode == Mode::Full && (args.start_position.is_some() || args.start_gtid.is_some()) {
            return Err(
                "--start-position and --start-gtid need --mode incremental (a full copy \
                        reads the tables, not the binlog)"
                    .into(),
            );
        }
        if args.mode == Mode::Incremental {
            if let Err(e) = start_position(args.start_position.as_deref()) {
                return Err(format!("--start-position: {e}").into());
            }
        }
        if args.checkpoint_database.is_empty() {
            return Err("--checkpoint-database must not be empty".into());
        }
        let mut skipped = Vec::new();
        for name in &args.skip_objects {
            match ObjectKind::parse(name) {
                // `routines` leaves out functions and procedures alike.
                Some(ObjectKind::Function)
                    if name.trim().to_ascii_lowercase().starts_with("routine") =>
                {
                    skipped.extend([ObjectKind::Function, ObjectKind::Procedure]);
                }
                Some(kind) => skipped.push(kind),
                None => {
                    return Err(format!(
                        "--skip-objects: unknown kind {name:?} (views, triggers, procedures, functions, routines, events, sequences)"
                    ).into());
                }
            }
        }
        Ok(MySqlChecked {
            source,
            target,
            listen,
            objects: ObjectKinds::without(&skipped),
        })
    }

    /// Checks the arguments of a PostgreSQL copy from `source` to `target`.
    ///
    /// # Errors
    /// A URL that is not PostgreSQL's, an option a PostgreSQL copy does not honour,
    /// or a setting out of range.
    pub(crate) fn check_postgres(&self, source: &str, target: &str) -> Result<(), BadArgs> {
        if !is_postgres(source) || !is_postgres(target) {
            return Err("--source and --target must both be postgres:// URLs for a PostgreSQL copy (a copy between MySQL and PostgreSQL is not supported)".into());
        }
        if let Some(what) = self.unsupported_by_postgres() {
            return Err(format!("{what} is not supported for PostgreSQL").into());
        }
        if self.chunk_rows == 0 || self.checkpoint_database.is_empty() {
            return Err(
                "--chunk-rows must be at least 1 and --checkpoint-database not empty".into(),
            );
        }
        Ok(())
    }

    /// Options of `migrate` that a PostgreSQL copy does not honour, when given.
    fn unsupported_by_postgres(&self) -> Option<&'static str> {
        let args = self;
        [
            (args.mode != Mode::Full, "--mode all/incremental (online migration of PostgreSQL is future work; use --mode full)"),
            (args.cutover, "--cutover"),
            (args.config.is_some() || args.source_config.is_some(), "--config and --source-config (DM's files name MySQL sources)"),
            (args.listen.is_some(), "--listen"),
            (!args.exclude.is_empty(), "--exclude"),
            (args.max_rows_per_second.is_some() || args.max_bytes_per_second.is_some(), "--max-rows-per-second and --max-bytes-per-second"),
            (args.source_ssl_mode.is_some() || args.target_ssl_mode.is_some(), "--source-ssl-mode and --target-ssl-mode (use sslmode=... in the URL)"),
        ]
        .into_iter()
        .find_map(|(given, what)| given.then_some(what))
    }
}
