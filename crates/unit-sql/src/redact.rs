//! Keeping passwords out of text.

/// Masks the password of every URL with credentials (`scheme://user:password@host`)
/// in `text`, and the literal after `IDENTIFIED BY` in SQL.
///
/// ```
/// use unit_sql::redact;
/// assert_eq!(
///     redact("cannot connect to mysql://app:s3cr3t@db:3306/shop"),
///     "cannot connect to mysql://app:***@db:3306/shop"
/// );
/// assert_eq!(
///     redact("CREATE USER u IDENTIFIED BY 'hunter2'"),
///     "CREATE USER u IDENTIFIED BY '***'"
/// );
/// ```
pub fn redact(text: &str) -> String {
    redact_identified_by(&redact_urls(text))
}

fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first '/', '?', '#' or white space.
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(at), Some(colon)) if colon < at => {
                out.push_str(&authority[..=colon]);
                out.push_str("***");
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn redact_identified_by(text: &str) -> String {
    const KEY: &str = "identified by";
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = lower[pos..].find(KEY) {
        let after = pos + found + KEY.len();
        out.push_str(&text[pos..after]);
        let value = &text[after..];
        let trimmed = value.trim_start();
        let ws = value.len() - trimmed.len();
        out.push_str(&value[..ws]);
        pos = after + ws;
        if let Some(q @ ('\'' | '"')) = trimmed.chars().next() {
            out.push(q);
            out.push_str("***");
            match trimmed[1..].find(q) {
                Some(i) => {
                    out.push(q);
                    pos += 1 + i + 1;
                }
                None => pos = text.len(),
            }
        }
    }
    out.push_str(&text[pos.min(text.len())..]);
    out
}

#[cfg(test)]
mod tests;
