//! Tessera's cryptography, in one small crate with no I/O: random tokens, a master key and the keys
//! derived from it, keyed hashes for secrets that are looked up, AEAD sealing for data at rest, and
//! SHA-256 for the audit chain. One provider (aws-lc-rs) backs all of it.
//!
//! Secrets never print: every secret type has a redacting `Debug` and is zeroed on drop.
#![forbid(unsafe_code)]

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{digest, hmac, rand as lc_rand};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use zeroize::{Zeroize, ZeroizeOnDrop};

pub mod jws;
pub mod password;

/// A cryptographic operation failed. Deliberately carries no detail: callers map it to a generic error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the system random source failed")]
    Random,
    #[error("sealed data could not be opened (wrong key or tampered)")]
    Open,
    #[error("a key has the wrong length")]
    KeyLength,
    #[error(
        "a password hash or its parameters are malformed, or need a pepper that is not configured"
    )]
    PasswordHash,
}

/// Fills a buffer from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    lc_rand::fill(&mut out).map_err(|_| CryptoError::Random)?;
    Ok(out)
}

/// A URL-safe random token with 256 bits of entropy, for keys, codes in links and session ids.
pub fn random_token() -> Result<String, CryptoError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// SHA-256, for content hashes in the event log.
pub fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    for p in parts {
        // Length-prefix every part so that ("ab","c") and ("a","bc") never collide.
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p);
    }
    let d = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The PKCE `S256` transformation of a code verifier (RFC 7636 §4.2): base64url of its SHA-256.
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref())
}

/// The Subresource Integrity value of `content` (`sha384-` and the standard base64 of its SHA-384), for
/// the `integrity` attribute of a script the hosted pages load.
pub fn sri_sha384(content: &[u8]) -> String {
    use base64::engine::general_purpose::STANDARD;
    let d = digest::digest(&digest::SHA384, content);
    format!("sha384-{}", STANDARD.encode(d.as_ref()))
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A 256-bit symmetric key. Zeroed on drop, never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<redacted>)")
    }
}

impl SecretKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self(random_bytes::<32>()?))
    }

    /// Wraps existing key material; it must be exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::KeyLength)?;
        Ok(Self(arr))
    }

    /// Parses the text form used in key files: base64url of 32 bytes, surrounding whitespace ignored.
    pub fn from_text(text: &str) -> Result<Self, CryptoError> {
        let mut raw = URL_SAFE_NO_PAD
            .decode(text.trim().trim_end_matches('='))
            .map_err(|_| CryptoError::KeyLength)?;
        let key = Self::from_bytes(&raw);
        raw.zeroize();
        key
    }

    /// The text form used in key files.
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// The raw bytes, for storing a wrapped copy.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Derives an independent key for one purpose. Different purposes give unrelated keys, so a key
    /// leaked from one use (say, webhook signing) says nothing about another (say, audit checkpoints).
    pub fn derive(&self, purpose: &str) -> SecretKey {
        let tag = self.mac(&[b"tessera/kdf/v1", purpose.as_bytes()]);
        SecretKey(tag)
    }

    /// HMAC-SHA256 over length-prefixed parts.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut ctx = hmac::Context::with_key(&key);
        for p in parts {
            ctx.update(&(p.len() as u64).to_be_bytes());
            ctx.update(p);
        }
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Checks a MAC in constant time.
    pub fn verify_mac(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        constant_time_eq(&self.mac(parts), tag)
    }

    /// Encrypts with AES-256-GCM under a random nonce; `context` is bound as associated data, so a
    /// ciphertext moved to another row or purpose fails to open. Output: nonce || ciphertext || tag.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &self.0).map_err(|_| CryptoError::KeyLength)?,
        );
        let nonce_bytes = random_bytes::<NONCE_LEN>()?;
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(context),
            &mut buf,
        )
        .map_err(|_| CryptoError::Random)?;
        let mut out = Vec::with_capacity(NONCE_LEN + buf.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Opens what [`Self::seal`] produced with the same `context`.
    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let key = LessSafeKey::new(
            UnboundKey::new(&AES_256_GCM, &self.0).map_err(|_| CryptoError::KeyLength)?,
        );
        let (nonce, ct) = sealed
            .split_at_checked(NONCE_LEN)
            .ok_or(CryptoError::Open)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError::Open)?;
        let mut buf = ct.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(context), &mut buf)
            .map_err(|_| CryptoError::Open)?;
        Ok(plain.to_vec())
    }
}

/// An admin API key or similar bearer secret, as handed to a person once. Never printed by `Debug`, and
/// without `PartialEq`: `==` stops at the first differing byte, so a presented secret is checked through
/// its keyed hash (a database look-up) or [`constant_time_eq`], never compared directly (CRY-02).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct BearerSecret(String);

impl std::fmt::Debug for BearerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerSecret(<redacted>)")
    }
}

impl BearerSecret {
    /// A new secret with a recognisable prefix (so secret scanners can find leaked keys) and 256 random bits.
    pub fn generate(prefix: &str) -> Result<Self, CryptoError> {
        Ok(Self(format!("{prefix}{}", random_token()?)))
    }

    /// Wraps a secret supplied by an operator (from an environment variable or a file).
    pub fn from_string(s: String) -> Self {
        Self(s)
    }

    /// The secret itself: only for showing it once, or hashing it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A short, non-secret label: the prefix and the first few random characters.
    pub fn display_prefix(&self) -> String {
        self.0.chars().take(12).collect()
    }
}

/// Hashes bearer secrets with a keyed hash, so a stolen database does not let anyone test guesses
/// offline without the key, and look-up by hash needs no constant-time comparison.
#[derive(Clone, Debug)]
pub struct SecretHasher {
    key: SecretKey,
}

impl SecretHasher {
    /// A hasher keyed by a dedicated derived key.
    pub fn new(key: SecretKey) -> Self {
        Self { key }
    }

    /// The keyed hash of a secret.
    pub fn hash(&self, secret: &str) -> Vec<u8> {
        self.key.mac(&[secret.as_bytes()]).to_vec()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    use super::*;

    #[test]
    fn sri_hash_matches_the_value_browsers_compute() {
        // The example of the SRI specification's users (`openssl dgst -sha384 -binary | openssl base64`).
        assert_eq!(
            sri_sha384(b"alert('Hello, world.');"),
            "sha384-H8BRh8j48O9oYatfu5AZzq6A9RINhZO5H16dQZngK7T62em8MUt1FLm52t+eX6xO"
        );
    }

    #[test]
    fn sealed_data_opens_only_with_the_same_key_and_context() {
        let k = SecretKey::generate().unwrap();
        let sealed = k.seal(b"alice@example.com", b"identity:1").unwrap();
        assert_eq!(
            k.open(&sealed, b"identity:1").unwrap(),
            b"alice@example.com"
        );
        assert_eq!(k.open(&sealed, b"identity:2"), Err(CryptoError::Open));
        let other = SecretKey::generate().unwrap();
        assert_eq!(other.open(&sealed, b"identity:1"), Err(CryptoError::Open));
        let mut tampered = sealed.clone();
        if let Some(b) = tampered.last_mut() {
            *b ^= 1;
        }
        assert_eq!(k.open(&tampered, b"identity:1"), Err(CryptoError::Open));
        assert_eq!(k.open(&[1, 2, 3], b"identity:1"), Err(CryptoError::Open));
    }

    #[test]
    fn derived_keys_differ_per_purpose_and_are_stable() {
        let k = SecretKey::generate().unwrap();
        assert_ne!(k.derive("a"), k.derive("b"));
        assert_eq!(k.derive("a"), k.derive("a"));
    }

    #[test]
    fn key_text_form_round_trips_and_rejects_wrong_lengths() {
        let k = SecretKey::generate().unwrap();
        assert_eq!(
            SecretKey::from_text(&format!(" {}\n", k.to_text())).unwrap(),
            k
        );
        assert_eq!(SecretKey::from_text("c2hvcnQ"), Err(CryptoError::KeyLength));
        assert_eq!(
            SecretKey::from_text("not base64 !!"),
            Err(CryptoError::KeyLength)
        );
    }

    #[test]
    fn cry_01_tokens_carry_at_least_128_random_bits() {
        let a = random_token().unwrap();
        let b = random_token().unwrap();
        assert_ne!(a, b);
        assert!(a.len() * 6 >= 256, "43 base64 chars encode 256 bits");
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = BearerSecret::generate("tsk_").unwrap();
        assert!(!format!("{s:?}").contains(s.expose()));
        let k = SecretKey::generate().unwrap();
        assert!(!format!("{k:?}").contains(&k.to_text()));
    }

    #[test]
    fn hash_parts_are_length_prefixed() {
        assert_ne!(sha256(&[b"ab", b"c"]), sha256(&[b"a", b"bc"]));
        let k = SecretKey::generate().unwrap();
        assert_ne!(k.mac(&[b"ab", b"c"]), k.mac(&[b"a", b"bc"]));
        assert!(k.verify_mac(&[b"x"], &k.mac(&[b"x"])));
        assert!(!k.verify_mac(&[b"x"], &k.mac(&[b"y"])));
    }

    #[test]
    fn keyed_hashes_depend_on_the_key() {
        let a = SecretHasher::new(SecretKey::generate().unwrap());
        let b = SecretHasher::new(SecretKey::generate().unwrap());
        assert_eq!(a.hash("tsk_x"), a.hash("tsk_x"));
        assert_ne!(a.hash("tsk_x"), b.hash("tsk_x"));
    }
}
