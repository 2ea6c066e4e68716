use super::*;
use proptest::prelude::*;

fn cfg(factor: f64, min: u64, max: u64, jitter: bool) -> BackoffConfig {
    BackoffConfig {
        factor,
        min: Duration::from_secs(min),
        max: Duration::from_secs(max),
        jitter,
    }
}

#[test]
fn grows_by_factor_and_stops_at_max() {
    let mut b = Backoff::new(cfg(2.0, 1, 300, false)).unwrap();
    let mut seen = Vec::new();
    for _ in 0..12 {
        seen.push(b.current().as_secs());
        b.boundary_forward();
    }
    assert_eq!(seen, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    // Forward stops counting at the boundary, so one rollback leaves the cap.
    assert_eq!(b.steps(), 9);
    b.rollback();
    assert_eq!(b.current().as_secs(), 256);
    for _ in 0..20 {
        b.rollback();
    }
    assert_eq!((b.steps(), b.current().as_secs()), (0, 1));
}

#[test]
fn equal_jitter_stays_between_half_and_whole() {
    let mut b = Backoff::with_rng(cfg(2.0, 1, 300, true), fastrand::Rng::with_seed(7)).unwrap();
    let mut first = b.clone();
    assert_eq!(
        first.current(),
        Duration::from_secs(1),
        "min while at most min"
    );
    for _ in 0..6 {
        b.boundary_forward();
    }
    let nominal = b.nominal();
    assert_eq!(nominal, Duration::from_secs(64));
    let samples: Vec<Duration> = (0..200).map(|_| b.current()).collect();
    assert!(
        samples.iter().all(|&d| d >= nominal / 2 && d <= nominal),
        "{samples:?}"
    );
    assert!(
        samples.iter().any(|&d| d < nominal * 3 / 4),
        "jitter spreads"
    );
}

#[test]
fn jitter_comes_before_the_cap_as_in_dm() {
    // 1 s · 2^9 = 512 s: jittered to 256..512 s, then capped at 300 s.
    let mut b = Backoff::with_rng(cfg(2.0, 1, 300, true), fastrand::Rng::with_seed(3)).unwrap();
    for _ in 0..9 {
        b.steps += 1;
    }
    let samples: Vec<Duration> = (0..200).map(|_| b.current()).collect();
    assert!(samples.iter().any(|&d| d == Duration::from_secs(300)));
    assert!(samples.iter().any(|&d| d < Duration::from_secs(300)));
    // Saturated: 2^12 s jittered is above 300 s always, so the wait is exactly max.
    b.steps = 12;
    assert!((0..100).all(|_| b.current() == Duration::from_secs(300)));
    // BoundaryForward compares the jittered value: it stops once that reaches max.
    let before = b.steps();
    b.boundary_forward();
    assert_eq!(b.steps(), before);
    // No floor at min where DM has none: factor 1.5 gives 0.75..1.5 s after a step.
    let mut slow = Backoff::with_rng(
        BackoffConfig {
            factor: 1.5,
            min: Duration::from_secs(1),
            max: Duration::from_secs(10),
            jitter: true,
        },
        fastrand::Rng::with_seed(1),
    )
    .unwrap();
    slow.steps = 1;
    let samples: Vec<Duration> = (0..200).map(|_| slow.current()).collect();
    assert!(
        samples.iter().any(|&d| d < Duration::from_secs(1)),
        "{samples:?}"
    );
    assert!(samples.iter().all(|&d| d >= Duration::from_millis(750)));
}

#[test]
fn invalid_settings_are_rejected_with_code_11103() {
    for (c, what) in [
        (cfg(0.0, 1, 2, false), "factor"),
        (cfg(-1.0, 1, 2, false), "factor"),
        (cfg(f64::NAN, 1, 2, false), "factor"),
        (cfg(2.0, 3, 2, false), "max"),
    ] {
        let err = Backoff::new(c).unwrap_err();
        assert_eq!(err.code().code, 11103);
        assert!(
            err.message()
                .starts_with(&format!("invalid back-off setting {what}")),
            "{err}"
        );
    }
    assert!(Backoff::new(cfg(0.5, 0, 0, true)).is_ok());
}

proptest! {
    #[test]
    fn never_panics_and_stays_in_bounds(
        factor in 0.01f64..100.0, min in 0u64..1000, extra in 0u64..100_000, steps in 0u32..200, jitter: bool,
    ) {
        let mut b = Backoff::new(cfg(factor, min, min + extra, jitter)).unwrap();
        for _ in 0..steps {
            b.boundary_forward();
        }
        let d = b.current();
        // DM has no floor but min itself: a jittered step may go down to half of it.
        prop_assert!(d <= Duration::from_secs(min + extra));
        prop_assert!(jitter || factor < 1.0 || d >= Duration::from_secs(min));
    }
}
