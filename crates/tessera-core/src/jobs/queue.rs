//! Queues: work items kept in the database, claimed with a lease, worked on, then completed, retried later
//! or given up into the dead letters.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::RetryPolicy;
use crate::{Clock, Result, Tessera};

/// Who holds a claim, and for how long claims are taken. The owner is the node's id ([`super::node_id`]).
/// A lease must outlast the work on a claimed batch: the worker cuts each item off at `item_timeout`,
/// shorter than the lease, so a live node keeps its claims, and a dead node's claims free up once their
/// leases run out.
#[derive(Debug, Clone)]
pub struct Lease {
    pub owner: String,
    pub duration: Duration,
}

/// Why an item failed. A permanent failure (a recipient the mail server refuses for good, a template that
/// does not exist) goes straight to the dead letters: trying again cannot help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub error: String,
    pub permanent: bool,
}

impl Failure {
    /// A failure that may pass (a server down, a timeout): the item is tried again later.
    pub fn transient(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            permanent: false,
        }
    }

    /// A failure that will not pass by itself.
    pub fn permanent(error: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            permanent: true,
        }
    }
}

/// A queue whose items live in the database. Its statements are the store's: a claim takes due items
/// that no live lease covers and counts an attempt; completing, retrying and burying an item succeed only
/// for the node whose lease covers it (false otherwise: another node took it over after this node's
/// lease ran out).
pub trait Queue: Send + Sync + 'static {
    type Item: Send + Sync + 'static;

    /// The queue's name in metrics and logs (`mail`).
    fn name(&self) -> &'static str;

    /// Claims up to `limit` due items for `lease.owner` until `until`.
    fn claim(
        &self,
        lease: &Lease,
        until: OffsetDateTime,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<Self::Item>>> + Send;

    /// The work on one item.
    fn process(&self, item: &Self::Item) -> impl Future<Output = Result<(), Failure>> + Send;

    /// Records the item done.
    fn complete(
        &self,
        lease: &Lease,
        item: &Self::Item,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Records a failed attempt; the item is due again at `at`.
    fn retry(
        &self,
        lease: &Lease,
        item: &Self::Item,
        at: OffsetDateTime,
        error: &str,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Gives the item up: a dead letter, until an admin replays it.
    fn bury(
        &self,
        lease: &Lease,
        item: &Self::Item,
        error: &str,
    ) -> impl Future<Output = Result<bool>> + Send;

    /// Attempts made on the item, the current one included.
    fn attempts(item: &Self::Item) -> u32;

    /// The item's id, for logs.
    fn id(item: &Self::Item) -> uuid::Uuid;
}

/// How a queue's worker runs.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// How long a claim holds.
    pub lease: Duration,
    /// The longest one item may take; then it counts as a transient failure. Shorter than `lease`.
    pub item_timeout: Duration,
    /// Items claimed at once, and worked on concurrently.
    pub batch: u32,
    /// How long the worker waits when the queue had nothing more due.
    pub poll: Duration,
    pub retry: RetryPolicy,
}

/// Works a queue: claims batches of due items and records each outcome.
pub struct QueueWorker<Q: Queue> {
    inner: Arc<Inner<Q>>,
}

struct Inner<Q: Queue> {
    queue: Q,
    clock: Arc<dyn Clock>,
    lease: Lease,
    settings: WorkerSettings,
}

impl<Q: Queue> std::fmt::Debug for QueueWorker<Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueWorker")
            .field("queue", &self.inner.queue.name())
            .field("owner", &self.inner.lease.owner)
            .finish_non_exhaustive()
    }
}

impl<Q: Queue> QueueWorker<Q> {
    /// A worker for `queue` on node `node`, on the facade's clock (so tests move its time).
    pub fn new(tessera: &Tessera, queue: Q, node: &str, settings: WorkerSettings) -> Self {
        Self::with_clock(tessera.clock(), queue, node, settings)
    }

    pub(crate) fn with_clock(
        clock: Arc<dyn Clock>,
        queue: Q,
        node: &str,
        settings: WorkerSettings,
    ) -> Self {
        let item_timeout = settings.item_timeout.min(settings.lease);
        Self {
            inner: Arc::new(Inner {
                queue,
                clock,
                lease: Lease {
                    owner: node.to_owned(),
                    duration: settings.lease,
                },
                settings: WorkerSettings {
                    item_timeout,
                    ..settings
                },
            }),
        }
    }

    /// The queue's name.
    pub fn name(&self) -> &'static str {
        self.inner.queue.name()
    }

    /// One round: claims up to a batch of due items, works on them concurrently and records each outcome
    /// before returning. Returns how many items it claimed.
    pub async fn run_once(&self) -> Result<usize> {
        let inner = &self.inner;
        let until = inner.clock.now() + inner.settings.lease;
        let items = inner
            .queue
            .claim(&inner.lease, until, inner.settings.batch)
            .await?;
        let claimed = items.len();
        let mut work = tokio::task::JoinSet::new();
        for item in items {
            let inner = self.inner.clone();
            work.spawn(async move { inner.work(item).await });
        }
        while let Some(done) = work.join_next().await {
            if done.is_err() {
                tracing::error!(
                    queue = inner.queue.name(),
                    "a queue item's work panicked; its lease will expire and it will be tried again"
                );
            }
        }
        Ok(claimed)
    }

    /// Works the queue until `stop` turns true. A round that claimed anything is followed at once by the
    /// next; an empty one by a wait of `poll`. Stopping never cuts a round short: the items in hand are finished and
    /// recorded first.
    pub async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let name = self.name();
        tracing::info!(queue = name, owner = %self.inner.lease.owner, "queue worker started");
        loop {
            if *stop.borrow() {
                break;
            }
            // After a round that found work, look again at once: more may be due (the next mail to a
            // recipient becomes due when the one before it is sent).
            let busy = match self.run_once().await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(queue = name, error = %e, "claiming queue items failed; will retry");
                    false
                }
            };
            if busy {
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(self.inner.settings.poll) => {}
                _ = stop.wait_for(|v| *v) => break,
            }
        }
        tracing::info!(queue = name, "queue worker stopped");
    }
}

impl<Q: Queue> Inner<Q> {
    /// Works on one claimed item and records the outcome under the claim.
    async fn work(&self, item: Q::Item) {
        let name = self.queue.name();
        let id = Q::id(&item);
        let attempts = Q::attempts(&item);
        let outcome =
            match tokio::time::timeout(self.settings.item_timeout, self.queue.process(&item)).await
            {
                Ok(r) => r,
                Err(_) => Err(Failure::transient(format!(
                    "no result within {} ms",
                    self.settings.item_timeout.as_millis()
                ))),
            };
        let recorded = match outcome {
            Ok(()) => {
                let r = self.queue.complete(&self.lease, &item).await;
                if let Ok(true) = r {
                    finished(name, "done", attempts);
                }
                r
            }
            Err(f) => {
                let wait = if f.permanent {
                    None
                } else {
                    self.settings.retry.delay(attempts)
                };
                match wait {
                    Some(wait) => {
                        let at = self.clock.now() + wait;
                        tracing::warn!(queue = name, %id, attempts, error = %f.error, retry_in_ms = wait.as_millis() as u64, "queue item failed; will retry");
                        let r = self.queue.retry(&self.lease, &item, at, &f.error).await;
                        if let Ok(true) = r {
                            metrics::counter!("tessera_queue_items_total", "queue" => name, "outcome" => "retry").increment(1);
                        }
                        r
                    }
                    None => {
                        tracing::warn!(queue = name, %id, attempts, error = %f.error, permanent = f.permanent, "queue item given up: it is a dead letter until replayed");
                        let r = self.queue.bury(&self.lease, &item, &f.error).await;
                        if let Ok(true) = r {
                            finished(name, "dead", attempts);
                        }
                        r
                    }
                }
            }
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => {
                metrics::counter!("tessera_queue_items_total", "queue" => name, "outcome" => "lease_lost").increment(1);
                tracing::warn!(queue = name, %id, "another node took this item over after the lease ran out; it may have been worked on twice");
            }
            Err(e) => {
                tracing::warn!(queue = name, %id, error = %e, "recording a queue item's outcome failed; it is tried again once its lease runs out")
            }
        }
    }
}

/// Counts an item leaving the queue (done or dead) and the attempts it took.
fn finished(queue: &'static str, outcome: &'static str, attempts: u32) {
    metrics::counter!("tessera_queue_items_total", "queue" => queue, "outcome" => outcome)
        .increment(1);
    metrics::histogram!("tessera_queue_attempts", "queue" => queue, "outcome" => outcome)
        .record(f64::from(attempts));
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Debug)]
    struct FixedClock(OffsetDateTime);

    impl Clock for FixedClock {
        fn now(&self) -> OffsetDateTime {
            self.0
        }
    }

    /// An in-memory queue that answers each item with `answer` after `work` and records what the worker
    /// told it.
    struct Fake {
        due: Due,
        answer: Result<(), Failure>,
        work: Duration,
        log: Log,
    }

    impl Queue for Fake {
        type Item = (uuid::Uuid, u32);

        fn name(&self) -> &'static str {
            "fake"
        }

        async fn claim(&self, _: &Lease, _: OffsetDateTime, limit: u32) -> Result<Vec<Self::Item>> {
            let mut due = self.due.lock().unwrap();
            let n = due.len().min(limit as usize);
            Ok(due
                .drain(..n)
                .map(|(id, attempts)| (id, attempts + 1))
                .collect())
        }

        async fn process(&self, _: &Self::Item) -> Result<(), Failure> {
            tokio::time::sleep(self.work).await;
            self.answer.clone()
        }

        async fn complete(&self, _: &Lease, item: &Self::Item) -> Result<bool> {
            self.log.lock().unwrap().push(format!("done {}", item.1));
            Ok(true)
        }

        async fn retry(
            &self,
            _: &Lease,
            item: &Self::Item,
            at: OffsetDateTime,
            error: &str,
        ) -> Result<bool> {
            let wait = (at - start()).whole_milliseconds();
            self.log
                .lock()
                .unwrap()
                .push(format!("retry {} in {wait} ms: {error}", item.1));
            Ok(true)
        }

        async fn bury(&self, _: &Lease, item: &Self::Item, error: &str) -> Result<bool> {
            self.log
                .lock()
                .unwrap()
                .push(format!("bury {}: {error}", item.1));
            Ok(true)
        }

        fn attempts(item: &Self::Item) -> u32 {
            item.1
        }

        fn id(item: &Self::Item) -> uuid::Uuid {
            item.0
        }
    }

    type Log = Arc<Mutex<Vec<String>>>;
    type Due = Arc<Mutex<Vec<(uuid::Uuid, u32)>>>;

    fn start() -> OffsetDateTime {
        time::macros::datetime!(2030-01-01 00:00 UTC)
    }

    fn worker(
        items: &[u32],
        answer: Result<(), Failure>,
        work: Duration,
    ) -> (QueueWorker<Fake>, Log, Due) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let due = Arc::new(Mutex::new(
            items.iter().map(|a| (uuid::Uuid::new_v4(), *a)).collect(),
        ));
        let fake = Fake {
            due: due.clone(),
            answer,
            work,
            log: log.clone(),
        };
        let settings = WorkerSettings {
            lease: Duration::from_secs(60),
            item_timeout: Duration::from_millis(300),
            batch: 10,
            poll: Duration::from_millis(20),
            retry: RetryPolicy::new(Duration::from_secs(5), Duration::from_secs(900), 3)
                .with_jitter(Arc::new(|| 1.0)),
        };
        let w = QueueWorker::with_clock(Arc::new(FixedClock(start())), fake, "node-a", settings);
        (w, log, due)
    }

    fn sorted(log: &Mutex<Vec<String>>) -> Vec<String> {
        let mut l = log.lock().unwrap().clone();
        l.sort();
        l
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried_with_backoff_until_the_last_attempt() {
        let (w, log, _) = worker(
            &[0, 1, 2],
            Err(Failure::transient("421 busy")),
            Duration::ZERO,
        );
        assert_eq!(w.run_once().await.unwrap(), 3);
        assert_eq!(
            sorted(&log),
            [
                "bury 3: 421 busy",
                "retry 1 in 5000 ms: 421 busy",
                "retry 2 in 10000 ms: 421 busy",
            ]
        );
    }

    #[tokio::test]
    async fn a_permanent_failure_is_a_dead_letter_at_once() {
        let (w, log, _) = worker(
            &[0],
            Err(Failure::permanent("550 no such user")),
            Duration::ZERO,
        );
        w.run_once().await.unwrap();
        assert_eq!(sorted(&log), ["bury 1: 550 no such user"]);
    }

    #[tokio::test]
    async fn work_that_outlasts_its_timeout_is_a_transient_failure() {
        let (w, log, _) = worker(&[0], Ok(()), Duration::from_secs(5));
        w.run_once().await.unwrap();
        assert_eq!(
            sorted(&log),
            ["retry 1 in 5000 ms: no result within 300 ms"]
        );
    }

    #[tokio::test]
    async fn a_batch_is_claimed_at_most_batch_at_a_time_and_worked_concurrently() {
        let (w, log, _) = worker(&[0; 25], Ok(()), Duration::from_millis(100));
        let t = std::time::Instant::now();
        assert_eq!(w.run_once().await.unwrap(), 10);
        assert!(
            t.elapsed() < Duration::from_millis(900),
            "concurrently: {:?}",
            t.elapsed()
        );
        assert_eq!(log.lock().unwrap().len(), 10);
    }

    #[tokio::test]
    async fn stopping_finishes_the_items_in_hand() {
        let (w, log, due) = worker(&[0, 0], Ok(()), Duration::from_millis(300));
        let (tx, rx) = tokio::sync::watch::channel(false);
        let run = tokio::spawn(w.run(rx));
        while !due.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tx.send(true).unwrap();
        assert!(
            log.lock().unwrap().is_empty(),
            "stopped while the items are in hand"
        );
        run.await.unwrap();
        assert_eq!(
            sorted(&log),
            ["done 1", "done 1"],
            "both finished and recorded"
        );
    }
}
