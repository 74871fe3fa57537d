//! Throttling of guesses: growing delays per account and per client IP, counted in the database so they
//! hold across nodes and restarts. A real customer is slowed, never locked out for good: delays are capped
//! and counters expire a day after the last failure. Keys for accounts are derived from the normalised
//! identifier, known or not, so throttling behaves the same for accounts that do not exist.
use time::Duration;

use crate::{Result, Tessera};

/// Failures allowed per account before delays start, and the longest delay.
const ACCOUNT_FREE: i64 = 5;
const IP_FREE: i64 = 30;
const MAX_DELAY_SECS: i64 = 300;
const FORGET_AFTER: Duration = Duration::hours(24);

/// What the throttle says about an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Try again after this many seconds.
    Wait(i64),
}

fn delay_secs(failures: i64, free: i64) -> i64 {
    if failures < free {
        0
    } else {
        let exp = (failures - free).min(20) as u32;
        2_i64.saturating_pow(exp).min(MAX_DELAY_SECS)
    }
}

/// The keys one attempt is counted under.
#[derive(Debug, Clone)]
pub struct ThrottleKeys {
    pub account: String,
    pub ip: Option<String>,
}

impl Tessera {
    /// Keys for an attempt on `identifier` (already normalised or raw) from `ip`, for one action.
    pub(crate) fn throttle_keys(
        &self,
        tenant: &str,
        action: &str,
        identifier: &str,
        ip: Option<&str>,
    ) -> ThrottleKeys {
        let digest = self.keys.secret_hasher.hash(&format!(
            "{tenant}\u{0}{}",
            identifier.trim().to_lowercase()
        ));
        let short: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        ThrottleKeys {
            account: format!("{action}:acct:{tenant}:{short}"),
            ip: ip.map(|i| format!("{action}:ip:{tenant}:{i}")),
        }
    }

    /// Whether an attempt may go ahead now.
    pub(crate) async fn throttle_check(&self, keys: &ThrottleKeys) -> Result<Verdict> {
        let now = self.now();
        let mut conn = self.db.conn().await?;
        let mut wait = 0;
        let checks = [
            (Some(&keys.account), ACCOUNT_FREE),
            (keys.ip.as_ref(), IP_FREE),
        ];
        for (key, free) in checks {
            let Some(key) = key else { continue };
            if let Some((failures, last)) = tessera_store::throttles::get(&mut conn, key).await? {
                if now - last > FORGET_AFTER {
                    continue;
                }
                let until = last + Duration::seconds(delay_secs(failures, free));
                if until > now {
                    wait = wait.max((until - now).whole_seconds().max(1));
                }
            }
        }
        Ok(if wait > 0 {
            Verdict::Wait(wait)
        } else {
            Verdict::Allowed
        })
    }

    /// Counts a failed attempt under every key.
    pub(crate) async fn throttle_fail(
        &self,
        tx: &mut tessera_store::Tx,
        keys: &ThrottleKeys,
    ) -> Result<()> {
        let now = self.now();
        tessera_store::throttles::record_failure(tx, &keys.account, now, now - FORGET_AFTER)
            .await?;
        if let Some(ip) = &keys.ip {
            tessera_store::throttles::record_failure(tx, ip, now, now - FORGET_AFTER).await?;
        }
        Ok(())
    }

    /// Forgets the account's failures after a success (the IP counter keeps counting).
    pub(crate) async fn throttle_clear(
        &self,
        tx: &mut tessera_store::Tx,
        keys: &ThrottleKeys,
    ) -> Result<()> {
        tessera_store::throttles::clear(tx, &keys.account).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_are_capped() {
        assert_eq!(delay_secs(4, ACCOUNT_FREE), 0);
        assert_eq!(delay_secs(5, ACCOUNT_FREE), 1);
        assert_eq!(delay_secs(6, ACCOUNT_FREE), 2);
        assert_eq!(delay_secs(10, ACCOUNT_FREE), 32);
        assert_eq!(
            delay_secs(100, ACCOUNT_FREE),
            MAX_DELAY_SECS,
            "slowed, never locked out for good"
        );
    }
}
