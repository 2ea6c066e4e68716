//! `cargo xtask matrix`: the tests that run across server releases (MariaDB 10.11, the
//! machine's; MariaDB 11.8 and MySQL 9.7 from Debian roots the tests make once per
//! machine), each run on its own and timed, reported as the release matrix (every
//! source/target pairing of `tests/pairings.rs`) and a list of the other
//! cross-release tests (`tests/mysql_servers.rs`, `tests/mysql_zoo.rs`,
//! `tests/mariadb_releases.rs`).
//! Exits non-zero when any fails.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

/// The test binaries of `unit-integration-tests` that run across releases.
const BINARIES: [&str; 4] = ["pairings", "mysql_servers", "mysql_zoo", "mariadb_releases"];

/// The releases as the pairing tests name them, with their display names.
const RELEASES: [(&str, &str); 3] = [
    ("mariadb_10_11", "MariaDB 10.11"),
    ("mariadb_11_8", "MariaDB 11.8"),
    ("mysql_9_7", "MySQL 9.7"),
];

/// One test's outcome.
struct Outcome {
    binary: &'static str,
    name: String,
    passed: bool,
    seconds: f64,
}

fn cargo_test(binary: &str) -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.args([
        "test",
        "-q",
        "-p",
        "unit-integration-tests",
        "--test",
        binary,
    ]);
    command
}

/// The tests of `binary`, as `cargo test -- --list` names them.
fn list(binary: &str) -> anyhow::Result<Vec<String>> {
    let out = cargo_test(binary)
        .args(["--", "--list", "--format=terse"])
        .output()
        .with_context(|| format!("list the tests of {binary}"))?;
    if !out.status.success() {
        bail!(
            "listing the tests of {binary} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_owned)
        .collect())
}

/// Runs the matrix and prints its report.
pub(crate) fn run() -> anyhow::Result<()> {
    eprintln!("== building the test binaries");
    for binary in BINARIES {
        let status = cargo_test(binary).arg("--no-run").status()?;
        if !status.success() {
            bail!("building {binary} failed");
        }
    }
    let mut outcomes = Vec::new();
    for binary in BINARIES {
        for name in list(binary)? {
            eprintln!("== {binary}::{name}");
            let started = Instant::now();
            let status = cargo_test(binary)
                .args(["--", "--exact", &name, "--test-threads=1"])
                .status()?;
            outcomes.push(Outcome {
                binary,
                name,
                passed: status.success(),
                seconds: started.elapsed().as_secs_f64(),
            });
        }
    }
    println!("{}", report(&outcomes));
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| format!("{}::{}", o.binary, o.name))
        .collect();
    if !failed.is_empty() {
        bail!("{} failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

/// The report: the pairings as a source-by-target table, then the other tests.
fn report(outcomes: &[Outcome]) -> String {
    let cell = |o: &Outcome| {
        format!(
            "{} ({:.1} s)",
            if o.passed { "pass" } else { "FAIL" },
            o.seconds
        )
    };
    let mut out = String::from("\n| source \\ target |");
    for (_, display) in RELEASES {
        out.push_str(&format!(" {display} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---|".repeat(RELEASES.len()));
    for (from, from_display) in RELEASES {
        out.push_str(&format!("\n| {from_display} |"));
        for (to, _) in RELEASES {
            let name = format!("{from}_to_{to}");
            let found = outcomes
                .iter()
                .find(|o| o.binary == "pairings" && o.name == name);
            out.push_str(&format!(" {} |", found.map_or("not run".to_owned(), cell)));
        }
    }
    out.push_str("\n\n| other cross-release test | result |\n|---|---|");
    for o in outcomes.iter().filter(|o| o.binary != "pairings") {
        out.push_str(&format!("\n| {}::{} | {} |", o.binary, o.name, cell(o)));
    }
    out.push('\n');
    out
}
