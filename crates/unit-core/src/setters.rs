//! [`with_setters!`](crate::with_setters): builder methods for a configuration whose
//! fields are public, so that a `#[non_exhaustive]` config (which users cannot build
//! with a struct literal) still reads as one expression.

/// Generates `$setter(self, value) -> Self` for each `$setter => $field: $type` listed,
/// each documented as setting that field.
///
/// ```
/// #[derive(Debug, Default)]
/// #[non_exhaustive]
/// pub struct Settings {
///     /// Rows per chunk.
///     pub chunk_rows: usize,
///     /// The task's name.
///     pub task: String,
/// }
///
/// impl Settings {
///     unit_core::with_setters! {
///         with_chunk_rows => chunk_rows: usize,
///         with_task => task: String,
///     }
/// }
///
/// let s = Settings::default().with_chunk_rows(500).with_task("nightly".to_owned());
/// assert_eq!((s.chunk_rows, s.task.as_str()), (500, "nightly"));
/// ```
#[macro_export]
macro_rules! with_setters {
    ($($setter:ident => $field:ident: $ty:ty),* $(,)?) => {
        $(
            #[doc = concat!("The same settings with [`", stringify!($field), "`](Self::", stringify!($field), ") set to `value`.")]
            #[must_use]
            pub fn $setter(mut self, value: $ty) -> Self {
                self.$field = value;
                self
            }
        )*
    };
}
