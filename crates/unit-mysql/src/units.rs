//! The units layer: `CheckUnit` (check), `CopyUnit` (copy), `SyncUnit` (sync, feature
//! `sync`), each a module tree of its own, built on the catalog and the adapter; the
//! copy's `Observer`; `connect`, how a unit opens its pools and explains a lost
//! server; and `inspect`, a task's state read without a unit.

pub(crate) mod check;
pub(crate) mod connect;
pub(crate) mod copy;
pub mod inspect;
pub(crate) mod object_migration;
pub(crate) mod observer;
#[cfg(feature = "sync")]
pub(crate) mod sync;
pub(crate) mod sync_state;
pub(crate) mod task;
pub(crate) mod verify;
