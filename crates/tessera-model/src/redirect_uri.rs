//! Where an OAuth client may be sent back to. A [`RegisteredRedirect`] can only be made by matching a
//! requested redirect URI against the client's registered ones, so the OAuth error renderer, which
//! takes one, can never send an error (or a code) to an address the client did not register
//! (RFC 9700 §4.1, RFC 6749 §4.1.2.1: an unverified redirect URI gets an error page, never a redirect).
//!
//! The rule is exact string comparison, with one exception for native apps (RFC 8252 §7.3): a
//! registered `http` redirect on a loopback IP literal matches the same URI with any port.

/// A redirect URI that matched one the client registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredRedirect(url::Url);

/// The loopback IP literals RFC 8252 §7.3 allows (not `localhost`: §8.3 advises against it).
fn loopback_literal(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        _ => false,
    }
}

impl RegisteredRedirect {
    /// The requested URI when it is one of `registered`, compared as strings; a loopback `http`
    /// redirect may differ in its port alone. A fragment, userinfo or anything unparsable never matches.
    pub fn matching<'a>(
        registered: impl IntoIterator<Item = &'a str>,
        requested: &str,
    ) -> Option<Self> {
        let req = url::Url::parse(requested).ok()?;
        if req.fragment().is_some() || !req.username().is_empty() || req.password().is_some() {
            return None;
        }
        for r in registered {
            if r == requested {
                return Some(Self(req));
            }
            let Ok(reg) = url::Url::parse(r) else {
                continue;
            };
            // The requested string must already be its own serialisation, so parsing cannot have
            // normalised anything (`127.0.0.1.`, `0x7f.0.0.1`, `/a/../cb`) into a match: only the port differs.
            let native = reg.scheme() == "http"
                && req.scheme() == "http"
                && loopback_literal(&reg)
                && req.as_str() == requested;
            if native {
                let mut any_port = req.clone();
                if any_port.set_port(reg.port()).is_ok() && any_port.as_str() == reg.as_str() {
                    return Some(Self(req));
                }
            }
        }
        None
    }

    pub fn as_url(&self) -> &url::Url {
        &self.0
    }
}

/// Why a URI cannot be registered as a redirect (OA-03), or nothing when it can: absolute, without
/// fragment or userinfo, and `https`, `http` on a loopback IP literal, or a private-use scheme with a
/// dot (reverse domain, RFC 8252 §7.1); never a script-carrying scheme, in any case.
pub fn registrable(uri: &str) -> Result<(), &'static str> {
    let u = url::Url::parse(uri).map_err(|_| "not an absolute URI")?;
    if u.fragment().is_some() {
        return Err("a redirect URI has no fragment");
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("a redirect URI has no userinfo");
    }
    match u.scheme() {
        "https" if u.host().is_some() => Ok(()),
        "http" if loopback_literal(&u) => Ok(()),
        "http" => Err("plain http is for loopback IP literals only"),
        "javascript" | "data" | "vbscript" | "file" | "blob" => {
            Err("this scheme can carry a script")
        }
        s if s.contains('.') => Ok(()),
        _ => Err("use https, a loopback IP literal, or a reverse-domain private-use scheme"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(registered: &[&str], requested: &str) -> bool {
        RegisteredRedirect::matching(registered.iter().copied(), requested).is_some()
    }

    #[test]
    fn oa_01_redirect_uris_match_exactly() {
        let reg = ["https://app.example/cb"];
        assert!(m(&reg, "https://app.example/cb"));
        for other in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://app.example/CB",
            "https://app.example:443/cb/../cb",
            "https://app.example.evil.test/cb",
            "https://evil.test@app.example/cb",
            "https://app.example/cb#frag",
            "http://app.example/cb",
            "https://app.example/c%62",
            "",
            "not a url",
        ] {
            assert!(!m(&reg, other), "{other}");
        }
    }

    #[test]
    fn oa_01_a_loopback_redirect_differs_in_its_port_alone() {
        let reg = ["http://127.0.0.1/cb"];
        for other in [
            "http://127.0.0.1./cb",
            "http://0x7f.0.0.1/cb",
            "http://2130706433/cb",
            "http://127.0.0.1/cb/../cb",
            "http://127.0.0.1/./cb",
            "HTTP://127.0.0.1/cb",
            "http://127.0.0.1:080/cb",
            "http://127.0.0.1/cb?",
        ] {
            assert!(!m(&reg, other), "{other}");
        }
        assert!(m(&reg, "http://127.0.0.1:8080/cb"));
    }

    #[test]
    fn oa_01_a_loopback_redirect_may_use_any_port() {
        let reg = ["http://127.0.0.1/cb", "http://[::1]:8080/cb"];
        assert!(m(&reg, "http://127.0.0.1:51234/cb"));
        assert!(m(&reg, "http://127.0.0.1/cb"));
        assert!(m(&reg, "http://[::1]:9/cb"));
        assert!(!m(&reg, "http://127.0.0.1:51234/other"));
        assert!(
            !m(&reg, "https://127.0.0.1:51234/cb"),
            "the scheme is exact"
        );
        assert!(
            !m(&["http://localhost/cb"], "http://localhost:5000/cb"),
            "names are not literals"
        );
        assert!(!m(
            &["https://app.example/cb"],
            "https://app.example:8443/cb"
        ));
    }

    #[test]
    fn oa_03_only_safe_uris_can_be_registered() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1/cb",
            "http://[::1]/cb",
            "com.example.app:/cb",
        ] {
            assert_eq!(registrable(ok), Ok(()), "{ok}");
        }
        for bad in [
            "/relative",
            "https://app.example/cb#x",
            "https://user@app.example/cb",
            "http://app.example/cb",
            "http://localhost/cb",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,x",
            "VBSCRIPT:x",
            "myapp:/cb",
        ] {
            assert!(registrable(bad).is_err(), "{bad}");
        }
    }
}
