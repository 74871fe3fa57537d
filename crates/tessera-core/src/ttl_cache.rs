//! A small per-node map whose entries stay fresh for a fixed time by Tessera's clock (so tests move it
//! with the controllable clock, never sleep). What the protocol endpoints read on every request (a
//! client's registration, a tenant's published keys, its discovery document) is kept here for a few
//! seconds.
//!
//! The bound it gives: a change made on this node is seen at once (the writer calls [`TtlCache::forget`]
//! or [`TtlCache::clear`] after committing), a change made on another node within the TTL. A reader that
//! loaded from the database while a forget ran on this node does not store what it read (it may be the
//! old row): every forget moves a generation, and [`TtlCache::put`] only stores under the generation
//! its [`Ticket`] was taken in.
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};

use time::{Duration, OffsetDateTime};

/// Entries kept at most; beyond that the map starts again empty.
const MAX_ENTRIES: usize = 10_000;

/// The generation a reader saw before it read the database.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket(u64);

#[derive(Debug)]
struct Inner<K, V> {
    generation: u64,
    map: HashMap<K, (OffsetDateTime, V)>,
}

#[derive(Debug)]
pub(crate) struct TtlCache<K, V> {
    ttl: Duration,
    inner: Mutex<Inner<K, V>>,
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            inner: Mutex::new(Inner {
                generation: 0,
                map: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry for `key` while it is fresh at `now` (an entry from the future, after the clock went
    /// back, is not).
    pub(crate) fn get<Q>(&self, key: &Q, now: OffsetDateTime) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let inner = self.lock();
        inner
            .map
            .get(key)
            .filter(|(at, _)| *at <= now && now < *at + self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// Take one before reading what [`Self::put`] will store.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket(self.lock().generation)
    }

    /// Stores `value` read at `now`, unless something was forgotten since `ticket` was taken.
    pub(crate) fn put(&self, ticket: Ticket, key: K, value: V, now: OffsetDateTime) {
        let mut inner = self.lock();
        if inner.generation != ticket.0 {
            return;
        }
        if inner.map.len() >= MAX_ENTRIES {
            inner.map.clear();
        }
        inner.map.insert(key, (now, value));
    }

    /// Forgets `key` (this node changed what it stands for).
    pub(crate) fn forget<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.map.remove(key);
    }

    /// Forgets everything.
    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.generation = inner.generation.wrapping_add(1);
        inner.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::seconds(secs)
    }

    #[test]
    fn an_entry_is_fresh_for_the_ttl_and_no_longer() {
        let c: TtlCache<String, u32> = TtlCache::new(Duration::seconds(5));
        let t = c.ticket();
        c.put(t, "a".into(), 1, at(100));
        assert_eq!(c.get("a", at(100)), Some(1));
        assert_eq!(c.get("a", at(104)), Some(1));
        assert_eq!(c.get("a", at(105)), None);
        assert_eq!(c.get("a", at(99)), None, "the clock went back: not fresh");
        assert_eq!(c.get("b", at(100)), None);
    }

    #[test]
    fn a_forget_wins_over_a_read_that_started_before_it() {
        let c: TtlCache<String, u32> = TtlCache::new(Duration::seconds(5));
        let before = c.ticket();
        c.forget("a");
        c.put(before, "a".into(), 1, at(0));
        assert_eq!(c.get("a", at(0)), None, "the stale read is not stored");
        let after = c.ticket();
        c.put(after, "a".into(), 2, at(0));
        assert_eq!(c.get("a", at(0)), Some(2));
        c.clear();
        assert_eq!(c.get("a", at(0)), None);
    }
}
