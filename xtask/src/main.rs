//! Development tasks for the unit workspace, run as `cargo xtask <task>`.
//!
//! - `cargo xtask codegen`: regenerate `crates/unit-proto/src/generated/` from `proto/`.
//! - `cargo xtask codegen --check`: fail when the committed code is stale.
//! - `cargo xtask bench copy`: the copy unit's rows/s against `mariadb-dump | mariadb`.
//! - `cargo xtask demo`: migrate a seeded database between two private MariaDB servers
//!   while injecting faults, and show that the copy resumed and verified.

mod bench;
mod codegen;
mod demo;

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
        _ => {
            eprintln!(
                "usage: cargo xtask codegen [--check] | demo [--small] | bench copy [--small]"
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
