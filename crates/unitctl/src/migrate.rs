//! `unitctl migrate`: DM's task and source files into the arguments, then the engine
//! the URLs name: MySQL to MySQL, or PostgreSQL to PostgreSQL.

use std::process::ExitCode;

use crate::args::{Args, BadArgs, is_postgres};
use crate::{dm_config, engine};

/// Runs `unitctl migrate`; options `given` on the command line override DM's files.
pub(crate) fn run(mut args: Args, given: impl Fn(&str) -> bool) -> ExitCode {
    if let Err(e) = dm_config::apply(&mut args, given) {
        return BadArgs(e).exit();
    }
    let (source, target) = match args.urls() {
        Ok(urls) => urls,
        Err(e) => return e.exit(),
    };
    if is_postgres(source) || is_postgres(target) {
        return engine::postgres::run(&args, source, target);
    }
    match args.check_mysql(source, target) {
        Ok(checked) => engine::mysql::run(args, checked),
        Err(e) => e.exit(),
    }
}
