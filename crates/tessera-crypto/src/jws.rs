//! JWS compact serialisation (RFC 7515) for Tessera's own tokens: key generation as PKCS#8, signing,
//! public JWK export (RFC 7517/7518/8037) and verification that trusts nothing the token says about keys.
//!
//! Verification (JWT-01, JWT-02): the header's `kid` is looked up in a map of keys the caller trusts (the
//! tenant's key ring), and the algorithm is the one that key was made for; the header's `alg` must equal
//! it, so `none`, HMAC with a public key, or any other algorithm never runs. Headers that point at other
//! keys (`jku`, `jwk`, `x5u`, `x5c`) and critical extensions (`crit`) refuse the token outright, rather
//! than being ignored, so a token that would mean something else to a careless verifier is never ours.
//! `typ` is compared with what the context expects (JWT-03), so an ID token is not an access token.
use std::collections::BTreeMap;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, EcdsaKeyPair,
    Ed25519KeyPair, KeyPair as _, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
    RsaPublicKeyComponents, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Largest compact JWS accepted for verification; Tessera's own tokens are a few kilobytes at most.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// Longest `kid` accepted; Tessera's own are 22 characters.
const MAX_KID_LEN: usize = 64;

/// The signature algorithms Tessera signs with. There is no `none` and no HMAC: they cannot be named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum JwsAlg {
    /// ECDSA P-256 with SHA-256, the fixed `r || s` signature form JWS uses. The default.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256; new keys are 3072 bits (CRY-03), verification accepts 2048 and up, for relying parties that know nothing else.
    RS256,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl JwsAlg {
    /// Every algorithm, default first.
    pub const ALL: [JwsAlg; 3] = [JwsAlg::ES256, JwsAlg::RS256, JwsAlg::EdDSA];

    /// The JOSE name (`alg`).
    pub fn as_str(self) -> &'static str {
        match self {
            JwsAlg::ES256 => "ES256",
            JwsAlg::RS256 => "RS256",
            JwsAlg::EdDSA => "EdDSA",
        }
    }

    /// Parses a JOSE name; exact match only.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// An OpenID Connect half hash (`at_hash`, `c_hash`; OIDC Core §3.1.3.6): base64url of the left half of
/// the value's hash with the hash function of the token's algorithm: SHA-256 for ES256 and RS256,
/// SHA-512 for Ed25519 (as the OpenID Foundation's conformance suite and common libraries take EdDSA).
pub fn half_hash(alg: JwsAlg, value: &str) -> String {
    let d = match alg {
        JwsAlg::ES256 | JwsAlg::RS256 => {
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, value.as_bytes())
        }
        JwsAlg::EdDSA => aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, value.as_bytes()),
    };
    let bytes = d.as_ref();
    URL_SAFE_NO_PAD.encode(bytes.get(..bytes.len() / 2).unwrap_or(bytes))
}

impl std::fmt::Display for JwsAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a JWS was refused or a key could not be used. Verification errors say what was wrong (for logs
/// and tests); callers answer relying parties with one generic error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("the token is not a compact JWS")]
    Malformed,
    #[error("the token is too large")]
    TooLarge,
    #[error("the header names no key, or a key that is not trusted here")]
    UnknownKey,
    #[error("the header's alg is not the algorithm of the key it names")]
    AlgorithmMismatch,
    #[error(
        "the header carries a key reference or extension that is refused (jku, jwk, x5u, x5c, crit)"
    )]
    ForbiddenHeader,
    #[error("the token's typ is not the one expected here")]
    WrongType,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("a key could not be generated, parsed or used")]
    Key,
}

/// A public key as published in a JWKS, with Tessera's own serde types (only the members a verifier
/// needs; never a private part).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub y: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e: Option<String>,
}

/// Generates a new private key for `alg`, as PKCS#8 DER (RSA: 3072 bits, CRY-03). Zeroed on drop.
pub fn generate_pkcs8(alg: JwsAlg) -> Result<Zeroizing<Vec<u8>>, JwsError> {
    let rng = SystemRandom::new();
    let der = match alg {
        JwsAlg::ES256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| JwsError::Key)?
            .as_ref()
            .to_vec(),
        JwsAlg::RS256 => RsaKeyPair::generate(KeySize::Rsa3072)
            .and_then(|k| k.as_der())
            .map_err(|_| JwsError::Key)?
            .as_ref()
            .to_vec(),
        JwsAlg::EdDSA => Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| JwsError::Key)?
            .as_ref()
            .to_vec(),
    };
    Ok(Zeroizing::new(der))
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key with its `kid`. Never printed.
pub struct SigningKey {
    kid: String,
    alg: JwsAlg,
    pair: Pair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl SigningKey {
    /// Parses a PKCS#8 key made for `alg`; a key of another type is refused.
    pub fn from_pkcs8(alg: JwsAlg, kid: &str, pkcs8: &[u8]) -> Result<Self, JwsError> {
        let pair = match alg {
            JwsAlg::ES256 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
                    .map_err(|_| JwsError::Key)?,
            ),
            JwsAlg::RS256 => {
                let k = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| JwsError::Key)?;
                if k.public_modulus_len() < 256 {
                    return Err(JwsError::Key);
                }
                Pair::Rsa(k)
            }
            JwsAlg::EdDSA => {
                Pair::Ed(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| JwsError::Key)?)
            }
        };
        Ok(Self {
            kid: kid.to_owned(),
            alg,
            pair,
        })
    }

    /// The key's id, as it appears in every header it signs and in the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key signs with.
    pub fn alg(&self) -> JwsAlg {
        self.alg
    }

    /// The public half as a JWK (`use: sig`, with `kid` and `alg`).
    pub fn public_jwk(&self) -> Jwk {
        let mut jwk = Jwk {
            kty: String::new(),
            kid: self.kid.clone(),
            alg: self.alg.as_str().to_owned(),
            use_: "sig".to_owned(),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        };
        match &self.pair {
            Pair::Ec(k) => {
                // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
                let point = k.public_key().as_ref();
                jwk.kty = "EC".into();
                jwk.crv = Some("P-256".into());
                jwk.x = point.get(1..33).map(b64);
                jwk.y = point.get(33..65).map(b64);
            }
            Pair::Rsa(k) => {
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(k.public_key());
                jwk.kty = "RSA".into();
                jwk.n = Some(b64(&c.n));
                jwk.e = Some(b64(&c.e));
            }
            Pair::Ed(k) => {
                jwk.kty = "OKP".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(b64(k.public_key().as_ref()));
            }
        }
        jwk
    }

    /// Signs `claims` (a JSON object, serialised as given) into a compact JWS whose header is
    /// `{"alg", "kid", "typ"}`.
    pub fn sign(&self, typ: &str, claims: &serde_json::Value) -> Result<String, JwsError> {
        let header = serde_json::json!({"alg": self.alg.as_str(), "kid": self.kid, "typ": typ});
        let header = serde_json::to_vec(&header).map_err(|_| JwsError::Malformed)?;
        let payload = serde_json::to_vec(claims).map_err(|_| JwsError::Malformed)?;
        let signing_input = format!("{}.{}", b64(&header), b64(&payload));
        let sig = match &self.pair {
            Pair::Ec(k) => k
                .sign(&SystemRandom::new(), signing_input.as_bytes())
                .map_err(|_| JwsError::Key)?
                .as_ref()
                .to_vec(),
            Pair::Rsa(k) => {
                let mut out = vec![0u8; k.public_modulus_len()];
                k.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    signing_input.as_bytes(),
                    &mut out,
                )
                .map_err(|_| JwsError::Key)?;
                out
            }
            Pair::Ed(k) => k.sign(signing_input.as_bytes()).as_ref().to_vec(),
        };
        Ok(format!("{signing_input}.{}", b64(&sig)))
    }
}

/// A public key a verifier trusts, pinned to its algorithm.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    alg: JwsAlg,
    /// EC: the uncompressed point; Ed25519: the 32 raw bytes; RSA: `n` and `e` apart.
    public: Vec<u8>,
    rsa_e: Vec<u8>,
}

fn unb64(s: Option<&String>) -> Result<Vec<u8>, JwsError> {
    URL_SAFE_NO_PAD
        .decode(s.ok_or(JwsError::Key)?)
        .map_err(|_| JwsError::Key)
}

impl VerifyingKey {
    /// Builds a verifying key from a JWK Tessera published. The JWK's `alg` must be one Tessera signs
    /// with and must match its key type; the result verifies that algorithm and no other.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, JwsError> {
        let alg = JwsAlg::parse(&jwk.alg).ok_or(JwsError::Key)?;
        let crv = jwk.crv.as_deref();
        let (public, rsa_e) = match (alg, jwk.kty.as_str(), crv) {
            (JwsAlg::ES256, "EC", Some("P-256")) => {
                let (x, y) = (unb64(jwk.x.as_ref())?, unb64(jwk.y.as_ref())?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(JwsError::Key);
                }
                let mut p = Vec::with_capacity(65);
                p.push(4);
                p.extend_from_slice(&x);
                p.extend_from_slice(&y);
                (p, Vec::new())
            }
            (JwsAlg::RS256, "RSA", None) => {
                let n = unb64(jwk.n.as_ref())?;
                if n.len() < 256 {
                    return Err(JwsError::Key);
                }
                (n, unb64(jwk.e.as_ref())?)
            }
            (JwsAlg::EdDSA, "OKP", Some("Ed25519")) => {
                let x = unb64(jwk.x.as_ref())?;
                if x.len() != 32 {
                    return Err(JwsError::Key);
                }
                (x, Vec::new())
            }
            _ => return Err(JwsError::Key),
        };
        Ok(Self { alg, public, rsa_e })
    }

    /// The one algorithm this key verifies.
    pub fn alg(&self) -> JwsAlg {
        self.alg
    }

    fn verify_sig(&self, msg: &[u8], sig: &[u8]) -> Result<(), JwsError> {
        let ok = match self.alg {
            JwsAlg::ES256 => UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.public)
                .verify(msg, sig)
                .is_ok(),
            JwsAlg::RS256 => RsaPublicKeyComponents {
                n: &self.public,
                e: &self.rsa_e,
            }
            .verify(&RSA_PKCS1_2048_8192_SHA256, msg, sig)
            .is_ok(),
            JwsAlg::EdDSA => signature::UnparsedPublicKey::new(&ED25519, &self.public)
                .verify(msg, sig)
                .is_ok(),
        };
        if ok {
            Ok(())
        } else {
            Err(JwsError::BadSignature)
        }
    }
}

/// What a verified token carried.
#[derive(Debug, Clone)]
pub struct Verified {
    pub kid: String,
    pub alg: JwsAlg,
    /// The payload, a JSON object.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// Header members that point a verifier at keys or change what the token means. Refused outright.
const FORBIDDEN_HEADERS: [&str; 5] = ["jku", "jwk", "x5u", "x5c", "crit"];

/// Whether a `typ` value is the expected one: compared case-insensitively, with the `application/`
/// prefix RFC 7515 §4.1.9 lets a producer omit.
fn typ_matches(found: &str, expected: &str) -> bool {
    let strip = |s: &str| {
        let l = s.to_ascii_lowercase();
        l.strip_prefix("application/")
            .map(str::to_owned)
            .unwrap_or(l)
    };
    strip(found) == strip(expected)
}

/// A compact JWS taken apart, with the checks every verification makes before it looks at keys: a bounded
/// size, three parts, a JSON header, and no header that points a verifier at keys (JWT-02).
struct Compact<'a> {
    header: serde_json::Map<String, serde_json::Value>,
    /// `header.payload`, what the signature covers.
    signing_input: &'a str,
    payload: &'a str,
    signature: &'a str,
}

impl<'a> Compact<'a> {
    fn parse(token: &'a str) -> Result<Self, JwsError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(JwsError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwsError::Malformed);
        };
        let header_bytes = URL_SAFE_NO_PAD.decode(h).map_err(|_| JwsError::Malformed)?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&header_bytes).map_err(|_| JwsError::Malformed)?;
        if FORBIDDEN_HEADERS.iter().any(|k| header.contains_key(*k)) {
            return Err(JwsError::ForbiddenHeader);
        }
        let signing_input = token
            .get(..h.len() + 1 + p.len())
            .ok_or(JwsError::Malformed)?;
        Ok(Self {
            header,
            signing_input,
            payload: p,
            signature: s,
        })
    }

    fn signature(&self) -> Result<Vec<u8>, JwsError> {
        URL_SAFE_NO_PAD
            .decode(self.signature)
            .map_err(|_| JwsError::Malformed)
    }

    /// The payload as a JSON object; only after the signature was checked.
    fn claims(&self) -> Result<serde_json::Map<String, serde_json::Value>, JwsError> {
        let payload = URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| JwsError::Malformed)?;
        serde_json::from_slice(&payload).map_err(|_| JwsError::Malformed)
    }
}

/// Verifies a compact JWS against the keys in `keys` (by `kid`, a map lookup and nothing else), checking
/// that the header's `alg` is the key's, that no key-pointing header is present, and that `typ` is
/// `expected_typ`. Returns the claims; checking them (`exp`, `aud`…) is the caller's business.
pub fn verify(
    token: &str,
    expected_typ: &str,
    keys: &BTreeMap<String, VerifyingKey>,
) -> Result<Verified, JwsError> {
    let jws = Compact::parse(token)?;
    let header = &jws.header;
    let kid = header
        .get("kid")
        .and_then(|v| v.as_str())
        .filter(|k| !k.is_empty() && k.len() <= MAX_KID_LEN)
        .ok_or(JwsError::UnknownKey)?;
    let key = keys.get(kid).ok_or(JwsError::UnknownKey)?;
    let alg = header.get("alg").and_then(|v| v.as_str());
    if alg != Some(key.alg.as_str()) {
        return Err(JwsError::AlgorithmMismatch);
    }
    let typ = header.get("typ").and_then(|v| v.as_str());
    if !typ.is_some_and(|t| typ_matches(t, expected_typ)) {
        return Err(JwsError::WrongType);
    }
    let sig = jws.signature()?;
    key.verify_sig(jws.signing_input.as_bytes(), &sig)?;
    let claims = jws.claims()?;
    Ok(Verified {
        kid: kid.to_owned(),
        alg: key.alg,
        claims,
    })
}

/// A public key from a JWKS someone else registered (a client's keys for `private_key_jwt`), pinned to
/// one algorithm. Its `kid`, when the JWK has one, narrows which keys a token's header may pick.
#[derive(Debug, Clone)]
pub struct ForeignKey {
    pub kid: Option<String>,
    pub key: VerifyingKey,
}

/// Most keys a registered JWKS may hold, and so the most signature checks one token can cost.
const MAX_FOREIGN_KEYS: usize = 10;

/// Parses a JWKS (RFC 7517 §5) a client registered into the keys Tessera can verify with: signature
/// keys (`use` absent or `sig`) of a type and curve Tessera knows, whose `alg` (absent: the one the key
/// type allows) is ES256, RS256 or EdDSA. Other keys are skipped; a JWKS that holds a private member,
/// is not a `{"keys": [...]}` object, has too many keys or none usable is refused.
pub fn foreign_keys(jwks: &str) -> Result<Vec<ForeignKey>, JwsError> {
    let doc: serde_json::Value = serde_json::from_str(jwks).map_err(|_| JwsError::Key)?;
    let list = doc
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or(JwsError::Key)?;
    if list.len() > MAX_FOREIGN_KEYS {
        return Err(JwsError::Key);
    }
    let mut out = Vec::new();
    for k in list {
        let obj = k.as_object().ok_or(JwsError::Key)?;
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|m| obj.contains_key(*m))
        {
            return Err(JwsError::Key);
        }
        let text = |m: &str| obj.get(m).and_then(|v| v.as_str()).map(str::to_owned);
        if text("use").is_some_and(|u| u != "sig") {
            continue;
        }
        let kty = text("kty").unwrap_or_default();
        let implied = match (kty.as_str(), text("crv").as_deref()) {
            ("EC", Some("P-256")) => JwsAlg::ES256,
            ("RSA", _) => JwsAlg::RS256,
            ("OKP", Some("Ed25519")) => JwsAlg::EdDSA,
            _ => continue,
        };
        let alg = match text("alg") {
            None => implied,
            Some(a) if a == implied.as_str() => implied,
            Some(_) => continue,
        };
        let jwk = Jwk {
            kty,
            kid: text("kid").unwrap_or_default(),
            alg: alg.as_str().to_owned(),
            use_: "sig".to_owned(),
            crv: text("crv"),
            x: text("x"),
            y: text("y"),
            n: text("n"),
            e: text("e"),
        };
        let Ok(key) = VerifyingKey::from_jwk(&jwk) else {
            continue;
        };
        out.push(ForeignKey {
            kid: text("kid").filter(|k| !k.is_empty()),
            key,
        });
    }
    if out.is_empty() {
        return Err(JwsError::Key);
    }
    Ok(out)
}

/// Reads a compact JWS's payload **without verifying it**: only to learn whose keys to verify it with
/// (a client assertion's `iss`). Nothing read here may be trusted before [`verify_foreign`] passes.
pub fn unverified_claims(
    token: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, JwsError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwsError::TooLarge);
    }
    let payload = token.split('.').nth(1).ok_or(JwsError::Malformed)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| JwsError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwsError::Malformed)
}

/// Verifies a compact JWS someone else signed with one of `keys` (a client assertion, RFC 7523). The
/// same rules as [`verify`] (JWT-01, JWT-02): the algorithm must be one Tessera verifies and the key's
/// own (`none`, HMAC with a public key and any other alg never run); `jku`, `jwk`, `x5u`, `x5c` and
/// `crit` refuse the token, so only registered keys are ever used; a `kid` in the header is compared as
/// a string with the keys' `kid`s and nothing else. `typ`, when present, must be one of `typs`.
pub fn verify_foreign(
    token: &str,
    typs: &[&str],
    keys: &[ForeignKey],
) -> Result<Verified, JwsError> {
    let jws = Compact::parse(token)?;
    let header = &jws.header;
    let alg = header
        .get("alg")
        .and_then(|v| v.as_str())
        .and_then(JwsAlg::parse)
        .ok_or(JwsError::AlgorithmMismatch)?;
    match header.get("typ") {
        None => {}
        Some(serde_json::Value::String(t)) if typs.iter().any(|e| typ_matches(t, e)) => {}
        Some(_) => return Err(JwsError::WrongType),
    }
    let kid = match header.get("kid") {
        None => None,
        Some(serde_json::Value::String(k)) if !k.is_empty() && k.len() <= MAX_KID_LEN => {
            Some(k.as_str())
        }
        Some(_) => return Err(JwsError::UnknownKey),
    };
    let named: Vec<&ForeignKey> = keys
        .iter()
        .filter(|k| kid.is_none() || k.kid.as_deref() == kid)
        .collect();
    if named.is_empty() {
        return Err(JwsError::UnknownKey);
    }
    let candidates: Vec<&ForeignKey> = named.into_iter().filter(|k| k.key.alg == alg).collect();
    if candidates.is_empty() {
        return Err(JwsError::AlgorithmMismatch);
    }
    let sig = jws.signature()?;
    let used = candidates
        .into_iter()
        .find(|k| k.key.verify_sig(jws.signing_input.as_bytes(), &sig).is_ok())
        .ok_or(JwsError::BadSignature)?;
    let claims = jws.claims()?;
    Ok(Verified {
        kid: used.kid.clone().unwrap_or_default(),
        alg,
        claims,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    #[test]
    fn half_hashes_match_the_openid_connect_examples() {
        // OIDC Core A.3 and A.4 (RS256): the `at_hash` and `c_hash` of the example values.
        assert_eq!(
            half_hash(JwsAlg::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(
            half_hash(
                JwsAlg::ES256,
                "Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk"
            ),
            "LDktKdoQak3Pk0cnXxCltA"
        );
        assert_eq!(
            half_hash(JwsAlg::EdDSA, "x").len(),
            43,
            "32 bytes of SHA-512"
        );
    }

    use super::*;
    use serde_json::json;

    fn key(alg: JwsAlg, kid: &str) -> SigningKey {
        SigningKey::from_pkcs8(alg, kid, &generate_pkcs8(alg).unwrap()).unwrap()
    }

    fn ring(keys: &[&SigningKey]) -> BTreeMap<String, VerifyingKey> {
        keys.iter()
            .map(|k| {
                (
                    k.kid().to_owned(),
                    VerifyingKey::from_jwk(&k.public_jwk()).unwrap(),
                )
            })
            .collect()
    }

    /// A token with this header and payload and the given signature bytes.
    fn forge(header: serde_json::Value, claims: serde_json::Value, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes()),
            b64(sig)
        )
    }

    #[test]
    fn each_algorithm_signs_and_verifies_and_exports_its_public_jwk() {
        for alg in JwsAlg::ALL {
            let k = key(alg, "k1");
            let jws = k.sign("JWT", &json!({"sub": "a", "n": 1})).unwrap();
            let v = verify(&jws, "JWT", &ring(&[&k])).unwrap();
            assert_eq!((v.kid.as_str(), v.alg), ("k1", alg));
            assert_eq!(v.claims["sub"], "a");
            let jwk = serde_json::to_value(k.public_jwk()).unwrap();
            assert_eq!(jwk["use"], "sig");
            assert_eq!(jwk["alg"], alg.as_str());
            assert_eq!(jwk["kid"], "k1");
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(jwk.get(private).is_none(), "{alg}: {private} published");
            }
            let expect: &[&str] = match alg {
                JwsAlg::ES256 => &["kty", "crv", "x", "y"],
                JwsAlg::RS256 => &["kty", "n", "e"],
                JwsAlg::EdDSA => &["kty", "crv", "x"],
            };
            for m in expect {
                assert!(jwk.get(*m).is_some(), "{alg}: {m} missing");
            }
        }
    }

    #[test]
    fn cry_03_es256_signatures_are_the_fixed_64_byte_form_and_new_rsa_keys_are_3072_bits() {
        let k = key(JwsAlg::ES256, "e");
        let jws = k.sign("JWT", &json!({})).unwrap();
        let sig = URL_SAFE_NO_PAD
            .decode(jws.rsplit('.').next().unwrap())
            .unwrap();
        assert_eq!(sig.len(), 64);
        let r = key(JwsAlg::RS256, "r");
        let n = URL_SAFE_NO_PAD.decode(r.public_jwk().n.unwrap()).unwrap();
        assert_eq!(n.len() * 8, 3072);
    }

    #[test]
    fn a_key_of_another_type_is_refused_for_an_algorithm() {
        let ec = generate_pkcs8(JwsAlg::ES256).unwrap();
        assert!(SigningKey::from_pkcs8(JwsAlg::EdDSA, "x", &ec).is_err());
        assert!(SigningKey::from_pkcs8(JwsAlg::RS256, "x", &ec).is_err());
        assert!(SigningKey::from_pkcs8(JwsAlg::ES256, "x", b"junk").is_err());
    }

    #[test]
    fn jwt_01_alg_none_is_refused() {
        let k = key(JwsAlg::ES256, "k1");
        let keys = ring(&[&k]);
        let t = forge(
            json!({"alg": "none", "kid": "k1", "typ": "JWT"}),
            json!({"sub": "a"}),
            b"",
        );
        assert_eq!(
            verify(&t, "JWT", &keys).unwrap_err(),
            JwsError::AlgorithmMismatch
        );
        // Without a signature part at all.
        let t2 = t.trim_end_matches('.').to_owned();
        assert!(verify(&t2, "JWT", &keys).is_err());
        let t3 = forge(
            json!({"alg": "none", "typ": "JWT"}),
            json!({"sub": "a"}),
            b"",
        );
        assert!(verify(&t3, "JWT", &keys).is_err());
    }

    #[test]
    fn jwt_01_hs256_made_with_the_public_key_is_refused() {
        for alg in [JwsAlg::RS256, JwsAlg::ES256] {
            let k = key(alg, "k1");
            let keys = ring(&[&k]);
            let public = serde_json::to_vec(&k.public_jwk()).unwrap();
            let header = json!({"alg": "HS256", "kid": "k1", "typ": "JWT"});
            let input = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(br#"{"sub":"admin"}"#)
            );
            let mac = aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public),
                input.as_bytes(),
            );
            let t = format!("{input}.{}", b64(mac.as_ref()));
            assert_eq!(
                verify(&t, "JWT", &keys).unwrap_err(),
                JwsError::AlgorithmMismatch
            );
        }
    }

    #[test]
    fn jwt_01_the_algorithm_comes_from_the_key_never_the_header() {
        let es = key(JwsAlg::ES256, "es");
        let ed = key(JwsAlg::EdDSA, "ed");
        let keys = ring(&[&es, &ed]);
        // An EdDSA signature presented under the ES256 key's kid (and its alg) fails; so does claiming
        // the other key's algorithm.
        let real = ed.sign("JWT", &json!({"sub": "a"})).unwrap();
        let sig = real.rsplit('.').next().unwrap();
        let claims = real.split('.').nth(1).unwrap();
        let as_es = format!(
            "{}.{claims}.{sig}",
            b64(json!({"alg": "EdDSA", "kid": "es", "typ": "JWT"})
                .to_string()
                .as_bytes())
        );
        assert_eq!(
            verify(&as_es, "JWT", &keys).unwrap_err(),
            JwsError::AlgorithmMismatch
        );
        let relabelled = format!(
            "{}.{claims}.{sig}",
            b64(json!({"alg": "ES256", "kid": "es", "typ": "JWT"})
                .to_string()
                .as_bytes())
        );
        assert_eq!(
            verify(&relabelled, "JWT", &keys).unwrap_err(),
            JwsError::BadSignature
        );
        for bad_alg in ["es256", "RS256", "PS256", "HS512", ""] {
            let t = forge(
                json!({"alg": bad_alg, "kid": "es", "typ": "JWT"}),
                json!({}),
                b"x",
            );
            assert_eq!(
                verify(&t, "JWT", &keys).unwrap_err(),
                JwsError::AlgorithmMismatch
            );
        }
        let no_alg = forge(json!({"kid": "es", "typ": "JWT"}), json!({}), b"x");
        assert_eq!(
            verify(&no_alg, "JWT", &keys).unwrap_err(),
            JwsError::AlgorithmMismatch
        );
    }

    #[test]
    fn jwt_01_a_tampered_payload_or_signature_fails() {
        let k = key(JwsAlg::ES256, "k1");
        let keys = ring(&[&k]);
        let t = k.sign("JWT", &json!({"sub": "a"})).unwrap();
        let mut parts: Vec<String> = t.split('.').map(str::to_owned).collect();
        parts[1] = b64(br#"{"sub":"b"}"#);
        assert_eq!(
            verify(&parts.join("."), "JWT", &keys).unwrap_err(),
            JwsError::BadSignature
        );
        let mut sig = URL_SAFE_NO_PAD
            .decode(t.rsplit('.').next().unwrap())
            .unwrap();
        sig[0] ^= 1;
        let (head, _) = t.rsplit_once('.').unwrap();
        let flipped = format!("{head}.{}", b64(&sig));
        assert_eq!(
            verify(&flipped, "JWT", &keys).unwrap_err(),
            JwsError::BadSignature
        );
    }

    #[test]
    fn jwt_02_key_pointing_headers_are_refused() {
        let k = key(JwsAlg::ES256, "k1");
        let attacker = key(JwsAlg::ES256, "k1");
        let keys = ring(&[&k]);
        let jwk = serde_json::to_value(attacker.public_jwk()).unwrap();
        for (name, value) in [
            ("jku", json!("https://attacker.example/jwks.json")),
            ("jwk", jwk),
            ("x5u", json!("https://attacker.example/cert.pem")),
            ("x5c", json!(["MIIB"])),
            ("crit", json!(["exp"])),
        ] {
            let mut header = json!({"alg": "ES256", "kid": "k1", "typ": "JWT"});
            header[name] = value;
            // Signed by the attacker's key the header points at: refused before any key is chosen.
            let h = b64(header.to_string().as_bytes());
            let p = b64(br#"{"sub":"admin"}"#);
            let input = format!("{h}.{p}");
            let sig = match &attacker.pair {
                Pair::Ec(kp) => kp.sign(&SystemRandom::new(), input.as_bytes()).unwrap(),
                _ => unreachable!(),
            };
            let t = format!("{input}.{}", b64(sig.as_ref()));
            assert_eq!(
                verify(&t, "JWT", &keys).unwrap_err(),
                JwsError::ForbiddenHeader,
                "{name}"
            );
        }
    }

    #[test]
    fn jwt_02_kid_is_only_a_map_lookup() {
        let k = key(JwsAlg::ES256, "k1");
        let keys = ring(&[&k]);
        let real = k.sign("JWT", &json!({"sub": "a"})).unwrap();
        let (_, rest) = real.split_once('.').unwrap();
        for kid in [
            json!("../../dev/null"),
            json!("/dev/null"),
            json!("k1' OR '1'='1"),
            json!("https://attacker.example/key"),
            json!("K1"),
            json!("k1 "),
            json!(""),
            json!(1),
            json!(null),
            json!("k".repeat(65)),
        ] {
            let header = json!({"alg": "ES256", "kid": kid, "typ": "JWT"});
            let t = format!("{}.{rest}", b64(header.to_string().as_bytes()));
            assert_eq!(
                verify(&t, "JWT", &keys).unwrap_err(),
                JwsError::UnknownKey,
                "{kid}"
            );
        }
        let no_kid = format!("{}.{rest}", b64(br#"{"alg":"ES256","typ":"JWT"}"#));
        assert_eq!(
            verify(&no_kid, "JWT", &keys).unwrap_err(),
            JwsError::UnknownKey
        );
        // A key that is not in the ring (another tenant's, a retired one) is unknown too.
        let other = key(JwsAlg::ES256, "k2");
        let t = other.sign("JWT", &json!({})).unwrap();
        assert_eq!(verify(&t, "JWT", &keys).unwrap_err(), JwsError::UnknownKey);
    }

    #[test]
    fn jwt_03_typ_is_checked_per_context() {
        let k = key(JwsAlg::ES256, "k1");
        let keys = ring(&[&k]);
        let id_token = k.sign("JWT", &json!({"sub": "a"})).unwrap();
        let access = k.sign("at+jwt", &json!({"sub": "a"})).unwrap();
        assert_eq!(
            verify(&id_token, "at+jwt", &keys).unwrap_err(),
            JwsError::WrongType
        );
        assert_eq!(
            verify(&access, "JWT", &keys).unwrap_err(),
            JwsError::WrongType
        );
        assert!(verify(&access, "at+jwt", &keys).is_ok());
        assert!(verify(&access, "application/at+jwt", &keys).is_ok());
        let untyped = forge(json!({"alg": "ES256", "kid": "k1"}), json!({}), b"x");
        assert_eq!(
            verify(&untyped, "JWT", &keys).unwrap_err(),
            JwsError::WrongType
        );
    }

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        let k = key(JwsAlg::ES256, "k1");
        let keys = ring(&[&k]);
        for t in [
            "",
            ".",
            "..",
            "a.b.c",
            "a.b.c.d",
            "e30.e30.",
            "!!.e30.e30",
            "e30.!!.e30",
        ] {
            assert!(verify(t, "JWT", &keys).is_err(), "{t:?}");
        }
        let huge = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(verify(&huge, "JWT", &keys).unwrap_err(), JwsError::TooLarge);
        // A valid signature over a payload that is not an object.
        let h = b64(br#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#);
        let p = b64(b"[1]");
        let input = format!("{h}.{p}");
        let sig = match &k.pair {
            Pair::Ec(kp) => kp.sign(&SystemRandom::new(), input.as_bytes()).unwrap(),
            _ => unreachable!(),
        };
        let t = format!("{input}.{}", b64(sig.as_ref()));
        assert_eq!(verify(&t, "JWT", &keys).unwrap_err(), JwsError::Malformed);
    }

    #[test]
    fn jwks_members_do_not_verify_for_another_algorithm() {
        let k = key(JwsAlg::ES256, "k1");
        let mut jwk = k.public_jwk();
        jwk.alg = "RS256".into();
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
        jwk.alg = "HS256".into();
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
        jwk.alg = "none".into();
        assert!(VerifyingKey::from_jwk(&jwk).is_err());
    }

    #[test]
    fn signing_keys_never_show_in_debug_output() {
        let k = key(JwsAlg::EdDSA, "k1");
        let s = format!("{k:?}");
        assert!(s.contains("k1") && !s.contains("pair"));
    }

    /// A client's JWKS as a client would publish it: no `alg` or `use` on the first key.
    fn client_jwks(keys: &[&SigningKey]) -> String {
        let list: Vec<serde_json::Value> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let mut j = serde_json::to_value(k.public_jwk()).unwrap();
                if i == 0 {
                    j.as_object_mut().unwrap().remove("alg");
                    j.as_object_mut().unwrap().remove("use");
                }
                j
            })
            .collect();
        json!({ "keys": list }).to_string()
    }

    #[test]
    fn foreign_tokens_verify_with_a_registered_key_of_each_algorithm() {
        for alg in JwsAlg::ALL {
            let k = key(alg, "c1");
            let keys = foreign_keys(&client_jwks(&[&k])).unwrap();
            let t = k.sign("JWT", &json!({"iss": "app"})).unwrap();
            let v = verify_foreign(&t, &["JWT"], &keys).unwrap();
            assert_eq!((v.alg, v.claims["iss"].as_str()), (alg, Some("app")));
        }
        // Without a kid in the header, every key of the algorithm is tried.
        let k = key(JwsAlg::ES256, "c1");
        let other = key(JwsAlg::ES256, "c2");
        let keys = foreign_keys(&client_jwks(&[&other, &k])).unwrap();
        let h = b64(br#"{"alg":"ES256"}"#);
        let p = b64(br#"{"iss":"app"}"#);
        let input = format!("{h}.{p}");
        let sig = match &k.pair {
            Pair::Ec(kp) => kp.sign(&SystemRandom::new(), input.as_bytes()).unwrap(),
            _ => unreachable!(),
        };
        let t = format!("{input}.{}", b64(sig.as_ref()));
        assert_eq!(verify_foreign(&t, &["JWT"], &keys).unwrap().kid, "c1");
    }

    #[test]
    fn jwt_01_foreign_alg_none_and_hs256_with_the_public_key_are_refused() {
        let k = key(JwsAlg::RS256, "c1");
        let keys = foreign_keys(&client_jwks(&[&k])).unwrap();
        for alg in ["none", "None", "NONE", "HS256", "PS256", ""] {
            let header = json!({"alg": alg, "kid": "c1"});
            let input = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(br#"{"iss":"app"}"#)
            );
            let public = serde_json::to_vec(&k.public_jwk()).unwrap();
            let mac = aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &public),
                input.as_bytes(),
            );
            for sig in [b64(mac.as_ref()), String::new()] {
                let t = format!("{input}.{sig}");
                assert_eq!(
                    verify_foreign(&t, &["JWT"], &keys).unwrap_err(),
                    JwsError::AlgorithmMismatch,
                    "{alg}"
                );
            }
        }
        // An algorithm Tessera knows, but not the key's.
        let t = forge(json!({"alg": "ES256", "kid": "c1"}), json!({}), &[0; 64]);
        assert_eq!(
            verify_foreign(&t, &["JWT"], &keys).unwrap_err(),
            JwsError::AlgorithmMismatch
        );
    }

    #[test]
    fn jwt_02_foreign_tokens_pointing_at_other_keys_are_refused() {
        let k = key(JwsAlg::ES256, "c1");
        let attacker = key(JwsAlg::ES256, "evil");
        let keys = foreign_keys(&client_jwks(&[&k])).unwrap();
        let jwk = serde_json::to_value(attacker.public_jwk()).unwrap();
        for (name, value) in [
            ("jku", json!("https://attacker.example/jwks.json")),
            ("jwk", jwk),
            ("x5u", json!("https://attacker.example/cert.pem")),
            ("x5c", json!(["MIIB"])),
            ("crit", json!(["exp"])),
        ] {
            let mut header = json!({"alg": "ES256", "typ": "JWT"});
            header[name] = value;
            let input = format!(
                "{}.{}",
                b64(header.to_string().as_bytes()),
                b64(br#"{"iss":"app"}"#)
            );
            let sig = match &attacker.pair {
                Pair::Ec(kp) => kp.sign(&SystemRandom::new(), input.as_bytes()).unwrap(),
                _ => unreachable!(),
            };
            let t = format!("{input}.{}", b64(sig.as_ref()));
            assert_eq!(
                verify_foreign(&t, &["JWT"], &keys).unwrap_err(),
                JwsError::ForbiddenHeader,
                "{name}"
            );
        }
        // A kid is a string compared with the registered kids, nothing more; the attacker's own key
        // signing under any kid fails.
        for kid in [
            json!("evil"),
            json!("../../dev/null"),
            json!("' OR 1=1--"),
            json!(7),
        ] {
            let t = attacker.sign("JWT", &json!({})).unwrap();
            let (_, rest) = t.split_once('.').unwrap();
            let h = json!({"alg": "ES256", "kid": kid});
            let t = format!("{}.{rest}", b64(h.to_string().as_bytes()));
            assert_eq!(
                verify_foreign(&t, &["JWT"], &keys).unwrap_err(),
                JwsError::UnknownKey,
                "{kid}"
            );
        }
        let t = attacker.sign("JWT", &json!({})).unwrap();
        let (_, rest) = t.split_once('.').unwrap();
        let t = format!("{}.{rest}", b64(br#"{"alg":"ES256","kid":"c1"}"#));
        assert_eq!(
            verify_foreign(&t, &["JWT"], &keys).unwrap_err(),
            JwsError::BadSignature
        );
    }

    #[test]
    fn jwt_03_a_foreign_token_of_another_type_is_refused() {
        let k = key(JwsAlg::EdDSA, "c1");
        let keys = foreign_keys(&client_jwks(&[&k])).unwrap();
        let at = k.sign("at+jwt", &json!({})).unwrap();
        assert_eq!(
            verify_foreign(&at, &["JWT", "client-authentication+jwt"], &keys).unwrap_err(),
            JwsError::WrongType
        );
        let ok = k.sign("client-authentication+jwt", &json!({})).unwrap();
        assert!(verify_foreign(&ok, &["JWT", "client-authentication+jwt"], &keys).is_ok());
    }

    #[test]
    fn registered_jwks_with_private_members_or_nothing_usable_are_refused() {
        let k = key(JwsAlg::ES256, "c1");
        let mut j = serde_json::to_value(k.public_jwk()).unwrap();
        j["d"] = json!("c2VjcmV0");
        assert!(foreign_keys(&json!({"keys": [j]}).to_string()).is_err());
        let hmac = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]});
        assert!(foreign_keys(&hmac.to_string()).is_err());
        let enc_only =
            json!({"keys": [{"kty": "EC", "crv": "P-256", "use": "enc", "x": "a", "y": "b"}]});
        assert!(foreign_keys(&enc_only.to_string()).is_err());
        for junk in ["", "[]", "{}", r#"{"keys": {}}"#, r#"{"keys": [1]}"#] {
            assert!(foreign_keys(junk).is_err(), "{junk}");
        }
        let mut mislabelled = serde_json::to_value(k.public_jwk()).unwrap();
        mislabelled["alg"] = json!("HS256");
        let good = serde_json::to_value(key(JwsAlg::EdDSA, "c2").public_jwk()).unwrap();
        let keys = foreign_keys(&json!({"keys": [mislabelled, good]}).to_string()).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid.as_deref(), Some("c2"));
    }
}
