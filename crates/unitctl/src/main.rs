//! `unitctl`: the operator tool of the unit workspace. This file parses the command
//! line and hands each subcommand to its module: `explain` (whether DM process errors
//! are resumable, and why), `migrate` (a copy, then replication, under the
//! supervisor), and `status`, `stop`, `start` (a migration's HTTP API).

mod args;
mod dm_config;
mod drive;
mod engine;
mod explain;
mod metrics;
mod migrate;
mod remote;
mod report;
mod serve;
mod signal;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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
    /// back-off; every chunk is committed with its checkpoint, so Ctrl-C or SIGTERM
    /// (which pause and exit) or a crash loses nothing, and running the same command
    /// again resumes.
    /// The copy ends by comparing row counts and checksums of every table. Exit status:
    /// 0 finished with every selected table verified and every object migrated, 1
    /// stopped by an error that is not resumable (a server never reached is one), by a
    /// server lost for longer than `--max-unavailable` (or by no progress over 5 automatic
    /// resumes) or finished with something not verified, 2 bad
    /// arguments, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
    Migrate(Box<args::Args>),
    /// Show the status of a migration serving its API (`migrate --listen ADDR`).
    ///
    /// Exit status: 0 the task runs (or resumes by itself, or finished), 1 it waits
    /// for a person (an error that is not resumable, stopped) or the API refused, 2
    /// bad arguments or no answer from ADDR.
    Status(remote::Args),
    /// Stop (pause, checkpoints kept) a migration serving its API; `start` resumes it.
    ///
    /// Exit status: 0 the task reached Paused, 1 the API refused, 2 bad arguments or
    /// no answer from ADDR.
    Stop(remote::Args),
    /// Start (resume) a migration stopped through its API or by an error.
    ///
    /// Exit status: 0 the task runs again, 1 the API refused, 2 bad arguments or no
    /// answer from ADDR.
    Start(remote::Args),
}

fn main() -> ExitCode {
    // Logs go to standard error, filtered by RUST_LOG (e.g. `RUST_LOG=info`); off by default.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    match cli.command {
        Command::Explain { file, json } => explain::run(file, json),
        Command::Migrate(args) => {
            // Options given on the command line override DM's files.
            let sub = matches.subcommand_matches("migrate");
            let given = |id: &str| {
                sub.and_then(|m| m.value_source(id))
                    .is_some_and(|s| s == clap::parser::ValueSource::CommandLine)
            };
            migrate::run(*args, given)
        }
        Command::Status(args) => remote::run(remote::Verb::Status, args),
        Command::Stop(args) => remote::run(remote::Verb::Stop, args),
        Command::Start(args) => remote::run(remote::Verb::Start, args),
    }
}
