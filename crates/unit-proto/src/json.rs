//! Reading DM's JSON (feature `serde`).
//!
//! The [`pb`](crate::pb) types implement serde following the proto3 JSON mapping, as
//! DM's `jsonpb` (with `EmitDefaults`) does: DM's field names, enums by name, 64-bit
//! integers as strings, bytes as base64, fields at their default value written out.
//! Reading ignores fields this workspace does not know, so the output of a newer DM
//! still reads (an unknown enum name is still an error).
//!
//! Two differences remain, both harmless to a proto3 JSON reader:
//! - DM writes an unset message field as `null` (`"result": null`); the serializer
//!   here leaves it out.
//! - DM writes `null` for empty bytes and lists, which the generated deserializers
//!   reject for scalar and list fields. [`from_value`] and [`from_str`] accept them:
//!   proto3 JSON defines `null` as the field's default value, so they drop `null`
//!   members before deserializing.
//!
//! ```
//! use unit_proto::{json, pb};
//!
//! let result: pb::ProcessResult =
//!     json::from_str(r#"{"isCanceled": false, "errors": null, "detail": null}"#)?;
//! assert_eq!(result, pb::ProcessResult::default());
//! # Ok::<(), serde_json::Error>(())
//! ```

use serde::de::DeserializeOwned;
use serde_json::Value;

/// Deserializes a message from a JSON value, treating `null` members as defaults.
///
/// # Errors
/// When the value does not have the message's shape (unknown enum name, a string where
/// a number belongs, a duplicated field, ...).
pub fn from_value<T: DeserializeOwned>(mut value: Value) -> Result<T, serde_json::Error> {
    drop_nulls(&mut value);
    serde_json::from_value(value)
}

/// Deserializes a message from JSON text, treating `null` members as defaults.
///
/// # Errors
/// Invalid JSON (with line and column), or JSON that does not have the message's shape.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, serde_json::Error> {
    from_value(serde_json::from_str(text)?)
}

fn drop_nulls(value: &mut Value) {
    // Iterative, so that deeply nested input cannot overflow the stack.
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                map.retain(|_, member| !member.is_null());
                stack.extend(map.values_mut());
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}
