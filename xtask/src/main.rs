//! Development tasks for the unit workspace, run as `cargo xtask <task>`.
//!
//! - `cargo xtask codegen`: regenerate `crates/unit-proto/src/generated/` from `proto/`.
//! - `cargo xtask codegen --check`: fail when the committed code is stale.
//! - `cargo xtask bench copy`: the copy unit's rows/s against `mariadb-dump | mariadb`.
//! - `cargo xtask bench sync`: the Sync unit's apply rate and lag against MariaDB's own
//!   replication between the same two servers.
//! - `cargo xtask matrix`: every test across server releases (MariaDB 10.11 and 11.8,
//!   MySQL 9.7), each timed, reported as a source-by-target table.
//! - `cargo xtask demo`: an online migration of a seeded database between two private
//!   MariaDB servers under a write load and faults, then cutover, verified.

mod bench;
mod bench_sync;
mod codegen;
mod demo;
mod matrix;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["codegen"] => codegen::run(codegen::Mode::Write),
        ["codegen", "--check"] => codegen::run(codegen::Mode::Check),
        ["demo"] => demo::run(demo::Size::Full),
        ["demo", "--small"] => demo::run(demo::Size::Small),
        ["bench", "copy"] => bench::copy(demo::Size::Full),
        ["bench", "copy", "--small"] => bench::copy(demo::Size::Small),
        ["bench", "sync"] => bench_sync::run(demo::Size::Full),
        ["bench", "sync", "--small"] => bench_sync::run(demo::Size::Small),
        ["matrix"] => matrix::run(),
        _ => {
            eprintln!(
                "usage: cargo xtask codegen [--check] | demo [--small] | bench copy|sync [--small] | matrix"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
