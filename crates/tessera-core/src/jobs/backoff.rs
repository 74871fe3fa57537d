//! When a failed item is tried again: exponential backoff with jitter, and when to give up.
use std::sync::Arc;
use std::time::Duration;

/// A source of uniform numbers in `[0, 1)` that spreads retries out, so items that failed together (a
/// mail server that was down) do not all come back at the same instant. Injectable, so a test can pin it.
pub type Jitter = Arc<dyn Fn() -> f64 + Send + Sync>;

/// How a queue retries: the `n`-th failed attempt waits `base · 2^(n-1)`, at most `cap`, of which the
/// upper half is random ("equal jitter": the wait never falls below half the exponential step, so the
/// schedule still backs off). After `max_attempts` attempts the item is given up (a dead letter).
#[derive(Clone)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    pub max_attempts: u32,
    jitter: Jitter,
}

impl std::fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("base", &self.base)
            .field("cap", &self.cap)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Uniform in `[0, 1)` from the operating system's generator; 1.0 (no spreading, the longest wait) in
/// the unlikely case it fails, which errs on the side of backing off.
fn random_unit() -> f64 {
    match tessera_crypto::random_bytes::<8>() {
        Ok(b) => (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64,
        Err(_) => 1.0,
    }
}

impl RetryPolicy {
    /// A policy with random jitter.
    pub fn new(base: Duration, cap: Duration, max_attempts: u32) -> Self {
        Self {
            base,
            cap,
            max_attempts: max_attempts.max(1),
            jitter: Arc::new(random_unit),
        }
    }

    /// The same policy with another jitter source (tests pin it).
    pub fn with_jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The exponential step after `attempts` failed attempts, before jitter: `base · 2^(attempts-1)`,
    /// at most `cap`.
    pub fn step(&self, attempts: u32) -> Duration {
        2u32.checked_pow(attempts.saturating_sub(1))
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.cap, |d| d.min(self.cap))
    }

    /// How long to wait after the `attempts`-th failed attempt, or `None` when that was the last one.
    /// The wait lies in `[step/2, step]`.
    pub fn delay(&self, attempts: u32) -> Option<Duration> {
        if attempts >= self.max_attempts {
            return None;
        }
        let step = self.step(attempts);
        let j = (self.jitter)();
        let j = if j.is_finite() {
            j.clamp(0.0, 1.0)
        } else {
            1.0
        };
        Some(step / 2 + step.mul_f64(j) / 2)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn policy(j: f64) -> RetryPolicy {
        RetryPolicy::new(Duration::from_secs(5), Duration::from_secs(900), 12)
            .with_jitter(Arc::new(move || j))
    }

    #[test]
    fn the_wait_doubles_per_attempt_up_to_the_cap() {
        let p = policy(1.0);
        let waits: Vec<u64> = (1..12).map(|n| p.delay(n).unwrap().as_secs()).collect();
        assert_eq!(
            waits,
            [5, 10, 20, 40, 80, 160, 320, 640, 900, 900, 900],
            "full jitter draw: the whole step"
        );
        let p = policy(0.0);
        assert_eq!(
            p.delay(1),
            Some(Duration::from_millis(2500)),
            "never below half a step"
        );
        assert_eq!(p.delay(4), Some(Duration::from_secs(20)));
        let p = policy(0.5);
        assert_eq!(p.delay(2), Some(Duration::from_millis(7500)));
    }

    #[test]
    fn the_last_attempt_gives_up() {
        let p = policy(0.3);
        assert!(p.delay(11).is_some());
        assert_eq!(p.delay(12), None);
        assert_eq!(p.delay(40), None);
        let once = RetryPolicy::new(Duration::from_secs(1), Duration::from_secs(1), 1);
        assert_eq!(once.delay(1), None, "one attempt: no retry");
    }

    #[test]
    fn huge_attempt_counts_and_odd_jitter_stay_within_bounds() {
        let p = RetryPolicy::new(Duration::from_secs(5), Duration::from_secs(900), u32::MAX);
        assert_eq!(p.step(u32::MAX - 1), Duration::from_secs(900));
        let nan = p.clone().with_jitter(Arc::new(|| f64::NAN));
        assert_eq!(nan.delay(3), Some(Duration::from_secs(20)));
        let big = p.with_jitter(Arc::new(|| 7.0));
        assert_eq!(big.delay(3), Some(Duration::from_secs(20)));
    }

    #[test]
    fn random_jitter_spreads_within_the_window() {
        let p = RetryPolicy::new(Duration::from_secs(8), Duration::from_secs(900), 12);
        let draws: Vec<Duration> = (0..200).map(|_| p.delay(1).unwrap()).collect();
        assert!(
            draws
                .iter()
                .all(|d| *d >= Duration::from_secs(4) && *d <= Duration::from_secs(8))
        );
        let distinct: std::collections::BTreeSet<_> = draws.iter().collect();
        assert!(distinct.len() > 100, "the waits are spread, not one value");
    }
}
