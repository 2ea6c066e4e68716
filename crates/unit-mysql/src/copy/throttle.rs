//! Limits on how fast the copy writes ([`CopyConfig::max_rows_per_second`],
//! [`CopyConfig::max_bytes_per_second`]), shared by every part copied at once.
//!
//! [`CopyConfig::max_rows_per_second`]: super::CopyConfig::max_rows_per_second
//! [`CopyConfig::max_bytes_per_second`]: super::CopyConfig::max_bytes_per_second

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

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
        }
    }

    /// Waits until a chunk of `rows` rows and `bytes` bytes may be written; `false`
    /// when `cancel` fired first.
    pub(super) async fn wait(&self, rows: u64, bytes: u64, cancel: &CancellationToken) -> bool {
        let now = Instant::now();
        let until = [
            self.rows.as_ref().map(|p| (p.reserve(rows, now), "rows")),
            self.bytes
                .as_ref()
                .map(|p| (p.reserve(bytes, now), "bytes")),
        ]
        .into_iter()
        .flatten()
        .max_by_key(|(until, _)| *until);
        let Some((until, limit)) = until else {
            return true;
        };
        if until > now {
            debug!(wait = ?(until - now), limit, "throttled by the per-second limit");
        }
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
        let start = Instant::now();
        // 500 rows: half a second; 2,000 bytes: a fifth.
        assert!(throttle.wait(500, 2_000, &cancel).await);
        assert_eq!(start.elapsed(), Duration::from_millis(500));
        // Bytes now: 10,000 bytes take a second from now (time the byte limit went
        // unused is not saved up for a burst).
        assert!(throttle.wait(10, 10_000, &cancel).await);
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
    }

    #[tokio::test(start_paused = true)]
    async fn no_limit_never_waits_and_cancel_ends_a_wait() {
        let cancel = CancellationToken::new();
        let start = Instant::now();
        assert!(
            Throttle::new(None, Some(0))
                .wait(1 << 40, 1 << 40, &cancel)
                .await
        );
        assert_eq!(start.elapsed(), Duration::ZERO);
        cancel.cancel();
        assert!(!Throttle::new(Some(1), None).wait(100, 0, &cancel).await);
    }
}
