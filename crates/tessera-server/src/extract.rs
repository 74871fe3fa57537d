//! Extractors that turn a request into typed input, answering bad input with problem documents, and
//! the client address a request comes from (RL-04).
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use serde::de::DeserializeOwned;
use tessera_core::config::TrustedProxies;
use tessera_core::{Caller, CoreError};

use crate::AppState;
use crate::error::ApiError;

/// A JSON body: `application/json` required (415), size limited (413), syntax checked (400), shape
/// checked (422, naming the field).
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

async fn read_json_bytes<S: Send + Sync>(
    req: Request,
    state: &S,
    limit: usize,
) -> Result<Option<Bytes>, ApiError> {
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v != "0")
        || req.headers().get(header::TRANSFER_ENCODING).is_some();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(|r: BytesRejection| {
            if r.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit }
            } else {
                ApiError::BadRequest {
                    code: "unreadable_body",
                    detail: r.body_text(),
                }
            }
        })?;
    if bytes.is_empty() && !has_body {
        return Ok(None);
    }
    let is_json = content_type.as_deref().is_some_and(|ct| {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    });
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    Ok(Some(bytes))
}

/// Reads a JSON body into `T`: 400 when it is not JSON, 422 when it is not an object (every body of these
/// APIs is one; serde would otherwise read a struct from an array, so `[null]` was a valid patch) or
/// does not fit `T`.
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        return Err(ApiError::BadRequest {
            code: "malformed_json",
            detail: format!("the body is not valid JSON: {e}"),
        });
    }
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::Unprocessable {
            code: "invalid_body",
            detail: "the body must be a JSON object".into(),
        });
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_syntax() || inner.is_eof() || inner.is_io() {
            ApiError::BadRequest {
                code: "malformed_json",
                detail: format!("the body is not valid JSON: {inner}"),
            }
        } else {
            let at = if path == "." || path.is_empty() {
                String::new()
            } else {
                format!(" at `{path}`")
            };
            ApiError::Unprocessable {
                code: "invalid_body",
                detail: format!("the body does not fit the expected shape{at}: {inner}"),
            }
        }
    })?;
    de.end().map_err(|e| ApiError::BadRequest {
        code: "malformed_json",
        detail: format!("trailing data after the JSON value: {e}"),
    })?;
    Ok(value)
}

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = AppState::from_ref(state).max_body_bytes;
        match read_json_bytes(req, state, limit).await? {
            Some(bytes) => Ok(ApiJson(parse_json(&bytes)?)),
            None => Err(ApiError::BadRequest {
                code: "missing_body",
                detail: "this request needs a JSON body".into(),
            }),
        }
    }
}

/// A JSON body that may be left out entirely (then `T::default()`).
#[derive(Debug)]
pub struct OptionalJson<T>(pub T);

impl<S, T> FromRequest<S> for OptionalJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let limit = AppState::from_ref(state).max_body_bytes;
        match read_json_bytes(req, state, limit).await? {
            Some(bytes) => Ok(OptionalJson(parse_json(&bytes)?)),
            None => Ok(OptionalJson(T::default())),
        }
    }
}

/// Path parameters; a malformed id cannot name anything, so it answers 404.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|_| ApiError::NotFound)
    }
}

/// Query parameters; unknown or malformed ones answer 400.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str::<T>(q)
            .map(ApiQuery)
            .map_err(|e| ApiError::BadRequest {
                code: "invalid_query",
                detail: format!("query parameters: {e}"),
            })
    }
}

/// The `If-Match` precondition as a resource version. `*` or absent means "no precondition".
#[derive(Debug, Clone, Copy)]
pub struct IfMatch(pub Option<i64>);

/// Reads an `If-Match` value: `*` (no precondition), or an ETag this API issues, `"<version>"` (also
/// written weak, `W/"<version>"`) with at most 18 digits; `None` for anything else. Exactly what the
/// documents' `If-Match` pattern allows (`crate::openapi::patterns::IF_MATCH`).
pub fn parse_if_match(text: &str) -> Option<Option<i64>> {
    if text == "*" {
        return Some(None);
    }
    let digits = text
        .strip_prefix("W/")
        .unwrap_or(text)
        .strip_prefix('"')?
        .strip_suffix('"')?;
    if digits.is_empty() || digits.len() > 18 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok().map(Some)
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(v) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = v
            .to_str()
            .map_err(|_| ApiError::PreconditionFailed("If-Match is not readable".into()))?;
        parse_if_match(text).map(IfMatch).ok_or_else(|| {
            ApiError::PreconditionFailed(format!("If-Match {text} is not an ETag this API issued"))
        })
    }
}

/// The request id set by the request-id middleware.
pub fn request_id(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The authenticated admin caller. Every admin handler takes one, so no route is reachable without a key.
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl<S> FromRequestParts<S> for Admin
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or(ApiError::Core(CoreError::Unauthenticated))?;
        let caller = app
            .tessera
            .api_keys()
            .authenticate(token, request_id(parts))
            .await?;
        Ok(Admin(caller))
    }
}

/// The most `X-Forwarded-For` entries, counted from the right, that [`client_ip`] looks at. A real chain
/// of proxies is a handful of hops; an attacker's header of ten thousand entries costs no more than this.
pub const MAX_FORWARDED_HOPS: usize = 64;

/// The address of the client a request comes from, for throttling buckets and the session record
/// (RL-04, attack A-12).
///
/// * A peer that is not in `trusted` is the client, and every forwarding header is ignored: anyone can
///   write `X-Forwarded-For`, so believing it from an untrusted peer would hand out fresh throttling
///   buckets on demand.
/// * A trusted peer is a reverse proxy that appended the address it saw to `X-Forwarded-For`. All header
///   lines are read as one comma-separated list, in order, and walked from the right, skipping entries
///   that are themselves trusted proxies; the first untrusted entry is the client.
/// * A malformed entry stops the walk, and the last trusted hop seen (possibly the peer) is the client.
///   Garbage to the right of the real client can only have been written by a trusted proxy, so it never
///   reaches an address the attacker chose; the failure lands in the proxy's bucket, which is counted and
///   throttled like any other (never skipped, unlike authentik CVE-2024-47070).
/// * When every entry is trusted the leftmost is the client; when [`MAX_FORWARDED_HOPS`] entries are all
///   trusted the walk stops there, at the last trusted hop seen.
///
/// Accepted entries (optional spaces or tabs around each): `192.0.2.7`, `192.0.2.7:4711`, `2001:db8::7`,
/// `[2001:db8::7]`, `[2001:db8::7]:4711`. Anything else is malformed: `unknown`, obfuscated identifiers
/// such as `_hidden`, zone ids (`fe80::1%eth0`), IPv4 with leading zeros or fewer than four parts,
/// empty entries, non-ASCII bytes. IPv4-mapped IPv6 addresses are reported (and compared) as IPv4.
/// `Forwarded` (RFC 7239) and `X-Real-IP` are not consulted: one header, one meaning.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.ip().to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    let mut last_trusted = peer;
    let entries = headers
        .get_all("x-forwarded-for")
        .iter()
        .rev()
        .flat_map(|line| line.as_bytes().rsplit(|b| *b == b','))
        .take(MAX_FORWARDED_HOPS);
    for entry in entries {
        match forwarded_hop(entry) {
            Some(ip) if trusted.contains(ip) => last_trusted = ip,
            Some(ip) => return ip,
            None => return last_trusted,
        }
    }
    last_trusted
}

/// One `X-Forwarded-For` entry as an address, or `None` when it is malformed (see [`client_ip`]).
fn forwarded_hop(entry: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(entry).ok()?.trim_matches([' ', '\t']);
    // The longest accepted form, `[` + 45-character IPv6 + `]:65535`, is 53 bytes.
    if text.is_empty() || text.len() > 53 {
        return None;
    }
    let ip = if let Some(rest) = text.strip_prefix('[') {
        let (addr, after) = rest.split_once(']')?;
        if !after.is_empty() && !after.strip_prefix(':').is_some_and(is_port) {
            return None;
        }
        IpAddr::V6(addr.parse::<Ipv6Addr>().ok()?)
    } else if let Ok(ip) = text.parse::<IpAddr>() {
        ip
    } else {
        let (addr, port) = text.split_once(':')?;
        if !is_port(port) {
            return None;
        }
        IpAddr::V4(addr.parse::<Ipv4Addr>().ok()?)
    };
    Some(ip.to_canonical())
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && text.parse::<u16>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn proxies(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 40000)
    }

    fn xff(lines: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-for", HeaderValue::from_str(l).unwrap());
        }
        h
    }

    fn resolve(p: &str, lines: &[&str], trusted: &str) -> String {
        client_ip(peer(p), &xff(lines), &proxies(trusted)).to_string()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            resolve("198.51.100.1", &["203.0.113.9"], ""),
            "198.51.100.1"
        );
        assert_eq!(
            resolve("198.51.100.1", &["203.0.113.9"], "10.0.0.0/8"),
            "198.51.100.1"
        );
        let mut h = xff(&["203.0.113.9"]);
        h.insert("forwarded", HeaderValue::from_static("for=203.0.113.10"));
        h.insert("x-real-ip", HeaderValue::from_static("203.0.113.11"));
        assert_eq!(
            client_ip(peer("127.0.0.1"), &h, &proxies("")).to_string(),
            "127.0.0.1"
        );
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        assert_eq!(resolve("10.0.0.1", &[], "10.0.0.0/8"), "10.0.0.1");
    }

    #[test]
    fn the_walk_goes_right_to_left_skipping_trusted_hops() {
        let t = "127.0.0.1, 10.0.0.0/8";
        assert_eq!(resolve("127.0.0.1", &["203.0.113.9"], t), "203.0.113.9");
        assert_eq!(
            resolve(
                "127.0.0.1",
                &["1.1.1.1, 203.0.113.9, 10.0.0.2, 10.0.0.3"],
                t
            ),
            "203.0.113.9",
            "the spoofable left part is never reached"
        );
        assert_eq!(
            resolve(
                "127.0.0.1",
                &["1.1.1.1, 203.0.113.9", "10.0.0.2", "10.0.0.3"],
                t
            ),
            "203.0.113.9",
            "several header lines are one list, in order"
        );
        assert_eq!(
            resolve("127.0.0.1", &["1.1.1.1", "203.0.113.9 ,\t10.0.0.3"], t),
            "203.0.113.9"
        );
        assert!(
            client_ip(peer("127.0.0.1"), &HeaderMap::new(), &proxies(t)).is_loopback(),
            "no header: the proxy itself"
        );
        assert_eq!(
            resolve("::ffff:127.0.0.1", &["203.0.113.9"], "127.0.0.1"),
            "203.0.113.9",
            "a dual-stack socket's mapped peer is matched as IPv4"
        );
    }

    #[test]
    fn a_malformed_entry_stops_at_the_last_trusted_hop() {
        let t = "127.0.0.1, 10.0.0.0/8";
        for garbage in [
            "a",
            "unknown",
            "_hidden",
            "",
            " ",
            "fe80::1%eth0",
            "[fe80::1%25eth0]:80",
            "1.2.3.4, a",
            "1.2.3.4,",
            "203.0.113.9 203.0.113.8",
            "010.1.2.3",
            "1.2.3",
            "1.2.3.4:99999",
            "1.2.3.4:",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "[1.2.3.4]",
            "for=1.2.3.4",
            "\"1.2.3.4\"",
        ] {
            assert_eq!(
                resolve("127.0.0.1", &[garbage], t),
                "127.0.0.1",
                "{garbage:?}"
            );
        }
        assert_eq!(
            resolve("127.0.0.1", &["203.0.113.9, unknown, 10.0.0.7"], t),
            "10.0.0.7",
            "the last trusted hop, not the address behind the garbage"
        );
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        assert_eq!(
            client_ip(peer("127.0.0.1"), &h, &proxies(t)).to_string(),
            "127.0.0.1",
            "non-ASCII bytes are malformed"
        );
    }

    #[test]
    fn ports_and_brackets_are_accepted_and_stripped() {
        let t = "127.0.0.1";
        assert_eq!(
            resolve("127.0.0.1", &["203.0.113.9:4711"], t),
            "203.0.113.9"
        );
        assert_eq!(
            resolve("127.0.0.1", &["[2001:db8::7]:4711"], t),
            "2001:db8::7"
        );
        assert_eq!(resolve("127.0.0.1", &["[2001:db8::7]"], t), "2001:db8::7");
        assert_eq!(
            resolve("127.0.0.1", &["::ffff:203.0.113.9"], t),
            "203.0.113.9"
        );
    }

    #[test]
    fn ipv6_proxies_and_clients() {
        let t = "::1, fd00::/8";
        assert_eq!(
            resolve("::1", &["2001:db8::7, fd00::1, fd12::2"], t),
            "2001:db8::7"
        );
        assert_eq!(resolve("::1", &["203.0.113.9"], t), "203.0.113.9");
        assert_eq!(resolve("::2", &["2001:db8::7"], t), "::2");
        assert_eq!(resolve("::1", &["zz::1"], t), "::1");
    }

    #[test]
    fn when_every_entry_is_trusted_the_leftmost_is_the_client() {
        let t = "127.0.0.1, 10.0.0.0/8";
        assert_eq!(
            resolve("127.0.0.1", &["10.0.0.5, 10.0.0.6, 127.0.0.1"], t),
            "10.0.0.5"
        );
    }

    #[test]
    fn only_the_rightmost_hops_are_read() {
        let t = "127.0.0.1, 10.0.0.0/8";
        let trusted_hops = vec!["10.0.0.1"; MAX_FORWARDED_HOPS - 1].join(", ");
        let within = format!("203.0.113.9, {trusted_hops}");
        assert_eq!(resolve("127.0.0.1", &[&within], t), "203.0.113.9");
        let beyond = format!("203.0.113.9, 10.0.0.2, {trusted_hops}");
        assert_eq!(
            resolve("127.0.0.1", &[&beyond], t),
            "10.0.0.2",
            "past the limit: the last trusted hop seen, the client is not reached"
        );
        let huge = format!("{}203.0.113.9", "198.51.100.1, ".repeat(10_000));
        assert_eq!(resolve("127.0.0.1", &[&huge], t), "203.0.113.9");
        let junk = "a,".repeat(10_000);
        assert_eq!(resolve("127.0.0.1", &[&junk], t), "127.0.0.1");
        let lines = vec!["10.0.0.1"; 10_000];
        assert_eq!(resolve("127.0.0.1", &lines, t), "10.0.0.1");
    }
}
