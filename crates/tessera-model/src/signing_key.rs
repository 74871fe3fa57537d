//! The life of a tenant's token-signing key: published as `next` before it signs anything, `active` while
//! it signs, `retiring` (still published, signing nothing) until every token it signed has expired, then
//! `retired` (gone from the JWKS, its private part wiped). Keys only move forward.

/// Where a signing key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyState {
    /// Published in the JWKS so relying parties fetch it before it is used; signs nothing yet.
    Next,
    /// The one key of its algorithm that signs; published.
    Active,
    /// Signs nothing; still published while tokens it signed may be alive.
    Retiring,
    /// Not published, never used again; the private key is wiped.
    Retired,
}

impl KeyState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Active => "active",
            KeyState::Retiring => "retiring",
            KeyState::Retired => "retired",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Next, Self::Active, Self::Retiring, Self::Retired]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// Whether relying parties see the key in the JWKS.
    pub fn published(self) -> bool {
        self != KeyState::Retired
    }

    /// The state a rotation moves this key to (a retired key stays retired).
    pub fn successor(self) -> Self {
        match self {
            KeyState::Next => KeyState::Active,
            KeyState::Active => KeyState::Retiring,
            KeyState::Retiring | KeyState::Retired => KeyState::Retired,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_only_move_forward() {
        for s in [
            KeyState::Next,
            KeyState::Active,
            KeyState::Retiring,
            KeyState::Retired,
        ] {
            assert_eq!(KeyState::parse(s.as_str()), Some(s));
            assert!(s.successor() >= s);
        }
        assert_eq!(KeyState::parse("Active"), None);
        assert!(!KeyState::Retired.published());
        assert!(KeyState::Next.published());
    }
}
