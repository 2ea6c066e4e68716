//! Which tables and databases a DDL statement from the binlog touches.
//!
//! Only the statements that change what the Sync unit applies rows to are recognised:
//! `CREATE`/`ALTER`/`RENAME`/`DROP`/`TRUNCATE TABLE`, `CREATE`/`DROP INDEX`, and
//! `CREATE`/`DROP DATABASE`. Everything else (users, grants, views, routines, ...) is
//! not a table change and is left to the operator.

/// A recognised DDL statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ddl {
    /// What it does.
    pub kind: DdlKind,
    /// The tables it names, `(database, table)`, with the statement's default database
    /// filled in; a `RENAME` names both the old and the new names, a `CREATE TABLE a
    /// LIKE b` both tables (`a` first).
    pub tables: Vec<(String, String)>,
    /// The database a `CREATE`/`DROP DATABASE` names.
    pub database: Option<String>,
}

/// The kind of a recognised DDL statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DdlKind {
    /// `CREATE TABLE`.
    CreateTable,
    /// `ALTER TABLE`, `CREATE INDEX`, `DROP INDEX`.
    AlterTable,
    /// `RENAME TABLE`.
    RenameTable,
    /// `ALTER TABLE a EXCHANGE PARTITION p WITH TABLE b`: swaps the rows of a
    /// partition and a table (both named, `a` first); the binlog holds no rows for it.
    ExchangePartition,
    /// `DROP TABLE`.
    DropTable,
    /// `TRUNCATE TABLE`.
    TruncateTable,
    /// `CREATE DATABASE`.
    CreateDatabase,
    /// `ALTER DATABASE` (its defaults: character set, collation, comment).
    AlterDatabase,
    /// `DROP DATABASE`.
    DropDatabase,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A bare word, upper-cased.
    Word(String),
    /// A backquoted identifier, unquoted.
    Quoted(String),
    /// Any other character (punctuation), or a string literal (as `'`).
    Punct(char),
}

fn tokens(sql: &str, ansi_quotes: bool) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '/' if chars.get(i + 1) == Some(&'*') => {
                // MariaDB's executable comments `/*!... */` and `/*M!... */` hold SQL;
                // any other comment (`/*Make it wider*/` too) is a comment.
                let executable = chars.get(i + 2) == Some(&'!')
                    || (chars.get(i + 2) == Some(&'M') && chars.get(i + 3) == Some(&'!'));
                if executable {
                    i += 2;
                    while i < chars.len() && !chars[i].is_whitespace() {
                        i += 1;
                    }
                } else {
                    i += 2;
                    while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                        i += 1;
                    }
                    i += 2;
                }
            }
            '*' if chars.get(i + 1) == Some(&'/') => i += 2,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '-' if chars.get(i + 1) == Some(&'-')
                && chars.get(i + 2).is_none_or(|c| c.is_whitespace()) =>
            {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '`' | '"' if c == '`' || ansi_quotes => {
                let quote = c;
                let mut name = String::new();
                i += 1;
                while i < chars.len() {
                    if chars[i] == quote {
                        if chars.get(i + 1) == Some(&quote) {
                            name.push(quote);
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    name.push(chars[i]);
                    i += 1;
                }
                i += 1;
                out.push(Token::Quoted(name));
            }
            '\'' | '"' => {
                let quote = c;
                i += 1;
                while i < chars.len() && chars[i] != quote {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
                out.push(Token::Punct('\''));
            }
            c if c.is_alphanumeric() || c == '_' || c == '$' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
                {
                    i += 1;
                }
                out.push(Token::Word(chars[start..i].iter().collect()));
            }
            c => {
                out.push(Token::Punct(c));
                i += 1;
            }
        }
    }
    out
}

struct Parser<'a> {
    tokens: Vec<Token>,
    at: usize,
    default_db: &'a str,
}

impl Parser<'_> {
    fn peek_word(&self) -> Option<String> {
        match self.tokens.get(self.at) {
            Some(Token::Word(w)) => Some(w.to_ascii_uppercase()),
            _ => None,
        }
    }

    /// Consumes the next token if it is the keyword `word`.
    fn eat(&mut self, word: &str) -> bool {
        if self.peek_word().as_deref() == Some(word) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn eat_punct(&mut self, c: char) -> bool {
        if self.tokens.get(self.at) == Some(&Token::Punct(c)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn name_part(&mut self) -> Option<String> {
        let part = match self.tokens.get(self.at)? {
            Token::Word(w) => w.clone(),
            Token::Quoted(q) => q.clone(),
            Token::Punct(_) => return None,
        };
        self.at += 1;
        Some(part)
    }

    /// `name` or `db.name`, with the default database filled in.
    fn table_name(&mut self) -> Option<(String, String)> {
        let first = self.name_part()?;
        if self.eat_punct('.') {
            let second = self.name_part()?;
            Some((first, second))
        } else {
            Some((self.default_db.to_owned(), first))
        }
    }

    fn if_exists(&mut self) {
        if self.eat("IF") {
            self.eat("NOT");
            self.eat("EXISTS");
        }
    }

    /// `DATABASE|SCHEMA [IF [NOT] EXISTS] name` as a `kind` statement: `None` when the
    /// statement goes on otherwise, `Some(None)` when the name is missing.
    fn database(&mut self, kind: DdlKind) -> Option<Option<Ddl>> {
        if !(self.eat("DATABASE") || self.eat("SCHEMA")) {
            return None;
        }
        self.if_exists();
        Some(self.name_part().map(|database| Ddl {
            kind,
            tables: Vec::new(),
            database: Some(database),
        }))
    }

    /// Skips to the next top-level `ON` and reads the table after it.
    fn table_after_on(&mut self) -> Option<(String, String)> {
        while self.at < self.tokens.len() {
            if self.eat("ON") {
                return self.table_name();
            }
            self.at += 1;
        }
        None
    }
}

/// The DDL `sql` is, run with `default_db` as its current database; `None` for any
/// other statement (including `CREATE TEMPORARY TABLE`, which row-based replication
/// never needs).
#[cfg(test)]
pub(crate) fn parse(sql: &str, default_db: &str) -> Option<Ddl> {
    parse_with(sql, default_db, false)
}

/// [`parse`], with `"` quoting identifiers as under the `ANSI_QUOTES` SQL mode.
pub(crate) fn parse_with(sql: &str, default_db: &str, ansi_quotes: bool) -> Option<Ddl> {
    let mut p = Parser {
        tokens: tokens(sql, ansi_quotes),
        at: 0,
        default_db,
    };
    let mut tables = Vec::new();
    let kind = match p.peek_word()?.as_str() {
        "CREATE" => {
            p.at += 1;
            if p.eat("OR") {
                p.eat("REPLACE");
            }
            if p.eat("TEMPORARY") {
                return None;
            }
            if let Some(ddl) = p.database(DdlKind::CreateDatabase) {
                return ddl;
            }
            p.eat("UNIQUE");
            p.eat("FULLTEXT");
            p.eat("SPATIAL");
            if p.eat("INDEX") {
                tables.push(p.table_after_on()?);
                DdlKind::AlterTable
            } else if p.eat("TABLE") {
                p.if_exists();
                tables.push(p.table_name()?);
                let parenthesized = p.eat_punct('(');
                if p.eat("LIKE") {
                    tables.push(p.table_name()?);
                } else if parenthesized {
                    p.at -= 1;
                }
                DdlKind::CreateTable
            } else {
                return None;
            }
        }
        "ALTER" => {
            p.at += 1;
            if p.eat("DATABASE") || p.eat("SCHEMA") {
                // The name may be left out: the statement's default database.
                let named = !matches!(
                    p.peek_word().as_deref(),
                    Some("DEFAULT" | "CHARACTER" | "CHARSET" | "COLLATE" | "COMMENT")
                );
                let database = if named {
                    p.name_part()?
                } else if default_db.is_empty() {
                    return None;
                } else {
                    default_db.to_owned()
                };
                return Some(Ddl {
                    kind: DdlKind::AlterDatabase,
                    tables: Vec::new(),
                    database: Some(database),
                });
            }
            p.eat("ONLINE");
            p.eat("IGNORE");
            if !p.eat("TABLE") {
                return None;
            }
            p.if_exists();
            tables.push(p.table_name()?);
            // `ALTER TABLE a ... RENAME [TO|AS] b` also names b.
            while p.at < p.tokens.len() {
                if p.eat("EXCHANGE") {
                    if !p.eat("PARTITION") {
                        continue;
                    }
                    if p.name_part().is_none() || !p.eat("WITH") {
                        return None;
                    }
                    p.eat("TABLE");
                    tables.push(p.table_name()?);
                    return Some(Ddl {
                        kind: DdlKind::ExchangePartition,
                        tables,
                        database: None,
                    });
                } else if p.eat("RENAME") {
                    if p.eat("COLUMN") || p.eat("INDEX") || p.eat("KEY") {
                        continue;
                    }
                    if !p.eat("TO") {
                        p.eat("AS");
                    }
                    if let Some(t) = p.table_name() {
                        tables.push(t);
                    }
                } else {
                    p.at += 1;
                }
            }
            DdlKind::AlterTable
        }
        "RENAME" => {
            p.at += 1;
            if !(p.eat("TABLE") || p.eat("TABLES")) {
                return None;
            }
            loop {
                p.if_exists();
                tables.push(p.table_name()?);
                p.eat("WAIT");
                if !p.eat("TO") {
                    return None;
                }
                tables.push(p.table_name()?);
                if !p.eat_punct(',') {
                    break;
                }
            }
            DdlKind::RenameTable
        }
        "DROP" => {
            p.at += 1;
            if p.eat("TEMPORARY") {
                return None;
            }
            if let Some(ddl) = p.database(DdlKind::DropDatabase) {
                return ddl;
            }
            p.eat("ONLINE");
            if p.eat("INDEX") {
                tables.push(p.table_after_on()?);
                DdlKind::AlterTable
            } else if p.eat("TABLE") || p.eat("TABLES") {
                p.if_exists();
                loop {
                    tables.push(p.table_name()?);
                    if !p.eat_punct(',') {
                        break;
                    }
                }
                DdlKind::DropTable
            } else {
                return None;
            }
        }
        "TRUNCATE" => {
            p.at += 1;
            p.eat("TABLE");
            tables.push(p.table_name()?);
            DdlKind::TruncateTable
        }
        _ => return None,
    };
    Some(Ddl {
        kind,
        tables,
        database: None,
    })
}

/// Whether `sql` starts as a statement that changes tables or databases (`CREATE`,
/// `ALTER`, `DROP` of a table, index or database, `RENAME TABLE`, `TRUNCATE`), whether
/// or not [`parse_with`] can read the rest: a statement for which this is true and
/// `parse_with` gives `None` cannot be read, and is not to be skipped as harmless.
pub(crate) fn starts_as_table_ddl(sql: &str, ansi_quotes: bool) -> bool {
    let words: Vec<String> = tokens(sql, ansi_quotes)
        .into_iter()
        .take(4)
        .map(|t| match t {
            Token::Word(w) => w.to_ascii_uppercase(),
            _ => String::new(),
        })
        .collect();
    let word = |i: usize| words.get(i).map(String::as_str).unwrap_or_default();
    let objects = |i: usize| {
        matches!(
            word(i),
            "TABLE"
                | "TABLES"
                | "INDEX"
                | "DATABASE"
                | "SCHEMA"
                | "UNIQUE"
                | "FULLTEXT"
                | "SPATIAL"
        )
    };
    match word(0) {
        "CREATE" if word(1) == "OR" => objects(3),
        "CREATE" | "DROP" => objects(1) || (word(1) == "ONLINE" && objects(2)),
        "ALTER" => {
            objects(1) || (matches!(word(1), "ONLINE" | "IGNORE") && (objects(2) || objects(3)))
        }
        "RENAME" => matches!(word(1), "TABLE" | "TABLES"),
        "TRUNCATE" => true,
        _ => false,
    }
}

/// The tables a DML statement logged as a statement (`INSERT`, `REPLACE`, `UPDATE`,
/// `DELETE`, `LOAD DATA`) writes, as far as its table references tell; `None` for any
/// other statement. A multi-table statement names all of its tables (the ones it only
/// reads too); an empty list means the references could not be read.
pub(crate) fn dml_tables(
    sql: &str,
    default_db: &str,
    ansi_quotes: bool,
) -> Option<Vec<(String, String)>> {
    let mut p = Parser {
        tokens: tokens(sql, ansi_quotes),
        at: 0,
        default_db,
    };
    let verb = p.peek_word()?;
    if !matches!(
        verb.as_str(),
        "INSERT" | "REPLACE" | "UPDATE" | "DELETE" | "LOAD"
    ) {
        return None;
    }
    p.at += 1;
    const MODIFIERS: &[&str] = &[
        "LOW_PRIORITY",
        "DELAYED",
        "HIGH_PRIORITY",
        "IGNORE",
        "QUICK",
    ];
    const STOP: &[&str] = &[
        "SET", "WHERE", "VALUES", "VALUE", "SELECT", "ORDER", "LIMIT", "ON",
    ];
    let mut tables = Vec::new();
    // A table reference follows the verb, INTO, FROM, TABLE, JOIN, USING or a comma.
    let mut expect_name = verb != "LOAD";
    while p.at < p.tokens.len() {
        if let Some(word) = p.peek_word() {
            if MODIFIERS.contains(&word.as_str()) {
                p.at += 1;
                continue;
            }
            if matches!(word.as_str(), "INTO" | "FROM" | "TABLE" | "JOIN" | "USING") {
                p.at += 1;
                expect_name = true;
                continue;
            }
            if STOP.contains(&word.as_str()) && verb != "LOAD" {
                break;
            }
        }
        if p.eat_punct(',') {
            expect_name = true;
            continue;
        }
        if expect_name {
            if let Some(name) = p.table_name() {
                tables.push(name);
                expect_name = false;
                continue;
            }
        }
        if p.eat_punct('(') && verb != "LOAD" {
            break;
        }
        p.at += 1;
    }
    Some(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(sql: &str) -> Vec<(String, String)> {
        parse(sql, "d").map(|d| d.tables).unwrap_or_default()
    }

    #[test]
    fn tables_are_found_in_each_kind() {
        let t = |db: &str, n: &str| (db.to_owned(), n.to_owned());
        assert_eq!(
            names("CREATE TABLE IF NOT EXISTS `a``b` (id INT)"),
            vec![t("d", "a`b")]
        );
        assert_eq!(
            names("create or replace table x.y (id int)"),
            vec![t("x", "y")]
        );
        assert_eq!(
            names("DROP TABLE IF EXISTS `a`,x.`b` /* generated by server */"),
            vec![t("d", "a"), t("x", "b")]
        );
        assert_eq!(names("TRUNCATE t"), vec![t("d", "t")]);
        assert_eq!(names("CREATE UNIQUE INDEX i ON s.t (c)"), vec![t("s", "t")]);
        assert_eq!(names("DROP INDEX i ON t"), vec![t("d", "t")]);
        assert_eq!(
            names("ALTER TABLE t RENAME COLUMN a TO b, ADD COLUMN c INT"),
            vec![t("d", "t")]
        );
        assert_eq!(
            names("ALTER TABLE t RENAME TO u"),
            vec![t("d", "t"), t("d", "u")]
        );
        assert_eq!(
            names("/* c */ ALTER TABLE `t` ADD x INT -- note\n"),
            vec![t("d", "t")]
        );
        // A comment that happens to start with M is a comment; `/*M!...*/` and
        // `/*!...*/` are executable.
        assert_eq!(
            names("/*Make it wider*/ ALTER TABLE t MODIFY note VARCHAR(200)"),
            vec![t("d", "t")]
        );
        assert_eq!(
            names("/*M!100100 ALTER TABLE t ADD x INT */"),
            vec![t("d", "t")]
        );
        assert_eq!(
            names("/*!40000 ALTER TABLE t ENABLE KEYS */"),
            vec![t("d", "t")]
        );
        assert!(parse("CREATE TEMPORARY TABLE t (a INT)", "d").is_none());
        assert!(parse("CREATE VIEW v AS SELECT 1", "d").is_none());
        assert_eq!(
            names("CREATE TABLE x (LIKE other.y)"),
            vec![t("d", "x"), t("other", "y")]
        );
        assert_eq!(
            names("CREATE TABLE x LIKE y"),
            vec![t("d", "x"), t("d", "y")]
        );
        assert_eq!(names("CREATE TABLE x (id INT)"), vec![t("d", "x")]);
        let exchange = parse(
            "ALTER TABLE p EXCHANGE PARTITION p0 WITH TABLE stage.x",
            "d",
        )
        .unwrap();
        assert_eq!(exchange.kind, DdlKind::ExchangePartition);
        assert_eq!(exchange.tables, vec![t("d", "p"), t("stage", "x")]);
        let column = parse("ALTER TABLE t ADD exchange INT", "d").unwrap();
        assert_eq!(column.kind, DdlKind::AlterTable);
        for (sql, db) in [
            ("ALTER DATABASE shop CHARACTER SET utf8mb4", "shop"),
            ("ALTER SCHEMA DEFAULT COLLATE latin1_bin", "d"),
            ("alter database `Other` comment 'x'", "Other"),
        ] {
            let ddl = parse(sql, "d").unwrap();
            assert_eq!(ddl.kind, DdlKind::AlterDatabase);
            assert_eq!(ddl.database.as_deref(), Some(db));
        }
        assert!(parse("ALTER DATABASE CHARACTER SET utf8mb4", "").is_none());
        assert!(starts_as_table_ddl(
            "ALTER DATABASE CHARACTER SET utf8mb4",
            false
        ));
        let db = parse("CREATE DATABASE IF NOT EXISTS `new`", "d").expect("ddl");
        assert_eq!(db.kind, DdlKind::CreateDatabase);
        assert_eq!(db.database.as_deref(), Some("new"));
    }

    #[test]
    fn a_ddl_is_read_with_its_kind_and_tables() {
        let ddl = parse("ALTER TABLE `shop`.orders ADD COLUMN note TEXT", "other").unwrap();
        assert_eq!(ddl.kind, DdlKind::AlterTable);
        assert_eq!(ddl.tables, vec![("shop".to_owned(), "orders".to_owned())]);
        let ddl = parse("RENAME TABLE a TO b, shop.c TO shop.d", "app").unwrap();
        assert_eq!(ddl.tables.len(), 4);
        assert!(parse("GRANT ALL ON *.* TO u", "app").is_none());
    }

    #[test]
    fn ansi_quotes_quote_identifiers() {
        let ddl = parse_with(r#"DROP TABLE "a""b""#, "d", true).unwrap();
        assert_eq!(ddl.tables, vec![("d".to_owned(), "a\"b".to_owned())]);
    }

    #[test]
    fn statements_that_start_as_table_ddl_are_told_apart() {
        assert!(starts_as_table_ddl("alter online table t add x int", false));
        assert!(starts_as_table_ddl(
            "CREATE OR REPLACE TABLE t (id INT)",
            false
        ));
        assert!(!starts_as_table_ddl(
            "CREATE TEMPORARY TABLE t (id INT)",
            false
        ));
        assert!(!starts_as_table_ddl("CREATE DEFINER=u TRIGGER x", false));
        assert!(!starts_as_table_ddl("GRANT ALL ON t TO u", false));
    }

    #[test]
    fn dml_logged_as_statements_names_its_tables() {
        let t = |d: &str, n: &str| (d.to_owned(), n.to_owned());
        assert_eq!(
            dml_tables("INSERT INTO shop.t VALUES (1)", "d", false),
            Some(vec![t("shop", "t")])
        );
        assert_eq!(
            dml_tables(
                "DELETE a FROM a JOIN b ON a.id = b.id WHERE b.x = 1",
                "d",
                false
            ),
            Some(vec![t("d", "a"), t("d", "a"), t("d", "b")])
        );
        assert_eq!(dml_tables("ALTER TABLE t ADD x INT", "d", false), None);
    }
}
