//! Events of the MySQL-backed units as they happen, for metrics: an [`Observer`] set
//! in [`TaskConfig::observer`](crate::units::task::TaskConfig::observer) hears them from every unit
//! built from the configuration, also from the new units a resume builds.

use std::fmt::Debug;
use std::time::Duration;

/// Receives the units' events. Every method has an empty default, so an observer
/// implements only what it counts.
///
/// # Contract
/// Methods are called on the units' own tasks, in the middle of their work: they must
/// return at once (count, observe a histogram) and never block or panic.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicI64, Ordering};
/// use unit_mysql::Observer;
///
/// #[derive(Debug, Default)]
/// struct Rows(AtomicI64);
///
/// impl Observer for Rows {
///     fn chunk_committed(&self, _database: &str, _table: &str, rows: i64, _bytes: i64) {
///         self.0.fetch_add(rows, Ordering::Relaxed);
///     }
/// }
///
/// let rows = Arc::new(Rows::default());
/// // config.observer = Some(rows.clone());
/// # let _ = rows;
/// ```
pub trait Observer: Send + Sync + Debug {
    /// The copy committed a chunk of `database.table` (`rows` rows, `bytes` value
    /// bytes) together with its checkpoint.
    fn chunk_committed(&self, database: &str, table: &str, rows: i64, bytes: i64) {
        let _ = (database, table, rows, bytes);
    }

    /// The Sync unit read the end of a source transaction and handed its changes of the
    /// selected tables to the target connections (DM counts a finished transaction
    /// here).
    fn transaction_finished(&self) {
        let _ = ();
    }

    /// A target transaction of the Sync unit committed `changes` row changes,
    /// `elapsed` after it began.
    fn batch_committed(&self, elapsed: Duration, changes: i64) {
        let _ = (elapsed, changes);
    }

    /// The Sync unit committed the task's checkpoint on the target.
    fn checkpoint_committed(&self) {}
}
