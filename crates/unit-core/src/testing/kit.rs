//! The unit test kit: checks that a *user's* unit keeps the clauses of the contract a
//! supervisor relies on, against whatever the unit really talks to.
//!
//! - [`Kit::cancel_is_prompt`]: once its token fires, `process` returns promptly,
//!   reporting at most a [`Canceled`](crate::Canceled) error for the work it
//!   abandoned;
//! - [`Kit::resumes_after_kills`]: instance after instance is killed mid-`process`
//!   (its future dropped, as a supervisor's kill or a crash does), then a fresh
//!   instance finishes the work from the checkpoints, and the caller's `verify` proves
//!   that nothing was lost or repeated.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use unit_core::prelude::*;
//! use unit_core::testing::Kit;
//!
//! /// Counts to 20, one step every 5 ms, keeping its count as a checkpoint would.
//! struct Counter(Arc<AtomicU32>);
//!
//! #[async_trait]
//! impl Unit for Counter {
//!     type Config = ();
//!     async fn init(&mut self, _: CancellationToken) -> Result<(), BoxError> { Ok(()) }
//!     async fn process(&mut self, cancel: CancellationToken) -> pb::ProcessResult {
//!         while self.0.load(Ordering::SeqCst) < 20 {
//!             tokio::select! {
//!                 () = cancel.cancelled() => return result::cancelled(),
//!                 () = tokio::time::sleep(std::time::Duration::from_millis(5)) => {}
//!             }
//!             self.0.fetch_add(1, Ordering::SeqCst); // the step and its checkpoint, at once
//!         }
//!         result::finished()
//!     }
//!     async fn close(&mut self) {}
//!     async fn update(&mut self, _: CancellationToken, _: &()) -> Result<(), BoxError> { Ok(()) }
//!     fn status_handle(&self) -> StatusHandle { Arc::new(|_: Option<&SourceStatus>| UnitStatus::None) }
//!     fn unit_type(&self) -> pb::UnitType { pb::UnitType::Load }
//!     async fn is_fresh_task(&mut self, _: CancellationToken) -> Result<bool, BoxError> {
//!         Ok(self.0.load(Ordering::SeqCst) == 0)
//!     }
//! }
//!
//! let kit = Kit::default();
//! let count = Arc::new(AtomicU32::new(0));
//! kit.cancel_is_prompt(Counter(Arc::new(AtomicU32::new(0))), kit.kills[0]).await.unwrap();
//! let report = kit
//!     .resumes_after_kills(
//!         || Counter(count.clone()),
//!         || async { if count.load(Ordering::SeqCst) == 20 { Ok(()) } else { Err("lost steps".into()) } },
//!     )
//!     .await
//!     .unwrap();
//! assert!(report.kills > 0);
//! # }
//! ```

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use unit_proto::pb;

use crate::process_error::is_ctx_canceled_process_err;
use crate::unit::Unit;

/// The kit's settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Kit {
    /// How soon `process` must return once its token fires.
    pub cancel_within: Duration,
    /// How long each killed instance runs before its kill, in order; a kill that comes
    /// after the work finished ends the series.
    pub kills: Vec<Duration>,
    /// How long the last instance may take to finish the work.
    pub finish_within: Duration,
}

impl Default for Kit {
    /// Cancels within 5 s; kills after 30 ms, 120 ms, 300 ms and 700 ms; finishes
    /// within 300 s.
    fn default() -> Self {
        Self {
            cancel_within: Duration::from_secs(5),
            kills: [30, 120, 300, 700].map(Duration::from_millis).to_vec(),
            finish_within: Duration::from_secs(300),
        }
    }
}

/// What [`Kit::resumes_after_kills`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct KitReport {
    /// Instances killed mid-`process`.
    pub kills: usize,
}

impl Kit {
    /// Initialises `unit`, runs `process`, cancels its token after `after`, and checks
    /// that it returns within [`cancel_within`](Self::cancel_within) with only
    /// cancellations among its errors (or finished, when the work was done first).
    /// Closes the unit. Its result is returned.
    ///
    /// # Errors
    /// What the unit did wrong, in words.
    pub async fn cancel_is_prompt<U: Unit>(
        &self,
        mut unit: U,
        after: Duration,
    ) -> Result<pb::ProcessResult, String> {
        self.init(&mut unit).await?;
        let cancel = CancellationToken::new();
        let canceller = {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(after).await;
                cancel.cancel();
            })
        };
        let result =
            tokio::time::timeout(after + self.cancel_within, unit.process(cancel.clone())).await;
        canceller.abort();
        let result = result.map_err(|_| {
            format!(
                "process did not return within {:?} of its token firing",
                self.cancel_within
            )
        })?;
        unit.close().await;
        let others: Vec<_> = result
            .errors
            .iter()
            .filter(|e| !is_ctx_canceled_process_err(e))
            .collect();
        if cancel.is_cancelled() && !others.is_empty() {
            return Err(format!(
                "cancelled, process reported errors other than a cancellation: {others:?}"
            ));
        }
        if !cancel.is_cancelled() && !result.errors.is_empty() {
            return Err(format!("process failed: {:?}", result.errors));
        }
        Ok(result)
    }

    /// Kills fresh instances from `make` mid-`process` after each of
    /// [`kills`](Self::kills) (the token fires and the future is dropped without
    /// waiting, then `kill` is called), runs a last instance to the end, and then
    /// asks `verify` whether the work is exact: nothing lost, nothing repeated.
    ///
    /// # Errors
    /// A failed `init` or `process`, an instance that does not finish in time, or what
    /// `verify` found.
    pub async fn resumes_after_kills<U, F, V, Fut>(
        &self,
        mut make: F,
        mut verify: V,
    ) -> Result<KitReport, String>
    where
        U: Unit,
        F: FnMut() -> U,
        V: FnMut() -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let mut report = KitReport { kills: 0 };
        let mut finished = false;
        for &delay in &self.kills {
            let mut unit = make();
            self.init(&mut unit).await?;
            let cancel = CancellationToken::new();
            match tokio::time::timeout(delay, unit.process(cancel.clone())).await {
                Ok(result) => {
                    if !result.errors.is_empty() {
                        return Err(format!("process failed: {:?}", result.errors));
                    }
                    unit.close().await;
                    finished = true;
                    break;
                }
                Err(_) => {
                    // The process future is gone: a kill, or a crash of the process.
                    cancel.cancel();
                    unit.kill().await;
                    report.kills += 1;
                }
            }
        }
        if !finished {
            let mut unit = make();
            self.init(&mut unit).await?;
            let result =
                tokio::time::timeout(self.finish_within, unit.process(CancellationToken::new()))
                    .await
                    .map_err(|_| {
                        format!(
                            "the last instance did not finish within {:?}",
                            self.finish_within
                        )
                    })?;
            unit.close().await;
            if !result.errors.is_empty() {
                return Err(format!("the last instance failed: {:?}", result.errors));
            }
        }
        verify().await?;
        Ok(report)
    }

    async fn init<U: Unit>(&self, unit: &mut U) -> Result<(), String> {
        let cancel = CancellationToken::new();
        match tokio::time::timeout(crate::DEFAULT_INIT_TIMEOUT, unit.init(cancel)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("init failed: {e}")),
            Err(_) => Err(format!(
                "init took more than {:?}",
                crate::DEFAULT_INIT_TIMEOUT
            )),
        }
    }
}
