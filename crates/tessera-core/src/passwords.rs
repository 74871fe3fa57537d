//! Password hashing as a shared, bounded service (PW-09), and the port for an online breach check.
//!
//! Argon2id is slow and memory-hungry on purpose, so it never runs on the async executor and never runs
//! more times at once than there are cores: every hash or verification takes a permit from one
//! semaphore and runs on the blocking pool. The permit travels with the blocking task, so a request that
//! is abandoned half-way (the client hung up) still holds its permit until the work it started is done;
//! a burst of abandoned sign-ins cannot pile up more Argon2 work than the bound. A counter of operations
//! performed lets tests and metrics see that unknown accounts cost the same work as known ones.
//!
//! Argon2's working memory (`memory_kib` per hash) is kept in a small pool and handed to whichever
//! blocking thread holds a permit, instead of being allocated and freed per hash: freed buffers of that
//! size linger in the allocator arena of every thread that ever hashed, and a busy server would sit on
//! many times the memory its bound implies. With the pool, the memory held for hashing is at most one
//! buffer per permit, whatever the number of hashes done; and a buffer no hash used for a while is
//! given back ([`PasswordService::release_idle`], run by a job), so a server that is not signing
//! anyone in does not keep `m_cost` resident for the next sign-in.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tessera_crypto::SecretKey;
use tessera_crypto::password::{self, HashMemory, PasswordCheck, PasswordParams};
use tokio::sync::Semaphore;

use crate::{CoreError, Result};

/// Hashes and verifies passwords off the async executor, at most `max_concurrent` at a time. Cheap to
/// clone; clones share the bound and the counter.
#[derive(Clone, Debug)]
pub struct PasswordService {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    params: PasswordParams,
    pepper: Option<SecretKey>,
    permits: Arc<Semaphore>,
    /// As many as there are permits.
    max_concurrent: usize,
    /// Working memory not in use right now, with when each buffer was put back. A buffer is only taken
    /// while a permit is held and is put back before the permit is released, so there are never more
    /// buffers than permits.
    memory: Mutex<Vec<(HashMemory, Instant)>>,
    operations: AtomicU64,
    #[cfg(test)]
    probe: probe::Probe,
}

impl Inner {
    /// A buffer from the pool, or a new (empty) one when every existing buffer is in use, which can
    /// only happen while fewer buffers than permits exist.
    fn take_memory(&self) -> HashMemory {
        let pooled = self
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .map(|(memory, _)| memory);
        pooled.unwrap_or_else(|| {
            #[cfg(test)]
            self.probe.buffers_created.fetch_add(1, Ordering::SeqCst);
            HashMemory::new()
        })
    }

    /// Returns a buffer to the pool, first giving back anything beyond what today's parameters need
    /// (a verification of an old, costlier hash grows it).
    fn put_memory(&self, mut memory: HashMemory) {
        memory.shrink_to(&self.params);
        let mut pool = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
        if pool.len() < self.max_concurrent {
            pool.push((memory, Instant::now()));
        }
    }
}

impl PasswordService {
    /// A service hashing with `params`, feeding `pepper` (kept outside the database) to Argon2, and
    /// running at most `max_concurrent` hashes at once (at least one).
    pub fn new(params: PasswordParams, pepper: Option<SecretKey>, max_concurrent: usize) -> Self {
        let max_concurrent = max_concurrent.max(1);
        Self {
            inner: Arc::new(Inner {
                params,
                pepper,
                permits: Arc::new(Semaphore::new(max_concurrent)),
                max_concurrent,
                memory: Mutex::new(Vec::with_capacity(max_concurrent)),
                operations: AtomicU64::new(0),
                #[cfg(test)]
                probe: probe::Probe::default(),
            }),
        }
    }

    /// The default bound: one hash per available core, so password work cannot starve everything else
    /// of CPU, nor of memory (each hash holds `memory_kib` while it runs).
    pub fn default_concurrency() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// The parameters new hashes are made with.
    pub fn params(&self) -> &PasswordParams {
        &self.inner.params
    }

    /// Hashes a password for storage (a PHC string).
    pub async fn hash(&self, pw: &str) -> Result<String> {
        self.run(pw, |pw, params, pepper, memory| {
            password::hash_password_with_memory(pw, params, pepper, memory)
        })
        .await
    }

    /// Checks a password against a stored PHC string. A malformed hash or a missing pepper is an
    /// internal error, never a mere mismatch.
    pub async fn verify(&self, pw: &str, phc: &str) -> Result<PasswordCheck> {
        let phc = phc.to_owned();
        self.run(pw, move |pw, params, pepper, memory| {
            password::verify_password_with_memory(pw, &phc, params, pepper, memory)
        })
        .await
    }

    /// Spends the same work as [`Self::verify`] and never matches: for sign-ins to accounts that do not
    /// exist, so the response time does not tell which identifiers have accounts.
    pub async fn verify_against_dummy(&self, pw: &str) -> Result<PasswordCheck> {
        self.run(pw, |pw, params, pepper, memory| {
            password::dummy_verify_with_memory(pw, params, pepper, memory)
        })
        .await
    }

    /// Frees the pooled working memory no hash has used for `idle_for`; how many KiB it gave back. The
    /// next hash allocates afresh (a few milliseconds once, against the hash's own tens).
    pub fn release_idle(&self, idle_for: Duration) -> usize {
        let mut pool = self
            .inner
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let before: usize = pool.iter().map(|(m, _)| m.kib()).sum();
        pool.retain(|(_, since)| since.elapsed() < idle_for);
        before - pool.iter().map(|(m, _)| m.kib()).sum::<usize>()
    }

    /// How many Argon2 computations this service (and its clones) has performed.
    pub fn operations(&self) -> u64 {
        self.inner.operations.load(Ordering::Relaxed)
    }

    /// Runs one Argon2 computation on the blocking pool while holding a permit and a pooled buffer.
    async fn run<T, F>(&self, pw: &str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(
                &str,
                &PasswordParams,
                Option<&SecretKey>,
                &mut HashMemory,
            ) -> Result<T, tessera_crypto::CryptoError>
            + Send
            + 'static,
    {
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| CoreError::Internal("the password hashing pool is closed".into()))?;
        // The normalised copy is zeroed when the task drops it (hashing normalises again; NFKC is
        // idempotent).
        let pw = password::normalize_password(pw);
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            inner.operations.fetch_add(1, Ordering::Relaxed);
            let outcome = {
                #[cfg(test)]
                let _running = inner.probe.enter();
                let mut memory = inner.take_memory();
                let outcome = work(&pw, &inner.params, inner.pepper.as_ref(), &mut memory);
                inner.put_memory(memory);
                outcome
            };
            // Only now may the next computation start: its buffer is back in the pool.
            drop(permit);
            outcome.map_err(CoreError::from)
        })
        .await
        .map_err(|e| CoreError::Internal(format!("password hashing task failed: {e}")))?
    }
}

/// The port for an optional online check of whether a password appears in known breaches (the server
/// implements it over HTTP). An error means the check could not be made; the caller chooses whether to
/// accept the password anyway or refuse it.
pub trait BreachCheck: Send + Sync + std::fmt::Debug {
    /// Whether the password is known from breaches.
    fn is_breached<'a>(
        &'a self,
        password: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<bool, CoreError>> + Send + 'a>>;
}

#[cfg(test)]
mod probe {
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Records how many computations run at once, the most seen, and how many working-memory buffers
    /// were ever created.
    #[derive(Debug, Default)]
    pub(super) struct Probe {
        running: AtomicUsize,
        pub(super) peak: AtomicUsize,
        pub(super) buffers_created: AtomicUsize,
    }

    pub(super) struct Running<'a>(&'a Probe);

    impl Probe {
        pub(super) fn enter(&self) -> Running<'_> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            // Stay inside long enough for overlapping tasks to be seen if the bound were broken.
            std::thread::sleep(std::time::Duration::from_millis(20));
            Running(self)
        }
    }

    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.running.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    fn cheap() -> PasswordParams {
        PasswordParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    async fn hash_many(svc: &PasswordService, n: usize) {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let svc = svc.clone();
                tokio::spawn(async move { svc.hash(&format!("password number {i}")).await })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn pw_09_one_permit_means_one_hash_at_a_time() {
        let svc = PasswordService::new(cheap(), None, 1);
        hash_many(&svc, 4).await;
        assert_eq!(svc.inner.probe.peak.load(Ordering::SeqCst), 1);
        assert_eq!(svc.operations(), 4);
        assert_eq!(
            svc.inner.probe.buffers_created.load(Ordering::SeqCst),
            1,
            "one permit, one buffer, reused"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn pw_09_idle_working_memory_is_given_back_and_made_again_when_needed() {
        let svc = PasswordService::new(cheap(), None, 1);
        hash_many(&svc, 2).await;
        assert_eq!(
            svc.release_idle(Duration::from_secs(3600)),
            0,
            "a buffer used moments ago stays"
        );
        assert_eq!(svc.release_idle(Duration::ZERO), 64, "the idle buffer goes");
        assert_eq!(svc.release_idle(Duration::ZERO), 0);
        hash_many(&svc, 1).await;
        assert_eq!(svc.inner.probe.buffers_created.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn pw_09_working_memory_is_at_most_one_buffer_per_permit() {
        let permits = 3;
        let svc = PasswordService::new(cheap(), None, permits);
        let phc = svc.hash("correct horse battery staple").await.unwrap();
        // A hash from a costlier configuration grows a buffer while it is verified.
        let costlier = PasswordParams {
            memory_kib: 256,
            ..cheap()
        };
        let old_phc =
            password::hash_password("correct horse battery staple", &costlier, None).unwrap();
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let svc = svc.clone();
                let phc = if i % 5 == 0 {
                    old_phc.clone()
                } else {
                    phc.clone()
                };
                tokio::spawn(async move {
                    match i % 3 {
                        0 => svc.hash(&format!("password number {i}")).await.map(drop),
                        1 => {
                            let check = svc.verify("correct horse battery staple", &phc).await?;
                            assert!(check.matches);
                            Ok(())
                        }
                        _ => svc.verify_against_dummy("no such account").await.map(drop),
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(svc.operations(), 41);
        let created = svc.inner.probe.buffers_created.load(Ordering::SeqCst);
        assert!((1..=permits).contains(&created), "{created} buffers");
        let pool = svc.inner.memory.lock().unwrap();
        assert_eq!(pool.len(), created, "every buffer is back in the pool");
        for (memory, _) in pool.iter() {
            assert_eq!(
                memory.kib(),
                64,
                "held at today's parameters, not the costlier hash's"
            );
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn pw_09_concurrency_never_exceeds_the_bound() {
        let svc = PasswordService::new(cheap(), None, 2);
        hash_many(&svc, 6).await;
        let peak = svc.inner.probe.peak.load(Ordering::SeqCst);
        assert!((1..=2).contains(&peak), "peak {peak}");
        assert_eq!(svc.operations(), 6);
    }

    #[tokio::test]
    async fn a_zero_bound_still_allows_one() {
        let svc = PasswordService::new(cheap(), None, 0);
        svc.hash("correct horse battery staple").await.unwrap();
        assert_eq!(svc.operations(), 1);
    }

    #[tokio::test]
    async fn pw_09_every_operation_is_counted_including_dummy_work() {
        let pepper = SecretKey::generate().unwrap();
        let svc = PasswordService::new(cheap(), Some(pepper), 2);
        let phc = svc.hash("correct horse battery staple").await.unwrap();
        let ok = svc
            .verify("correct horse battery staple", &phc)
            .await
            .unwrap();
        assert!(ok.matches && !ok.needs_rehash);
        assert!(!svc.verify("wrong", &phc).await.unwrap().matches);
        let dummy = svc
            .verify_against_dummy("correct horse battery staple")
            .await
            .unwrap();
        assert!(!dummy.matches);
        assert_eq!(svc.operations(), 4);
        assert_eq!(svc.clone().operations(), 4, "clones share the counter");
    }

    #[tokio::test]
    async fn malformed_hashes_are_internal_errors() {
        let svc = PasswordService::new(cheap(), None, 1);
        let err = svc.verify("anything", "$argon2id$nope").await.unwrap_err();
        assert_eq!(err.code(), "internal");
    }

    #[tokio::test]
    async fn abandoned_requests_keep_their_permit_until_the_work_is_done() {
        let svc = PasswordService::new(cheap(), None, 1);
        let first = {
            let svc = svc.clone();
            tokio::spawn(async move { svc.hash("abandoned half way").await })
        };
        // Wait until its Argon2 work has started, then abandon the request: the blocking work goes on,
        // and must keep the permit until it is done.
        while svc.operations() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        first.abort();
        svc.hash("the next one").await.unwrap();
        assert_eq!(svc.inner.probe.peak.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_pepper_never_shows_in_debug_output() {
        let pepper = SecretKey::generate().unwrap();
        let text = pepper.to_text();
        let svc = PasswordService::new(cheap(), Some(pepper), 1);
        assert!(!format!("{svc:?}").contains(&text));
    }
}
