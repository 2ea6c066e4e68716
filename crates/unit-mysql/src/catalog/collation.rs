//! Collations one server kind has and the other lacks: MySQL 8's UCA 9.0.0 collations
//! (`utf8mb4_0900_ai_ci`, MySQL's default, and its language variants) are unknown to
//! MariaDB, which has UCA 14.0.0 ones (10.10 and later). Both are NO PAD; the MariaDB
//! collation a MySQL one maps to compares and sorts by the same rules (the same
//! accent and case sensitivity, the same language tailoring), on a newer version of
//! the Unicode tables: strings whose characters are in both versions compare alike.
//!
//! | MySQL | MariaDB |
//! |---|---|
//! | `utf8mb4_0900_ai_ci` | `utf8mb4_uca1400_nopad_ai_ci` |
//! | `utf8mb4_0900_as_ci` | `utf8mb4_uca1400_nopad_as_ci` |
//! | `utf8mb4_0900_as_cs` | `utf8mb4_uca1400_nopad_as_cs` |
//! | `utf8mb4_0900_bin` | `utf8mb4_nopad_bin` |
//! | `utf8mb4_<lang>_0900_ai_ci`, `_as_cs` | `utf8mb4_uca1400_<language>_nopad_ai_ci`, `_as_cs` |
//!
//! The languages are those both servers tailor (Czech, Danish, German phonebook,
//! Esperanto, Spanish, traditional Spanish, Estonian, Croatian, Hungarian, Icelandic,
//! Latin, Lithuanian, Latvian, Polish, Romanian, Slovak, Slovenian, Swedish, Turkish,
//! Vietnamese). A statement naming another MySQL-only collation fails on a MariaDB
//! target with the server's own error (1273).
//!
//! The other way, toward MySQL, MariaDB's UCA 14.0.0 collations become the MySQL
//! collations of the same rules ([`mysql_equivalent`]): exactly alike for the `_nopad_`
//! ones; MariaDB's PAD SPACE ones (11.x's default `utf8mb4_uca1400_ai_ci`) compare
//! trailing spaces otherwise on MySQL, which the check says as a warning.

use sqlx::Executor;

/// MySQL's language codes in its UCA 9.0.0 collation names, and MariaDB's names of the
/// same tailorings.
const LANGUAGES: &[(&str, &str)] = &[
    ("cs", "czech"),
    ("da", "danish"),
    ("de_pb", "german2"),
    ("eo", "esperanto"),
    ("es", "spanish"),
    ("es_trad", "spanish2"),
    ("et", "estonian"),
    ("hr", "croatian"),
    ("hu", "hungarian"),
    ("is", "icelandic"),
    ("la", "roman"),
    ("lt", "lithuanian"),
    ("lv", "latvian"),
    ("pl", "polish"),
    ("ro", "romanian"),
    ("sk", "slovak"),
    ("sl", "slovenian"),
    ("sv", "swedish"),
    ("tr", "turkish"),
    ("vi", "vietnamese"),
];

/// The MariaDB collation for MySQL's `name` (any case), if `name` is one of MySQL's
/// UCA 9.0.0 collations with an equivalent.
pub(crate) fn mariadb_equivalent(name: &str) -> Option<String> {
    let name = name.to_ascii_lowercase();
    let rest = name.strip_prefix("utf8mb4_")?;
    let generic = match rest {
        "0900_ai_ci" => Some("utf8mb4_uca1400_nopad_ai_ci"),
        "0900_as_ci" => Some("utf8mb4_uca1400_nopad_as_ci"),
        "0900_as_cs" => Some("utf8mb4_uca1400_nopad_as_cs"),
        "0900_bin" => Some("utf8mb4_nopad_bin"),
        _ => None,
    };
    if let Some(g) = generic {
        return Some(g.to_owned());
    }
    let (lang, strength) = rest
        .strip_suffix("_0900_ai_ci")
        .map(|l| (l, "ai_ci"))
        .or_else(|| rest.strip_suffix("_0900_as_cs").map(|l| (l, "as_cs")))?;
    let (_, language) = LANGUAGES.iter().find(|(code, _)| *code == lang)?;
    Some(format!("utf8mb4_uca1400_{language}_nopad_{strength}"))
}

/// The MySQL collation for MariaDB's UCA 14.0.0 collation `name` (any case), and
/// whether it compares exactly alike: MariaDB's `_nopad_` ones do (NO PAD, as all of
/// MySQL's UCA 9.0.0 collations); the PAD SPACE ones (11.x's default
/// `utf8mb4_uca1400_ai_ci`) differ in trailing spaces only (`'a' = 'a '` on MariaDB,
/// not on MySQL).
pub(crate) fn mysql_equivalent(name: &str) -> Option<(String, bool)> {
    let name = name.to_ascii_lowercase();
    if name == "utf8mb4_nopad_bin" {
        return Some(("utf8mb4_0900_bin".to_owned(), true));
    }
    let rest = name.strip_prefix("utf8mb4_uca1400_")?;
    let (prefix, strength) = ["ai_ci", "as_ci", "as_cs"]
        .iter()
        .find_map(|s| Some((rest.strip_suffix(s)?, *s)))?;
    let (language, nopad) = match prefix.strip_suffix("nopad_") {
        Some(language) => (language, true),
        None => (prefix, false),
    };
    let mysql = match language.strip_suffix('_') {
        None if language.is_empty() => format!("utf8mb4_0900_{strength}"),
        Some(language) if strength != "as_ci" => {
            let (code, _) = LANGUAGES.iter().find(|(_, l)| *l == language)?;
            format!("utf8mb4_{code}_0900_{strength}")
        }
        _ => return None,
    };
    Some((mysql, nopad))
}

/// `sql` with every collation name outside quotes that one kind has and the other
/// names otherwise replaced by `mapped`'s name; `None` when there is none.
fn replace_names(sql: &str, mapped: impl Fn(&str) -> Option<String>) -> Option<String> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut changed = false;
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"' | b'`') => i = skip_quoted(bytes, i, quote),
            b if b.is_ascii_alphanumeric() || b == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                if let Some(mapped) = mapped(&sql[start..i]) {
                    out.push_str(&sql[copied..start]);
                    out.push_str(&mapped);
                    copied = i;
                    changed = true;
                }
            }
            _ => i += 1,
        }
    }
    if !changed {
        return None;
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    Some(out)
}

/// `sql` with every MySQL-only collation name outside quotes replaced by its MariaDB
/// equivalent; `None` when there is none to replace.
pub(crate) fn for_mariadb(sql: &str) -> Option<String> {
    replace_names(sql, mariadb_equivalent)
}

/// `sql` with every MariaDB UCA 14.0.0 collation name outside quotes replaced by its
/// MySQL equivalent ([`mysql_equivalent`]); `None` when there is none to replace.
pub(crate) fn for_mysql(sql: &str) -> Option<String> {
    replace_names(sql, |name| mysql_equivalent(name).map(|(mysql, _)| mysql))
}

/// How MySQL 8 prints an invisible column in `SHOW CREATE TABLE` (and a generated
/// invisible primary key's `my_row_id`).
const VERSIONED_INVISIBLE: &str = "/*!80023 INVISIBLE */";

/// `sql` with MySQL's versioned comment `/*!80023 INVISIBLE */` (outside quotes) made
/// a plain `INVISIBLE`: MariaDB skips versioned comments of MySQL's 5.7 to 9.x
/// numbers, and would make the column visible; MySQL 8.0.23+ reads both alike.
pub(crate) fn plain_invisible(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.contains(VERSIONED_INVISIBLE) {
        return std::borrow::Cow::Borrowed(sql);
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let (mut i, mut copied) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"' | b'`') => i = skip_quoted(bytes, i, quote),
            b'/' if sql[i..].starts_with(VERSIONED_INVISIBLE) => {
                out.push_str(&sql[copied..i]);
                out.push_str("INVISIBLE");
                i += VERSIONED_INVISIBLE.len();
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied.min(sql.len())..]);
    std::borrow::Cow::Owned(out)
}

/// `sql` with ` COLLATE collation` after every `CHARACTER SET utf8mb4` (or `CHARSET`,
/// with or without `=`) outside quotes and comments whose definition names no
/// collation (no `COLLATE` nor `BINARY` before the next `,` or `)` of its level), other
/// than the type of a `CAST`; `None` when there is none. A statement from a MySQL 8+
/// source that names utf8mb4 without a collation means the source's default for it
/// (its query event says which, `utf8mb4_0900_ai_ci` unless changed), which a MariaDB
/// target would read as its own default (`utf8mb4_general_ci`).
pub(crate) fn with_utf8mb4_collation(sql: &str, collation: &str) -> Option<String> {
    let bytes = sql.as_bytes();
    // Words, quoted parts, `=`, `(`, `)` and `,` outside comments, as (start, end).
    let mut tokens: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"' | b'`') => {
                let end = skip_quoted(bytes, i, quote).min(bytes.len());
                tokens.push((i, end));
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |e| i + 2 + e + 2);
            }
            b'#' => i = sql[i..].find('\n').map_or(bytes.len(), |e| i + e),
            b'-' if bytes.get(i + 1) == Some(&b'-')
                && bytes.get(i + 2).is_none_or(u8::is_ascii_whitespace) =>
            {
                i = sql[i..].find('\n').map_or(bytes.len(), |e| i + e);
            }
            b if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' => {
                let start = i;
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$')
                {
                    i += 1;
                }
                tokens.push((start, i));
            }
            b'=' | b'(' | b')' | b',' => {
                tokens.push((i, i + 1));
                i += 1;
            }
            _ => i += 1,
        }
    }
    let word = |t: usize| tokens.get(t).map(|&(a, b)| &sql[a..b]);
    let is = |t: usize, w: &str| word(t).is_some_and(|x| x.eq_ignore_ascii_case(w));
    // Whether the definition at token `from` names a collation before its end.
    let names_collation = |from: usize| {
        let mut depth = 0usize;
        for t in from..tokens.len() {
            match word(t).unwrap_or_default() {
                "(" => depth += 1,
                ")" | "," if depth == 0 => return false,
                ")" => depth -= 1,
                w if depth == 0
                    && (w.eq_ignore_ascii_case("COLLATE") || w.eq_ignore_ascii_case("BINARY")) =>
                {
                    return true;
                }
                _ => {}
            }
        }
        false
    };
    let mut inserts = Vec::new();
    let mut t = 0;
    while t < tokens.len() {
        let (keyword, after_keyword) = if is(t, "CHARACTER") && is(t + 1, "SET") {
            (t, t + 2)
        } else if is(t, "CHARSET") {
            (t, t + 1)
        } else {
            t += 1;
            continue;
        };
        let name = if is(after_keyword, "=") {
            after_keyword + 1
        } else {
            after_keyword
        };
        // `CAST(x AS CHAR [(n)] CHARACTER SET cs)` takes no collation.
        let in_cast = {
            let mut back = keyword;
            if back >= 3 && is(back - 1, ")") && is(back - 3, "(") {
                back -= 3;
            }
            back >= 2 && is(back - 1, "CHAR") && is(back - 2, "AS")
        };
        let named = word(name).map(|w| w.trim_matches(|c| c == '\'' || c == '"' || c == '`'));
        if named.is_some_and(|w| w.eq_ignore_ascii_case("utf8mb4"))
            && !in_cast
            && !names_collation(name + 1)
        {
            inserts.push(tokens[name].1);
        }
        t = name + 1;
    }
    if inserts.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(sql.len() + inserts.len() * (collation.len() + 9));
    let mut copied = 0;
    for at in inserts {
        out.push_str(&sql[copied..at]);
        out.push_str(" COLLATE ");
        out.push_str(collation);
        copied = at;
    }
    out.push_str(&sql[copied..]);
    Some(out)
}

/// The index just past the quoted part of `bytes` that opens with `quote` at `open`
/// (doubled quotes and, but in backticks, backslash escapes stay inside).
fn skip_quoted(bytes: &[u8], open: usize, quote: u8) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        if bytes[i] == b'\\' && quote != b'`' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            break;
        }
        i += 1;
    }
    i + 1
}

/// Runs a definition read from a source on a target, its invisible columns made
/// plain ([`plain_invisible`]); where the target does not know a
/// collation it names (1273) and the definition names MySQL collations that MariaDB
/// has under other names, runs it again with those names (nothing ran the first time:
/// the server refuses the statement before doing anything).
///
/// # Errors
/// The server's refusal.
pub(crate) async fn execute_ddl(
    conn: &mut sqlx::MySqlConnection,
    sql: &str,
) -> Result<sqlx::mysql::MySqlQueryResult, sqlx::Error> {
    let sql = &*plain_invisible(sql);
    match conn.execute(sql).await {
        Err(e) if is_unknown_collation(&e) => match (for_mariadb(sql), for_mysql(sql)) {
            (Some(mapped), _) => {
                tracing::info!(
                    statement = %unit_sql::summarize_statement(sql),
                    "the target lacks MySQL's UCA 9.0.0 collations: their MariaDB equivalents are used"
                );
                conn.execute(mapped.as_str()).await
            }
            (None, Some(mapped)) => {
                tracing::info!(
                    statement = %unit_sql::summarize_statement(sql),
                    "the target lacks MariaDB's UCA 14.0.0 collations: their MySQL equivalents are used"
                );
                conn.execute(mapped.as_str()).await
            }
            (None, None) => Err(e),
        },
        other => other,
    }
}

/// The server's 1273 (`ER_UNKNOWN_COLLATION`).
pub(crate) fn is_unknown_collation(e: &sqlx::Error) -> bool {
    crate::adapter::classify::server_error(e).is_some_and(|d| d.number() == 1273)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mariadb_collations_are_named_as_mysql_names_them() {
        for (mariadb, mysql, exact) in [
            ("utf8mb4_uca1400_ai_ci", "utf8mb4_0900_ai_ci", false),
            ("utf8mb4_uca1400_nopad_ai_ci", "utf8mb4_0900_ai_ci", true),
            ("UTF8MB4_UCA1400_NOPAD_AS_CS", "utf8mb4_0900_as_cs", true),
            ("utf8mb4_uca1400_as_ci", "utf8mb4_0900_as_ci", false),
            (
                "utf8mb4_uca1400_swedish_ai_ci",
                "utf8mb4_sv_0900_ai_ci",
                false,
            ),
            (
                "utf8mb4_uca1400_german2_nopad_as_cs",
                "utf8mb4_de_pb_0900_as_cs",
                true,
            ),
        ] {
            assert_eq!(
                mysql_equivalent(mariadb),
                Some((mysql.to_owned(), exact)),
                "{mariadb}"
            );
        }
        for none in [
            "utf8mb4_general_ci",
            "utf8mb4_uca1400_swedish_as_ci",
            "utf8mb4_uca1400_klingon_ai_ci",
            "utf8mb4_uca1400_ai_cs",
        ] {
            assert_eq!(mysql_equivalent(none), None, "{none}");
        }
        assert_eq!(
            for_mysql("CREATE DATABASE m /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_uca1400_ai_ci */")
                .as_deref(),
            Some("CREATE DATABASE m /*!40100 DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci */")
        );
    }

    #[test]
    fn a_bare_utf8mb4_gets_the_sources_default_collation() {
        let c = "utf8mb4_0900_ai_ci";
        assert_eq!(
            with_utf8mb4_collation(
                "ALTER TABLE b ADD l VARCHAR(10) CHARACTER SET utf8mb4 DEFAULT 'CHARSET utf8mb4', \
                 ADD m TEXT charset utf8mb4 COLLATE utf8mb4_bin, ADD n TEXT CHARACTER SET latin1",
                c
            )
            .as_deref(),
            Some(
                "ALTER TABLE b ADD l VARCHAR(10) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci DEFAULT 'CHARSET utf8mb4', \
                 ADD m TEXT charset utf8mb4 COLLATE utf8mb4_bin, ADD n TEXT CHARACTER SET latin1"
            )
        );
        assert_eq!(
            with_utf8mb4_collation(
                "CREATE TABLE t (a INT) /* CHARSET utf8mb4 */ DEFAULT CHARSET = utf8mb4",
                c
            )
            .as_deref(),
            Some(
                "CREATE TABLE t (a INT) /* CHARSET utf8mb4 */ DEFAULT CHARSET = utf8mb4 COLLATE utf8mb4_0900_ai_ci"
            )
        );
        assert_eq!(
            with_utf8mb4_collation("CREATE TABLE t (a INT) CHARSET=latin1", c),
            None
        );
        // A collation later in the definition, BINARY, and the type of a CAST.
        for named in [
            "ALTER TABLE t ADD v VARCHAR(9) CHARACTER SET utf8mb4 NOT NULL COLLATE utf8mb4_bin",
            "CREATE TABLE t (a INT) DEFAULT CHARACTER SET utf8mb4 DEFAULT COLLATE utf8mb4_bin",
            "ALTER TABLE t ADD v TEXT CHARACTER SET utf8mb4 BINARY",
            "ALTER TABLE t ADD g VARCHAR(9) AS (CAST(a AS CHAR(9) CHARACTER SET utf8mb4)), ADD h INT",
            "ALTER TABLE t ADD g TEXT AS (CAST(a AS CHAR CHARACTER SET utf8mb4))",
        ] {
            assert_eq!(with_utf8mb4_collation(named, c), None, "{named}");
        }
        assert_eq!(
            with_utf8mb4_collation(
                "CREATE TABLE t (a VARCHAR(9) CHARACTER SET utf8mb4, b VARCHAR(9) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)",
                c
            )
            .as_deref(),
            Some(
                "CREATE TABLE t (a VARCHAR(9) CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci, b VARCHAR(9) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)"
            )
        );
    }

    #[test]
    fn mysqls_versioned_invisible_is_made_plain_outside_quotes() {
        let create = "CREATE TABLE t (`my_row_id` bigint unsigned NOT NULL AUTO_INCREMENT /*!80023 INVISIBLE */, \
                      v varchar(9) DEFAULT '/*!80023 INVISIBLE */' /*!80023 INVISIBLE */, PRIMARY KEY (`my_row_id`))";
        assert_eq!(
            plain_invisible(create),
            "CREATE TABLE t (`my_row_id` bigint unsigned NOT NULL AUTO_INCREMENT INVISIBLE, \
             v varchar(9) DEFAULT '/*!80023 INVISIBLE */' INVISIBLE, PRIMARY KEY (`my_row_id`))"
                .replace("\n", "")
        );
        assert!(matches!(
            plain_invisible("CREATE TABLE t (a INT)"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn mysql_collations_are_named_as_mariadb_names_them() {
        for (mysql, mariadb) in [
            ("utf8mb4_0900_ai_ci", "utf8mb4_uca1400_nopad_ai_ci"),
            ("UTF8MB4_0900_AS_CS", "utf8mb4_uca1400_nopad_as_cs"),
            ("utf8mb4_0900_bin", "utf8mb4_nopad_bin"),
            (
                "utf8mb4_de_pb_0900_ai_ci",
                "utf8mb4_uca1400_german2_nopad_ai_ci",
            ),
            (
                "utf8mb4_sv_0900_as_cs",
                "utf8mb4_uca1400_swedish_nopad_as_cs",
            ),
        ] {
            assert_eq!(
                mariadb_equivalent(mysql).as_deref(),
                Some(mariadb),
                "{mysql}"
            );
        }
        for other in [
            "utf8mb4_bin",
            "utf8mb4_ja_0900_as_cs_ks",
            "utf8mb4_zz_0900_ai_ci",
            "latin1_swedish_ci",
        ] {
            assert_eq!(mariadb_equivalent(other), None, "{other}");
        }
    }

    #[test]
    fn names_are_replaced_outside_quotes_only() {
        let sql = "CREATE TABLE `utf8mb4_0900_ai_ci` (c VARCHAR(9) COLLATE utf8mb4_0900_ai_ci \
                   DEFAULT 'utf8mb4_0900_ai_ci', d TEXT COMMENT 'it''s utf8mb4_0900_bin') \
                   DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_as_cs";
        assert_eq!(
            for_mariadb(sql).unwrap(),
            "CREATE TABLE `utf8mb4_0900_ai_ci` (c VARCHAR(9) COLLATE utf8mb4_uca1400_nopad_ai_ci \
             DEFAULT 'utf8mb4_0900_ai_ci', d TEXT COMMENT 'it''s utf8mb4_0900_bin') \
             DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_nopad_as_cs"
        );
        assert_eq!(for_mariadb("SELECT 'utf8mb4_0900_ai_ci'"), None);
        assert_eq!(for_mariadb("SET NAMES utf8mb4"), None);
    }
}
