//! Statements shortened for messages, secrets masked.

use crate::redact;

/// The longest statement summary a `Message` carries, in characters.
pub const MAX_STATEMENT_SUMMARY: usize = 200;

/// A statement shortened for a message: white space runs folded to one space, at most
/// [`MAX_STATEMENT_SUMMARY`] characters (then `...`), passwords masked.
///
/// ```
/// use unit_sql::summarize_statement;
/// assert_eq!(summarize_statement("INSERT INTO t\n    VALUES (?, ?)"), "INSERT INTO t VALUES (?, ?)");
/// assert!(summarize_statement(&"x".repeat(500)).ends_with("..."));
/// ```
pub fn summarize_statement(sql: &str) -> String {
    let mut out = String::new();
    for (i, word) in sql.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(word);
        if out.len() > 4 * MAX_STATEMENT_SUMMARY {
            break;
        }
    }
    let mut out = redact(&out);
    if let Some((cut, _)) = out.char_indices().nth(MAX_STATEMENT_SUMMARY) {
        out.truncate(cut);
        out.push_str("...");
    }
    out
}
