//! Mail delivery. Mails are queued in the database by the flows; the mail queue's worker (see
//! `tessera_core::mail::MailQueue`) hands each to [`SmtpMailer`], which renders it with the tenant's
//! templates and sends it over SMTP. Without SMTP, nothing is sent. On a development node
//! (`serve --dev` with a loopback base URL) the development mailbox on the admin listener shows the
//! queued mails to loopback clients, so a newcomer can finish sign-up with nothing else installed. The
//! mailbox hands out every code and link of every tenant, so nothing else ever sees it.
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Serialize;
use tessera_core::jobs::Failure;
use tessera_core::mail::{MailSender, OutboxMail};

use crate::AppState;
use crate::views::{Locale, Views};

/// Names the template of every sent mail, for mail-provider tagging and for tests reading a real SMTP
/// capture. The name is a fixed identifier (`recovery_code`…), never personal data.
const TEMPLATE_HEADER: HeaderName = HeaderName::new_from_ascii_str("X-Tessera-Template");

/// An SMTP sender.
#[derive(Clone)]
pub struct SmtpSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for SmtpSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSender")
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

impl SmtpSender {
    /// Builds a sender from `smtp://…`/`smtps://…` and the sender address.
    pub fn new(url: &str, from: &str) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("smtp_url: {e}"))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let from = from
            .parse::<Mailbox>()
            .map_err(|e| format!("smtp_from {from:?}: {e}"))?;
        Ok(Self { transport, from })
    }

    /// Renders a mail with the tenant's templates and hands it to the SMTP server. A mail that cannot be
    /// rendered or addressed, or that the server refuses for good (5xx), fails permanently: trying again
    /// cannot help.
    async fn deliver(&self, views: &Views, m: &OutboxMail) -> Result<(), Failure> {
        let locale = Locale::from_tag(&m.mail.locale).unwrap_or_default();
        let rendered = views
            .render_mail(&m.tenant_slug, &locale, &m.mail.template, &m.mail.vars)
            .map_err(|e| Failure::permanent(e.to_string()))?;
        let to = m
            .mail
            .to_address
            .parse::<Mailbox>()
            .map_err(|e| Failure::permanent(format!("recipient: {e}")))?;
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .raw_header(HeaderValue::new(TEMPLATE_HEADER, m.mail.template.clone()))
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| Failure::permanent(e.to_string()))?;
        self.transport.send(msg).await.map(drop).map_err(|e| {
            if e.is_permanent() {
                Failure::permanent(e.to_string())
            } else {
                Failure::transient(e.to_string())
            }
        })
    }
}

/// The mail queue's sender on a node with SMTP: renders with the node's views, sends with lettre.
#[derive(Debug, Clone)]
pub struct SmtpMailer {
    pub views: Views,
    pub sender: SmtpSender,
}

impl MailSender for SmtpMailer {
    fn send<'a>(
        &'a self,
        mail: &'a OutboxMail,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Failure>> + Send + 'a>> {
        Box::pin(self.sender.deliver(&self.views, mail))
    }
}

/// One mail as the development mailbox shows it.
#[derive(Debug, Serialize)]
pub struct MailboxEntry {
    pub to: String,
    pub template: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub created_at: String,
}

async fn entries(app: &AppState) -> Result<Vec<MailboxEntry>, tessera_core::CoreError> {
    let mails = app.tessera.outbox().recent(50).await?;
    Ok(mails
        .into_iter()
        .filter_map(|m| {
            let locale = Locale::from_tag(&m.mail.locale).unwrap_or_default();
            let r = app
                .views
                .render_mail(&m.tenant_slug, &locale, &m.mail.template, &m.mail.vars)
                .ok()?;
            Some(MailboxEntry {
                to: m.mail.to_address,
                template: m.mail.template,
                subject: r.subject,
                text: r.text,
                html: r.html,
                created_at: m.mail.created_at.to_string(),
            })
        })
        .collect())
}

/// Who may see the dev mailbox: only a development node's own machine. The TCP peer must be a loopback
/// address, and a request relayed by a proxy (which makes every client look local) is refused; headers
/// naming a client are never believed.
fn mailbox_open(app: &AppState, peer: Option<std::net::SocketAddr>, headers: &HeaderMap) -> bool {
    app.dev_mailbox
        && peer.is_some_and(|p| p.ip().to_canonical().is_loopback())
        && !["forwarded", "x-forwarded-for", "x-real-ip"]
            .iter()
            .any(|h| headers.contains_key(*h))
}

type Peer = Result<ConnectInfo<std::net::SocketAddr>, axum::extract::rejection::ExtensionRejection>;

fn peer_of(p: Peer) -> Option<std::net::SocketAddr> {
    p.ok().map(|ConnectInfo(a)| a)
}

/// `GET /dev/mailbox.json` on the admin listener of a development node, to loopback clients only.
pub async fn mailbox_json(State(app): State<AppState>, peer: Peer, headers: HeaderMap) -> Response {
    if !mailbox_open(&app, peer_of(peer), &headers) {
        return crate::error::ApiError::NotFound.into_response();
    }
    match entries(&app).await {
        Ok(e) => Json(e).into_response(),
        Err(e) => crate::error::ApiError::Core(e).into_response(),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /dev/mailbox`: the newest mails as a page, under the same rule as [`mailbox_json`].
pub async fn mailbox_page(State(app): State<AppState>, peer: Peer, headers: HeaderMap) -> Response {
    if !mailbox_open(&app, peer_of(peer), &headers) {
        return crate::error::ApiError::NotFound.into_response();
    }
    let list = match entries(&app).await {
        Ok(e) => e,
        Err(e) => return crate::error::ApiError::Core(e).into_response(),
    };
    let mut html = String::from(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width\"><title>Tessera dev mailbox</title>\
         <link rel=stylesheet href=\"/assets/tessera.css\"></head><body><main><h1>Development mailbox</h1>\
         <p>Development mode: no SMTP server is configured, so mails stay here until their codes expire. Newest first.</p>",
    );
    if list.is_empty() {
        html.push_str("<p>No mail yet.</p>");
    }
    for m in list {
        html.push_str(&format!(
            "<article class=mail><h2>{}</h2><p>To: <strong>{}</strong> · {} · {}</p><pre>{}</pre></article>",
            escape(&m.subject),
            escape(&m.to),
            escape(&m.template),
            escape(&m.created_at),
            escape(&m.text)
        ));
    }
    html.push_str("</main></body></html>");
    let mut r = (StatusCode::OK, html).into_response();
    crate::public::html_headers(&mut r, false, None);
    r
}
