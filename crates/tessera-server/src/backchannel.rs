//! Delivering back-channel logout tokens (see `tessera_core::oauth::backchannel`): an HTTP POST of
//! `logout_token=…` as `application/x-www-form-urlencoded` to the client's registered receiver, behind a
//! guard against server-side request forgery (OIDC-07, OUT-01, A-21). A registered URI is someone else's input:
//! it must not make Tessera reach the network it runs in. So the receiver is https (plain http only
//! where private networks are allowed, or in dev mode); its host is resolved here and every address it
//! resolves to must be public (not loopback, private, link-local, cloud metadata, multicast, shared or
//! unspecified) unless the operator allows private networks; the connection then goes to exactly the
//! checked addresses (no second lookup an attacker's DNS could answer differently); no redirect is
//! followed; 5 seconds in all; the response body is never read.
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::time::Duration;

use tessera_core::jobs::Failure;
use tessera_core::oauth::backchannel::LogoutSender;

/// The whole exchange with a receiver, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Posts logout tokens to receivers, through the guard.
#[derive(Debug, Clone)]
pub struct HttpLogoutSender {
    /// Receivers may be on loopback or private addresses, and plain http there.
    pub allow_private_networks: bool,
    /// Plain http is allowed (development).
    pub dev_mode: bool,
}

/// Whether an address is one a registered URI must not reach: loopback, private (RFC 1918, unique
/// local), link-local (with 169.254.169.254 and other metadata services), shared (RFC 6598), multicast,
/// broadcast, unspecified, documentation, benchmarking and reserved ranges, and IPv6 forms that embed
/// an IPv4 address of those.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let seg = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (seg[0] & 0xfe00) == 0xfc00 // unique local (fc00::/7), AWS's fd00:ec2::254 too
                || (seg[0] & 0xffc0) == 0xfe80 // link-local
                || (seg[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
                || (seg[0] == 0x0064 && seg[1] == 0xff9b) // NAT64 of any IPv4
                || (seg[0] == 0x2002) // 6to4 of any IPv4
                || (seg[0..6] == [0, 0, 0, 0, 0, 0]) // IPv4-compatible (deprecated)
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space
        || (a == 192 && b == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240 // reserved
}

impl HttpLogoutSender {
    async fn deliver(&self, uri: &str, logout_token: &str) -> Result<(), Failure> {
        let url = url::Url::parse(uri)
            .map_err(|_| Failure::permanent("the back-channel logout URI is not a URL"))?;
        let plain = match url.scheme() {
            "https" => false,
            "http" => true,
            _ => {
                return Err(Failure::permanent(
                    "the back-channel logout URI is not https",
                ));
            }
        };
        if plain && !(self.allow_private_networks || self.dev_mode) {
            return Err(Failure::permanent(
                "the back-channel logout URI is not https",
            ));
        }
        let port = url
            .port_or_known_default()
            .ok_or_else(|| Failure::permanent("the back-channel logout URI has no port"))?;
        let (host, addrs): (String, Vec<SocketAddr>) = match url.host() {
            Some(url::Host::Ipv4(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
            Some(url::Host::Ipv6(ip)) => (
                format!("[{ip}]"),
                vec![SocketAddr::new(IpAddr::V6(ip), port)],
            ),
            Some(url::Host::Domain(d)) => {
                let found: Vec<SocketAddr> =
                    tokio::time::timeout(TIMEOUT, tokio::net::lookup_host((d, port)))
                        .await
                        .map_err(|_| Failure::transient("resolving the receiver's host timed out"))?
                        .map_err(|e| {
                            Failure::transient(format!("resolving the receiver's host: {e}"))
                        })?
                        .collect();
                (d.to_owned(), found)
            }
            None => {
                return Err(Failure::permanent(
                    "the back-channel logout URI has no host",
                ));
            }
        };
        if addrs.is_empty() {
            return Err(Failure::transient("the receiver's host has no address"));
        }
        let internal = addrs.iter().any(|a| is_internal(a.ip()));
        if internal && !self.allow_private_networks {
            return Err(Failure::permanent(
                "the back-channel logout URI resolves to a loopback, private or link-local address",
            ));
        }
        if plain && !internal && !self.dev_mode {
            return Err(Failure::permanent(
                "plain http is allowed only to a private network's receiver",
            ));
        }
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            // No proxy from the environment: a proxy would resolve the name again and could reach
            // what the checks above refused (OUT-01).
            .no_proxy()
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")));
        if matches!(url.host(), Some(url::Host::Domain(_))) {
            // Connect to the addresses checked above, not to what a second lookup might say.
            builder = builder.resolve_to_addrs(&host, &addrs);
        }
        let client = builder
            .build()
            .map_err(|e| Failure::transient(format!("building the HTTP client: {e}")))?;
        let resp = client
            .post(url)
            .form(&[("logout_token", logout_token)])
            .send()
            .await
            .map_err(|e| Failure::transient(format!("posting the logout token: {}", short(&e))))?;
        let status = resp.status();
        drop(resp);
        if status.is_success() {
            Ok(())
        } else if status.is_server_error()
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        {
            Err(Failure::transient(format!(
                "the receiver answered {status}"
            )))
        } else {
            // A refusal (400: the receiver did not accept the token) or a redirect, which is not followed:
            // asking again the same way cannot help.
            Err(Failure::permanent(format!(
                "the receiver answered {status}"
            )))
        }
    }
}

/// An HTTP error without the URL (which the event log does not need).
fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "the request failed".into()
    }
}

impl LogoutSender for HttpLogoutSender {
    fn send<'a>(
        &'a self,
        uri: &'a str,
        logout_token: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>> {
        Box::pin(self.deliver(uri, logout_token))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn oidc_07_internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.215.14",
            "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
            "8.8.8.8",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn oidc_07_a_receiver_on_an_internal_address_is_refused_before_any_connection() {
        let guarded = HttpLogoutSender {
            allow_private_networks: false,
            dev_mode: false,
        };
        for uri in [
            "https://127.0.0.1/bcl",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/bcl",
            "https://localhost/bcl",
            "https://2130706433/bcl",
            "https://0x7f.1/bcl",
            "https://0177.0.0.1/bcl",
            "https://[::ffff:a9fe:a9fe]/bcl",
            "http://example.com/bcl",
            "ftp://example.com/bcl",
        ] {
            let e = guarded.deliver(uri, "t").await.unwrap_err();
            assert!(e.permanent, "{uri}: {e:?}");
        }
    }
}
