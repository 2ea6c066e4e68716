//! DM's exponential back-off with equal jitter, used between automatic resumes.

use std::time::Duration;

use crate::catalogue::ErrorCode;
use crate::error::Error;

/// Settings of a [`Backoff`]. The defaults are DM's: factor 2, minimum 1 s, maximum
/// 5 min, jitter on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffConfig {
    /// How much the duration grows per step; must be above 0.
    pub factor: f64,
    /// The shortest duration; must not be negative.
    pub min: Duration,
    /// The longest duration; must not be below `min`.
    pub max: Duration,
    /// Whether to apply "equal jitter": a random duration between half and all of the
    /// uncapped one, before the cap (see [`Backoff::current`]).
    pub jitter: bool,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            factor: 2.0,
            min: Duration::from_secs(1),
            max: Duration::from_secs(300),
            jitter: true,
        }
    }
}

/// A back-off: the current duration is `min · factor^n`, capped at `max`.
///
/// ```
/// use std::time::Duration;
/// use unit_core::{Backoff, BackoffConfig};
///
/// let mut b = Backoff::new(BackoffConfig { jitter: false, ..Default::default() })?;
/// assert_eq!(b.current(), Duration::from_secs(1));
/// b.boundary_forward();
/// b.boundary_forward();
/// assert_eq!(b.current(), Duration::from_secs(4));
/// b.rollback();
/// assert_eq!(b.current(), Duration::from_secs(2));
/// # Ok::<(), unit_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    steps: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A back-off at its first step.
    ///
    /// # Errors
    /// Code 11103 ([`ErrorCode::BACKOFF_ARGS_NOT_VALID`]) when `factor <= 0` (or not a
    /// number) or `max < min`, naming the setting.
    pub fn new(config: BackoffConfig) -> Result<Self, Error> {
        Self::with_rng(config, fastrand::Rng::new())
    }

    /// Like [`new`](Self::new) with a given random source (seed it for repeatable tests).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_rng(config: BackoffConfig, rng: fastrand::Rng) -> Result<Self, Error> {
        let code = &ErrorCode::BACKOFF_ARGS_NOT_VALID;
        // NaN and infinities fail `is_finite`.
        if !config.factor.is_finite() || config.factor <= 0.0 {
            return Err(Error::generate(
                code,
                &[&"factor", &format_args!("{} is not above 0", config.factor)],
            ));
        }
        if config.max < config.min {
            return Err(Error::generate(
                code,
                &[
                    &"max",
                    &format_args!("{:?} is below min {:?}", config.max, config.min),
                ],
            ));
        }
        Ok(Self {
            config,
            steps: 0,
            rng,
        })
    }

    /// The settings.
    pub fn config(&self) -> &BackoffConfig {
        &self.config
    }

    /// How many steps forward the back-off is.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// `min · factor^steps` in seconds, before jitter and cap (infinite when it
    /// overflows).
    fn uncapped(&self) -> f64 {
        let exp = i32::try_from(self.steps).unwrap_or(i32::MAX);
        self.config.min.as_secs_f64() * self.config.factor.powi(exp)
    }

    /// `secs` capped at `max`, as a duration.
    fn capped(&self, secs: f64) -> Duration {
        if !secs.is_finite() || secs > self.config.max.as_secs_f64() {
            return self.config.max;
        }
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// The duration at the current step without jitter: `min · factor^steps`, capped
    /// at `max`.
    pub fn nominal(&self) -> Duration {
        self.capped(self.uncapped())
    }

    /// The duration to wait now (DM's `Current`, `durationcwnd`): `min · factor^steps`;
    /// with jitter, `min` when that is at most `min`, else a random duration between
    /// half of it and all of it, drawn anew on every call ("equal jitter"); then capped
    /// at `max`. The jitter comes before the cap, as in DM, so a saturated back-off
    /// waits exactly `max`.
    pub fn current(&mut self) -> Duration {
        let mut secs = self.uncapped();
        if self.config.jitter {
            let min = self.config.min.as_secs_f64();
            secs = if secs <= min {
                min
            } else {
                secs / 2.0 + self.rng.f64() * secs / 2.0
            };
        }
        self.capped(secs)
    }

    /// One step forward while the duration to wait now ([`current`](Self::current),
    /// jitter included, as DM's `BoundaryForward` compares it) is below `max`.
    pub fn boundary_forward(&mut self) {
        if self.current() < self.config.max {
            self.steps += 1;
        }
    }

    /// One step back, down to the first step.
    pub fn rollback(&mut self) {
        self.steps = self.steps.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests;
