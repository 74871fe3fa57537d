//! Password hashing with Argon2id (PW-09) and the normalisation every password goes through first
//! (PW-02, PW-03).
//!
//! A password is taken exactly as received: no trimming, no case folding, no truncation. The only change
//! is Unicode NFKC, so the same password typed on keyboards that produce composed or decomposed
//! characters verifies either way. The hash is a PHC string that records the algorithm, version, cost
//! parameters and a 128-bit random salt, so parameters can be raised later and old hashes still verify
//! (and report that they need rehashing). An optional pepper, held outside the database, is fed to
//! Argon2 as its secret input; the PHC string then carries a short non-secret `keyid` naming which
//! pepper was used, so a missing or wrong pepper is reported as a configuration error instead of every
//! customer's password silently becoming "wrong".
//!
//! Everything here is CPU-bound and blocking: callers run it off the async executor. Argon2's working
//! memory (`memory_kib` per hash) is taken from a [`HashMemory`] the caller keeps, so a long-running
//! server holds one such buffer per concurrent hash instead of leaving freed ones behind in every
//! allocator arena its worker threads touched.

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{
    ARGON2ID_IDENT, Algorithm, Argon2, Block, KeyId, ParamsBuilder, PasswordHash, Version,
};
use aws_lc_rs::digest;
use unicode_normalization::UnicodeNormalization as _;
use zeroize::{Zeroize as _, Zeroizing};

use crate::{CryptoError, SecretKey, random_bytes};

/// Salt length in bytes: 128 bits, the minimum the security bar asks for.
pub const SALT_LEN: usize = 16;

/// Length of the Argon2 output in bytes.
const OUTPUT_LEN: usize = 32;

/// Length of the pepper label recorded in the PHC string (`keyid`).
const PEPPER_ID_LEN: usize = 6;

/// Upper bounds on every cost parameter, for configuration and for PHC strings read back from the
/// database alike: a corrupt or planted hash must not make one verification allocate or spin without
/// limit.
pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
/// See [`MAX_MEMORY_KIB`].
pub const MAX_ITERATIONS: u32 = 64;
/// See [`MAX_MEMORY_KIB`].
pub const MAX_PARALLELISM: u32 = 64;

/// Argon2id cost parameters. Operators set them in configuration; every hash records the ones it was
/// made with, so raising them takes effect as customers sign in (see [`PasswordCheck::needs_rehash`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordParams {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes. Tessera computes lanes on one thread, so more lanes cost time, not cores.
    pub parallelism: u32,
}

impl Default for PasswordParams {
    /// The OWASP minimum for Argon2id: 19 MiB, 2 iterations, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl PasswordParams {
    /// Checks the parameters are ones Argon2 accepts and within Tessera's bounds.
    pub fn validate(&self) -> Result<(), CryptoError> {
        self.argon2_params(None).map(drop)
    }

    fn within_bounds(&self) -> bool {
        self.memory_kib <= MAX_MEMORY_KIB
            && (1..=MAX_ITERATIONS).contains(&self.iterations)
            && (1..=MAX_PARALLELISM).contains(&self.parallelism)
            && self.memory_kib >= 8 * self.parallelism
    }

    fn argon2_params(&self, keyid: Option<&[u8]>) -> Result<argon2::Params, CryptoError> {
        if !self.within_bounds() {
            return Err(CryptoError::PasswordHash);
        }
        let mut b = ParamsBuilder::new();
        b.m_cost(self.memory_kib)
            .t_cost(self.iterations)
            .p_cost(self.parallelism)
            .output_len(OUTPUT_LEN);
        if let Some(id) = keyid {
            b.keyid(KeyId::new(id).map_err(|_| CryptoError::PasswordHash)?);
        }
        b.build().map_err(|_| CryptoError::PasswordHash)
    }
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCheck {
    /// The password is the one the hash was made from.
    pub matches: bool,
    /// The hash was made with other parameters (or without the pepper now configured): when the
    /// password matched, the caller should store a fresh [`hash_password`] of it.
    pub needs_rehash: bool,
}

/// The form of a password that is hashed and compared: NFKC, nothing else. The copy is zeroed on drop.
pub fn normalize_password(password: &str) -> Zeroizing<String> {
    Zeroizing::new(password.nfkc().collect())
}

/// Reusable Argon2 working memory: the `memory_kib` of blocks one hash fills and reads.
///
/// Why it exists: allocating that memory afresh for every hash (as argon2's own convenience methods do)
/// lets each blocking-pool thread leave its freed buffers cached in its own malloc arena, so a server
/// that has done a few hundred hashes sits on several times the memory it needs. Keeping one
/// `HashMemory` per concurrent hash bounds the resident set and spares the page faults of fresh
/// mappings.
///
/// It grows to the largest hash it has been used for and stays that size until [`Self::shrink_to`].
/// After every use (also on error or unwinding) the blocks that hash used are zeroed: Argon2 would not
/// need it, since every hash writes each block it uses before reading it, but the filled memory lets
/// anyone who reads it test password guesses without paying Argon2's cost, and a buffer that lives as
/// long as the process must not keep the last customer's working state around for a memory dump.
#[derive(Default)]
pub struct HashMemory {
    blocks: Vec<Block>,
}

impl std::fmt::Debug for HashMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashMemory")
            .field("kib", &self.kib())
            .finish()
    }
}

impl HashMemory {
    /// Empty; the memory is allocated by the first hash that needs it.
    pub fn new() -> Self {
        Self::default()
    }

    /// How much working memory is held, in KiB (one Argon2 block is 1 KiB), so callers and tests can
    /// see what is kept.
    pub fn kib(&self) -> usize {
        self.blocks.len()
    }

    /// Gives back memory beyond what hashes with `params` need, so one verification of an old hash
    /// made with larger parameters does not keep that much memory resident for good.
    pub fn shrink_to(&mut self, params: &PasswordParams) {
        let keep = params.argon2_params(None).map_or(0, |p| p.block_count());
        if self.blocks.len() > keep {
            self.blocks.truncate(keep);
            self.blocks.shrink_to(keep);
        }
    }

    /// Runs `argon` over the blocks it needs, growing the memory first if it is too small, and zeroes
    /// them afterwards whatever the outcome.
    fn hash_into(
        &mut self,
        argon: &Argon2<'_>,
        password: &[u8],
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), CryptoError> {
        let needed = argon.params().block_count();
        if self.blocks.len() < needed {
            // An allocation failure is an error here, as it was in argon2's allocating methods,
            // rather than an abort.
            self.blocks
                .try_reserve_exact(needed.saturating_sub(self.blocks.len()))
                .map_err(|_| CryptoError::PasswordHash)?;
            self.blocks.resize(needed, Block::default());
        }
        let used = self
            .blocks
            .get_mut(..needed)
            .ok_or(CryptoError::PasswordHash)?;
        let used = WipeOnDrop(used);
        argon
            .hash_password_into_with_memory(password, salt, out, &mut *used.0)
            .map_err(|_| CryptoError::PasswordHash)
    }
}

/// Zeroes the blocks a hash used when it goes out of scope, so they are wiped on every path out.
struct WipeOnDrop<'a>(&'a mut [Block]);

impl Drop for WipeOnDrop<'_> {
    fn drop(&mut self) {
        self.0.iter_mut().zeroize();
    }
}

/// Hashes a password into a PHC string (`$argon2id$v=19$m=…,t=…,p=…[,keyid=…]$salt$hash`) with a fresh
/// 128-bit salt. Blocking and deliberately slow. Allocates its working memory for this one call; a
/// server hashing repeatedly should use [`hash_password_with_memory`].
pub fn hash_password(
    password: &str,
    params: &PasswordParams,
    pepper: Option<&SecretKey>,
) -> Result<String, CryptoError> {
    hash_password_with_memory(password, params, pepper, &mut HashMemory::new())
}

/// [`hash_password`] with caller-kept working memory, so repeated hashing does not allocate.
pub fn hash_password_with_memory(
    password: &str,
    params: &PasswordParams,
    pepper: Option<&SecretKey>,
    memory: &mut HashMemory,
) -> Result<String, CryptoError> {
    let id = pepper.map(pepper_id);
    let argon_params = params.argon2_params(id.as_ref().map(|i| i.as_slice()))?;
    let argon = context(argon_params, pepper)?;
    let salt = random_bytes::<SALT_LEN>()?;
    let normalized = normalize_password(password);
    let mut out = Zeroizing::new([0u8; OUTPUT_LEN]);
    memory.hash_into(&argon, normalized.as_bytes(), &salt, out.as_mut())?;
    // The same PHC string argon2's `PasswordHasher` makes, field for field.
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon.params()).map_err(|_| CryptoError::PasswordHash)?,
        salt: Some(Salt::new(&salt).map_err(|_| CryptoError::PasswordHash)?),
        hash: Some(Output::new(out.as_ref()).map_err(|_| CryptoError::PasswordHash)?),
    };
    Ok(phc.to_string())
}

/// Checks a password against a PHC string made by [`hash_password`] (or by an earlier configuration).
/// The hash's own parameters are used; `params` and `pepper` are today's configuration, used to decide
/// whether the hash should be renewed. Allocates its working memory for this one call; a server
/// verifying repeatedly should use [`verify_password_with_memory`].
///
/// A malformed PHC string, an algorithm other than Argon2, out-of-bounds costs, or a hash that names a
/// pepper that is not configured are errors, never a mere mismatch: they mean corrupt data or a
/// misconfigured deployment, and must not look like a customer's typo.
///
/// A hash made without a pepper still verifies when a pepper is configured (and needs rehashing), so a
/// deployment can turn the pepper on without locking anyone out. This gives up nothing: whoever can
/// write hashes into the database could equally copy a peppered hash of a password they know.
pub fn verify_password(
    password: &str,
    phc: &str,
    params: &PasswordParams,
    pepper: Option<&SecretKey>,
) -> Result<PasswordCheck, CryptoError> {
    verify_password_with_memory(password, phc, params, pepper, &mut HashMemory::new())
}

/// [`verify_password`] with caller-kept working memory, so repeated verification does not allocate.
pub fn verify_password_with_memory(
    password: &str,
    phc: &str,
    params: &PasswordParams,
    pepper: Option<&SecretKey>,
    memory: &mut HashMemory,
) -> Result<PasswordCheck, CryptoError> {
    let parsed = PasswordHash::new(phc).map_err(|_| CryptoError::PasswordHash)?;
    let algorithm =
        Algorithm::try_from(parsed.algorithm.as_str()).map_err(|_| CryptoError::PasswordHash)?;
    let version = parsed
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|_| CryptoError::PasswordHash)?;
    let stored = argon2::Params::try_from(&parsed).map_err(|_| CryptoError::PasswordHash)?;
    let stored_params = PasswordParams {
        memory_kib: stored.m_cost(),
        iterations: stored.t_cost(),
        parallelism: stored.p_cost(),
    };
    if !stored_params.within_bounds() {
        return Err(CryptoError::PasswordHash);
    }
    let (Some(salt), Some(expected)) = (parsed.salt.as_ref(), parsed.hash.as_ref()) else {
        return Err(CryptoError::PasswordHash);
    };

    // The pepper this hash was made with, if any, must be the configured one.
    let stored_keyid = stored.keyid();
    let hash_pepper = if stored_keyid.is_empty() {
        None
    } else {
        match pepper {
            Some(p) if crate::constant_time_eq(&pepper_id(p), stored_keyid) => Some(p),
            _ => return Err(CryptoError::PasswordHash),
        }
    };

    // A hash without `v=` is computed with argon2's default version (0x13), as argon2's own verifier
    // (used here before) did, so that every stored hash that verified before still does.
    let argon = context_for(
        algorithm,
        version.unwrap_or_default(),
        stored.clone(),
        hash_pepper,
    )?;
    let expected = expected.as_bytes();
    let mut computed = Zeroizing::new([0u8; Output::MAX_LENGTH]);
    let computed = computed
        .get_mut(..expected.len())
        .ok_or(CryptoError::PasswordHash)?;
    memory.hash_into(
        &argon,
        normalize_password(password).as_bytes(),
        salt.as_ref(),
        computed,
    )?;
    let matches = crate::constant_time_eq(computed, expected);

    let needs_rehash = parsed.algorithm != ARGON2ID_IDENT
        || version != Some(Version::V0x13)
        || stored_params != *params
        || expected.len() != OUTPUT_LEN
        || salt.as_ref().len() < SALT_LEN
        || hash_pepper.is_none() != pepper.is_none();
    Ok(PasswordCheck {
        matches,
        needs_rehash,
    })
}

/// Spends the same work as a [`verify_password`] with today's parameters and pepper, and never
/// matches. Used when the account does not exist, so a sign-in attempt takes as long either way and
/// response times do not reveal which identifiers have accounts.
pub fn dummy_verify(
    password: &str,
    params: &PasswordParams,
    pepper: Option<&SecretKey>,
) -> Result<PasswordCheck, CryptoError> {
    dummy_verify_with_memory(password, params, pepper, &mut HashMemory::new())
}

/// [`dummy_verify`] with caller-kept working memory. It runs [`verify_password_with_memory`] itself,
/// against a decoy PHC string with today's parameters, pepper label, a random salt and a random
/// "hash" that no password produces: the very code path of a real verification (parsing, checks,
/// Argon2, comparison), so the two cannot drift apart in cost. The benchmark's enumeration timing
/// (bench/README.md) is what showed a hand-made imitation to be measurably cheaper.
pub fn dummy_verify_with_memory(
    password: &str,
    params: &PasswordParams,
    pepper: Option<&SecretKey>,
    memory: &mut HashMemory,
) -> Result<PasswordCheck, CryptoError> {
    let id = pepper.map(pepper_id);
    let argon_params = params.argon2_params(id.as_ref().map(|i| i.as_slice()))?;
    let salt = random_bytes::<SALT_LEN>()?;
    let output = random_bytes::<OUTPUT_LEN>()?;
    let decoy = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&argon_params).map_err(|_| CryptoError::PasswordHash)?,
        salt: Some(Salt::new(&salt).map_err(|_| CryptoError::PasswordHash)?),
        hash: Some(Output::new(&output).map_err(|_| CryptoError::PasswordHash)?),
    }
    .to_string();
    verify_password_with_memory(password, &decoy, params, pepper, memory)?;
    Ok(PasswordCheck {
        matches: false,
        needs_rehash: false,
    })
}

/// SHA-1 as 40 uppercase hex digits. Only for the k-anonymity breach lookup (Have I Been Pwned names
/// passwords by their SHA-1); never for anything that needs collision resistance.
pub fn sha1_hex_upper(data: &[u8]) -> String {
    let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data);
    let mut out = String::with_capacity(40);
    for b in d.as_ref() {
        out.push_str(&format!("{b:02X}"));
    }
    out
}

/// A short, non-secret label of a pepper, recorded in the PHC string as `keyid`.
fn pepper_id(pepper: &SecretKey) -> [u8; PEPPER_ID_LEN] {
    let tag = pepper.mac(&[b"tessera/password-pepper-id/v1"]);
    let mut id = [0u8; PEPPER_ID_LEN];
    for (dst, src) in id.iter_mut().zip(tag.iter()) {
        *dst = *src;
    }
    id
}

fn context(params: argon2::Params, pepper: Option<&SecretKey>) -> Result<Argon2<'_>, CryptoError> {
    context_for(Algorithm::Argon2id, Version::V0x13, params, pepper)
}

fn context_for(
    algorithm: Algorithm,
    version: Version,
    params: argon2::Params,
    pepper: Option<&SecretKey>,
) -> Result<Argon2<'_>, CryptoError> {
    match pepper {
        Some(p) => Argon2::new_with_secret(p.as_bytes(), algorithm, version, params)
            .map_err(|_| CryptoError::PasswordHash),
        None => Ok(Argon2::new(algorithm, version, params)),
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::Error as PhcError;
    use argon2::{PasswordHasher as _, PasswordVerifier as _};

    use super::*;

    /// Cheap parameters so the tests run fast; the logic does not depend on the cost.
    fn cheap() -> PasswordParams {
        PasswordParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn default_params_are_the_owasp_minimum() {
        let p = PasswordParams::default();
        assert_eq!((p.memory_kib, p.iterations, p.parallelism), (19456, 2, 1));
        p.validate().unwrap();
    }

    #[test]
    fn pw_09_round_trip_records_argon2id_and_parameters() {
        let p = cheap();
        let phc = hash_password("correct horse battery staple", &p, None).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{phc}");
        let check = verify_password("correct horse battery staple", &phc, &p, None).unwrap();
        assert_eq!(
            check,
            PasswordCheck {
                matches: true,
                needs_rehash: false
            }
        );
    }

    #[test]
    fn pw_09_salt_is_128_bits_and_fresh_per_hash() {
        let p = cheap();
        let a = hash_password("same password here", &p, None).unwrap();
        let b = hash_password("same password here", &p, None).unwrap();
        assert_ne!(a, b);
        let parsed = PasswordHash::new(&a).unwrap();
        assert_eq!(parsed.salt.unwrap().as_ref().len(), SALT_LEN);
    }

    #[test]
    fn pw_09_wrong_password_does_not_match() {
        let p = cheap();
        let phc = hash_password("correct horse battery staple", &p, None).unwrap();
        let check = verify_password("correct horse battery stapler", &phc, &p, None).unwrap();
        assert!(!check.matches);
    }

    #[test]
    fn pw_03_nfc_and_nfd_forms_verify_alike() {
        let p = cheap();
        let nfc = "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e";
        let nfd = "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e";
        assert_ne!(nfc, nfd);
        let phc = hash_password(nfc, &p, None).unwrap();
        assert!(verify_password(nfd, &phc, &p, None).unwrap().matches);
        let phc = hash_password(nfd, &p, None).unwrap();
        assert!(verify_password(nfc, &phc, &p, None).unwrap().matches);
    }

    #[test]
    fn pw_02_case_and_surrounding_spaces_are_significant() {
        let p = cheap();
        let phc = hash_password("Correct Horse Battery", &p, None).unwrap();
        assert!(
            !verify_password("correct horse battery", &phc, &p, None)
                .unwrap()
                .matches
        );
        assert!(
            !verify_password(" Correct Horse Battery", &phc, &p, None)
                .unwrap()
                .matches
        );
        assert!(
            !verify_password("Correct Horse Battery ", &phc, &p, None)
                .unwrap()
                .matches
        );
    }

    #[test]
    fn pw_02_nothing_is_truncated() {
        let p = cheap();
        let long: String = (0..128)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        assert_eq!(long.chars().count(), 128);
        let phc = hash_password(&long, &p, None).unwrap();
        let prefix: String = long.chars().take(127).collect();
        assert!(!verify_password(&prefix, &phc, &p, None).unwrap().matches);
        assert!(verify_password(&long, &phc, &p, None).unwrap().matches);
    }

    #[test]
    fn pw_09_changed_parameters_ask_for_a_rehash() {
        let old = cheap();
        let phc = hash_password("correct horse battery staple", &old, None).unwrap();
        let new = PasswordParams {
            memory_kib: 128,
            ..old
        };
        let check = verify_password("correct horse battery staple", &phc, &new, None).unwrap();
        assert!(check.matches, "the hash's own parameters are used");
        assert!(check.needs_rehash);
        let fresh = hash_password("correct horse battery staple", &new, None).unwrap();
        assert!(
            !verify_password("correct horse battery staple", &fresh, &new, None)
                .unwrap()
                .needs_rehash
        );
    }

    #[test]
    fn pw_09_argon2i_hashes_verify_and_ask_for_a_rehash() {
        let p = cheap();
        let argon = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            p.argon2_params(None).unwrap(),
        );
        let phc = argon
            .hash_password_with_salt(b"an older style of hash", &[7u8; 16])
            .unwrap()
            .to_string();
        let check = verify_password("an older style of hash", &phc, &p, None).unwrap();
        assert!(check.matches && check.needs_rehash);
    }

    #[test]
    fn pw_09_a_peppered_hash_needs_the_same_pepper() {
        let p = cheap();
        let pepper = SecretKey::generate().unwrap();
        let phc = hash_password("correct horse battery staple", &p, Some(&pepper)).unwrap();
        assert!(phc.contains(",keyid="), "{phc}");
        let ok = verify_password("correct horse battery staple", &phc, &p, Some(&pepper)).unwrap();
        assert_eq!(
            ok,
            PasswordCheck {
                matches: true,
                needs_rehash: false
            }
        );
        assert_eq!(
            verify_password("correct horse battery staple", &phc, &p, None),
            Err(CryptoError::PasswordHash)
        );
        let other = SecretKey::generate().unwrap();
        assert_eq!(
            verify_password("correct horse battery staple", &phc, &p, Some(&other)),
            Err(CryptoError::PasswordHash)
        );
        // Removing the label does not help: the pepper is part of the hash itself.
        let stripped = phc.replace(&format!(",keyid={}", keyid_of(&phc)), "");
        let check = verify_password("correct horse battery staple", &stripped, &p, None).unwrap();
        assert!(!check.matches);
    }

    fn keyid_of(phc: &str) -> String {
        let parsed = PasswordHash::new(phc).unwrap();
        parsed.params.get_str("keyid").unwrap().to_owned()
    }

    #[test]
    fn pw_09_turning_a_pepper_on_moves_old_hashes_over() {
        let p = cheap();
        let phc = hash_password("correct horse battery staple", &p, None).unwrap();
        let pepper = SecretKey::generate().unwrap();
        let check =
            verify_password("correct horse battery staple", &phc, &p, Some(&pepper)).unwrap();
        assert!(check.matches && check.needs_rehash);
        let wrong = verify_password("not the password at all", &phc, &p, Some(&pepper)).unwrap();
        assert!(!wrong.matches);
    }

    #[test]
    fn pw_09_malformed_hashes_are_errors() {
        let p = cheap();
        let good = hash_password("correct horse battery staple", &p, None).unwrap();
        let (without_hash, _) = good.rsplit_once('$').unwrap();
        for bad in [
            "",
            "not a hash",
            "$argon2id$",
            "$argon2id$v=19$m=64,t=1,p=1$",
            without_hash,
            "$bcrypt$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            "$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            "$argon2id$v=19$m=64,t=1000000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            "$argon2id$v=19$m=64,t=1,p=1,x=3$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
        ] {
            assert_eq!(
                verify_password("anything", bad, &p, None),
                Err(CryptoError::PasswordHash),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn out_of_bounds_parameters_are_refused() {
        for bad in [
            PasswordParams {
                memory_kib: MAX_MEMORY_KIB + 1,
                ..cheap()
            },
            PasswordParams {
                iterations: 0,
                ..cheap()
            },
            PasswordParams {
                parallelism: 0,
                ..cheap()
            },
            PasswordParams {
                memory_kib: 8,
                iterations: 1,
                parallelism: 2,
            },
        ] {
            assert_eq!(bad.validate(), Err(CryptoError::PasswordHash), "{bad:?}");
            assert_eq!(
                hash_password("x", &bad, None),
                Err(CryptoError::PasswordHash)
            );
        }
    }

    #[test]
    fn dummy_verification_never_matches() {
        let p = cheap();
        let pepper = SecretKey::generate().unwrap();
        for pepper in [None, Some(&pepper)] {
            let check = dummy_verify("correct horse battery staple", &p, pepper).unwrap();
            assert!(!check.matches);
        }
    }

    /// PHC strings made by the code before [`HashMemory`] existed (argon2's own `PasswordHasher`), with
    /// fixed salts; the pepper of the second is `[0x42; 32]`, the password of the third is "café".
    const STORED: [&str; 3] = [
        "$argon2id$v=19$m=64,t=1,p=1$EREREREREREREREREREREQ$0VXjqrAJK+0kpBw1hMOaBQyWiOUPAmO9vOkaWdmVxCc",
        "$argon2id$v=19$m=64,t=1,p=1,keyid=QX1xMrR+$IiIiIiIiIiIiIiIiIiIiIg$CXuplvX0wAtFEJ+ydM1O0u5bZiwkWsbXb+wBYaYLWGE",
        "$argon2id$v=19$m=96,t=2,p=3$MzMzMzMzMzMzMzMzMzMzMw$lr2q2S6TpAjcp/HaCKK6NwnQZ4XfeN5nIi+KOPNy/M8",
    ];

    fn stored_pepper() -> SecretKey {
        SecretKey::from_bytes(&[0x42; 32]).unwrap()
    }

    /// Argon2's own verifier over a parsed PHC string: the path `verify_password` took before.
    fn argon2_verifies(password: &str, phc: &str, pepper: Option<&SecretKey>) -> bool {
        let parsed = PasswordHash::new(phc).unwrap();
        let argon = context_for(
            Algorithm::Argon2id,
            Version::V0x13,
            argon2::Params::try_from(&parsed).unwrap(),
            pepper,
        )
        .unwrap();
        match argon.verify_password(normalize_password(password).as_bytes(), &parsed) {
            Ok(()) => true,
            Err(PhcError::PasswordInvalid) => false,
            Err(e) => panic!("{e}"),
        }
    }

    fn all_zero(memory: &HashMemory) -> bool {
        memory
            .blocks
            .iter()
            .all(|b| b.as_ref().iter().all(|w| *w == 0))
    }

    #[test]
    fn pw_09_hashes_stored_before_still_verify_with_reused_memory() {
        let cheap = cheap();
        let pepper = stored_pepper();
        let mut memory = HashMemory::new();
        let cases = [
            (STORED[0], "correct horse battery staple", None, cheap),
            (
                STORED[1],
                "correct horse battery staple",
                Some(&pepper),
                cheap,
            ),
            (
                STORED[2],
                "caf\u{e9}",
                None,
                PasswordParams {
                    memory_kib: 96,
                    iterations: 2,
                    parallelism: 3,
                },
            ),
        ];
        // Twice round, so every hash also runs on memory another one has used.
        for _ in 0..2 {
            for (phc, password, pepper, params) in cases {
                let check =
                    verify_password_with_memory(password, phc, &params, pepper, &mut memory)
                        .unwrap();
                assert_eq!(
                    check,
                    PasswordCheck {
                        matches: true,
                        needs_rehash: false
                    },
                    "{phc}"
                );
                let wrong =
                    verify_password_with_memory("Tr0ub4dor&3", phc, &params, pepper, &mut memory)
                        .unwrap();
                assert!(!wrong.matches, "{phc}");
                assert!(argon2_verifies(password, phc, pepper), "{phc}");
            }
        }
        // The NFD spelling of the third password verifies too (PW-03).
        assert!(
            verify_password_with_memory("cafe\u{301}", STORED[2], &cheap, None, &mut memory)
                .unwrap()
                .matches
        );
    }

    #[test]
    fn pw_09_new_hashes_are_the_phc_strings_argon2_itself_makes() {
        let pepper = SecretKey::generate().unwrap();
        let mut memory = HashMemory::new();
        for params in [
            cheap(),
            PasswordParams {
                memory_kib: 100,
                iterations: 3,
                parallelism: 3,
            },
        ] {
            for pepper in [None, Some(&pepper)] {
                let password = "correct horse battery staple";
                let phc =
                    hash_password_with_memory(password, &params, pepper, &mut memory).unwrap();
                // Same salt through argon2's own hasher (the code before): the very same string.
                let parsed = PasswordHash::new(&phc).unwrap();
                let salt = parsed.salt.unwrap();
                let id = pepper.map(pepper_id);
                let argon = context(
                    params
                        .argon2_params(id.as_ref().map(|i| i.as_slice()))
                        .unwrap(),
                    pepper,
                )
                .unwrap();
                let old = argon
                    .hash_password_with_salt(password.as_bytes(), &salt)
                    .unwrap()
                    .to_string();
                assert_eq!(phc, old);
                assert!(argon2_verifies(password, &phc, pepper));
                assert!(!argon2_verifies(
                    "correct horse battery stapler",
                    &phc,
                    pepper
                ));
            }
        }
    }

    #[test]
    fn reused_memory_gives_the_same_results_across_parameters() {
        let small = cheap();
        let large = PasswordParams {
            memory_kib: 256,
            iterations: 2,
            parallelism: 2,
        };
        let odd = PasswordParams {
            memory_kib: 100,
            iterations: 3,
            parallelism: 3,
        };
        let mut memory = HashMemory::new();
        assert_eq!(memory.kib(), 0, "nothing is allocated up front");
        let mut hashes = Vec::new();
        for (params, held_after) in [(small, 64), (large, 256), (small, 256), (odd, 256)] {
            let phc = hash_password_with_memory(
                "correct horse battery staple",
                &params,
                None,
                &mut memory,
            )
            .unwrap();
            assert_eq!(memory.kib(), held_after, "{params:?}");
            assert!(all_zero(&memory), "wiped after use");
            hashes.push((params, phc));
        }
        // Every hash verifies with the memory as the others left it, and with a fresh allocation.
        for (params, phc) in hashes.iter().chain(hashes.iter().rev()) {
            let check = verify_password_with_memory(
                "correct horse battery staple",
                phc,
                params,
                None,
                &mut memory,
            )
            .unwrap();
            assert!(check.matches && !check.needs_rehash, "{phc}");
            assert!(
                !verify_password_with_memory("wrong", phc, params, None, &mut memory)
                    .unwrap()
                    .matches
            );
            assert!(
                verify_password("correct horse battery staple", phc, params, None)
                    .unwrap()
                    .matches
            );
            assert!(argon2_verifies("correct horse battery staple", phc, None));
            assert!(all_zero(&memory));
        }
        memory.shrink_to(&small);
        assert_eq!(
            memory.kib(),
            64,
            "gives back what today's parameters do not need"
        );
        memory.shrink_to(&large);
        assert_eq!(memory.kib(), 64, "never grows by shrinking");
        let phc = &hashes.get(1).unwrap().1;
        assert!(
            verify_password_with_memory(
                "correct horse battery staple",
                phc,
                &small,
                None,
                &mut memory
            )
            .unwrap()
            .matches,
            "grows again for a larger stored hash"
        );
        assert_eq!(memory.kib(), 256);
    }

    #[test]
    fn pw_09_pepper_rules_hold_with_reused_memory() {
        let p = cheap();
        let pepper = SecretKey::generate().unwrap();
        let other = SecretKey::generate().unwrap();
        let mut memory = HashMemory::new();
        let peppered = hash_password_with_memory(
            "correct horse battery staple",
            &p,
            Some(&pepper),
            &mut memory,
        )
        .unwrap();
        let plain =
            hash_password_with_memory("correct horse battery staple", &p, None, &mut memory)
                .unwrap();
        let verify = |phc: &str, pepper: Option<&SecretKey>, memory: &mut HashMemory| {
            verify_password_with_memory("correct horse battery staple", phc, &p, pepper, memory)
        };
        assert_eq!(
            verify(&peppered, Some(&pepper), &mut memory),
            Ok(PasswordCheck {
                matches: true,
                needs_rehash: false
            })
        );
        assert_eq!(
            verify(&peppered, None, &mut memory),
            Err(CryptoError::PasswordHash)
        );
        assert_eq!(
            verify(&peppered, Some(&other), &mut memory),
            Err(CryptoError::PasswordHash)
        );
        assert_eq!(
            verify(&plain, Some(&pepper), &mut memory),
            Ok(PasswordCheck {
                matches: true,
                needs_rehash: true
            })
        );
        let stripped = peppered.replace(&format!(",keyid={}", keyid_of(&peppered)), "");
        assert!(!verify(&stripped, None, &mut memory).unwrap().matches);
    }

    #[test]
    fn pw_09_a_hash_without_a_version_behaves_as_before() {
        // The PHC format allows leaving out `v=`; argon2's own verifier then uses version 0x13, and so
        // does Tessera, which never writes such hashes. Whatever verified before still does, and such a
        // hash is never up to date.
        let p = cheap();
        for version in [Version::V0x13, Version::V0x10] {
            let argon = Argon2::new(Algorithm::Argon2id, version, p.argon2_params(None).unwrap());
            let phc = argon
                .hash_password_with_salt(b"correct horse battery staple", &[9u8; 16])
                .unwrap()
                .to_string();
            let unversioned = phc.replace(&format!("$v={}$", u32::from(version)), "$");
            assert_ne!(phc, unversioned);
            let before = argon2_verifies("correct horse battery staple", &unversioned, None);
            assert_eq!(before, version == Version::V0x13);
            let check =
                verify_password("correct horse battery staple", &unversioned, &p, None).unwrap();
            assert_eq!(check.matches, before, "{unversioned}");
            assert!(check.needs_rehash);
            // With its version written out, a version 0x10 hash verifies and asks for a rehash.
            let check = verify_password("correct horse battery staple", &phc, &p, None).unwrap();
            assert!(check.matches);
            assert_eq!(check.needs_rehash, version == Version::V0x10);
        }
    }

    #[test]
    fn pw_09_short_salts_verify_and_ask_for_a_rehash_or_are_errors() {
        let p = cheap();
        let argon = context(p.argon2_params(None).unwrap(), None).unwrap();
        let phc = argon
            .hash_password_with_salt(b"correct horse battery staple", &[1u8; 8])
            .unwrap()
            .to_string();
        let mut memory = HashMemory::new();
        let check = verify_password_with_memory(
            "correct horse battery staple",
            &phc,
            &p,
            None,
            &mut memory,
        )
        .unwrap();
        assert!(check.matches && check.needs_rehash);
        // Four bytes are below what both the PHC format and Argon2 accept.
        let short =
            "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert_eq!(
            verify_password_with_memory("anything", short, &p, None, &mut memory),
            Err(CryptoError::PasswordHash)
        );
        assert!(all_zero(&memory));
    }

    #[test]
    fn dummy_verification_with_memory_costs_todays_parameters() {
        let p = PasswordParams {
            memory_kib: 128,
            ..cheap()
        };
        let pepper = SecretKey::generate().unwrap();
        let mut memory = HashMemory::new();
        for pepper in [None, Some(&pepper)] {
            let check =
                dummy_verify_with_memory("correct horse battery staple", &p, pepper, &mut memory)
                    .unwrap();
            assert!(!check.matches);
            assert_eq!(memory.kib(), 128);
            assert!(all_zero(&memory));
        }
    }

    #[test]
    fn hash_memory_debug_shows_only_its_size() {
        let mut memory = HashMemory::new();
        hash_password_with_memory("correct horse battery staple", &cheap(), None, &mut memory)
            .unwrap();
        assert_eq!(format!("{memory:?}"), "HashMemory { kib: 64 }");
    }

    #[test]
    fn sha1_matches_the_known_vector() {
        assert_eq!(
            sha1_hex_upper(b"password"),
            "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8"
        );
    }
}
