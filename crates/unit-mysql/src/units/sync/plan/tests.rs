//! The statements each row change becomes, checked as exact SQL: one `check` per
//! builder, tables of cases (a table, its images, the statements expected).

use mysql_async::Value;
use mysql_async::binlog::value::BinlogValue;

use super::*;
use crate::catalog::schema::{Column, Generated};

fn column(name: &str, data_type: &str, column_type: &str) -> Column {
    let text = matches!(data_type, "char" | "varchar" | "text");
    Column {
        name: name.to_owned(),
        data_type: data_type.to_owned(),
        column_type: column_type.to_owned(),
        charset: text.then(|| "utf8mb4".to_owned()),
        collation: text.then(|| "utf8mb4_general_ci".to_owned()),
        generated: None,
    }
}

/// `db.t (id INT PRIMARY KEY, name VARCHAR(20), n INT UNSIGNED)` plus `extra`
/// columns, keyed by `key`.
fn table(key: &[usize], extra: Vec<Column>) -> Table {
    let mut columns = vec![
        column("id", "int", "int(11)"),
        column("name", "varchar", "varchar(20)"),
        column("n", "int", "int(10) unsigned"),
    ];
    columns.extend(extra);
    Table {
        database: "db".to_owned(),
        name: "t".to_owned(),
        columns,
        key: key.to_vec(),
        create: String::new(),
        engine: "InnoDB".to_owned(),
        estimated_bytes: 0,
        estimated_rows: 0,
        system_versioned: false,
        hidden_hashes: 0,
    }
}

fn v(value: Value) -> Option<BinlogValue<'static>> {
    Some(BinlogValue::Value(value))
}

/// A row of `table(..)`: `(id, name, n)`; `None` is SQL NULL.
fn row(id: i64, name: Option<&str>, n: i64) -> RowImage {
    vec![
        v(Value::Int(id)),
        v(name.map_or(Value::NULL, |s| Value::Bytes(s.as_bytes().to_vec()))),
        v(Value::Int(n)),
    ]
}

/// `'ab'` as the literal the builders write (`_utf8mb4 X'6162'`).
const AB: &str = "_utf8mb4 X'6162'";
/// `'ab'` as the literal a key compares with (carrying its collation).
const AB_KEY: &str = "_utf8mb4 X'6162' COLLATE utf8mb4_general_ci";

#[track_caller]
fn check(got: Result<Vec<String>, ValueError>, expected: &[&str]) {
    let got = got.expect("the statements build");
    assert_eq!(got, expected, "statements differ");
}

#[test]
fn inserts_and_replaces_write_every_written_column_as_a_literal() {
    let t = table(&[0], Vec::new());
    let (a, b) = (row(1, Some("ab"), 7), row(2, None, 4294967295));
    for (images, replace, expected) in [
        (
            vec![&a],
            false,
            format!("INSERT INTO `db`.`t` (`id`, `name`, `n`) VALUES (1, {AB}, 7)"),
        ),
        (
            vec![&a, &b],
            true,
            format!(
                "REPLACE INTO `db`.`t` (`id`, `name`, `n`) VALUES (1, {AB}, 7), (2, NULL, 4294967295)"
            ),
        ),
    ] {
        check(
            insert_statements(&t, &images, replace, 1 << 20),
            &[&expected],
        );
    }
}

#[test]
fn an_unsigned_column_read_as_signed_is_written_unsigned() {
    let t = table(&[0], Vec::new());
    let image = row(3, None, -1);
    check(
        insert_statements(&t, &[&image], false, 1 << 20),
        &["INSERT INTO `db`.`t` (`id`, `name`, `n`) VALUES (3, NULL, 4294967295)"],
    );
}

#[test]
fn generated_columns_are_never_written() {
    let mut generated = column("g", "int", "int(11)");
    generated.generated = Some(Generated::Stored);
    let t = table(&[0], vec![generated]);
    let mut image = row(1, Some("ab"), 7);
    image.push(v(Value::Int(99)));
    check(
        insert_statements(&t, &[&image], false, 1 << 20),
        &[&format!(
            "INSERT INTO `db`.`t` (`id`, `name`, `n`) VALUES (1, {AB}, 7)"
        )],
    );
}

#[test]
fn inserts_over_the_packet_limit_are_split_in_halves() {
    let t = table(&[0], Vec::new());
    let rows: Vec<RowImage> = (1..=4).map(|i| row(i, None, i)).collect();
    let images: Vec<&RowImage> = rows.iter().collect();
    // Room for two rows: the 1024 bytes of headroom plus a statement of two.
    let two = insert_sql(&t, &images[..2], false).expect("builds").len();
    let statements = insert_statements(&t, &images, false, two + 1024).expect("builds");
    assert_eq!(
        statements,
        [
            "INSERT INTO `db`.`t` (`id`, `name`, `n`) VALUES (1, NULL, 1), (2, NULL, 2)",
            "INSERT INTO `db`.`t` (`id`, `name`, `n`) VALUES (3, NULL, 3), (4, NULL, 4)",
        ]
    );
    // A single row is never split, whatever the limit: the executor refuses it.
    assert_eq!(
        insert_statements(&t, &images[..1], false, 10)
            .expect("builds")
            .len(),
        1
    );
}

#[test]
fn deletes_go_by_key_in_one_statement_each_must_match_unless_safe() {
    let composite = table(&[0, 1], Vec::new());
    let (a, b) = (row(1, Some("ab"), 7), row(2, Some("ab"), 8));
    for (safe, expect) in [(false, Some(("delete", 2))), (true, None)] {
        let statements = delete_statements(&composite, &[&a, &b], safe, 1 << 20).expect("builds");
        assert_eq!(statements.len(), 1);
        assert_eq!(
            statements[0].sql,
            format!("DELETE FROM `db`.`t` WHERE (`id`, `name`) IN ((1, {AB_KEY}), (2, {AB_KEY}))")
        );
        assert_eq!(statements[0].expect, expect);
    }
}

#[test]
fn deletes_over_the_packet_limit_are_split_and_each_part_counts_its_own_rows() {
    let t = table(&[0], Vec::new());
    let rows: Vec<RowImage> = (1..=5).map(|i| row(i, None, 0)).collect();
    let images: Vec<&RowImage> = rows.iter().collect();
    let head = "DELETE FROM `db`.`t` WHERE (`id`) IN (".len();
    // Each key is `(i)` (3 bytes) plus `, `: room for about two keys.
    let statements = delete_statements(&t, &images, false, head + 1024 + 8).expect("builds");
    let got: Vec<(&str, Option<(&str, u64)>)> = statements
        .iter()
        .map(|s| (s.sql.as_str(), s.expect))
        .collect();
    assert_eq!(
        got,
        [
            (
                "DELETE FROM `db`.`t` WHERE (`id`) IN ((1), (2))",
                Some(("delete", 2))
            ),
            (
                "DELETE FROM `db`.`t` WHERE (`id`) IN ((3), (4))",
                Some(("delete", 2))
            ),
            (
                "DELETE FROM `db`.`t` WHERE (`id`) IN ((5))",
                Some(("delete", 1))
            ),
        ]
    );
}

/// A change (kind, after image, safe mode) and the statements expected, each with
/// the rows it must match.
type Case<'a> = (
    RowsKind,
    Option<&'a RowImage>,
    bool,
    Vec<(String, Option<(&'a str, u64)>)>,
);

#[test]
fn a_change_of_one_row_is_a_statement_by_key_or_idempotent_writes_in_safe_mode() {
    let t = table(&[0], Vec::new());
    let before = row(1, Some("ab"), 7);
    let same_key = row(1, None, 8);
    let new_key = row(2, None, 8);
    let cases: [Case<'_>; 5] = [
        (
            RowsKind::Delete,
            None,
            false,
            vec![(
                "DELETE FROM `db`.`t` WHERE `id` = 1 LIMIT 1".to_owned(),
                Some(("delete", 1)),
            )],
        ),
        (
            RowsKind::Delete,
            None,
            true,
            vec![(
                "DELETE FROM `db`.`t` WHERE `id` = 1 LIMIT 1".to_owned(),
                None,
            )],
        ),
        (
            RowsKind::Update,
            Some(&same_key),
            false,
            vec![(
                "UPDATE `db`.`t` SET `id` = 1, `name` = NULL, `n` = 8 WHERE `id` = 1 LIMIT 1"
                    .to_owned(),
                Some(("update", 1)),
            )],
        ),
        // Safe mode, same key: the after image replaces the row (there or not).
        (
            RowsKind::Update,
            Some(&same_key),
            true,
            vec![(
                "REPLACE INTO `db`.`t` (`id`, `name`, `n`) VALUES (1, NULL, 8)".to_owned(),
                None,
            )],
        ),
        // Safe mode, a new key: the row under the old key goes first.
        (
            RowsKind::Update,
            Some(&new_key),
            true,
            vec![
                (
                    "DELETE FROM `db`.`t` WHERE `id` = 1 LIMIT 1".to_owned(),
                    None,
                ),
                (
                    "REPLACE INTO `db`.`t` (`id`, `name`, `n`) VALUES (2, NULL, 8)".to_owned(),
                    None,
                ),
            ],
        ),
    ];
    for (kind, after, safe, expected) in cases {
        let got: Vec<(String, Option<(&str, u64)>)> =
            change_statements(&t, kind, Some(&before), after, safe)
                .expect("builds")
                .into_iter()
                .map(|s| (s.sql, s.expect))
                .collect();
        assert_eq!(got, expected, "{kind:?}, safe {safe}");
    }
    // Nothing to find without a before image.
    assert!(
        change_statements(&t, RowsKind::Delete, None, None, false)
            .expect("builds")
            .is_empty()
    );
}

#[test]
fn a_keyless_table_finds_its_row_by_every_stored_value() {
    let t = table(&[], Vec::new());
    let before = row(1, Some("ab"), 7);
    let cond = key_condition(&t, &before).expect("builds");
    assert_eq!(
        cond,
        "`id` <=> 1 AND CAST(`name` AS BINARY) = X'6162' AND `n` <=> 7"
    );
    let nulls = row(1, None, 7);
    assert_eq!(
        key_condition(&t, &nulls).expect("builds"),
        "`id` <=> 1 AND `name` IS NULL AND `n` <=> 7"
    );
}

#[test]
fn a_text_key_compares_with_its_collation() {
    let t = table(&[1], Vec::new());
    let image = row(1, Some("ab"), 7);
    assert_eq!(
        key_condition(&t, &image).expect("builds"),
        format!("`name` = {AB_KEY}")
    );
    assert_eq!(
        update_sql(&t, &row(1, Some("ab"), 9), "`name` = 'x'").expect("builds"),
        format!("UPDATE `db`.`t` SET `id` = 1, `name` = {AB}, `n` = 9 WHERE `name` = 'x' LIMIT 1")
    );
}

#[test]
fn an_image_missing_a_column_is_an_error_naming_it() {
    let t = table(&[0], Vec::new());
    let short: RowImage = vec![v(Value::Int(1)), None, v(Value::Int(1))];
    let err = insert_statements(&t, &[&short], false, 1 << 20).expect_err("refused");
    assert_eq!(err.column, "name");
    let err = key_condition(&table(&[1], Vec::new()), &short).expect_err("refused");
    assert_eq!(err.column, "name");
}
