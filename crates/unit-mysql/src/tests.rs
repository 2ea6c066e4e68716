//! Tidy tests: the tables agree with each other and with the docs.

use crate::adapter::codes::CLASSIFIED;
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
    // The invariant Recommended.explain(process_error(e)) == is_resumable_mysql_error(e)
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
    let verdict = crate::explain_mysql_error(&err);
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

/// The layers, lowest first: a module names only its own layer and those below.
const LAYERS: [&str; 3] = ["adapter", "catalog", "units"];

/// Every source file under `src/<dir>` (and `src/<dir>.rs`), or under `src` itself.
fn sources(dir: Option<&str>) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    match dir {
        Some(dir) => {
            let file = src.join(dir).with_extension("rs");
            if file.exists() {
                files.push(file);
            }
            if src.join(dir).is_dir() {
                walk(&src.join(dir), &mut files);
            }
        }
        None => walk(&src, &mut files),
    }
    files
}

/// The module names that follow `prefix` in `text` (`crate::` then `units`, say).
fn named_after<'t>(text: &'t str, prefix: &'t str) -> impl Iterator<Item = &'t str> + 't {
    text.match_indices(prefix).map(move |(at, _)| {
        let rest = &text[at + prefix.len()..];
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        &rest[..end]
    })
}

/// Code inside the layers names items by their real paths (`crate::adapter::classify::
/// server_error`), never through the crate root's re-exports for users
/// (`crate::server_error`) or aliases of modules: every `crate::` path starts with one
/// of the crate's top-level modules, read from the source tree.
#[test]
fn code_names_items_by_their_real_paths() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let top: Vec<String> = std::fs::read_dir(&src)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            let stem = path.file_stem()?.to_str()?.to_owned();
            (stem != "lib").then_some(stem)
        })
        .collect();
    assert!(LAYERS.iter().all(|l| top.iter().any(|t| t == l)), "{top:?}");
    for layer in LAYERS {
        for file in sources(Some(layer)) {
            let text = std::fs::read_to_string(&file).unwrap();
            for name in named_after(&text, "crate::") {
                assert!(
                    top.iter().any(|t| t == name),
                    "{} names crate::{name}: name it by its real path",
                    file.display()
                );
            }
        }
    }
}

/// The layers: the adapter names neither the catalog nor the units, and the catalog
/// does not name the units.
#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    for (i, layer) in LAYERS.iter().enumerate() {
        for file in sources(Some(layer)) {
            let text = std::fs::read_to_string(&file).unwrap();
            for above in &LAYERS[i + 1..] {
                assert!(
                    !named_after(&text, "crate::").any(|n| n == *above),
                    "{} ({layer}) names crate::{above}, a layer above its own",
                    file.display()
                );
            }
        }
    }
}

/// The units (the modules of `units/` that implement `Unit`) share the modules beside
/// them (`task`, `verify`, `sync_state`, `object_migration`, `observer`) but never name
/// one another, so that each can change alone.
#[test]
fn units_do_not_name_one_another() {
    let units: Vec<String> = sources(Some("units"))
        .into_iter()
        .filter(|f| f.parent().is_some_and(|p| p.ends_with("units")))
        .filter(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .contains("impl Unit for ")
        })
        .map(|f| f.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    assert!(units.len() >= 3, "{units:?}");
    let mut edges = Vec::new();
    for unit in &units {
        let text: String = sources(Some(&format!("units/{unit}")))
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        for other in units.iter().filter(|o| *o != unit) {
            if named_after(&text, "crate::units::").any(|n| n == other) {
                edges.push(format!("{unit} -> {other}"));
            }
        }
    }
    assert!(edges.is_empty(), "units naming other units: {edges:?}");
}

/// Imports run one way: no two modules of the crate import each other, directly or
/// through others (a parent and its own child excepted). The modules and the edges
/// are read from the source tree: every `crate::` and `super::` path, and every item
/// of a `use crate::{..}` or `use super::{..}` group, resolved to the longest module
/// path it names.
#[test]
fn no_module_imports_another_that_imports_it_back() {
    use std::collections::{BTreeMap, BTreeSet};
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules: BTreeMap<String, String> = BTreeMap::new();
    for file in sources(None) {
        let rel = file.strip_prefix(&src).unwrap().with_extension("");
        let parts: Vec<String> = rel.iter().map(|p| p.to_str().unwrap().to_owned()).collect();
        if parts.last().is_some_and(|p| p == "tests") {
            continue;
        }
        let name = if parts == ["lib"] {
            String::new()
        } else {
            parts.join("::")
        };
        let text = std::fs::read_to_string(&file).unwrap();
        // Comments name paths without importing them.
        let code: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        modules.insert(name, code);
    }
    let resolve = |path: &[&str]| -> Option<String> {
        (1..=path.len())
            .rev()
            .map(|k| path[..k].join("::"))
            .find(|m| modules.contains_key(m))
    };
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in &modules {
        let own: Vec<&str> = if module.is_empty() {
            Vec::new()
        } else {
            module.split("::").collect()
        };
        let mut targets = Vec::new();
        for (at, _) in code
            .match_indices("crate::")
            .chain(code.match_indices("super::"))
        {
            if at > 0 && code[..at].ends_with("super::") {
                continue; // the rest of a `super::super::` path
            }
            let rest = &code[at..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let path: Vec<&str> = rest[..end].split("::").filter(|s| !s.is_empty()).collect();
            let (base, tail): (Vec<&str>, &[&str]) = if path[0] == "crate" {
                (Vec::new(), &path[1..])
            } else {
                let ups = path.iter().take_while(|s| **s == "super").count();
                (own[..own.len().saturating_sub(ups)].to_vec(), &path[ups..])
            };
            let mut prefix = base.clone();
            prefix.extend_from_slice(tail);
            // `use crate::a::{b, c::d}`: each item of the group.
            if rest[end..].starts_with('{') {
                let group = &rest[end + 1..rest.find('}').unwrap_or(rest.len())];
                for item in group.split(',') {
                    let item = item.split(" as ").next().unwrap().trim();
                    let mut full = prefix.clone();
                    full.extend(item.split("::").filter(|s| !s.is_empty()));
                    targets.push(resolve(&full));
                }
            } else {
                targets.push(resolve(&prefix));
            }
        }
        for target in targets.into_iter().flatten() {
            let related = |a: &str, b: &str| {
                a.is_empty()
                    || b.is_empty()
                    || a == b
                    || a.starts_with(&format!("{b}::"))
                    || b.starts_with(&format!("{a}::"))
            };
            if !related(module, &target) {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    // A module that reaches itself again through the edges is in a cycle.
    for start in edges.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        while let Some((at, path)) = stack.pop() {
            for next in edges.get(&at).into_iter().flatten() {
                assert!(
                    next != start,
                    "import cycle: {} -> {start}",
                    path.join(" -> ")
                );
                if seen.insert(next.clone()) {
                    let mut longer = path.clone();
                    longer.push(next.clone());
                    stack.push((next.clone(), longer));
                }
            }
        }
    }
    assert!(edges.len() > 10, "the import graph was not read: {edges:?}");
}
