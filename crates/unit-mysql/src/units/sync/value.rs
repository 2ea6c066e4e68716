//! Binlog row values as SQL literals of their column's type.
//!
//! The binlog carries values in the server's storage format, and its TableMap does not
//! say whether an integer is signed (unless `binlog_row_metadata=FULL`), so each value
//! is read together with the target's description of its column ([`Column`]): the
//! signedness, the character set of text, what an ENUM, SET, BIT or YEAR number means,
//! and whether a DATETIME is a TIMESTAMP (seconds since the epoch, written here as UTC
//! text for a session whose `time_zone` is `+00:00`).

use mysql_async::Value;
use mysql_async::binlog::value::BinlogValue;

use crate::catalog::schema::{Column, ValueKind};

/// A value the binlog carries that cannot be written exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {reason}")]
pub(crate) struct ValueError {
    /// The column's name.
    pub column: String,
    /// What is wrong.
    pub reason: String,
}

fn bad(column: &Column, reason: impl Into<String>) -> ValueError {
    ValueError {
        column: column.name.clone(),
        reason: reason.into(),
    }
}

use crate::catalog::schema::hex_literal as hex;

/// The width in bytes of an integer type.
fn int_width(data_type: &str) -> Option<u32> {
    Some(match data_type {
        "tinyint" => 1,
        "smallint" => 2,
        "mediumint" => 3,
        "int" => 4,
        "bigint" => 8,
        _ => return None,
    })
}

/// The days since 1970-01-01 as a civil date (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A TIMESTAMP's `seconds[.micros]` since the epoch as UTC text; 0 is the zero date.
fn timestamp_text(column: &Column, raw: &[u8]) -> Result<String, ValueError> {
    let text = std::str::from_utf8(raw).map_err(|_| bad(column, "TIMESTAMP is not text"))?;
    let (secs, micros) = text.split_once('.').unwrap_or((text, "0"));
    let secs: i64 = secs
        .parse()
        .map_err(|_| bad(column, format!("TIMESTAMP {text:?} is not a number")))?;
    let micros: u32 = micros
        .parse()
        .map_err(|_| bad(column, format!("TIMESTAMP {text:?} is not a number")))?;
    if secs == 0 && micros == 0 {
        return Ok("'0000-00-00 00:00:00'".to_owned());
    }
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    Ok(format!(
        "'{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}.{micros:06}'",
        s / 3600,
        s / 60 % 60,
        s % 60
    ))
}

/// An unsigned number from big-endian bytes (BIT) or little-endian bytes (SET).
fn unsigned(bytes: &[u8], big_endian: bool) -> Option<u64> {
    if bytes.len() > 8 {
        return None;
    }
    let fold = |acc: u64, b: &u8| (acc << 8) | u64::from(*b);
    Some(if big_endian {
        bytes.iter().fold(0, fold)
    } else {
        bytes.iter().rev().fold(0, fold)
    })
}

/// A literal of text in the column's own character set (no conversion on the way),
/// with its collation where it is compared with a key.
fn text_literal(column: &Column, bytes: &[u8], compare: bool) -> String {
    match (&column.charset, &column.collation) {
        (Some(charset), Some(collation)) if compare => {
            format!("_{charset} {} COLLATE {collation}", hex(bytes))
        }
        (Some(charset), _) => format!("_{charset} {}", hex(bytes)),
        _ => hex(bytes),
    }
}

/// Undoes mysql_common 0.37's misreading of a negative `TIME(1)` or `TIME(2)` with a
/// fraction: it subtracts 0x100 from the fraction byte as a `u32`, which wraps (and
/// panics where overflow checks are on, as in debug builds: the workspace turns them
/// off for mysql_common). The wrapped value is the true one plus 2^32 × 10,000 in the
/// packed form (`hms << 24 | microseconds`); it is recognised by a fraction part no
/// true value has (at least 10^6 microseconds).
fn repair_time(
    column: &Column,
    neg: bool,
    days: u32,
    h: u8,
    mi: u8,
    s: u8,
    us: u32,
) -> (bool, u64, u8, u8, u32) {
    let hours = u64::from(days) * 24 + u64::from(h);
    let short = matches!(column.column_type.as_str(), "time(1)" | "time(2)");
    if !short {
        return (neg, hours, mi, s, us);
    }
    let hms = (hours << 12) | (u64::from(mi) << 6) | u64::from(s);
    let magnitude = ((hms << 24) + u64::from(us)) as i64;
    let read = if neg { -magnitude } else { magnitude };
    // A true value's fraction part (of the packed form, in microseconds) is below 10^6;
    // a true negative value with a fraction always comes wrapped.
    if read.rem_euclid(1 << 24) < 1_000_000 {
        return (neg, hours, mi, s, us);
    }
    let packed = read - (1i64 << 32) * 10_000;
    let neg = packed < 0;
    let tmp = packed.unsigned_abs();
    let (hms, us) = (tmp >> 24, (tmp % (1 << 24)) as u32);
    (
        neg,
        (hms >> 12) % (1 << 10),
        ((hms >> 6) % 64) as u8,
        (hms % 64) as u8,
        us,
    )
}

/// Writes `dom` as MySQL prints a JSON value (`JSON_EXTRACT`, `SELECT` of a JSON
/// column): `", "` between elements, `": "` after keys, an object's keys in MySQL's
/// order (shorter first, then by their bytes). A MariaDB target (whose JSON is text)
/// then holds what the source shows; a MySQL target parses it back to the same
/// document.
///
/// # Errors
/// An opaque scalar of a MySQL type other than DECIMAL, DATE, TIME and DATETIME,
/// named.
fn mysql_json_text(
    dom: &mysql_async::binlog::jsonb::JsonDom,
    out: &mut String,
) -> Result<(), &'static str> {
    use mysql_async::binlog::jsonb::{JsonContainer, JsonDom, JsonNumber, JsonScalar};
    let quoted = |s: &str, out: &mut String| {
        out.push_str(&serde_json::Value::String(s.to_owned()).to_string());
    };
    match dom {
        JsonDom::Container(JsonContainer::Array(items)) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                mysql_json_text(item, out)?;
            }
            out.push(']');
        }
        JsonDom::Container(JsonContainer::Object(members)) => {
            let mut keys: Vec<&String> = members.keys().collect();
            keys.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                quoted(key, out);
                out.push_str(": ");
                if let Some(value) = members.get(key) {
                    mysql_json_text(value, out)?;
                }
            }
            out.push('}');
        }
        JsonDom::Scalar(scalar) => match scalar {
            JsonScalar::Null => out.push_str("null"),
            JsonScalar::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
            JsonScalar::Number(JsonNumber::Int(n)) => out.push_str(&n.to_string()),
            JsonScalar::Number(JsonNumber::Uint(n)) => out.push_str(&n.to_string()),
            // As MySQL prints it (a MySQL target reads it back as a DOUBLE).
            JsonScalar::Number(JsonNumber::Decimal(d)) => out.push_str(&d.to_string()),
            JsonScalar::Number(JsonNumber::Double(f)) => out.push_str(&mysql_json_double(*f)),
            JsonScalar::String(text) => quoted(text, out),
            // DATE as `2024-01-02`, TIME and DATETIME with 6 fraction digits.
            JsonScalar::DateTime(time) => quoted(&format!("{time:.6}"), out),
            JsonScalar::Opaque(_) => return Err("a MySQL value of another type"),
        },
    }
    Ok(())
}

/// An SQL expression that makes `dom` as MySQL's binary JSON holds it, for a MySQL
/// target's JSON column: numbers keep their kind (a DECIMAL stays a DECIMAL, a
/// DOUBLE a DOUBLE), and DATE, TIME and DATETIME values stay of their types, which
/// the document's text would turn into a DOUBLE or a string.
///
/// # Errors
/// An opaque scalar of another MySQL type, named.
fn mysql_json_expr(dom: &mysql_async::binlog::jsonb::JsonDom) -> Result<String, &'static str> {
    use mysql_async::binlog::jsonb::{JsonContainer, JsonDom, JsonNumber, JsonScalar};
    use mysql_common::binlog::time::MysqlTimestampType;
    let json = |text: &str| format!("CAST('{text}' AS JSON)");
    Ok(match dom {
        JsonDom::Container(JsonContainer::Array(items)) => {
            let items: Vec<String> = items
                .iter()
                .map(mysql_json_expr)
                .collect::<Result<_, _>>()?;
            format!("JSON_ARRAY({})", items.join(", "))
        }
        JsonDom::Container(JsonContainer::Object(members)) => {
            let mut pairs = Vec::with_capacity(members.len());
            for (key, value) in members {
                pairs.push(format!(
                    "_utf8mb4 {}, {}",
                    hex(key.as_bytes()),
                    mysql_json_expr(value)?
                ));
            }
            format!("JSON_OBJECT({})", pairs.join(", "))
        }
        JsonDom::Scalar(scalar) => match scalar {
            JsonScalar::Null => json("null"),
            JsonScalar::Boolean(b) => json(if *b { "true" } else { "false" }),
            JsonScalar::Number(JsonNumber::Int(n)) => json(&n.to_string()),
            JsonScalar::Number(JsonNumber::Uint(n)) => json(&n.to_string()),
            JsonScalar::Number(JsonNumber::Double(f)) => json(&mysql_json_double(*f)),
            JsonScalar::Number(JsonNumber::Decimal(d)) => {
                let text = d.to_string();
                let digits = text.chars().filter(char::is_ascii_digit).count();
                let scale = text.split_once('.').map_or(0, |(_, f)| f.len());
                let precision = digits.max(scale + 1).clamp(1, 65);
                format!("CAST('{text}' AS DECIMAL({precision}, {}))", scale.min(30))
            }
            JsonScalar::String(text) => format!("_utf8mb4 {}", hex(text.as_bytes())),
            JsonScalar::DateTime(time) => {
                let kind = match time.time_type {
                    MysqlTimestampType::MYSQL_TIMESTAMP_DATE => "DATE",
                    MysqlTimestampType::MYSQL_TIMESTAMP_TIME => "TIME(6)",
                    _ => "DATETIME(6)",
                };
                format!("CAST('{time:.6}' AS {kind})")
            }
            JsonScalar::Opaque(_) => return Err("a MySQL value of another type"),
        },
    })
}

/// A JSON document's DOUBLE as MySQL prints it: the shortest digits that read back as
/// that DOUBLE, in fixed notation while the decimal point falls within 15 digits of
/// them (`0.000001`, `123456789012345.0`), else in exponent notation (`1e15`,
/// `1.5e-20`), with `.0` after a whole number in fixed notation.
fn mysql_json_double(f: f64) -> String {
    if !f.is_finite() {
        return "0.0".to_owned();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.to_owned();
    }
    let scientific = format!("{:e}", f.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let point = exponent + 1;
    let body = if (-14..=15).contains(&point) {
        let len = i32::try_from(digits.len()).unwrap_or(i32::MAX);
        if point <= 0 {
            format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
        } else if point >= len {
            format!("{digits}{}.0", "0".repeat((point - len) as usize))
        } else {
            let (whole, fraction) = digits.split_at(point as usize);
            format!("{whole}.{fraction}")
        }
    } else {
        format!("{mantissa}e{exponent}")
    };
    if f.is_sign_negative() {
        format!("-{body}")
    } else {
        body
    }
}

/// The SQL literal of `value` for `column`: written into the column, or, with
/// `compare`, compared with it in a key's `WHERE` (text then carries its collation, so
/// that the key's index is used).
///
/// # Errors
/// A value missing from the row image, or one that does not fit the column.
pub(crate) fn literal(
    column: &Column,
    value: Option<&BinlogValue<'_>>,
    compare: bool,
) -> Result<String, ValueError> {
    let value = match value {
        None => {
            return Err(bad(
                column,
                "missing from the row image (binlog_row_image must be FULL)",
            ));
        }
        Some(BinlogValue::Value(v)) => v,
        Some(BinlogValue::Jsonb(j)) => {
            let dom = j
                .clone()
                .parse()
                .map_err(|e| bad(column, format!("JSON value cannot be read: {e}")))?;
            let opaque = |scalar| {
                bad(
                    column,
                    format!(
                        "a JSON value holds an opaque scalar ({scalar}, put in by CAST), which \
                         a target cannot be given as it is"
                    ),
                )
            };
            // A MySQL target's JSON column (MariaDB's JSON is a LONGTEXT) is given the
            // document itself; any other column the text MySQL prints.
            if column.data_type == "json" {
                let expr = mysql_json_expr(&dom).map_err(opaque)?;
                return Ok(match &dom {
                    mysql_async::binlog::jsonb::JsonDom::Container(_) => expr,
                    mysql_async::binlog::jsonb::JsonDom::Scalar(_) => {
                        format!("JSON_EXTRACT(JSON_ARRAY({expr}), '$[0]')")
                    }
                });
            }
            let mut text = String::new();
            mysql_json_text(&dom, &mut text).map_err(opaque)?;
            return Ok(format!("_utf8mb4 {}", hex(text.as_bytes())));
        }
        Some(BinlogValue::JsonDiff(_)) => {
            return Err(bad(
                column,
                "partial JSON updates (binlog_row_value_options=PARTIAL_JSON) are not supported",
            ));
        }
    };
    let kind = column.kind();
    let dt = column.data_type.as_str();
    Ok(match value {
        Value::NULL => "NULL".to_owned(),
        // mysql_common reads a signed MEDIUMINT without its sign.
        Value::Int(i)
            if dt == "mediumint" && *i > 8_388_607 && !column.column_type.contains("unsigned") =>
        {
            (i - 16_777_216).to_string()
        }
        // The old TIMESTAMP format (before MySQL 5.6's, type 7) arrives as seconds.
        Value::Int(i) if dt == "timestamp" => timestamp_text(column, i.to_string().as_bytes())?,
        Value::UInt(u) if dt == "timestamp" => timestamp_text(column, u.to_string().as_bytes())?,
        Value::Int(i) => match int_width(dt) {
            Some(width) if *i < 0 && column.column_type.contains("unsigned") => {
                let bits = width * 8;
                let as_unsigned = if bits == 64 {
                    *i as u64
                } else {
                    (*i as u64) & ((1u64 << bits) - 1)
                };
                as_unsigned.to_string()
            }
            _ => i.to_string(),
        },
        Value::UInt(u) => u.to_string(),
        // `{:e}` is the shortest text that reads back as the same double, and the
        // exponent makes the server read it as a DOUBLE (not a DECIMAL); a FLOAT
        // widens exactly to a DOUBLE, which the column narrows back exactly.
        Value::Float(f) => format!("{:e}", f64::from(*f)),
        Value::Double(d) => format!("{d:e}"),
        Value::Bytes(b) => match kind {
            ValueKind::Text => text_literal(column, b, compare),
            ValueKind::Bit => unsigned(b, true)
                .ok_or_else(|| bad(column, "BIT wider than 64 bits"))?
                .to_string(),
            ValueKind::EnumOrSet => unsigned(b, false)
                .ok_or_else(|| bad(column, "SET wider than 64 bits"))?
                .to_string(),
            ValueKind::Number => {
                let text = std::str::from_utf8(b)
                    .ok()
                    .filter(|t| {
                        !t.is_empty()
                            && t.bytes()
                                .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b'.'))
                    })
                    .ok_or_else(|| bad(column, format!("{dt} value {b:?} is not a number")))?;
                // mysql_common reads YEAR's stored 0 (the year 0000) as 1900 + 0.
                if dt == "year" && text == "1900" {
                    "0".to_owned()
                } else {
                    text.to_owned()
                }
            }
            _ if dt == "timestamp" => timestamp_text(column, b)?,
            // Fixed-length binary types reach the binlog without their trailing zero
            // bytes: UUID and INET refuse short values, and a short BINARY(n) value
            // would compare unequal to the stored (padded) one in a key's WHERE.
            _ => hex(&stored_bytes(column, b)),
        },
        Value::Date(y, mo, d, h, mi, s, us) => {
            if dt == "date" {
                format!("'{y:04}-{mo:02}-{d:02}'")
            } else {
                format!("'{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}'")
            }
        }
        Value::Time(neg, days, h, mi, s, us) => {
            let (neg, hours, mi, s, us) = repair_time(column, *neg, *days, *h, *mi, *s, *us);
            let sign = if neg { "-" } else { "" };
            format!("'{sign}{hours:02}:{mi:02}:{s:02}.{us:06}'")
        }
    })
}

/// A predicate true exactly for the rows whose `column` holds `value` as stored, for
/// matching a row of a table without a key by its whole image: bytes compare as bytes
/// (a case-insensitive or PAD SPACE collation would let `'a'` match `'A '`), NULL only
/// NULL, and every other type through its exact literal ([`literal`]).
///
/// # Errors
/// As [`literal`].
pub(crate) fn matches_stored(
    column: &Column,
    value: Option<&BinlogValue<'_>>,
) -> Result<String, ValueError> {
    let name = crate::catalog::schema::ident(&column.name);
    let bytes = match value {
        Some(BinlogValue::Value(Value::NULL)) => return Ok(format!("{name} IS NULL")),
        Some(BinlogValue::Value(Value::Bytes(b)))
            if matches!(column.kind(), ValueKind::Text | ValueKind::Bytes) =>
        {
            b
        }
        other => return Ok(format!("{name} <=> {}", literal(column, other, true)?)),
    };
    Ok(format!(
        "CAST({name} AS BINARY) = {}",
        hex(&stored_bytes(column, bytes))
    ))
}

/// Values of at least this many bytes travel as bound parameters, not as hex.
pub(crate) const BIND_FROM: usize = 64 * 1024;

/// A statement built of literals, its large hex literals (of at least [`BIND_FROM`]
/// bytes) taken out as bound parameters: the value travels as its bytes instead of
/// twice as many hex digits, so that any value the source's packet limit let in fits
/// a target with the same limit. `X'..'` becomes `?`, `_cs X'..'` `CONVERT(? USING
/// cs)` (a binary parameter relabelled, its bytes unchanged). Backquoted names are
/// left alone. The parameters come in the order of their placeholders.
pub(crate) fn bind_large_literals(sql: &str) -> (String, Vec<Vec<u8>>) {
    if sql.len() < BIND_FROM * 2 {
        return (sql.to_owned(), Vec::new());
    }
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() / 2);
    let mut binds = Vec::new();
    // `copied`: where the text not yet written to `out` starts.
    let (mut at, mut copied) = (0, 0);
    while at < bytes.len() {
        match bytes[at] {
            b'`' => {
                at += 1;
                while at < bytes.len() {
                    if bytes[at] == b'`' {
                        if bytes.get(at + 1) == Some(&b'`') {
                            at += 2;
                            continue;
                        }
                        break;
                    }
                    at += 1;
                }
                at += 1;
            }
            b'X' if bytes.get(at + 1) == Some(&b'\'')
                && (at == 0
                    || !(bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_')) =>
            {
                let digits = at + 2;
                let end = digits
                    + bytes[digits..]
                        .iter()
                        .take_while(|b| b.is_ascii_hexdigit())
                        .count();
                if bytes.get(end) != Some(&b'\'') || (end - digits) % 2 != 0 {
                    at = end;
                    continue;
                }
                if (end - digits) / 2 < BIND_FROM {
                    at = end + 1;
                    continue;
                }
                let value: Vec<u8> = bytes[digits..end]
                    .chunks(2)
                    .map(|pair| {
                        let digit = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                        digit(pair[0]) << 4 | digit(pair[1])
                    })
                    .collect();
                // An introducer right before: `_charset `.
                let head = &sql[copied..at];
                let introducer = head
                    .strip_suffix(' ')
                    .and_then(|h| h.rfind('_').map(|u| (u, &h[u + 1..])))
                    .filter(|(u, cs)| {
                        !cs.is_empty()
                            && cs.bytes().all(|c| c.is_ascii_alphanumeric())
                            && (*u == 0 || !head.as_bytes()[u - 1].is_ascii_alphanumeric())
                    });
                match introducer {
                    Some((u, charset)) => {
                        out.push_str(&head[..u]);
                        out.push_str(&format!("CONVERT(? USING {charset})"));
                    }
                    None => {
                        out.push_str(head);
                        out.push('?');
                    }
                }
                binds.push(value);
                at = end + 1;
                copied = at;
            }
            _ => at += 1,
        }
    }
    out.push_str(&sql[copied..]);
    (out, binds)
}

/// The bytes a fixed-length binary column stores for a binlog value: BINARY(n), UUID
/// and INET values come without their trailing zero bytes, which the column pads back.
fn stored_bytes<'a>(column: &Column, value: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
    let width = match column.data_type.as_str() {
        "uuid" | "inet6" => 16,
        "inet4" => 4,
        "binary" => column
            .column_type
            .trim_start_matches("binary(")
            .trim_end_matches(')')
            .parse::<usize>()
            .unwrap_or(0),
        _ => 0,
    };
    if value.len() < width {
        let mut padded = value.to_vec();
        padded.resize(width, 0);
        std::borrow::Cow::Owned(padded)
    } else {
        std::borrow::Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_doubles_are_written_as_mysql_prints_them() {
        for (f, mysql) in [
            (2.5, "2.5"),
            (2.0, "2.0"),
            (-0.1, "-0.1"),
            (1e-6, "0.000001"),
            (1.5e-20, "1.5e-20"),
            (123_456_789_012_345.0, "123456789012345.0"),
            (1e15, "1e15"),
            (1.5e15, "1.5e15"),
            (1e300, "1e300"),
            (-2.2250738585072014e-308, "-2.2250738585072014e-308"),
        ] {
            assert_eq!(mysql_json_double(f), mysql, "{f:e}");
        }
    }

    #[test]
    fn json_is_written_as_mysql_prints_it() {
        use mysql_async::binlog::jsonb::{JsonContainer, JsonDom, JsonNumber, JsonScalar};
        let scalar = |s| JsonDom::Scalar(s);
        let object = JsonDom::Container(JsonContainer::Object(
            [
                (
                    "list".to_owned(),
                    JsonDom::Container(JsonContainer::Array(vec![
                        scalar(JsonScalar::Number(JsonNumber::Int(-1))),
                        scalar(JsonScalar::Number(JsonNumber::Double(2.5))),
                        scalar(JsonScalar::Null),
                        scalar(JsonScalar::Boolean(true)),
                    ])),
                ),
                (
                    "ab".to_owned(),
                    scalar(JsonScalar::String("é\"\n".to_owned())),
                ),
                (
                    "b".to_owned(),
                    scalar(JsonScalar::Number(JsonNumber::Double(1e300))),
                ),
            ]
            .into_iter()
            .collect(),
        ));
        let mut text = String::new();
        mysql_json_text(&object, &mut text).expect("no opaque scalar");
        assert_eq!(
            text,
            r#"{"b": 1e300, "ab": "é\"\n", "list": [-1, 2.5, null, true]}"#
        );
    }

    #[test]
    fn large_hex_literals_become_parameters_in_order() {
        let big = vec![0xABu8; BIND_FROM];
        let big2 = vec![0x01u8; BIND_FROM + 1];
        let sql = format!(
            "INSERT INTO `t X'00'` (`a`, `b`, `c`) VALUES (X'00', _utf8mb4 {}, {}) -- x_y {}",
            hex(&big),
            hex(&big2),
            hex(&big)
        );
        let (text, binds) = bind_large_literals(&sql);
        assert_eq!(
            text,
            "INSERT INTO `t X'00'` (`a`, `b`, `c`) VALUES (X'00', CONVERT(? USING utf8mb4), ?) -- x_y ?"
        );
        assert_eq!(binds, vec![big.clone(), big2, big]);
        let small = format!("UPDATE t SET a = {}", hex(&[1, 2]));
        assert_eq!(bind_large_literals(&small), (small.clone(), Vec::new()));
        let cut = format!("X'{}", "A".repeat(BIND_FROM * 2 + 1));
        assert_eq!(bind_large_literals(&cut).1.len(), 0);
    }

    fn lit(column: &Column, v: Value) -> String {
        literal(column, Some(&BinlogValue::Value(v)), false).expect("literal")
    }

    #[test]
    fn unsigned_integers_come_back_from_their_signed_reading() {
        let mut c = Column::new("n", "int");
        c.column_type = "int(10) unsigned".into();
        assert_eq!(lit(&c, Value::Int(-294_967_296)), "4000000000");
        let mut c = Column::new("n", "bigint");
        c.column_type = "bigint(20) unsigned".into();
        assert_eq!(lit(&c, Value::Int(-1)), u64::MAX.to_string());
        let mut c = Column::new("n", "mediumint");
        c.column_type = "mediumint(8) unsigned".into();
        assert_eq!(lit(&c, Value::Int(-1)), "16777215");
        let c = Column::new("n", "int");
        assert_eq!(lit(&c, Value::Int(-5)), "-5");
        let c = Column::new("n", "mediumint");
        assert_eq!(lit(&c, Value::Int(16_777_215)), "-1");
        assert_eq!(lit(&c, Value::Int(8_388_607)), "8388607");
    }

    #[test]
    fn timestamps_are_utc_text() {
        let c = Column::new("t", "timestamp");
        assert_eq!(
            lit(&c, Value::Bytes(b"1700000000.000123".to_vec())),
            "'2023-11-14 22:13:20.000123'"
        );
        assert_eq!(
            lit(&c, Value::Bytes(b"0".to_vec())),
            "'0000-00-00 00:00:00'"
        );
        assert_eq!(
            lit(&c, Value::Bytes(b"1".to_vec())),
            "'1970-01-01 00:00:01.000000'"
        );
    }

    #[test]
    fn bits_sets_years_and_floats() {
        assert_eq!(
            lit(&Column::new("b", "bit"), Value::Bytes(vec![1, 2])),
            "258"
        );
        assert_eq!(
            lit(&Column::new("s", "set"), Value::Bytes(vec![1, 2])),
            "513"
        );
        assert_eq!(
            lit(&Column::new("y", "year"), Value::Bytes(b"1900".to_vec())),
            "0"
        );
        assert_eq!(
            lit(&Column::new("y", "year"), Value::Bytes(b"2024".to_vec())),
            "2024"
        );
        let f = lit(&Column::new("f", "float"), Value::Float(0.1));
        assert_eq!(f.parse::<f64>().expect("float") as f32, 0.1f32);
        assert_eq!(lit(&Column::new("d", "double"), Value::Double(0.1)), "1e-1");
        assert!(literal(&Column::new("n", "int"), None, false).is_err());
    }

    #[test]
    fn negative_short_times_are_repaired() {
        // What mysql_common (release build) reads for TIME(2) '-838:59:59.99': the true
        // packed value plus 2^32 * 10,000.
        let true_packed: i64 = -((((838i64 << 12) | (59 << 6) | 59) << 24) + 990_000);
        let wrapped = true_packed + (1i64 << 32) * 10_000;
        let (neg, tmp) = (wrapped < 0, wrapped.unsigned_abs());
        let hms = tmp >> 24;
        let hours = (hms >> 12) as u32;
        let mut c = Column::new("t", "time");
        c.column_type = "time(2)".into();
        let read = Value::Time(
            neg,
            hours / 24,
            (hours % 24) as u8,
            ((hms >> 6) % 64) as u8,
            (hms % 64) as u8,
            (tmp % (1 << 24)) as u32,
        );
        assert_eq!(lit(&c, read), "'-838:59:59.990000'");
        // True values are left alone.
        assert_eq!(
            lit(&c, Value::Time(false, 0, 1, 2, 3, 500_000)),
            "'01:02:03.500000'"
        );
        assert_eq!(
            lit(&c, Value::Time(true, 0, 1, 2, 3, 0)),
            "'-01:02:03.000000'"
        );
    }

    #[test]
    fn text_keeps_its_character_set() {
        let c = Column::new("s", "varchar");
        assert_eq!(lit(&c, Value::Bytes(b"a".to_vec())), "_utf8mb4 X'61'");
        assert_eq!(
            literal(
                &c,
                Some(&BinlogValue::Value(Value::Bytes(b"a".to_vec()))),
                true
            )
            .expect("literal"),
            "_utf8mb4 X'61' COLLATE utf8mb4_general_ci"
        );
        assert_eq!(
            lit(&Column::new("t", "time"), Value::Time(true, 1, 2, 3, 4, 5)),
            "'-26:03:04.000005'"
        );
    }
}
