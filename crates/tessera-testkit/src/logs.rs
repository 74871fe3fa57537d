//! Every log line the in-process servers write, for tests that look at logs (LOG-01: no secret in any
//! line; LOG-02: no raw CR/LF from input). The lines are the JSON the binary writes with
//! `log_format = "json"`, spans included.
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static CAPTURE: OnceLock<Option<Buffer>> = OnceLock::new();

/// Starts capturing this process's logs at `debug` and above (more than a production node writes at its
/// default `info`), once per process; later calls are no-ops. Call it before starting the server. Fails
/// the test if another subscriber was installed first (the capture would then see nothing).
pub fn capture_logs() {
    let installed = CAPTURE.get_or_init(|| {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(move || writer.clone())
            .try_init()
            .ok()
            .map(|()| buffer)
    });
    assert!(
        installed.is_some(),
        "another tracing subscriber was installed first: logs cannot be captured"
    );
}

/// Every line captured so far (empty before [`capture_logs`]). Under nextest each test is its own
/// process, so these are the test's own lines.
pub fn captured_logs() -> Vec<String> {
    let Some(Some(buffer)) = CAPTURE.get() else {
        return Vec::new();
    };
    String::from_utf8_lossy(&buffer.0.lock().unwrap())
        .lines()
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_logged_after_capture_are_kept_as_json() {
        capture_logs();
        tracing::info_span!("request", request_id = "r-1").in_scope(|| {
            tracing::info!(canary = "c4n4ry", "something happened");
        });
        let lines = captured_logs();
        let line = lines
            .iter()
            .find(|l| l.contains("c4n4ry"))
            .expect("the line was captured");
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["span"]["request_id"], "r-1", "{line}");
    }
}
