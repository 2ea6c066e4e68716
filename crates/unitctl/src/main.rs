//! `unitctl`: the operator tool of the unit workspace.
//!
//! `unitctl explain [FILE|-] [--json]` reads DM process errors (one, a list, a
//! `ProcessResult`, or a whole dmctl `query-status` document) and says for each whether
//! it is resumable and which rule decided. Exit status: 0 when every error is
//! resumable, 1 when any is not, 2 on bad input.

mod explain;
mod migrate;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use unit_mysql::Verification;

/// Operator tool of the unit workspace.
#[derive(Debug, Parser)]
#[command(name = "unitctl", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Explain whether DM process errors are resumable, and why.
    ///
    /// Reads JSON: a ProcessError, a list of them, a ProcessResult, or a whole
    /// `dmctl query-status` document (every error object in it is found). Exit status:
    /// 0 when every error is resumable, 1 when any is not, 2 on bad input.
    Explain {
        /// The JSON file to read; `-` or nothing reads standard input.
        file: Option<PathBuf>,
        /// Print one JSON document instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Copy databases from a source MySQL server to a target one.
    ///
    /// Runs a check, then the copy, under the supervisor: resumable faults (lost
    /// connections, a restarted server, lock timeouts) are resumed automatically with
    /// back-off; every chunk is committed with its checkpoint, so Ctrl-C (which pauses
    /// and exits) or a crash loses nothing, and running the same command again resumes.
    /// The copy ends by comparing row counts and checksums of every table. Exit status:
    /// 0 finished and verified, 1 stopped by an error that is not resumable, 2 bad
    /// arguments, 130 interrupted.
    Migrate {
        /// Source URL, `mysql://user:password@host:port`.
        #[arg(long)]
        source: String,
        /// Target URL, `mysql://user:password@host:port`.
        #[arg(long)]
        target: String,
        /// Databases to copy (comma-separated; `*` and `?` allowed); default: all but system ones.
        #[arg(long, value_delimiter = ',')]
        databases: Vec<String>,
        /// `db.table` patterns to copy (comma-separated); default: every table of the databases.
        #[arg(long, value_delimiter = ',')]
        tables: Vec<String>,
        /// `db.table` patterns to leave out (comma-separated).
        #[arg(long, value_delimiter = ',')]
        exclude: Vec<String>,
        /// Task name; checkpoints are kept per task.
        #[arg(long, default_value = "migrate")]
        task: String,
        /// Rows per chunk (one target transaction with its checkpoint).
        #[arg(long, default_value_t = 5000)]
        chunk_rows: usize,
        /// Parts copied at the same time (whole tables, or key ranges of big tables).
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Split a table of at least twice this many rows (by the server's estimate) whose
        /// key starts with an integer into key ranges copied at the same time; 0: never.
        #[arg(long, default_value_t = 100_000)]
        split_rows: u64,
        /// How each copied table is compared with its source: `checksum-table` (the
        /// servers' CHECKSUM TABLE, only between servers of the same version),
        /// `row-text` (a CRC32 of each row's text, any versions), or `auto` (the first
        /// when the versions are equal).
        #[arg(long, value_enum, default_value_t = VerificationArg::Auto)]
        verification: VerificationArg,
        /// Print one JSON status line per interval and JSON events.
        #[arg(long)]
        json: bool,
        /// Seconds between progress reports.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Seconds between auto-resume checks (DM: 5).
        #[arg(long, default_value_t = 5.0)]
        check_interval: f64,
        /// Seconds to wait for a database connection before pausing (then auto-resume
        /// tries again with back-off).
        #[arg(long, default_value_t = 10.0)]
        connect_timeout: f64,
    },
}

/// `--verification`'s values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum VerificationArg {
    Auto,
    ChecksumTable,
    RowText,
}

fn main() -> ExitCode {
    // Logs go to standard error, filtered by RUST_LOG (e.g. `RUST_LOG=info`); off by default.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Explain { file, json } => run_explain(file, json),
        Command::Migrate {
            source,
            target,
            databases,
            tables,
            exclude,
            task,
            chunk_rows,
            concurrency,
            split_rows,
            verification,
            json,
            interval,
            check_interval,
            connect_timeout,
        } => {
            let secs = |s: f64, name: &str| {
                if s.is_finite() && s > 0.0 {
                    Ok(std::time::Duration::from_secs_f64(s))
                } else {
                    Err(format!("--{name} must be a positive number of seconds"))
                }
            };
            let parsed = (
                secs(interval, "interval"),
                secs(check_interval, "check-interval"),
                secs(connect_timeout, "connect-timeout"),
            );
            let (interval, check_interval, connect_timeout) = match parsed {
                (Ok(a), Ok(b), Ok(c)) => (a, b, c),
                (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return bad_input(&e),
            };
            migrate::run(migrate::Args {
                source,
                target,
                databases,
                tables,
                exclude,
                task,
                chunk_rows,
                concurrency,
                split_rows,
                verification: match verification {
                    VerificationArg::Auto => None,
                    VerificationArg::ChecksumTable => Some(Verification::ChecksumTable),
                    VerificationArg::RowText => Some(Verification::RowText),
                },
                json,
                interval,
                check_interval,
                connect_timeout,
            })
        }
    }
}

fn run_explain(file: Option<PathBuf>, json: bool) -> ExitCode {
    let (name, read) = match file.as_deref() {
        None => ("standard input".to_owned(), read_stdin()),
        Some(p) if p.as_os_str() == "-" => ("standard input".to_owned(), read_stdin()),
        Some(p) => (p.display().to_string(), std::fs::read(p)),
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(err) => return bad_input(&format!("cannot read {name}: {err}")),
    };
    let report = match explain::explain_bytes(&bytes) {
        Ok(report) => report,
        Err(err) => return bad_input(&format!("{name}: {err}")),
    };
    let text = if json {
        report.to_json()
    } else {
        report.to_text()
    };
    let mut out = std::io::stdout().lock();
    if let Err(err) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A closed pipe is not bad input, but the answer was not delivered either.
        eprintln!("unitctl: cannot write the report: {err}");
        return ExitCode::from(2);
    }
    if report.all_resumable() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn read_stdin() -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    std::io::stdin().lock().read_to_end(&mut buf)?;
    Ok(buf)
}

fn bad_input(message: &str) -> ExitCode {
    eprintln!("unitctl: {message}");
    ExitCode::from(2)
}
