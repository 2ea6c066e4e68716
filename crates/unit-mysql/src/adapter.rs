//! The adapter layer, the one the design card names: sqlx's (and mysql_async's)
//! errors mapped by server error number into DM's database-resumability rules, their
//! `ProcessError`s, statements run under a cancellation token, and URLs with their TLS
//! settings. It knows no schema and no unit (a tidy test holds that no module here
//! names the catalog or the units).

pub(crate) mod cancel;
pub(crate) mod classify;
#[cfg(feature = "local-infile")]
pub(crate) mod client;
pub mod codes;
pub(crate) mod dsn;
pub(crate) mod pool;
pub(crate) mod process_error;
