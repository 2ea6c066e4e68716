//! The schema around the copied rows, made on the target by PostgreSQL's own `pg_dump`
//! (as pgcopydb does): its pre-data section before the rows (schemas, extensions,
//! types, domains, functions, sequences, tables with their defaults, checks and
//! generated columns, views), its post-data section after them (primary keys, unique,
//! exclusion and foreign-key constraints, indexes, triggers, rules, policies), and every
//! sequence's value last.
//!
//! Each section's script runs on the target in one transaction together with the row
//! that records it in the checkpoint schema, so a section is made exactly once however
//! the copy is interrupted.

use std::path::Path;
use std::process::Stdio;

use sqlx::postgres::PgConnection;
use sqlx::{Connection, Executor};

/// One of `pg_dump`'s schema sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    /// What the rows need: made before them.
    PreData,
    /// Keys, indexes, constraints and triggers: made after the rows.
    PostData,
}

impl Section {
    /// `pg_dump --section`'s name of it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::PreData => "pre-data",
            Self::PostData => "post-data",
        }
    }
}

/// What `pg_dump` dumps: the schemas of the selection, without the relations of those
/// schemas that are not selected, and never the checkpoint schema.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection {
    /// Schemas dumped.
    pub(crate) schemas: Vec<String>,
    /// `(schema, relation)`s of those schemas left out.
    pub(crate) excluded: Vec<(String, String)>,
}

/// Why a section's script could not be made.
#[derive(Debug)]
pub(crate) enum DumpFailure {
    /// `pg_dump` could not be started (not installed, not executable).
    NotStarted(std::io::Error),
    /// It ended with an error; what it printed.
    Failed(String),
}

impl DumpFailure {
    /// Whether it says the connection failed or was lost (a retry may succeed).
    pub(crate) fn is_connection_lost(&self) -> bool {
        match self {
            Self::NotStarted(_) => false,
            Self::Failed(text) => [
                "connection to server",
                "server closed the connection",
                "terminating connection",
                "could not receive data",
                "could not send data",
                "the database system is starting up",
                "the database system is shutting down",
                "Connection refused",
            ]
            .iter()
            .any(|needle| text.contains(needle)),
        }
    }
}

impl std::fmt::Display for DumpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotStarted(e) => write!(f, "pg_dump could not be started: {e}"),
            Self::Failed(text) => write!(f, "pg_dump failed: {}", text.trim()),
        }
    }
}

/// A `pg_dump` pattern that matches exactly `name` (double-quoted: no wildcards).
fn exact(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `url` without its password, and the password (percent-decoded, from the URL's
/// user information or its `password` parameter): the password goes to `pg_dump`
/// through its environment, never on a command line others can read.
///
/// # Errors
/// A URL that does not parse, or whose password cannot be taken out of it: never
/// quoted, since it may hold the password.
fn split_password(url: &str) -> Result<(String, Option<String>), DumpFailure> {
    let refused = || {
        DumpFailure::Failed(
            "the source's URL cannot be passed to pg_dump without its password".to_owned(),
        )
    };
    let mut parsed = url::Url::parse(url).map_err(|_| refused())?;
    let mut password = parsed.password().map(|p| {
        percent_encoding::percent_decode_str(p)
            .decode_utf8_lossy()
            .into_owned()
    });
    if password.is_some() {
        parsed.set_password(None).map_err(|()| refused())?;
    }
    if parsed.query_pairs().any(|(k, _)| k == "password") {
        let mut kept = Vec::new();
        for (k, v) in parsed.query_pairs() {
            if k == "password" {
                password = Some(v.into_owned());
            } else {
                kept.push((k.into_owned(), v.into_owned()));
            }
        }
        if kept.is_empty() {
            parsed.set_query(None);
        } else {
            parsed.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Ok((parsed.to_string(), password))
}

/// The arguments of `pg_dump` for `section` of `selection`, the source `url` given
/// without its password.
fn arguments(url: &str, selection: &Selection, section: Section) -> Vec<String> {
    let mut args = vec![
        format!("--dbname={url}"),
        "--schema-only".to_owned(),
        format!("--section={}", section.name()),
        "--format=plain".to_owned(),
        "--encoding=UTF8".to_owned(),
        // The target's roles, tablespaces and replication set-up are its own.
        "--no-owner".to_owned(),
        "--no-privileges".to_owned(),
        "--no-tablespaces".to_owned(),
        "--no-publications".to_owned(),
        "--no-subscriptions".to_owned(),
        "--no-security-labels".to_owned(),
        // Extensions (citext, postgis) whose objects the tables use (pg_dump 14+).
        "--extension=*".to_owned(),
    ];
    args.extend(
        selection
            .schemas
            .iter()
            .map(|s| format!("--schema={}", exact(s))),
    );
    args.extend(
        selection
            .excluded
            .iter()
            .map(|(s, t)| format!("--exclude-table={}.{}", exact(s), exact(t))),
    );
    args
}

/// `section` of the source's schema (at `url`) as SQL, dumped by the `pg_dump` at
/// `pg_dump`.
///
/// # Errors
/// `pg_dump` could not start, or failed (its message, passwords hidden).
pub(crate) async fn dump(
    pg_dump: &Path,
    url: &str,
    selection: &Selection,
    section: Section,
) -> Result<String, DumpFailure> {
    let (url, password) = split_password(url)?;
    let mut command = tokio::process::Command::new(pg_dump);
    command
        .args(arguments(&url, selection, section))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = command.output().await.map_err(DumpFailure::NotStarted)?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr);
        return Err(DumpFailure::Failed(format!(
            "{} ({})",
            unit_sql::redact(text.trim()),
            output.status
        )));
    }
    String::from_utf8(output.stdout)
        .map(|script| runnable(&script))
        .map_err(|_| DumpFailure::Failed("its output is not UTF-8".to_owned()))
}

/// `script` as the target runs it through the driver: without `psql`'s meta-commands
/// (the `\restrict` lines of recent `pg_dump`s), and with a schema that already exists
/// (`public`) taken as it is.
fn runnable(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    for line in script.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        // pg_dump 17 sets `transaction_timeout`, which older servers do not know, to
        // its default.
        if bare.starts_with("\\restrict ")
            || bare.starts_with("\\unrestrict ")
            || bare == "SET transaction_timeout = 0;"
        {
            continue;
        }
        match line.strip_prefix("CREATE SCHEMA ") {
            Some(rest) if !rest.starts_with("IF NOT EXISTS") && bare.ends_with(';') => {
                out.push_str("CREATE SCHEMA IF NOT EXISTS ");
                out.push_str(rest);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// Runs `script` on `conn` in one transaction with `record` (the statement that records
/// it done). `conn` is left with the settings the script makes (`search_path` among
/// them): give it a connection of its own, closed afterwards.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    script: &str,
    record: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> Result<(), sqlx::Error> {
    let mut tx = conn.begin().await?;
    tx.execute(sqlx::raw_sql(script)).await?;
    record.execute(&mut *tx).await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        let split = |url| split_password(url).unwrap();
        let (url, password) =
            split("postgres://app:p%40ss%3Aw@db.example:5433/shop?sslmode=require");
        assert_eq!(url, "postgres://app@db.example:5433/shop?sslmode=require");
        assert_eq!(password.as_deref(), Some("p@ss:w"));
        let (url, password) = split("postgres://app@db/shop");
        assert_eq!(url, "postgres://app@db/shop");
        assert_eq!(password, None);
        let (url, password) = split("postgres://app@db/shop?password=s%26cret&sslmode=require");
        assert_eq!(url, "postgres://app@db/shop?sslmode=require");
        assert_eq!(password.as_deref(), Some("s&cret"));
        let (url, password) = split("postgres://app@db/shop?password=secret");
        assert_eq!(url, "postgres://app@db/shop");
        assert_eq!(password.as_deref(), Some("secret"));
    }

    #[test]
    fn arguments_name_schemas_and_left_out_relations_exactly() {
        let selection = Selection {
            schemas: vec!["public".into(), "odd\"name".into()],
            excluded: vec![("public".into(), "a*b".into())],
        };
        let args = arguments("postgres://app@db/shop", &selection, Section::PostData);
        assert!(args.contains(&"--section=post-data".to_owned()));
        assert!(args.contains(&"--schema=\"odd\"\"name\"".to_owned()));
        assert!(args.contains(&"--exclude-table=\"public\".\"a*b\"".to_owned()));
        assert!(args.contains(&"--no-owner".to_owned()));
    }

    #[test]
    fn scripts_lose_meta_commands_and_keep_existing_schemas() {
        let script = "\\restrict abc123\nSET x = 1;\nSET transaction_timeout = 0;\n\
                      CREATE SCHEMA public;\nCREATE SCHEMA IF NOT EXISTS s;\n\
                      CREATE FUNCTION f() RETURNS int AS $$\r\nCREATE SCHEMA x\r\n$$;\n\
                      \\unrestrict abc123";
        assert_eq!(
            runnable(script),
            "SET x = 1;\nCREATE SCHEMA IF NOT EXISTS public;\nCREATE SCHEMA IF NOT EXISTS s;\n\
             CREATE FUNCTION f() RETURNS int AS $$\r\nCREATE SCHEMA x\r\n$$;\n"
        );
    }
}
