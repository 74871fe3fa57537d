//! How a node writes its log: one event per line on stderr, as text or JSON. Whatever an event carries (an
//! error that quotes input, a value a client chose), a line never holds a raw CR or LF (LOG-02), so no input
//! can forge or split a log line. The binary and the tests build their subscriber here, so the tests read
//! exactly what an operator would.
use std::io::{self, Write};

use tessera_core::config::LogFormat;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The subscriber a node logs through: `filter` is a tracing filter (`info`, `tessera=debug`; `info` when it
/// does not parse), and every line goes to `writer` with CR and LF inside it escaped.
pub fn subscriber<W>(
    format: LogFormat,
    filter: &str,
    writer: W,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(OneLineWriter(writer));
    match format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .finish(),
        ),
        LogFormat::Text => Box::new(builder.finish()),
    }
}

/// Makes [`OneLine`] writers over another writer.
#[derive(Debug, Clone)]
pub struct OneLineWriter<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for OneLineWriter<M> {
    type Writer = OneLine<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        OneLine(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        OneLine(self.0.make_writer_for(meta))
    }
}

/// A writer that keeps each event on one line. The formatting layer hands over every event whole, in one
/// write ending in its newline; CR, LF, vertical tab and form feed before that end are written as `\r`,
/// `\n`, `\x0b` and `\x0c`. (The JSON format escapes them already; the text format writes field values as
/// they are.)
#[derive(Debug)]
pub struct OneLine<W>(W);

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let (body, newline) = match buf.split_last() {
            Some((b'\n', body)) => (body, true),
            _ => (buf, false),
        };
        if !body
            .iter()
            .any(|b| matches!(b, b'\r' | b'\n' | 0x0b | 0x0c))
        {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut out = Vec::with_capacity(buf.len() + 16);
        for &b in body {
            match b {
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\n' => out.extend_from_slice(b"\\n"),
                0x0b => out.extend_from_slice(b"\\x0b"),
                0x0c => out.extend_from_slice(b"\\x0c"),
                _ => out.push(b),
            }
        }
        if newline {
            out.push(b'\n');
        }
        self.0.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn logged(format: LogFormat) -> String {
        let buf = Buffer::default();
        let out = buf.clone();
        let sub = subscriber(format, "info", move || out.clone());
        tracing::subscriber::with_default(sub, || {
            let input = "alice\r\n2026-11-29T00:00:00Z  INFO forged: admin signed in\nend\x0b\x0c";
            let span = tracing::info_span!("request", path = %input);
            let _in = span.enter();
            tracing::warn!(identifier = %input, debug = ?input, "refused {input}");
        });
        String::from_utf8(buf.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn log_02_text_lines_carry_no_raw_cr_or_lf_from_input() {
        let text = logged(LogFormat::Text);
        assert_eq!(
            text.matches('\n').count(),
            1,
            "one event, one line: {text:?}"
        );
        assert!(text.ends_with('\n'));
        assert!(!text.contains('\r'), "{text:?}");
        assert!(!text.contains(['\x0b', '\x0c']), "{text:?}");
        assert!(
            text.contains(r"alice\r\n2026"),
            "escaped, not dropped: {text:?}"
        );
    }

    #[test]
    fn log_02_json_lines_carry_no_raw_cr_or_lf_from_input() {
        let text = logged(LogFormat::Json);
        assert_eq!(
            text.matches('\n').count(),
            1,
            "one event, one line: {text:?}"
        );
        assert!(!text.contains('\r'), "{text:?}");
        let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
        assert!(
            v["identifier"].as_str().unwrap().contains("\r\n"),
            "the value is kept, escaped by JSON"
        );
    }

    #[test]
    fn log_02_an_event_split_over_writes_is_still_escaped() {
        let buf = Buffer::default();
        let mut w = OneLine(buf.clone());
        w.write_all(b"a\nb").unwrap();
        w.write_all(b"c\n").unwrap();
        assert_eq!(buf.0.lock().unwrap().as_slice(), b"a\\nbc\n");
    }
}
