//! XA statements as the binlog logs them, read without a server, and the state of an
//! XA transaction being read.

/// What an `XA ...` statement from the binlog does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum XaStatement {
    /// `XA START` (MySQL logs it; MariaDB's GTID event says it).
    Start(String),
    /// `XA END`: nothing to do before the prepare.
    End,
    /// `XA PREPARE` as a statement.
    Prepare,
    /// `XA COMMIT`, `one_phase` when it ends the transaction it follows.
    Commit { xid: String, one_phase: bool },
    /// `XA ROLLBACK`.
    Rollback(String),
}

/// The XA statement `sql` is, if it is one; `Err` (the statement) for an `XA` statement
/// whose xid is not the server's own `X'..',X'..',n` spelling.
pub(crate) fn xa_statement(sql: &str) -> Option<Result<XaStatement, String>> {
    let trimmed = sql.trim();
    let rest = strip_word(trimmed, "XA")?;
    let (verb, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let verb = verb.to_ascii_uppercase();
    let mut xid = rest.trim();
    let mut one_phase = false;
    for suffix in ["ONE PHASE", "FOR MIGRATE", "SUSPEND", "JOIN", "RESUME"] {
        if xid.len() >= suffix.len() && xid[xid.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        {
            one_phase |= suffix == "ONE PHASE";
            xid = xid[..xid.len() - suffix.len()].trim_end();
        }
    }
    let valid = !xid.is_empty()
        && xid
            .chars()
            .all(|c| c.is_ascii_hexdigit() || matches!(c, 'X' | 'x' | '\'' | ',' | ' '));
    // The server spells hex digits in either case: one spelling, as the GTID's.
    let xid = xid.to_ascii_uppercase();
    Some(match verb.as_str() {
        "END" => Ok(XaStatement::End),
        "PREPARE" => Ok(XaStatement::Prepare),
        _ if !valid => Err(sql.to_owned()),
        "START" | "BEGIN" => Ok(XaStatement::Start(xid)),
        "COMMIT" => Ok(XaStatement::Commit { xid, one_phase }),
        "ROLLBACK" => Ok(XaStatement::Rollback(xid)),
        _ => Err(sql.to_owned()),
    })
}

/// `text` after the keyword `word` and the blanks that follow it.
fn strip_word<'t>(text: &'t str, word: &str) -> Option<&'t str> {
    let head = text.get(..word.len())?;
    let rest = &text[word.len()..];
    (head.eq_ignore_ascii_case(word) && rest.starts_with(char::is_whitespace))
        .then(|| rest.trim_start())
}

/// An XA transaction being read.
pub(crate) struct Xa {
    pub(crate) xid: String,
    /// The target already holds it prepared (an earlier run): its rows are skipped.
    pub(crate) skipping: bool,
    /// The batch connection, set aside while the XA transaction has its own.
    pub(crate) saved: Option<sqlx::pool::PoolConnection<sqlx::MySql>>,
    /// The batch connection's `foreign_key_checks`, given back with it (each
    /// connection has its own).
    pub(crate) saved_fk_checks: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xa_statements_are_read_as_the_server_logs_them() {
        let xid = "X'7831',X'',1".to_owned();
        assert_eq!(
            xa_statement("XA COMMIT X'6b31',X'',1"),
            Some(Ok(XaStatement::Commit {
                xid: "X'6B31',X'',1".to_owned(),
                one_phase: false
            }))
        );
        assert_eq!(
            xa_statement("XA START X'7831',X'',1"),
            Some(Ok(XaStatement::Start(xid.clone())))
        );
        assert_eq!(
            xa_statement("XA END X'7831',X'',1"),
            Some(Ok(XaStatement::End))
        );
        assert_eq!(
            xa_statement("xa commit X'7831',X'',1 ONE PHASE"),
            Some(Ok(XaStatement::Commit {
                xid: xid.clone(),
                one_phase: true
            }))
        );
        assert_eq!(
            xa_statement("XA ROLLBACK X'7831',X'',1"),
            Some(Ok(XaStatement::Rollback(xid)))
        );
        assert!(matches!(
            xa_statement("XA COMMIT 'x'; DROP TABLE t"),
            Some(Err(_))
        ));
        assert_eq!(xa_statement("XACT"), None);
        assert_eq!(xa_statement("ALTER TABLE xa ADD c INT"), None);
    }
}
