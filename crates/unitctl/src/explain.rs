//! `unitctl explain`: whether DM process errors are resumable, and why, as text or
//! JSON; exit status 0 when every error is resumable, 1 when any is not, 2 on bad
//! input.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Explains the errors of `file` (standard input for `-` or none); the exit status.
pub(crate) fn run(file: Option<PathBuf>, json: bool) -> ExitCode {
    let (name, read) = match file.as_deref() {
        None => ("standard input".to_owned(), read_stdin()),
        Some(p) if p.as_os_str() == "-" => ("standard input".to_owned(), read_stdin()),
        Some(p) => (p.display().to_string(), std::fs::read(p)),
    };
    let bytes = match read {
        Ok(bytes) => bytes,
        Err(err) => return bad_input(&format!("cannot read {name}: {err}")),
    };
    let report = match unit_core::query_status::explain_query_status(&bytes) {
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
