//! The compact text form that DM (gogoproto's `CompactTextString`) prints for a message.

use std::fmt;

use crate::pb;

/// Renders a message in gogoproto's compact text form, as DM prints a `ProcessError` in
/// logs and in joined error strings.
///
/// Fields at their default value are left out; every field written is followed by one
/// space; strings are double-quoted with `\n`, `\r`, `\t`, `\"` and `\\` escaped and every
/// other byte outside printable ASCII written as a three-digit octal escape (`\346`).
///
/// ```
/// use unit_proto::{CompactText, pb};
///
/// let err = pb::ProcessError {
///     err_code: 50000,
///     err_class: "not-set".into(),
///     message: "tab\there, é".into(),
///     ..Default::default()
/// };
/// assert_eq!(
///     err.compact_text().to_string(),
///     r#"ErrCode:50000 ErrClass:"not-set" Message:"tab\there, \303\251" "#
/// );
/// ```
pub trait CompactText {
    /// A value whose `Display` writes the compact text form.
    fn compact_text(&self) -> CompactTextDisplay<'_, Self> {
        CompactTextDisplay(self)
    }

    /// Writes the compact text form of `self` to `f`.
    ///
    /// # Errors
    /// Only those of the formatter.
    fn write_compact_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// The `Display` adapter returned by [`CompactText::compact_text`].
#[derive(Debug, Clone, Copy)]
pub struct CompactTextDisplay<'a, T: ?Sized>(&'a T);

impl<T: CompactText + ?Sized> fmt::Display for CompactTextDisplay<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write_compact_text(f)
    }
}

impl CompactText for pb::ProcessError {
    fn write_compact_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.err_code != 0 {
            write!(f, "ErrCode:{} ", self.err_code)?;
        }
        for (name, value) in [
            ("ErrClass", &self.err_class),
            ("ErrScope", &self.err_scope),
            ("ErrLevel", &self.err_level),
            ("Message", &self.message),
            ("RawCause", &self.raw_cause),
            ("Workaround", &self.workaround),
        ] {
            if !value.is_empty() {
                f.write_str(name)?;
                f.write_str(":")?;
                write_quoted(f, value.as_bytes())?;
                f.write_str(" ")?;
            }
        }
        Ok(())
    }
}

impl CompactText for pb::ProcessResult {
    fn write_compact_text(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_canceled {
            f.write_str("isCanceled:true ")?;
        }
        for err in &self.errors {
            f.write_str("errors:<")?;
            err.write_compact_text(f)?;
            f.write_str("> ")?;
        }
        if !self.detail.is_empty() {
            f.write_str("detail:")?;
            write_quoted(f, &self.detail)?;
            f.write_str(" ")?;
        }
        Ok(())
    }
}

/// Writes `bytes` as a double-quoted string with C escapes, byte by byte.
fn write_quoted(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    f.write_str("\"")?;
    let mut plain_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: Option<&str> = match b {
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            0x20..=0x7e => continue,
            _ => None,
        };
        // Everything before `i` is printable ASCII, hence valid UTF-8 on its own.
        f.write_str(ascii(&bytes[plain_start..i]))?;
        match escape {
            Some(s) => f.write_str(s)?,
            None => write!(f, "\\{b:03o}")?,
        }
        plain_start = i + 1;
    }
    f.write_str(ascii(&bytes[plain_start..]))?;
    f.write_str("\"")
}

fn ascii(bytes: &[u8]) -> &str {
    // Only called on runs of printable ASCII, which are always valid UTF-8.
    std::str::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests;
