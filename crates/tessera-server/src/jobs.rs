//! The background jobs a serving node runs (see `tessera_core::jobs`): the flow sweeper, the mail
//! scrubber, the guard sweeper, SQLite's log checkpointer (every second), the key ring's rotation and retirement and the OAuth token sweeper
//! (expired refresh-token families, assertion `jti`s, revocations) and the logout notice sweeper every
//! `sweep_interval_secs`, the audit sealer every `audit_seal_interval_secs`, the back-channel logout
//! worker, and, on a node with SMTP, the mail queue's worker. Every node runs them all:
//! the sweeps are idempotent, the sealer claims its checkpoints through a unique constraint, and mail is
//! claimed with a lease.
use std::sync::Arc;
use std::time::Duration;

use tessera_core::Tessera;
use tessera_core::config::Config;
use tessera_core::jobs::{QueueWorker, RetryPolicy, Runner, WorkerSettings, node_id};
use tessera_core::mail::MailQueue;
use tessera_core::oauth::backchannel::LogoutQueue;

use crate::mail::{SmtpMailer, SmtpSender};
use crate::views::Views;

/// The longest wait between two attempts at a mail.
const MAIL_RETRY_CAP: Duration = Duration::from_secs(15 * 60);

/// How the mail worker runs. A claim (60 s) outlasts the longest an item may take (30 s: rendering, and
/// an SMTP conversation whose every step the transport cuts off after 10 s), so a live node keeps its
/// claims; ten mails are sent at once over the transport's pooled connections.
pub fn mail_worker_settings(config: &Config) -> WorkerSettings {
    WorkerSettings {
        lease: Duration::from_secs(60),
        item_timeout: Duration::from_secs(30),
        batch: 10,
        poll: Duration::from_millis(500),
        retry: RetryPolicy::new(
            Duration::from_millis(config.mail_retry_base_ms.max(1)),
            MAIL_RETRY_CAP,
            config.mail_max_attempts,
        ),
    }
}

/// How the back-channel logout worker runs: a claim (30 s) outlasts the longest delivery (the
/// sender's 5 s limit, 10 s with signing and recording); retries back off from
/// `backchannel_retry_base_ms` to at most 15 minutes, and `backchannel_max_attempts` attempts in all.
pub fn logout_worker_settings(config: &Config) -> WorkerSettings {
    WorkerSettings {
        lease: Duration::from_secs(30),
        item_timeout: Duration::from_secs(10),
        batch: 10,
        poll: Duration::from_millis(500),
        retry: RetryPolicy::new(
            Duration::from_millis(config.backchannel_retry_base_ms.max(1)),
            MAIL_RETRY_CAP,
            config.backchannel_max_attempts,
        ),
    }
}

/// Runs `job` on a clone of the facade every `interval`.
fn periodic<F, Fut, T>(
    runner: &mut Runner,
    name: &'static str,
    interval: Duration,
    tessera: &Tessera,
    job: F,
) where
    F: Fn(Tessera) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = tessera_core::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let tessera = tessera.clone();
    runner.every(name, interval, move || job(tessera.clone()));
}

/// Starts this node's jobs; they stop once `stop` turns true (see [`Runner::join`]).
pub fn start(
    tessera: &Tessera,
    config: &Config,
    views: &Views,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Runner, String> {
    let mut runner = Runner::new(stop);
    let sweep = Duration::from_secs(config.sweep_interval_secs.max(1));
    let seal = Duration::from_secs(config.audit_seal_interval_secs.max(1));
    let r = &mut runner;
    periodic(r, "flow_sweeper", sweep, tessera, |t| async move {
        t.flows().sweep().await
    });
    periodic(r, "mail_scrubber", sweep, tessera, |t| async move {
        t.outbox().scrub_expired().await
    });
    periodic(r, "guard_sweeper", sweep, tessera, |t| async move {
        t.sweep_guard().await
    });
    // SQLite only (a no-op on PostgreSQL): the log is moved into the database file every second here,
    // so no request's commit has to.
    periodic(
        r,
        "wal_checkpointer",
        Duration::from_secs(1),
        tessera,
        |t| async move { t.checkpoint_log().await },
    );
    // Argon2id's working memory (m_cost per permit) is given back once no sign-in used it for a while.
    periodic(
        r,
        "password_memory_trimmer",
        Duration::from_secs(5),
        tessera,
        |t| async move { Ok(t.passwords().release_idle(Duration::from_secs(10))) },
    );
    // Events younger than this may still be committing on another node; they are sealed next time.
    let margin = time::Duration::seconds(5);
    periodic(r, "audit_sealer", seal, tessera, move |t| async move {
        t.audit().seal(margin).await
    });
    // Keys rotate after `signing_key_rotation_days` (never when 0) and retire once their tokens expired;
    // checked every sweep, each move conditional, so every node may run it.
    let rotate_every = (config.signing_key_rotation_days > 0).then(|| {
        // At most a century, so the date arithmetic stays in range.
        time::Duration::days(
            i64::try_from(config.signing_key_rotation_days.min(36_500)).unwrap_or(36_500),
        )
    });
    periodic(r, "key_ring", sweep, tessera, move |t| async move {
        t.signing_keys().maintain(rotate_every).await
    });
    periodic(r, "oauth_token_sweeper", sweep, tessera, |t| async move {
        t.oauth().sweep_expired().await
    });
    periodic(r, "logout_notice_sweeper", sweep, tessera, |t| async move {
        t.oauth().sweep_logout_notices().await
    });
    // Back-channel logout needs no SMTP: every node works the notices, each claimed once.
    let sender = crate::backchannel::HttpLogoutSender {
        allow_private_networks: config.backchannel_allow_private_networks,
        dev_mode: config.dev_mode,
    };
    runner.queue(QueueWorker::new(
        tessera,
        LogoutQueue::new(tessera.clone(), Arc::new(sender)),
        &node_id(),
        logout_worker_settings(config),
    ));
    if let Some(url) = &config.smtp_url {
        let sender = SmtpSender::new(url, &config.smtp_from)?;
        let mailer = SmtpMailer {
            views: views.clone(),
            sender,
        };
        let queue = MailQueue::new(tessera.clone(), Arc::new(mailer));
        runner.queue(QueueWorker::new(
            tessera,
            queue,
            &node_id(),
            mail_worker_settings(config),
        ));
        tracing::info!("mail delivery over SMTP started");
    }
    Ok(runner)
}

/// Samples the queues' gauges (depth, age of the oldest item, dead letters) for a metrics scrape. A
/// database that does not answer leaves the last values in place.
pub async fn sample_queue_metrics(tessera: &Tessera) {
    match tessera.outbox().stats().await {
        Ok(q) => {
            metrics::gauge!("tessera_queue_depth", "queue" => "mail").set(q.depth as f64);
            metrics::gauge!("tessera_queue_oldest_age_seconds", "queue" => "mail")
                .set(q.oldest_age_secs);
            metrics::gauge!("tessera_queue_dead", "queue" => "mail").set(q.dead as f64);
        }
        Err(e) => tracing::debug!(error = %e, "sampling the mail queue failed"),
    }
}
