//! Limits on how fast the copy writes ([`CopySettings::max_rows_per_second`](crate::units::task::CopySettings::max_rows_per_second),
//! [`CopySettings::max_bytes_per_second`](crate::units::task::CopySettings::max_bytes_per_second)) and the load guard
//! ([`CopySettings::max_source_threads_running`](crate::units::task::CopySettings::max_source_threads_running)), shared by every part copied at once.
//!
//! [`CopySettings::max_rows_per_second`](crate::units::task::CopySettings::max_rows_per_second): super::CopySettings::max_rows_per_second
//! [`CopySettings::max_bytes_per_second`](crate::units::task::CopySettings::max_bytes_per_second): super::CopySettings::max_bytes_per_second
//! [`CopySettings::max_source_threads_running`](crate::units::task::CopySettings::max_source_threads_running): super::CopySettings::max_source_threads_running

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::MySqlPool;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

/// One limit: units per second, and when the units reserved so far are paid for.
#[derive(Debug)]
struct Pace {
    per_second: u64,
    paid_until: Mutex<Option<Instant>>,
}

impl Pace {
    /// Reserves `n` units after those reserved before; when they are paid for.
    fn reserve(&self, n: u64, now: Instant) -> Instant {
        let mut paid = self
            .paid_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let start = paid.map_or(now, |p| p.max(now));
        let until = start + Duration::from_secs_f64(n as f64 / self.per_second as f64);
        *paid = Some(until);
        until
    }
}

/// The copy's write limits. A chunk waits until its rows and bytes are paid for at
/// the limits' rates before it is written, so by any instant `t` after the copy began
/// at most `t × limit` rows (bytes) were written.
#[derive(Debug, Default)]
pub(super) struct Throttle {
    rows: Option<Pace>,
    bytes: Option<Pace>,
    guard: Option<LoadGuard>,
}

/// The load guard: no chunk is written while the source's `Threads_running` is above
/// `max` (read at most every [`GUARD_EVERY`]).
#[derive(Debug)]
struct LoadGuard {
    source: MySqlPool,
    max: u64,
    /// When the source was last found below the limit.
    clear_at: Mutex<Option<Instant>>,
    /// Serializes the reads of the source's status.
    reading: tokio::sync::Mutex<()>,
}

/// Why the copy's writes are held back right now: how many parts wait on each limit.
#[derive(Debug, Default)]
pub(super) struct ThrottleState {
    waiting: [AtomicUsize; 3],
}

/// The limits a part can wait on, as [`ThrottleState::reasons`] names them.
const REASONS: [&str; 3] = ["max_rows_per_second", "max_bytes_per_second", "load_guard"];

impl ThrottleState {
    /// The limits some part waits on now.
    pub(super) fn reasons(&self) -> Vec<&'static str> {
        REASONS
            .iter()
            .zip(&self.waiting)
            .filter(|(_, n)| n.load(Ordering::Relaxed) > 0)
            .map(|(r, _)| *r)
            .collect()
    }

    /// Counts a part waiting on limit `reason` (an index into [`REASONS`]) until the
    /// guard is dropped.
    fn hold(&self, reason: usize) -> Hold<'_> {
        self.waiting[reason].fetch_add(1, Ordering::Relaxed);
        Hold(&self.waiting[reason])
    }
}

/// A part waiting on a limit; dropping it ends the wait.
struct Hold<'a>(&'a AtomicUsize);

impl Drop for Hold<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How long a reading of the source's `Threads_running` below the limit holds.
const GUARD_EVERY: Duration = Duration::from_millis(500);

impl LoadGuard {
    fn recently_clear(&self) -> bool {
        self.clear_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|at| at.elapsed() < GUARD_EVERY)
    }

    /// Waits while the source runs more than `max` threads; `false` when `cancel`
    /// fired first. A failed reading lets the chunk go (the copy's own statements
    /// meet the same fault and are handled as such).
    async fn wait(&self, cancel: &CancellationToken, state: &ThrottleState) -> bool {
        if self.recently_clear() {
            return true;
        }
        let _reading = self.reading.lock().await;
        let mut paused_since: Option<Instant> = None;
        let mut _held = None;
        loop {
            if self.recently_clear() {
                return true;
            }
            let running =
                sqlx::query_as::<_, (String, String)>("SHOW GLOBAL STATUS LIKE 'Threads_running'")
                    .fetch_one(&self.source);
            let running = tokio::select! {
                r = running => r.ok().and_then(|(_, v)| v.parse::<u64>().ok()),
                () = cancel.cancelled() => return false,
            };
            match running {
                Some(n) if n > self.max => {
                    if paused_since.is_none() {
                        info!(
                            threads_running = n,
                            max = self.max,
                            "copy throttled by the load guard: the source's Threads_running is above the limit"
                        );
                        paused_since = Some(Instant::now());
                        _held = Some(state.hold(2));
                    }
                    tokio::select! {
                        () = tokio::time::sleep(GUARD_EVERY) => {}
                        () = cancel.cancelled() => return false,
                    }
                }
                _ => {
                    if let Some(since) = paused_since {
                        info!(paused = ?since.elapsed(), "copy resumed by the load guard");
                    }
                    *self
                        .clear_at
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Instant::now());
                    return true;
                }
            }
        }
    }
}

impl Throttle {
    /// Limits of `rows` and `bytes` per second (`None` or 0: no limit).
    pub(super) fn new(rows: Option<u64>, bytes: Option<u64>) -> Self {
        let pace = |limit: Option<u64>| {
            limit.filter(|l| *l > 0).map(|per_second| Pace {
                per_second,
                paid_until: Mutex::new(None),
            })
        };
        Self {
            rows: pace(rows),
            bytes: pace(bytes),
            guard: None,
        }
    }

    /// Adds the load guard: no chunk is written while `source` runs more than
    /// `max_threads_running` threads (`None`: no guard).
    pub(super) fn with_load_guard(
        mut self,
        source: &MySqlPool,
        max_threads_running: Option<u64>,
    ) -> Self {
        self.guard = max_threads_running.map(|max| LoadGuard {
            source: source.clone(),
            max,
            clear_at: Mutex::new(None),
            reading: tokio::sync::Mutex::new(()),
        });
        self
    }

    /// Waits until a chunk of `rows` rows and `bytes` bytes may be written, counted
    /// in `state` while it waits; `false` when `cancel` fired first.
    pub(super) async fn wait(
        &self,
        rows: u64,
        bytes: u64,
        cancel: &CancellationToken,
        state: &ThrottleState,
    ) -> bool {
        if let Some(guard) = &self.guard {
            if !guard.wait(cancel, state).await {
                return false;
            }
        }
        let now = Instant::now();
        let until = [
            self.rows.as_ref().map(|p| (p.reserve(rows, now), 0)),
            self.bytes.as_ref().map(|p| (p.reserve(bytes, now), 1)),
        ]
        .into_iter()
        .flatten()
        .max_by_key(|(until, _)| *until);
        let Some((until, limit)) = until else {
            return true;
        };
        if until <= now {
            return true;
        }
        debug!(wait = ?(until - now), limit = REASONS[limit], "throttled by the per-second limit");
        let _held = state.hold(limit);
        tokio::select! {
            () = tokio::time::sleep_until(until) => true,
            () = cancel.cancelled() => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn chunks_wait_for_the_slowest_limit_in_turn() {
        let throttle = Throttle::new(Some(1000), Some(10_000));
        let cancel = CancellationToken::new();
        let state = ThrottleState::default();
        let start = Instant::now();
        // 500 rows: half a second; 2,000 bytes: a fifth.
        let wait = throttle.wait(500, 2_000, &cancel, &state);
        tokio::pin!(wait);
        // While it waits, the state names the limit it waits on.
        assert!(
            futures_util::FutureExt::now_or_never(wait.as_mut()).is_none(),
            "a limited chunk waits"
        );
        assert_eq!(state.reasons(), ["max_rows_per_second"]);
        assert!(wait.await);
        assert!(state.reasons().is_empty());
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        // Bytes now: 10,000 bytes take a second from now (time the byte limit went
        // unused is not saved up for a burst).
        assert!(throttle.wait(10, 10_000, &cancel, &state).await);
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
    }

    #[tokio::test(start_paused = true)]
    async fn no_limit_never_waits_and_cancel_ends_a_wait() {
        let cancel = CancellationToken::new();
        let start = Instant::now();
        assert!(
            Throttle::new(None, Some(0))
                .wait(1 << 40, 1 << 40, &cancel, &ThrottleState::default())
                .await
        );
        assert_eq!(start.elapsed(), Duration::ZERO);
        cancel.cancel();
        let state = ThrottleState::default();
        assert!(
            !Throttle::new(Some(1), None)
                .wait(100, 0, &cancel, &state)
                .await
        );
        assert!(state.reasons().is_empty(), "a cancelled wait holds nothing");
    }
}
