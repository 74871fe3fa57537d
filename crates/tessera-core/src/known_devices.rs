//! Known devices (RL-02): a browser or app that has signed in to an account before carries a device
//! token, and the guard counts its failures at that account on a bucket of its own instead of the
//! account's shared one. An attacker who floods an account from anywhere else slows down strangers to
//! it, never its owner on a device the owner has used.
//!
//! The token is stateless: `tdv1.<device id>.<tag>…`, where each tag is a keyed hash of the tenant, the
//! account and the device id, one per account that signed in on the device (the newest few). Nothing
//! about the accounts can be read from it, and a tag only ever vouches for the device id it was minted
//! with. A stolen token buys no guesses: its own bucket slows it down like any other client.
use crate::Tessera;

const PREFIX: &str = "tdv1";
/// Bytes of the device id and of each tag (hex in the token).
const ID_BYTES: usize = 16;
const TAG_BYTES: usize = 12;
/// Accounts one device is remembered for; the oldest is forgotten first.
const MAX_ACCOUNTS: usize = 6;

/// A parsed device token.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DeviceToken {
    id: String,
    tags: Vec<String>,
}

fn is_hex(s: &str, bytes: usize) -> bool {
    s.len() == bytes * 2 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Anything that is not a well-formed token is no token at all (never an error: it is a cookie).
fn parse(raw: &str) -> Option<DeviceToken> {
    let mut parts = raw.trim().split('.');
    if parts.next()? != PREFIX {
        return None;
    }
    let id = parts.next().filter(|p| is_hex(p, ID_BYTES))?.to_owned();
    let tags: Vec<String> = parts.map(str::to_owned).collect();
    if tags.len() > MAX_ACCOUNTS || !tags.iter().all(|t| is_hex(t, TAG_BYTES)) {
        return None;
    }
    Some(DeviceToken { id, tags })
}

impl DeviceToken {
    fn render(&self) -> String {
        let mut s = format!("{PREFIX}.{}", self.id);
        for t in &self.tags {
            s.push('.');
            s.push_str(t);
        }
        s
    }
}

impl Tessera {
    fn device_tag(&self, tenant: &str, account: &str, device: &str) -> String {
        let digest = self
            .keys()
            .secret_hasher
            .hash(&format!("device\u{0}{tenant}\u{0}{account}\u{0}{device}"));
        hex(digest.get(..TAG_BYTES).unwrap_or(&digest))
    }

    /// The id of the device `token` names, when it has signed in to `account` of `tenant` before.
    pub(crate) fn known_device(
        &self,
        token: Option<&str>,
        tenant: &str,
        account: &str,
    ) -> Option<String> {
        let t = parse(token?)?;
        let want = self.device_tag(tenant, account, &t.id);
        t.tags
            .iter()
            .any(|tag| tessera_crypto::constant_time_eq(tag.as_bytes(), want.as_bytes()))
            .then_some(t.id)
    }

    /// The token to hand back after `account` signed in: the device's own id when it brought a token,
    /// with this account's tag added (newest last), or a new device.
    pub(crate) fn remember_device(
        &self,
        token: Option<&str>,
        tenant: &str,
        account: &str,
    ) -> crate::Result<String> {
        let mut t = match token.and_then(parse) {
            Some(t) => t,
            None => DeviceToken {
                id: hex(&tessera_crypto::random_bytes::<ID_BYTES>()?),
                tags: Vec::new(),
            },
        };
        let tag = self.device_tag(tenant, account, &t.id);
        t.tags.retain(|x| x != &tag);
        t.tags.push(tag);
        let excess = t.tags.len().saturating_sub(MAX_ACCOUNTS);
        t.tags.drain(..excess);
        Ok(t.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_tokens_are_no_tokens() {
        let id = "0".repeat(32);
        let tag = "a".repeat(24);
        assert!(parse(&format!("tdv1.{id}.{tag}")).is_some());
        assert!(parse(&format!("tdv1.{id}")).is_some());
        for bad in [
            String::new(),
            "tdv1".into(),
            format!("tdv2.{id}.{tag}"),
            format!("tdv1.{}.{tag}", "0".repeat(31)),
            format!("tdv1.{id}.{}", "A".repeat(24)),
            format!("tdv1.{id}.{tag}.{}", "a".repeat(23)),
            format!("tdv1.{id}{}", format!(".{tag}").repeat(MAX_ACCOUNTS + 1)),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn a_token_renders_as_it_parses() {
        let t = DeviceToken {
            id: "0123456789abcdef0123456789abcdef".into(),
            tags: vec!["a".repeat(24), "b".repeat(24)],
        };
        assert_eq!(parse(&t.render()), Some(t));
    }
}
