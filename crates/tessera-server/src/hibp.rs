//! The online breach check over Have I Been Pwned's k-anonymity range API (PW-04, optional).
//!
//! The password never leaves the process: only the first five hex digits of its SHA-1 are sent, and
//! the service answers with every known hash suffix under that prefix (padded with fake entries of
//! count 0, so the response size says nothing either). The comparison happens here. The SHA-1 is of the
//! NFKC form, the same form Tessera hashes and checks against its own list.
//!
//! The call is bounded: a 3-second budget for the whole exchange, no redirects, a capped body. Any
//! failure is `Unavailable`; whether to accept the password anyway is the caller's choice.

use std::time::Duration;

use tessera_core::CoreError;
use tessera_core::passwords::BreachCheck;
use tessera_crypto::password::{normalize_password, sha1_hex_upper};

/// Checks passwords against the Pwned Passwords range API (or a compatible mirror).
#[derive(Debug, Clone)]
pub struct HibpRangeCheck {
    client: reqwest::Client,
    base_url: url::Url,
}

/// Hex digits of the SHA-1 that are sent; the rest stays here.
const PREFIX_LEN: usize = 5;

impl HibpRangeCheck {
    /// The public service.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.pwnedpasswords.com/";
    /// The budget for one lookup, connection included: a slow breach service must not hold up sign-up.
    pub const TIMEOUT: Duration = Duration::from_secs(3);
    /// The largest response read. Real responses are tens of KiB; anything far bigger is not one.
    pub const MAX_BODY_BYTES: usize = 1024 * 1024;

    /// A checker against `base_url` (the range endpoint is `{base_url}/range/{prefix}`).
    pub fn new(base_url: url::Url) -> Result<Self, String> {
        Self::with_timeout(base_url, Self::TIMEOUT)
    }

    /// A checker with another time budget (tests, slow networks).
    pub fn with_timeout(mut base_url: url::Url, timeout: Duration) -> Result<Self, String> {
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(format!(
                "the breach check URL must be an http(s) URL, got {base_url}"
            ));
        }
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the breach check client: {e}"))?;
        Ok(Self { client, base_url })
    }

    async fn lookup(&self, password: &str) -> Result<bool, CoreError> {
        let hash = sha1_hex_upper(normalize_password(password).as_bytes());
        let (prefix, suffix) = hash
            .split_at_checked(PREFIX_LEN)
            .ok_or_else(|| CoreError::Internal("SHA-1 hex is too short".into()))?;
        let url = self
            .base_url
            .join(&format!("range/{prefix}"))
            .map_err(|e| CoreError::Internal(format!("breach check URL: {e}")))?;
        let mut resp = self
            .client
            .get(url)
            .header("Add-Padding", "true")
            .send()
            .await
            .map_err(|e| unavailable(&format!("request failed: {e}")))?;
        if !resp.status().is_success() {
            return Err(unavailable(&format!("answered {}", resp.status())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| unavailable(&format!("reading the answer failed: {e}")))?
        {
            if body.len() + chunk.len() > Self::MAX_BODY_BYTES {
                return Err(unavailable("the answer is too large"));
            }
            body.extend_from_slice(&chunk);
        }
        let text = std::str::from_utf8(&body).map_err(|_| unavailable("the answer is not text"))?;
        Ok(listed(text, suffix))
    }
}

/// Whether the range answer lists `suffix` with a count above zero (count 0 marks padding).
fn listed(range: &str, suffix: &str) -> bool {
    range.lines().any(|line| {
        line.trim().split_once(':').is_some_and(|(s, count)| {
            s.eq_ignore_ascii_case(suffix) && count.trim().parse::<u64>().is_ok_and(|n| n > 0)
        })
    })
}

fn unavailable(why: &str) -> CoreError {
    tracing::warn!(reason = why, "the password breach check is unavailable");
    CoreError::Unavailable
}

impl BreachCheck for HibpRangeCheck {
    fn is_breached<'a>(
        &'a self,
        password: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, CoreError>> + Send + 'a>>
    {
        Box::pin(self.lookup(password))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode, Uri};
    use axum::response::{IntoResponse, Redirect, Response};
    use axum::routing::get;

    use super::*;

    const BREACHED: &str = "P@ssw0rd-in-a-breach";
    const PADDED: &str = "only ever seen as padding";
    const CLEAN: &str = "never seen anywhere before";

    /// What the stand-in was asked: the full request target and every header value.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<SeenRequest>>>);

    /// One request's target and its headers, as `name: value`.
    type SeenRequest = (String, Vec<String>);

    fn hash(pw: &str) -> String {
        sha1_hex_upper(normalize_password(pw).as_bytes())
    }

    /// Serves `/range/{prefix}` like the real service: matching suffixes with counts, plus padding
    /// lines of count 0 (one of them the suffix of `PADDED`).
    async fn range(
        State(seen): State<Seen>,
        Path(prefix): Path<String>,
        uri: Uri,
        headers: HeaderMap,
    ) -> Response {
        let values = headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("")))
            .collect();
        seen.0.lock().unwrap().push((uri.to_string(), values));
        let mut body = String::new();
        for (pw, count) in [(BREACHED, 4211), ("another breached one", 7)] {
            let h = hash(pw);
            if h.starts_with(&prefix) {
                body.push_str(&format!("{}:{count}\r\n", &h[5..]));
            }
        }
        let padded = hash(PADDED);
        if padded.starts_with(&prefix) {
            body.push_str(&format!("{}:0\r\n", &padded[5..]));
        }
        body.push_str("0018A45C4D1DEF81644B54AB7F969B88D65:0\r\n");
        body.push_str("00D4F6E8FA6EECAD2A3AA415EEC418D38EC:2");
        body.into_response()
    }

    async fn stand_in(router: Router) -> url::Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        url::Url::parse(&format!("http://{addr}/")).unwrap()
    }

    async fn pwned_stand_in() -> (HibpRangeCheck, Seen) {
        let seen = Seen::default();
        let router = Router::new()
            .route("/range/{prefix}", get(range))
            .with_state(seen.clone());
        let base = stand_in(router).await;
        (HibpRangeCheck::new(base).unwrap(), seen)
    }

    #[tokio::test]
    async fn pw_04_a_breached_password_is_found() {
        let (check, _) = pwned_stand_in().await;
        let port: &dyn BreachCheck = &check;
        assert!(port.is_breached(BREACHED).await.unwrap());
        assert!(port.is_breached("another breached one").await.unwrap());
    }

    #[tokio::test]
    async fn pw_04_an_unknown_password_is_not_found() {
        let (check, _) = pwned_stand_in().await;
        assert!(!check.is_breached(CLEAN).await.unwrap());
    }

    #[tokio::test]
    async fn pw_04_padding_lines_are_ignored() {
        let (check, _) = pwned_stand_in().await;
        assert!(!check.is_breached(PADDED).await.unwrap());
        assert!(!listed("ABC:0\r\nDEF:x\r\n", "ABC"));
        assert!(listed("abc:3", "ABC"));
    }

    #[tokio::test]
    async fn pw_04_only_five_hex_digits_leave_the_process() {
        let (check, seen) = pwned_stand_in().await;
        check.is_breached(BREACHED).await.unwrap();
        check.is_breached(CLEAN).await.unwrap();
        let seen = seen.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 2);
        for ((target, headers), pw) in seen.iter().zip([BREACHED, CLEAN]) {
            let h = hash(pw);
            assert_eq!(target, &format!("/range/{}", &h[..5]));
            assert!(
                target[7..]
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase())
            );
            assert!(
                headers.iter().any(|v| v == "add-padding: true"),
                "{headers:?}"
            );
            for v in headers.iter().chain([target]) {
                assert!(!v.contains(&h[5..]) && !v.contains(pw), "{v}");
            }
        }
    }

    #[tokio::test]
    async fn the_base_url_may_carry_a_path() {
        let seen = Seen::default();
        let router = Router::new()
            .route("/mirror/range/{prefix}", get(range))
            .with_state(seen.clone());
        let mut base = stand_in(router).await;
        base.set_path("/mirror");
        let check = HibpRangeCheck::new(base).unwrap();
        assert!(check.is_breached(BREACHED).await.unwrap());
    }

    #[tokio::test]
    async fn a_server_error_is_unavailable() {
        let base = stand_in(Router::new().route(
            "/range/{prefix}",
            get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
        ))
        .await;
        let err = HibpRangeCheck::new(base)
            .unwrap()
            .is_breached(BREACHED)
            .await;
        assert!(matches!(err, Err(CoreError::Unavailable)), "{err:?}");
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let seen = Seen::default();
        let router = Router::new()
            .route(
                "/range/{prefix}",
                get(|| async { Redirect::temporary("/elsewhere/range/ABCDE") }),
            )
            .route("/elsewhere/range/{prefix}", get(range))
            .with_state(seen.clone());
        let base = stand_in(router).await;
        let err = HibpRangeCheck::new(base)
            .unwrap()
            .is_breached(BREACHED)
            .await;
        assert!(matches!(err, Err(CoreError::Unavailable)), "{err:?}");
        assert!(seen.0.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_slow_server_times_out() {
        let base = stand_in(Router::new().route(
            "/range/{prefix}",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "never"
            }),
        ))
        .await;
        let check = HibpRangeCheck::with_timeout(base, Duration::from_millis(200)).unwrap();
        let started = std::time::Instant::now();
        let err = check.is_breached(BREACHED).await;
        assert!(matches!(err, Err(CoreError::Unavailable)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn an_oversized_answer_is_refused() {
        let base = stand_in(Router::new().route(
            "/range/{prefix}",
            get(|| async { "0".repeat(HibpRangeCheck::MAX_BODY_BYTES + 1) }),
        ))
        .await;
        let err = HibpRangeCheck::new(base)
            .unwrap()
            .is_breached(BREACHED)
            .await;
        assert!(matches!(err, Err(CoreError::Unavailable)), "{err:?}");
    }

    #[test]
    fn only_http_base_urls_are_accepted() {
        assert!(HibpRangeCheck::new(url::Url::parse("ftp://example.com/").unwrap()).is_err());
        assert!(HibpRangeCheck::new(url::Url::parse("mailto:a@example.com").unwrap()).is_err());
        assert!(
            HibpRangeCheck::new(url::Url::parse(HibpRangeCheck::DEFAULT_BASE_URL).unwrap()).is_ok()
        );
    }

    #[tokio::test]
    async fn nothing_listening_is_unavailable() {
        // A port held bound but never listening: connections are refused, and no other test can be
        // given the port meanwhile (a listener bound and dropped frees it for reuse).
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = socket.local_addr().unwrap();
        let check =
            HibpRangeCheck::new(url::Url::parse(&format!("http://{addr}/")).unwrap()).unwrap();
        assert!(matches!(
            check.is_breached(BREACHED).await,
            Err(CoreError::Unavailable)
        ));
        drop(socket);
    }
}
