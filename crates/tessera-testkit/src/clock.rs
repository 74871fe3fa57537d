//! A clock a test can move, so time-dependent rules (code and session lifetimes, idle timeouts, throttle
//! windows) are tested by moving time instead of sleeping on a busy machine.
use std::sync::Mutex;
use std::time::Duration;

use tessera_core::Clock;
use time::OffsetDateTime;

/// The clock every [`crate::TestServer`] runs on (`server.clock`). It starts at the real now and runs with
/// real time, so code that waits on real timers still sees time pass; [`TestClock::advance`] jumps forward,
/// and [`TestClock::freeze`] stops it where it is, for a test that needs "now" not to move at all.
/// Values are truncated to microseconds, as both databases store them.
#[derive(Debug, Default)]
pub struct TestClock {
    state: Mutex<State>,
}

#[derive(Debug)]
enum State {
    /// Real time plus an offset.
    Running { ahead: Duration },
    /// A fixed instant.
    Frozen { at: OffsetDateTime },
}

impl Default for State {
    fn default() -> Self {
        State::Running {
            ahead: Duration::ZERO,
        }
    }
}

impl TestClock {
    /// A clock at the real now, running.
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `by` (whether running or frozen).
    pub fn advance(&self, by: Duration) {
        let mut s = self.state.lock().unwrap();
        match &mut *s {
            State::Running { ahead } => *ahead += by,
            State::Frozen { at } => *at += by,
        }
    }

    /// Stops the clock at its current reading; [`TestClock::advance`] still moves it.
    pub fn freeze(&self) {
        let now = self.now();
        *self.state.lock().unwrap() = State::Frozen { at: now };
    }

    /// Lets a frozen clock run again from its reading (it does not catch up the time it stood still).
    pub fn resume(&self) {
        let mut s = self.state.lock().unwrap();
        if let State::Frozen { at } = *s {
            let real = OffsetDateTime::now_utc();
            let ahead = (at - real).try_into().unwrap_or(Duration::ZERO);
            *s = State::Running { ahead };
        }
    }
}

impl Clock for TestClock {
    fn now(&self) -> OffsetDateTime {
        let t = match *self.state.lock().unwrap() {
            State::Running { ahead } => OffsetDateTime::now_utc() + ahead,
            State::Frozen { at } => at,
        };
        t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
            .unwrap_or(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_moves_a_running_and_a_frozen_clock() {
        let c = TestClock::new();
        let real = OffsetDateTime::now_utc();
        c.advance(Duration::from_secs(3600));
        assert!(c.now() - real >= time::Duration::hours(1));
        c.freeze();
        let at = c.now();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(c.now(), at, "a frozen clock stands still");
        c.advance(Duration::from_secs(60));
        assert_eq!(c.now() - at, time::Duration::minutes(1));
        c.resume();
        assert!(c.now() >= at + time::Duration::minutes(1));
        assert_eq!(c.now().nanosecond() % 1000, 0, "microseconds");
    }
}
