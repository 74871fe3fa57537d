//! Reading OAuth requests: `application/x-www-form-urlencoded` bodies and query strings where each
//! parameter may appear at most once (RFC 6749 §3.1, §3.2), and the client's credentials, in the one
//! place a request may carry them.
use std::collections::BTreeMap;

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tessera_core::oauth::ClientAuth;

use crate::error::oauth::{ClientAuthUsed, OAuthCode, OAuthError};

/// The JWT bearer client-assertion type (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The most parameters one request may carry.
const MAX_PARAMS: usize = 64;

fn invalid(description: &str) -> OAuthError {
    OAuthError::new(OAuthCode::InvalidRequest, description)
}

/// Parses form-encoded parameters. A repeated parameter, an empty name or too many parameters is
/// `invalid_request`; an empty value counts as absent (RFC 6749 §3.1).
pub fn params(encoded: &[u8]) -> Result<BTreeMap<String, String>, OAuthError> {
    let mut out = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(encoded) {
        if k.is_empty() {
            return Err(invalid("a parameter has no name"));
        }
        if out.len() >= MAX_PARAMS {
            return Err(invalid("too many parameters"));
        }
        if out.insert(k.clone().into_owned(), v.into_owned()).is_some() {
            return Err(invalid(&format!("the parameter {k} is repeated")));
        }
    }
    out.retain(|_, v: &mut String| !v.is_empty());
    Ok(out)
}

/// The body of a POST to an OAuth endpoint, which must be form-encoded.
pub fn form_body(headers: &HeaderMap, body: &[u8]) -> Result<BTreeMap<String, String>, OAuthError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return Err(invalid(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    params(body)
}

/// Decodes one `application/x-www-form-urlencoded` component of a Basic credential (RFC 6749 §2.3.1).
fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The client's credentials and how they came, taken out of `p`. Exactly one method per request (RFC
/// 6749 §2.3): a Basic header and body credentials together are `invalid_request`. No credentials at
/// all is `invalid_client`.
pub fn client_auth(
    headers: &HeaderMap,
    p: &mut BTreeMap<String, String>,
) -> Result<(ClientAuth, ClientAuthUsed), OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v
                .to_str()
                .map_err(|_| invalid("bad Authorization header"))?;
            let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(invalid(
                    "the token endpoint takes Basic client authentication",
                ));
            }
            let decoded = STANDARD
                .decode(rest.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    OAuthError::new(OAuthCode::InvalidClient, "malformed Basic credentials")
                })?;
            let (id, secret) = decoded.split_once(':').ok_or_else(|| {
                OAuthError::new(OAuthCode::InvalidClient, "malformed Basic credentials")
            })?;
            Some((form_decode(id), form_decode(secret)))
        }
    };
    let assertion_type = p.remove("client_assertion_type");
    let assertion = p.remove("client_assertion");
    let secret = p.remove("client_secret");
    let client_id = p.remove("client_id");
    let unauth = |used| {
        (
            OAuthError::new(OAuthCode::InvalidClient, "client authentication failed"),
            used,
        )
    };
    match (basic, assertion_type, assertion, secret) {
        (Some((id, secret)), None, None, None) => {
            if client_id.as_deref().is_some_and(|c| c != id) {
                return Err(invalid("client_id differs from the authenticated client"));
            }
            Ok((
                ClientAuth::Basic {
                    client_id: id,
                    secret,
                },
                ClientAuthUsed::Basic,
            ))
        }
        (Some(_), _, _, _) => Err(invalid("use one client authentication method")),
        (None, Some(t), Some(jwt), None) if t == JWT_BEARER_ASSERTION => Ok((
            ClientAuth::Assertion { client_id, jwt },
            ClientAuthUsed::Other,
        )),
        (None, Some(_), Some(_), None) => Err(invalid("unsupported client_assertion_type")),
        (None, None, None, Some(secret)) => match client_id {
            Some(client_id) => Ok((
                ClientAuth::Post { client_id, secret },
                ClientAuthUsed::Other,
            )),
            None => Err(invalid("client_secret without client_id")),
        },
        (None, None, None, None) => match client_id {
            Some(client_id) => Ok((ClientAuth::None { client_id }, ClientAuthUsed::Other)),
            None => {
                let (e, _) = unauth(ClientAuthUsed::Other);
                Err(e)
            }
        },
        _ => Err(invalid("use one client authentication method")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn basic(id: &str, secret: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")));
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(&v).unwrap());
        h
    }

    #[test]
    fn oa_17_a_repeated_parameter_is_refused() {
        let e = params(b"grant_type=client_credentials&scope=a&scope=b").unwrap_err();
        assert_eq!(e.code, OAuthCode::InvalidRequest);
        assert!(
            !params(b"grant_type=x&scope=")
                .unwrap()
                .contains_key("scope"),
            "an empty value counts as absent"
        );
    }

    #[test]
    fn basic_credentials_are_form_decoded_and_exclusive() {
        let mut p = params(b"grant_type=client_credentials").unwrap();
        let (auth, used) = client_auth(&basic("my%3Aapp", "s%2Bcret"), &mut p).unwrap();
        assert_eq!(used, ClientAuthUsed::Basic);
        match auth {
            ClientAuth::Basic { client_id, secret } => {
                assert_eq!((client_id.as_str(), secret.as_str()), ("my:app", "s+cret"));
            }
            other => panic!("{other:?}"),
        }
        let mut p = params(b"client_secret=x&client_id=a").unwrap();
        let e = client_auth(&basic("a", "b"), &mut p).unwrap_err();
        assert_eq!(e.code, OAuthCode::InvalidRequest);
        let mut p = params(b"grant_type=client_credentials").unwrap();
        let e = client_auth(&HeaderMap::new(), &mut p).unwrap_err();
        assert_eq!(e.code, OAuthCode::InvalidClient);
    }
}
