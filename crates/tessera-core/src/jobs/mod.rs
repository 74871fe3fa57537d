//! Background work, on every node: **queues**, whose items live in the database and are claimed with a
//! lease so that one node at a time works on an item (mail today; webhook deliveries and SCIM push
//! next), and **periodic jobs** (the flow sweeper, the mail scrubber, the guard sweeper, the audit sealer),
//! which are idempotent or claim their own work through the database, so every node may run them.
//!
//! A [`Runner`] starts both kinds, each as its own named task, and stops them through the serving node's
//! shutdown channel: a periodic job finishes the run it is in, a queue worker the items it holds.
//!
//! Delivery is exactly once within the lease guarantee: an item is marked done by the node whose lease
//! covers it, in one conditional statement, and no other node can claim it while that lease lives. What
//! remains at least once: a node that crashes after the work took effect (the SMTP server accepted the
//! mail) and before it was recorded leaves the item claimable once its lease runs out, and it is done
//! again; so is an item whose recording failed because the database was unreachable.
mod backoff;
mod queue;

use std::future::Future;
use std::time::{Duration, Instant};

pub use backoff::{Jitter, RetryPolicy};
pub use queue::{Failure, Lease, Queue, QueueWorker, WorkerSettings};

use crate::Result;

/// A fresh id for this node's claims: the process id (for operators reading the database) and a random
/// part (a restarted process never mistakes its predecessor's claims for its own).
pub fn node_id() -> String {
    format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple())
}

/// Starts background jobs and stops them together.
#[derive(Debug)]
pub struct Runner {
    stop: tokio::sync::watch::Receiver<bool>,
    tasks: Vec<(&'static str, tokio::task::JoinHandle<()>)>,
}

impl Runner {
    /// A runner whose jobs stop once `stop` turns true.
    pub fn new(stop: tokio::sync::watch::Receiver<bool>) -> Self {
        Self {
            stop,
            tasks: Vec::new(),
        }
    }

    /// Runs `job` every `interval` (the first run one interval after the start) until stopped. A failed
    /// run is logged and counted; the next runs on schedule.
    pub fn every<F, Fut, T>(&mut self, name: &'static str, interval: Duration, job: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<T>> + Send + 'static,
        T: Send + 'static,
    {
        let mut stop = self.stop.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(interval) => {}
                    _ = stop.wait_for(|v| *v) => return,
                }
                let started = Instant::now();
                let outcome = match job().await {
                    Ok(_) => "ok",
                    Err(e) => {
                        tracing::warn!(job = name, error = %e, "background job failed; will retry");
                        "error"
                    }
                };
                metrics::counter!("tessera_job_runs_total", "job" => name, "outcome" => outcome)
                    .increment(1);
                metrics::histogram!("tessera_job_duration_seconds", "job" => name)
                    .record(started.elapsed().as_secs_f64());
            }
        });
        self.tasks.push((name, task));
    }

    /// Works a queue until stopped.
    pub fn queue<Q: Queue>(&mut self, worker: QueueWorker<Q>) {
        let name = worker.name();
        let task = tokio::spawn(worker.run(self.stop.clone()));
        self.tasks.push((name, task));
    }

    /// The names of the jobs, in the order they were started.
    pub fn names(&self) -> Vec<&'static str> {
        self.tasks.iter().map(|(n, _)| *n).collect()
    }

    /// Waits (after the stop signal) for every job to finish what it is doing, at most `grace`. A job
    /// still busy then is abandoned: a queue item it held is claimed again once its lease runs out.
    pub async fn join(mut self, grace: Duration) {
        let all = async {
            for (_, task) in &mut self.tasks {
                let _ = task.await;
            }
        };
        if tokio::time::timeout(grace, all).await.is_err() {
            for (name, task) in &self.tasks {
                if !task.is_finished() {
                    tracing::warn!(
                        job = *name,
                        "background job still busy after the grace period; abandoned"
                    );
                    task.abort();
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn periodic_jobs_run_on_their_own_intervals_and_finish_the_run_they_are_in() {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut runner = Runner::new(rx);
        let (fast, slow) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
        let began = Arc::new(AtomicU32::new(0));
        let f = fast.clone();
        runner.every("fast", Duration::from_millis(10), move || {
            let f = f.clone();
            async move { Ok(f.fetch_add(1, Ordering::SeqCst)) }
        });
        let (s, b) = (slow.clone(), began.clone());
        runner.every("slow", Duration::from_millis(150), move || {
            let (s, b) = (s.clone(), b.clone());
            async move {
                b.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(s.fetch_add(1, Ordering::SeqCst))
            }
        });
        assert_eq!(runner.names(), ["fast", "slow"]);
        while began.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tx.send(true).unwrap();
        runner.join(Duration::from_secs(5)).await;
        assert!(
            fast.load(Ordering::SeqCst) >= 3,
            "the fast job ran on its own, shorter interval"
        );
        assert_eq!(
            slow.load(Ordering::SeqCst),
            1,
            "the slow job's run in progress at the stop was finished, and no other began"
        );
    }

    #[tokio::test]
    async fn a_job_busy_past_the_grace_period_is_abandoned() {
        let (tx, rx) = tokio::sync::watch::channel(false);
        let mut runner = Runner::new(rx);
        runner.every("stuck", Duration::from_millis(1), || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        tx.send(true).unwrap();
        let t = Instant::now();
        runner.join(Duration::from_millis(100)).await;
        assert!(t.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn node_ids_differ_per_start() {
        assert_ne!(node_id(), node_id());
        assert!(node_id().starts_with(&format!("{}-", std::process::id())));
    }
}
