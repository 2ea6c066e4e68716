//! Explaining a DM `query-status` document (feature `json`): every process error in
//! a JSON document (DM's `query-status` output, a `SubTaskStatus`, a list of errors,
//! ...) found and classified, with DM's verdict and, where it differs, the
//! recommended policy's. `unitctl explain` prints this.
//!
//! ```
//! use unit_core::query_status::explain_query_status;
//!
//! let doc = br#"{"result": {"errors": [{"ErrCode": 10006, "RawCause": "Error 1062 (23000): Duplicate entry"}]}}"#;
//! let report = explain_query_status(doc).unwrap();
//! assert_eq!(report.items[0].path, "$.result.errors[0]");
//! assert!(!report.all_resumable());
//! ```

use std::fmt::{self, Write as _};

use crate::{ErrorCode, Policy, Recommended, Rule, Verdict, explain_error, explain_relay_error};
use serde_json::{Value, json};
use unit_proto::pb;

/// Which classifier judged an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classifier {
    /// `is_resumable_error`: errors of subtasks and of units in general.
    Task,
    /// `is_resumable_relay_error`: errors under a `relayStatus`, as DM's checker does.
    Relay,
}

impl Classifier {
    fn as_str(self) -> &'static str {
        match self {
            Self::Task => "task",
            Self::Relay => "relay",
        }
    }
}

/// One error found in the input, with its verdict.
#[derive(Debug)]
pub struct ExplainedError {
    /// Where the error object stands, e.g. `$.sources[0].subTaskStatus[0].result.errors[0]`.
    pub path: String,
    /// The classifier that judged it (relay errors by the relay one).
    pub classifier: Classifier,
    /// The error as read.
    pub error: pb::ProcessError,
    /// DM's verdict (what DM's task checker does).
    pub verdict: Verdict,
    /// The recommended policy's verdict (what this workspace's auto-resume does), when
    /// it differs from DM's.
    pub recommended: Option<Verdict>,
}

/// Every error found in the input, in document order.
#[derive(Debug)]
pub struct QueryStatusReport {
    /// The errors with their verdicts.
    pub items: Vec<ExplainedError>,
}

/// Why the input could not be explained.
#[derive(Debug)]
pub enum QueryStatusError {
    /// Nothing but white space.
    Empty,
    /// Not JSON; serde_json's message names the line and column.
    Json(serde_json::Error),
    /// JSON, but a scalar rather than an object or array.
    NotADocument(&'static str),
    /// An object with an `ErrCode` member that is not a valid ProcessError.
    BadError {
        /// Where the object stands.
        path: String,
        /// Why it is not one.
        source: serde_json::Error,
    },
}

impl std::error::Error for QueryStatusError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Json(e) | Self::BadError { source: e, .. } => Some(e),
            Self::Empty | Self::NotADocument(_) => None,
        }
    }
}

impl fmt::Display for QueryStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("input is empty; expected a JSON object or array"),
            Self::Json(err) => write!(f, "invalid JSON: {err}"),
            Self::NotADocument(kind) => {
                write!(
                    f,
                    "expected a JSON object or array of process errors, found {kind}"
                )
            }
            Self::BadError { path, source } => {
                write!(
                    f,
                    "the error object at {path} is not a valid ProcessError: {source}"
                )
            }
        }
    }
}

/// Parses `bytes` as JSON and explains every process error in it.
///
/// # Errors
/// [`QueryStatusError`]: empty input, not JSON, not a document, or an `ErrCode` object
/// that is not a ProcessError.
pub fn explain_query_status(bytes: &[u8]) -> Result<QueryStatusReport, QueryStatusError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(QueryStatusError::Empty);
    }
    let value: Value = serde_json::from_slice(bytes).map_err(QueryStatusError::Json)?;
    explain_query_status_value(&value)
}

/// Explains every process error in a parsed document.
///
/// # Errors
/// As [`explain_query_status`], but for an input that is already parsed.
pub fn explain_query_status_value(value: &Value) -> Result<QueryStatusReport, QueryStatusError> {
    match value {
        Value::Object(_) | Value::Array(_) => {}
        Value::Null => return Err(QueryStatusError::NotADocument("null")),
        Value::Bool(_) => return Err(QueryStatusError::NotADocument("a boolean")),
        Value::Number(_) => return Err(QueryStatusError::NotADocument("a number")),
        Value::String(_) => return Err(QueryStatusError::NotADocument("a string")),
    }
    let mut items = Vec::new();
    let mut path = String::from("$");
    collect(value, &mut path, false, &mut items)?;
    Ok(QueryStatusReport { items })
}

/// Walks `value` depth-first; an object with an `ErrCode` member is a ProcessError.
fn collect(
    value: &Value,
    path: &mut String,
    in_relay: bool,
    out: &mut Vec<ExplainedError>,
) -> Result<(), QueryStatusError> {
    let len = path.len();
    match value {
        Value::Object(map) if map.contains_key("ErrCode") => {
            let error: pb::ProcessError =
                unit_proto::json::from_value(value.clone()).map_err(|source| {
                    QueryStatusError::BadError {
                        path: path.clone(),
                        source,
                    }
                })?;
            let (classifier, verdict, recommended) = if in_relay {
                (
                    Classifier::Relay,
                    explain_relay_error(&error),
                    Recommended.explain_relay(&error),
                )
            } else {
                (
                    Classifier::Task,
                    explain_error(&error),
                    Recommended.explain(&error),
                )
            };
            out.push(ExplainedError {
                path: path.clone(),
                classifier,
                error,
                verdict,
                recommended: (recommended != verdict).then_some(recommended),
            });
        }
        Value::Object(map) => {
            for (key, member) in map {
                push_key(path, key);
                collect(member, path, in_relay || key == "relayStatus", out)?;
                path.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let _ = write!(path, "[{i}]");
                collect(item, path, in_relay, out)?;
                path.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        let _ = write!(path, "[{}]", Value::String(key.to_owned()));
    }
}

fn rule_kind(rule: Rule) -> &'static str {
    match rule {
        Rule::Pattern { .. } => "pattern",
        Rule::UnresumableCode(_) => "unresumable-code",
        Rule::UnresumableRelayCode(_) => "unresumable-relay-code",
        Rule::LoadRuntimeWithoutTransientCause => "load-runtime-without-transient-cause",
        Rule::Canceled => "canceled",
        _ => "no-rule-matched",
    }
}

impl QueryStatusReport {
    /// True when every error found is resumable (vacuously true for none).
    pub fn all_resumable(&self) -> bool {
        self.items.iter().all(|i| i.verdict.is_resumable())
    }

    fn unresumable(&self) -> usize {
        self.items
            .iter()
            .filter(|i| !i.verdict.is_resumable())
            .count()
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for item in &self.items {
            let e = &item.error;
            let name = ErrorCode::from_code(e.err_code).map_or("", |c| c.name);
            let _ = writeln!(out, "{}", item.path);
            let _ = writeln!(
                out,
                "  code:      {} {name} (class {}, scope {}, level {})",
                e.err_code,
                or_dash(&e.err_class),
                or_dash(&e.err_scope),
                or_dash(&e.err_level)
            );
            let _ = writeln!(out, "  message:   {}", or_dash(&e.message));
            if !e.raw_cause.is_empty() {
                let _ = writeln!(out, "  raw cause: {}", e.raw_cause);
            }
            let yes_no = if item.verdict.is_resumable() {
                "yes"
            } else {
                "no"
            };
            let _ = writeln!(
                out,
                "  resumable: {yes_no} ({} classifier)",
                item.classifier.as_str()
            );
            let _ = writeln!(out, "  rule:      {}", item.verdict.rule());
            if let Some(r) = &item.recommended {
                let _ = writeln!(
                    out,
                    "  beyond DM: {} by the recommended policy (this workspace's auto-resume): {}",
                    if r.is_resumable() {
                        "resumable"
                    } else {
                        "not resumable"
                    },
                    r.rule()
                );
            }
            out.push('\n');
        }
        let n = self.items.len();
        let _ = match n {
            0 => writeln!(out, "no process errors found"),
            _ => writeln!(
                out,
                "{n} error{}: {} resumable, {} not resumable",
                if n == 1 { "" } else { "s" },
                n - self.unresumable(),
                self.unresumable()
            ),
        };
        out
    }

    /// The machine-readable report: one JSON document and a newline.
    pub fn to_json(&self) -> String {
        let errors: Vec<Value> = self
            .items
            .iter()
            .map(|item| {
                let e = &item.error;
                let rule = item.verdict.rule();
                let mut rule_json = json!({ "kind": rule_kind(rule), "reason": rule.to_string() });
                match rule {
                    Rule::Pattern { list, pattern } => {
                        rule_json["field"] = json!(list.field());
                        rule_json["list"] = json!(list.describe());
                        rule_json["pattern"] = json!(pattern);
                    }
                    Rule::UnresumableCode(code) | Rule::UnresumableRelayCode(code) => {
                        rule_json["code"] = json!(code.code);
                    }
                    _ => {}
                }
                json!({
                    "path": item.path,
                    "classifier": item.classifier.as_str(),
                    "ErrCode": e.err_code,
                    "name": ErrorCode::from_code(e.err_code).map(|c| c.name),
                    "ErrClass": e.err_class,
                    "ErrScope": e.err_scope,
                    "ErrLevel": e.err_level,
                    "Message": e.message,
                    "RawCause": e.raw_cause,
                    "resumable": item.verdict.is_resumable(),
                    "rule": rule_json,
                    "recommended": item.recommended.map(|r| json!({
                        "resumable": r.is_resumable(),
                        "reason": r.to_string(),
                        "beyondDM": true,
                    })),
                })
            })
            .collect();
        let doc = json!({
            "errors": errors,
            "total": self.items.len(),
            "unresumable": self.unresumable(),
            "allResumable": self.all_resumable(),
        });
        let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        text.push('\n');
        text
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

#[cfg(test)]
mod tests;
