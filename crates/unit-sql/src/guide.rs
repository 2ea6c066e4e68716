//! # Writing an adapter
//!
//! An adapter brings a database into the workspace: it says which of the database's
//! errors a retry can fix, and it provides units that move data while keeping the
//! lifecycle contract. This guide walks through `examples/pg_table_copy.rs` (about 250
//! lines, run by the tests), a unit that copies one PostgreSQL table, and
//! `examples/sqlite_to_pg.rs` (under 300 lines, with an SQLite error classifier of its
//! own), and then names what a full adapter (`unit-postgres`, `unit-mysql`) adds.
//!
//! ## 1. The layers, and which crates to depend on
//!
//! ```text
//! unit-proto  <-  unit-core  <-  unit-sql  <-  your adapter  <-  your tool
//! (pb types)      (Unit, supervisor,   (cancellation, operations,
//!                  verdicts, codes)     checkpoint store)
//! ```
//!
//! `use unit_core::prelude::*;` brings in the trait, `async_trait`,
//! `CancellationToken`, `pb`, `Stage`, the supervisor and auto-resume, so an adapter
//! needs no matching versions of those crates. Add `unit-sql` with the feature of
//! your database (`mysql`, `postgres`) and `sqlx` with its driver.
//!
//! ## 2. The unit
//!
//! Implement [`Unit`](unit_core::Unit): `init` opens connections and creates the
//! checkpoint table ([`CheckpointStore::create`](crate::CheckpointStore::create));
//! `process` does the work; `close` releases it; `status_handle` returns a cheap
//! closure over shared counters; `is_fresh_task` asks the store. `pause`, `resume` and
//! `kill` have defaults (nothing, `process`, `close`) that are right for a unit that
//! keeps its progress in checkpoints. A failed `init` returns its report wrapped in
//! [`ProcessFailure`](unit_core::ProcessFailure), so that the supervisor keeps its code.
//!
//! `process` ends in one of three ways, each with its constructor in
//! [`unit_core::result`]: `finished()`, `cancelled()` (the token fired; at most a
//! cancellation error), or `failed([...])` with classified reports.
//!
//! ## 3. Every statement under the token
//!
//! Wrap each database future in [`cancellable`](crate::cancellable): it returns
//! [`Interrupted::Canceled`](crate::Interrupted::Canceled) as soon as the token fires,
//! so `process` returns promptly on a pause or a stop. An abandoned transaction is never
//! committed; the connection it used is dropped.
//!
//! ## 4. Chunk and checkpoint in one transaction
//!
//! This is the whole of "nothing lost, nothing repeated":
//!
//! ```text
//! plan   = store.plan(conn, schema, table, spans)      // recorded before the first chunk
//! loop:
//!     rows = read the chunk after plan.last_key
//!     tx   = target.begin()
//!     write rows with tx
//!     store.commit_chunk(tx, Chunk::new(schema, table, part).after(key).counts(n, bytes))
//!     tx.commit()                                      // both or neither
//! ```
//!
//! After a pause, a killed process or a killed server, the next `process` (of this
//! instance or a fresh one) reads the checkpoint and continues after the last committed
//! chunk. Keep the key's text exact (the example writes the integer; `unit-postgres`
//! hex-encodes each key value).
//!
//! ## 5. Classify every error
//!
//! A failure becomes a [`pb::ProcessError`](unit_core::prelude::pb::ProcessError) with
//! a catalogue code and a raw cause, and the policy decides from it alone. The kit:
//!
//! - Keep a failed statement as a [`Failure`](crate::Failure):
//!   `cancellable(&cancel, fut).await.map_err(Failure::on(ErrScope::Upstream,
//!   Operation::Query(&sql)))?` keeps the side and the [`Operation`](crate::Operation)
//!   (owned, [`OwnedOperation`](crate::OwnedOperation)) with the driver's error, and
//!   `failure.report(process_error)` reports it once, a cancellation as DM's
//!   `context canceled`.
//! - For a database with an adapter, `process_error` is the adapter's
//!   (`unit_postgres::process_error`, `unit_mysql::process_error`).
//! - For another database, write a [`RuleTable`](crate::RuleTable) of its error codes
//!   (each a [`CodeRule`](crate::CodeRule): resumable or permanent, and why), judge
//!   each error with [`judge_sqlx`](crate::judge_sqlx) (any sqlx driver: you say which
//!   codes a server error has, most specific first) and report it with
//!   [`process_error`](crate::process_error). `examples/sqlite_to_pg.rs` does this for
//!   SQLite in 25 lines.
//!
//! The verdict reaches the policy through the catalogue code
//! ([`error_code`](crate::error_code)): a lost connection is 10002 (nothing sent) or
//! 10003 (the statement may have been applied: a `COMMIT` whose connection died, the
//! checkpoint tells), both resumable; an error no retry fixes is 60011
//! ([`ErrorCode::DB_PERMANENT`](unit_core::ErrorCode::DB_PERMANENT)), which the default
//! policy never resumes, so auto-resume leaves it for a person instead of retrying for
//! ever; anything else keeps a code DM resumes. A bad setting is 60012
//! (`INVALID_CONFIG`). Document your table (`RuleTable::markdown_rows` keeps the docs
//! and the rules in step, as `unit-postgres`'s test does).
//!
//! ## 6. Run it
//!
//! [`Supervised`](unit_core::Supervised) runs the units as a
//! [`Subtask`](unit_core::Subtask) (in order, keeping the contract) under
//! [`AutoResume`](unit_core::AutoResume), which resumes what a retry fixes with
//! back-off, and returns how the run ended: [`Ending`](unit_core::Ending)`::Finished`,
//! `NeedsPerson` (an error no retry fixes, or stopped), `GaveUp` (auto-resume stopped:
//! the same error came back with nothing done in between, or the servers stayed down),
//! or `Interrupted` (a future you gave, such as a signal). Both examples' `run` are a
//! dozen lines; `unitctl` uses the same loop.
//!
//! - **Report progress as a number.** Auto-resume's no-progress check reads
//!   `finished_bytes` of the status your unit reports (its `LoadStatus`): a unit that
//!   reports progress only as text looks stuck, and after 5 resumable errors in a row
//!   (deadlocks, lock waits) auto-resume gives up on it while its rows still move. Count
//!   what the checkpoints hold (rows or bytes committed), never what was only read.
//! - **Every way a run ends is handled** by `Supervised`. A loop of your own must
//!   handle them too: the watches `AutoResume::needs_person` and `AutoResume::state`
//!   close when `AutoResume::run` returns (the subtask finished, or auto-resume gave
//!   up), and a subtask paused by a resumable error after auto-resume gave up is never
//!   resumed: waiting for it to finish waits for ever.
//!
//! ## 7. Test it against the real database
//!
//! - `unit_core::testing::Kit` (unit-core's feature `testing`) checks your unit:
//!   `cancel_is_prompt` and `resumes_after_kills` (instances killed mid-`process`, a
//!   fresh one finishes, and your `verify` proves the data exact). The SQLite example's
//!   test (`tests/example_adapter.rs`) runs both.
//! - Compare source and target independently of your code (`pg_dump --data-only`,
//!   `mariadb-dump --hex-blob`), and count the checkpoints' rows: equal to the source's
//!   means no chunk was written twice.
//! - Start the server in the test: the crate `unit-testkit` starts private MariaDB,
//!   MySQL and PostgreSQL servers (`MariaDb::start`, `MySql::start`, `Postgres::start`,
//!   each on its own port and directory, killed with the test process) and a
//!   `FaultProxy` that cuts connections. Add it as a dev-dependency; tests that kill a
//!   server must own it.
//! - Make a kill test really kill: end the session while it holds a transaction
//!   (`pg_terminate_backend` of a backend that is `idle in transaction` or running a
//!   statement, MySQL's `KILL` of a connection mid-chunk). A pool silently replaces an
//!   idle connection that was killed, so killing idle sessions proves nothing; check
//!   that the test saw at least one failure it had to resume from.
//!
//! ## What a full adapter adds
//!
//! `unit-postgres`'s `PgCopyUnit` adds table discovery, creating target tables, several
//! key columns, one snapshot per chunk (`REPEATABLE READ`), and a verification of each
//! table by row count and a hash computed by both servers. `unit-mysql` adds the
//! catalog of a MySQL schema, an online mode replaying the binlog, and bulk loading.
