//! How much a test process's resident memory grows while something runs: for tests
//! that bound memory, each in a test binary of its own (so that no other test's
//! memory counts).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// This process's resident memory, in KiB.
///
/// # Panics
/// Where `/proc/self/status` cannot be read (not Linux).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/self/status")
}

/// Samples the resident memory every 5 ms from a thread of its own until
/// [`PeakRss::growth_mib`].
pub struct PeakRss {
    before: u64,
    peak: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<()>,
}

impl PeakRss {
    /// Starts sampling.
    pub fn start() -> PeakRss {
        let before = rss_kib();
        let peak = Arc::new(AtomicU64::new(before));
        let done = Arc::new(AtomicBool::new(false));
        let sampler = std::thread::spawn({
            let (peak, done) = (peak.clone(), done.clone());
            move || {
                while !done.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(), Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        });
        PeakRss {
            before,
            peak,
            done,
            sampler,
        }
    }

    /// Stops sampling: how many MiB the resident memory grew at most since the start.
    ///
    /// # Panics
    /// If the sampling thread panicked.
    pub fn growth_mib(self) -> u64 {
        self.done.store(true, Ordering::Relaxed);
        self.sampler.join().expect("the sampler");
        (self.peak.load(Ordering::Relaxed) - self.before) / 1024
    }
}
