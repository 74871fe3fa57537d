//! A real SMTP listener on 127.0.0.1 that keeps every mail it is given. Test servers send their mail to it
//! as a production node sends to its relay, so tests read codes and links from what actually went over
//! the wire (MIME, transfer encodings and all), not from the development mailbox.
//!
//! It can misbehave on request, as relays do: refuse every mail for a while (a transient `421`), take its
//! time over each mail, and refuse recipients whose address starts with `reject-` for good (`550`).
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One mail as it arrived: the envelope recipients and the decoded parts.
#[derive(Debug, Clone, Default)]
pub struct CapturedMail {
    /// `RCPT TO` addresses.
    pub to: Vec<String>,
    /// The `X-Tessera-Template` header Tessera puts on every mail.
    pub template: String,
    /// The decoded `Subject`.
    pub subject: String,
    /// The decoded `text/plain` part.
    pub text: String,
    /// The decoded `text/html` part.
    pub html: String,
    /// The message as received (after dot-unstuffing), for tests that look at headers.
    pub raw: String,
}

impl CapturedMail {
    /// The shape the development mailbox uses (`to`, `template`, `subject`, `text`, `html`), so tests read
    /// either the same way.
    pub fn to_json(&self) -> Value {
        json!({
            "to": self.to.first().cloned().unwrap_or_default(),
            "template": self.template,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
        })
    }
}

/// The capture listener; dropped with its [`crate::TestServer`].
#[derive(Debug)]
pub struct SmtpCapture {
    pub port: u16,
    mails: Arc<Mutex<Vec<CapturedMail>>>,
    control: Arc<Control>,
    task: tokio::task::JoinHandle<()>,
}

/// How the listener behaves, changed while it runs.
#[derive(Debug, Default)]
struct Control {
    refusing: AtomicBool,
    delay_ms: AtomicU64,
    refused: AtomicU64,
}

/// The answer a relay gives when it cannot take mail now; the client closes and tries later.
const NOT_NOW: &[u8] = b"421 4.3.2 capture is not accepting mail now\r\n";

impl Drop for SmtpCapture {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpCapture {
    /// Binds 127.0.0.1:0 and starts accepting.
    pub async fn start() -> SmtpCapture {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let control = Arc::new(Control::default());
        let (store, ctl) = (mails.clone(), control.clone());
        let task = tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(session(sock, store.clone(), ctl.clone()));
            }
        });
        SmtpCapture {
            port,
            mails,
            control,
            task,
        }
    }

    /// While on, every new conversation and every mail on an open one is refused with a transient
    /// `421`, as a relay that is down or overloaded answers.
    pub fn refuse(&self, on: bool) {
        self.control.refusing.store(on, Ordering::SeqCst);
    }

    /// How many times mail was refused so far.
    pub fn refused(&self) -> u64 {
        self.control.refused.load(Ordering::SeqCst)
    }

    /// Waits this long before accepting each mail, as a slow relay does.
    pub fn delay(&self, d: Duration) {
        self.control.delay_ms.store(
            u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every mail received so far, oldest first.
    pub fn mails(&self) -> Vec<CapturedMail> {
        self.mails.lock().unwrap().clone()
    }
}

/// One SMTP conversation: enough of RFC 5321 for lettre (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT).
async fn session(
    sock: tokio::net::TcpStream,
    store: Arc<Mutex<Vec<CapturedMail>>>,
    control: Arc<Control>,
) {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    let refusing = || {
        let on = control.refusing.load(Ordering::SeqCst);
        if on {
            control.refused.fetch_add(1, Ordering::SeqCst);
        }
        on
    };
    if refusing() {
        let _ = w.write_all(NOT_NOW).await;
        return;
    }
    if w.write_all(b"220 capture ESMTP\r\n").await.is_err() {
        return;
    }
    let mut rcpt = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        match r.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let cmd = text.trim_end().to_owned();
        let upper = cmd.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250-capture\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n"
        } else if upper.starts_with("MAIL FROM") && refusing() {
            let _ = w.write_all(NOT_NOW).await;
            return;
        } else if upper.starts_with("MAIL FROM") || upper.starts_with("RSET") {
            rcpt.clear();
            b"250 ok\r\n"
        } else if upper.starts_with("RCPT TO") {
            let addr = cmd
                .split_once(':')
                .map(|(_, a)| a.trim())
                .unwrap_or_default();
            let addr = addr.split_once('>').map(|(a, _)| a).unwrap_or(addr);
            let addr = addr.trim_start_matches('<');
            if addr.starts_with("reject-") {
                b"550 5.1.1 no such mailbox here\r\n"
            } else {
                rcpt.push(addr.to_owned());
                b"250 ok\r\n"
            }
        } else if upper.starts_with("DATA") {
            if w.write_all(b"354 go ahead\r\n").await.is_err() {
                return;
            }
            let mut raw = String::new();
            loop {
                line.clear();
                match r.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let l = String::from_utf8_lossy(&line);
                let l = l.trim_end_matches(['\r', '\n']);
                if l == "." {
                    break;
                }
                raw.push_str(l.strip_prefix('.').unwrap_or(l));
                raw.push('\n');
            }
            let delay = control.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let mut mail = parse(&raw);
            mail.to = std::mem::take(&mut rcpt);
            store.lock().unwrap().push(mail);
            b"250 queued\r\n"
        } else if upper.starts_with("QUIT") {
            let _ = w.write_all(b"221 bye\r\n").await;
            return;
        } else {
            b"250 ok\r\n"
        };
        if w.write_all(reply).await.is_err() {
            return;
        }
    }
}

/// Splits a header block from its body and unfolds the headers.
fn split_headers(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = raw.split_once("\n\n").unwrap_or((raw, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for l in head.lines() {
        if l.starts_with([' ', '\t']) {
            if let Some((_, v)) = headers.last_mut() {
                v.push_str(l.trim_start());
            }
        } else if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    (headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Decodes RFC 2047 `=?utf-8?b?…?=` words (what lettre writes for non-ASCII headers).
fn decode_words(v: &str) -> String {
    let mut out = String::new();
    let mut last_was_word = false;
    for part in v.split_whitespace() {
        let word = part
            .strip_prefix("=?")
            .and_then(|p| p.strip_suffix("?="))
            .and_then(|p| {
                let mut it = p.splitn(3, '?');
                let (_, enc, data) = (it.next()?, it.next()?, it.next()?);
                match enc {
                    "b" | "B" => base64::engine::general_purpose::STANDARD
                        .decode(data)
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok()),
                    _ => Some(String::from_utf8(quoted_printable(&data.replace('_', " "))).ok()?),
                }
            });
        match word {
            Some(w) => {
                if !last_was_word && !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(&w);
                last_was_word = true;
            }
            None => {
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(part);
                last_was_word = false;
            }
        }
    }
    out
}

/// Decodes a quoted-printable body (soft line breaks and `=XX` escapes).
fn quoted_printable(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            if let Some(Ok(v)) = s.get(i + 1..i + 3).map(|h| u8::from_str_radix(h, 16)) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Decodes a body by its `Content-Transfer-Encoding`.
fn decode_body(headers: &[(String, String)], body: &str) -> String {
    let enc = header(headers, "content-transfer-encoding")
        .unwrap_or("7bit")
        .to_ascii_lowercase();
    match enc.as_str() {
        "base64" => {
            let compact: String = body.split_whitespace().collect();
            String::from_utf8_lossy(
                &base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .unwrap_or_default(),
            )
            .into_owned()
        }
        "quoted-printable" => String::from_utf8_lossy(&quoted_printable(body)).into_owned(),
        _ => body.to_owned(),
    }
}

/// Reads the subject, template and the text and HTML parts of a message.
fn parse(raw: &str) -> CapturedMail {
    let (headers, body) = split_headers(raw);
    let mut mail = CapturedMail {
        subject: header(&headers, "subject")
            .map(decode_words)
            .unwrap_or_default(),
        template: header(&headers, "x-tessera-template")
            .unwrap_or_default()
            .to_owned(),
        raw: raw.to_owned(),
        ..CapturedMail::default()
    };
    collect_parts(&headers, body, &mut mail);
    mail
}

/// Walks a (possibly multipart) body and keeps the first text/plain and text/html parts.
fn collect_parts(headers: &[(String, String)], body: &str, mail: &mut CapturedMail) {
    let ctype = header(headers, "content-type").unwrap_or("text/plain");
    let lower = ctype.to_ascii_lowercase();
    if lower.starts_with("multipart/") {
        let Some(boundary) = ctype.split(';').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.eq_ignore_ascii_case("boundary")
                .then(|| v.trim_matches('"').to_owned())
        }) else {
            return;
        };
        let delim = format!("--{boundary}");
        for part in body.split(delim.as_str()).skip(1) {
            if part.starts_with("--") {
                break;
            }
            let part = part.strip_prefix('\n').unwrap_or(part);
            let (h, b) = split_headers(part);
            collect_parts(&h, b.strip_suffix('\n').unwrap_or(b), mail);
        }
    } else if lower.starts_with("text/html") {
        if mail.html.is_empty() {
            mail.html = decode_body(headers, body);
        }
    } else if mail.text.is_empty() {
        mail.text = decode_body(headers, body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_printable_and_encoded_words_are_decoded() {
        assert_eq!(
            quoted_printable("a=3Db and a soft=\nbreak"),
            b"a=b and a softbreak"
        );
        assert_eq!(decode_words("=?utf-8?b?QWRyacOhbg==?="), "Adrián");
        assert_eq!(decode_words("Plain subject"), "Plain subject");
    }

    #[test]
    fn a_multipart_message_gives_its_text_and_html() {
        let raw = "Subject: Hi\nX-Tessera-Template: recovery_code\nContent-Type: multipart/alternative;\n boundary=\"XYZ\"\n\n--XYZ\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\nYour code is 123456. http://x/t/default/flows/link?token=3Dabc=\ndef\n--XYZ\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\nPGI+aGk8L2I+\n--XYZ--\n";
        let m = parse(raw);
        assert_eq!(m.subject, "Hi");
        assert_eq!(m.template, "recovery_code");
        assert_eq!(
            m.text,
            "Your code is 123456. http://x/t/default/flows/link?token=abcdef"
        );
        assert_eq!(m.html, "<b>hi</b>");
    }
}
