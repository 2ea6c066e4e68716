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
    /// nominal one (never below `min`).
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

    /// The nominal duration at the current step, before jitter.
    pub fn nominal(&self) -> Duration {
        let BackoffConfig {
            factor, min, max, ..
        } = self.config;
        let exp = i32::try_from(self.steps).unwrap_or(i32::MAX);
        let secs = min.as_secs_f64() * factor.powi(exp);
        if !secs.is_finite() || secs >= max.as_secs_f64() {
            return max;
        }
        Duration::from_secs_f64(secs).clamp(min, max)
    }

    /// The duration to wait now: the nominal one, with equal jitter when enabled
    /// (`d/2 + random·d/2`, never below `min`).
    pub fn current(&mut self) -> Duration {
        let d = self.nominal();
        if !self.config.jitter {
            return d;
        }
        let half = d / 2;
        let jittered = half + half.mul_f64(self.rng.f64());
        jittered.max(self.config.min)
    }

    /// One step forward, unless the nominal duration already reached `max`.
    pub fn boundary_forward(&mut self) {
        if self.nominal() < self.config.max {
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
