//! Tidy tests: the tables agree with each other and with the docs.

use crate::codes::CLASSIFIED;
use unit_proto::pb;

#[test]
fn classified_numbers_are_sorted_and_unique() {
    for pair in CLASSIFIED.windows(2) {
        assert!(
            pair[0].number < pair[1].number,
            "{} before {}",
            pair[0].number,
            pair[1].number
        );
    }
}

#[test]
fn unit_core_reads_the_go_driver_text_of_every_number_as_this_crate_does() {
    // The invariant Recommended.explain(process_error(e)) == is_resumable_db_error(e)
    // for server errors rests on this.
    for c in CLASSIFIED {
        let pe = pb::ProcessError {
            err_code: 10006,
            raw_cause: format!("Error {} (HY000): some message", c.number),
            ..Default::default()
        };
        assert_eq!(
            unit_core::Policy::explain(&unit_core::Recommended, &pe).is_resumable(),
            c.resumable,
            "{} {}",
            c.number,
            c.name
        );
    }
}

#[test]
fn the_rustdoc_table_lists_every_number_with_its_verdict() {
    let doc = include_str!("lib.rs");
    let rows: Vec<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("//! | "))
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_owned)
        .collect();
    let expect: Vec<String> = CLASSIFIED
        .iter()
        .map(|c| {
            let yes_no = if c.resumable { "yes" } else { "no" };
            format!("{} | `{}` | {yes_no} | {} |", c.number, c.name, c.reason)
        })
        .collect();
    assert_eq!(rows, expect);
}

/// A server error of another database's sqlx driver (PostgreSQL's serialization
/// failure, which that database's adapter would resume).
#[derive(Debug)]
struct ForeignError;

impl std::fmt::Display for ForeignError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("could not serialize access due to concurrent update")
    }
}

impl std::error::Error for ForeignError {}

impl sqlx::error::DatabaseError for ForeignError {
    fn message(&self) -> &str {
        "could not serialize access due to concurrent update"
    }
    fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some("40001".into())
    }
    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }
    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }
    fn kind(&self) -> sqlx::error::ErrorKind {
        sqlx::error::ErrorKind::Other
    }
}

#[test]
fn an_error_of_another_database_is_refused_rather_than_called_resumable() {
    let err = sqlx::Error::Database(Box::new(ForeignError));
    let verdict = crate::explain_db_error(&err);
    assert!(!verdict.is_resumable(), "{verdict}");
    assert!(
        verdict.to_string().contains("another database than MySQL"),
        "{verdict}"
    );
    let pe = crate::process_error(
        &err,
        unit_core::ErrScope::Downstream,
        crate::Operation::Execute("UPDATE t SET v = 1"),
    );
    assert_eq!(pe.err_code, 60011);
    // The policy acting on the report agrees.
    assert!(!unit_core::Policy::explain(&unit_core::Recommended, &pe).is_resumable());
}

/// The layers: the adapter names neither the catalog nor the units, and the catalog
/// does not name the units (through any path: the layers' modules or the crate root's
/// re-exports of theirs).
#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    const CATALOG: &[&str] = &["catalog", "schema", "objects", "position"];
    const UNITS: &[&str] = &[
        "units",
        "check",
        "copy",
        "sync",
        "inspect",
        "observer",
        "CopyConfig",
        "CopyUnit",
        "CheckUnit",
        "SyncUnit",
        "Observer",
    ];
    let layer = |dir: &str, forbidden: &[&[&str]]| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src")
            .join(dir);
        let mut files = vec![root.with_extension("rs")];
        files.extend(std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()));
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for name in forbidden.iter().flat_map(|names| names.iter()) {
                for prefix in ["crate::", "super::super::"] {
                    let path = format!("{prefix}{name}");
                    let found = text.match_indices(&path).any(|(at, _)| {
                        // `crate::copy` but not `crate::copy_sql_mode`.
                        !text[at + path.len()..]
                            .starts_with(|c: char| c.is_alphanumeric() || c == '_')
                    });
                    assert!(!found, "{} names {path}", file.display());
                }
            }
        }
    };
    layer("adapter", &[CATALOG, UNITS]);
    layer("catalog", &[UNITS]);
}

/// Inside the layers, items are named by their modules (`crate::classify::server_error`),
/// never through the crate root's re-exports for users (`crate::server_error`): no
/// module reaches back up into lib.rs.
#[test]
fn the_layers_never_reach_back_up_into_lib_rs() {
    const MODULES: &[&str] = &[
        "adapter",
        "catalog",
        "units",
        "cancel",
        "classify",
        "client",
        "codes",
        "dsn",
        "process_error",
        "schema",
        "objects",
        "position",
        "check",
        "copy",
        "sync",
        "inspect",
        "observer",
    ];
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for layer in ["adapter", "catalog", "units"] {
        files.push(src.join(layer).with_extension("rs"));
        walk(&src.join(layer), &mut files);
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("crate::") {
            let name: String = text[at + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            assert!(
                MODULES.contains(&name.as_str()),
                "{} names crate::{name}: name it by its module",
                file.display()
            );
        }
    }
}
