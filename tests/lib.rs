//! Shared helpers for the workspace integration tests. The private servers
//! ([`MariaDb`], [`Postgres`], [`MySql`]) and the [`FaultProxy`] are the published crate
//! `unit-testkit`, for tests of adapters outside this workspace too.
//!
//! [`online`] is the harness of the online-migration tests: two private servers, a
//! source with binary logging and a target, and the units that copy and replicate
//! between them. Helper modules live under `harness/`; the other `*.rs` files here,
//! and `sync/` (one binary, `main.rs` and its modules), are the test binaries that
//! `Cargo.toml` lists.

#[path = "harness/online.rs"]
pub mod online;

#[path = "harness/memory.rs"]
pub mod memory;

#[path = "harness/releases.rs"]
pub mod releases;

pub use unit_testkit::{FaultProxy, MariaDb, MySql, Postgres};
