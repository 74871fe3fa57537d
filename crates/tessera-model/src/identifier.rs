//! Customer identifiers (email, phone, username) and their normalisation.
//!
//! An identifier is unique per tenant *after* normalisation, so this module decides which spellings
//! name the same customer (`Alice@Example.COM` and `alice@example.com`) and which look-alike
//! spellings are refused outright (`pаypal` with a Cyrillic `а`). Everything here is pure and
//! deterministic: the same input always yields the same stored value, and normalising a normalised
//! value changes nothing.

use unicode_normalization::UnicodeNormalization;

/// Upper bound on the trimmed raw input, in characters, checked before any Unicode processing so
/// that hostile input cannot make normalisation expensive (NFKC can expand a character many-fold).
pub const MAX_INPUT_CHARS: usize = 1024;
/// Longest email address accepted, in characters (RFC 5321 path limit minus the angle brackets).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest email local part accepted, in characters (RFC 5321).
pub const MAX_LOCAL_PART_CHARS: usize = 64;
/// Longest DNS label accepted, in ASCII characters (RFC 1035).
pub const MAX_DOMAIN_LABEL_CHARS: usize = 63;
/// Longest username accepted, in characters after normalisation.
pub const MAX_USERNAME_CHARS: usize = 64;
/// Fewest digits (country code included) a phone number may have; shorter numbers are not routable.
pub const MIN_PHONE_DIGITS: usize = 8;
/// Most digits (country code included) a phone number may have (ITU-T E.164).
pub const MAX_PHONE_DIGITS: usize = 15;

/// The kinds of identifier a customer can sign in with; each kind has its own normalisation rules.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum IdentifierKind {
    /// An email address; the domain is stored in its ASCII (punycode) form.
    Email,
    /// An E.164 phone number, stored as `+` and digits.
    Phone,
    /// A free-form handle of letters, digits, `.`, `_` and `-`.
    Username,
}

impl IdentifierKind {
    /// The stable wire and storage name, identical to the serde form, so SQL and JSON agree.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Username => "username",
        }
    }

    /// Inverse of [`Self::as_str`]; exact match only, so stored values have one spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "email" => Some(Self::Email),
            "phone" => Some(Self::Phone),
            "username" => Some(Self::Username),
            _ => None,
        }
    }
}

/// An identifier in its canonical form: the only form that may be stored or compared, which is
/// what makes per-tenant uniqueness meaningful.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct NormalizedIdentifier {
    /// Which rules produced `value`.
    pub kind: IdentifierKind,
    /// The canonical spelling.
    pub value: String,
}

/// Why an identifier was refused. Messages are meant for humans; [`IdentifierError::code`] is the
/// stable machine-readable form for API clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    /// Nothing but whitespace was given.
    #[error("the identifier is empty")]
    Empty,
    /// A length limit was exceeded; `part` names what was measured and `unit` what was counted.
    #[error("the {part} is too long: at most {max} {unit} are allowed")]
    TooLong {
        /// What was too long, e.g. "email local part".
        part: &'static str,
        /// The limit.
        max: usize,
        /// What the limit counts, e.g. "characters" or "digits".
        unit: &'static str,
    },
    /// A control character or an invisible formatting character (zero-width space, bidi override,
    /// variation selector, ...) was found; these make different identifiers look identical.
    #[error("the identifier contains a control or invisible character")]
    ControlCharacter,
    /// Whitespace inside the identifier (surrounding whitespace is trimmed, not refused).
    #[error("the identifier must not contain whitespace")]
    Whitespace,
    /// The email address is malformed outside its domain.
    #[error("invalid email address: {0}")]
    InvalidEmail(&'static str),
    /// The email domain is not a usable DNS name.
    #[error("invalid email domain: {0}")]
    InvalidDomain(&'static str),
    /// The phone number is not an E.164 number.
    #[error("invalid phone number: {0}")]
    InvalidPhone(&'static str),
    /// The username breaks the username rules.
    #[error("invalid username: {0}")]
    InvalidUsername(&'static str),
    /// Letters from more than one script in one unit: the classic homoglyph spoofing trick.
    #[error("the {0} mixes letters from different scripts")]
    MixedScript(&'static str),
}

impl IdentifierError {
    /// Stable snake_case code for API error bodies; never changes once published.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLong { .. } => "too_long",
            Self::ControlCharacter => "control_character",
            Self::Whitespace => "whitespace",
            Self::InvalidEmail(_) => "invalid_email",
            Self::InvalidDomain(_) => "invalid_domain",
            Self::InvalidPhone(_) => "invalid_phone",
            Self::InvalidUsername(_) => "invalid_username",
            Self::MixedScript(_) => "mixed_script",
        }
    }
}

/// Brings `raw` to its canonical form for `kind`, or says why it cannot be an identifier.
///
/// Surrounding whitespace is trimmed; then NFKC, Unicode default case folding and NFKC again are
/// applied (repeated until stable, so the result is idempotent). Email domains are instead mapped
/// with IDNA UTS-46 to lowercase punycode, which keeps `ß` distinct from `ss` as DNS does.
pub fn normalize(kind: IdentifierKind, raw: &str) -> Result<NormalizedIdentifier, IdentifierError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(IdentifierError::Empty);
    }
    if trimmed.chars().nth(MAX_INPUT_CHARS).is_some() {
        return Err(IdentifierError::TooLong {
            part: "identifier",
            max: MAX_INPUT_CHARS,
            unit: "characters",
        });
    }
    if trimmed.chars().any(is_forbidden_invisible) {
        return Err(IdentifierError::ControlCharacter);
    }
    let value = match kind {
        IdentifierKind::Email => normalize_email(trimmed)?,
        IdentifierKind::Phone => normalize_phone(trimmed)?,
        IdentifierKind::Username => normalize_username(trimmed)?,
    };
    Ok(NormalizedIdentifier { kind, value })
}

/// Control characters plus the default-ignorable characters that render as nothing and so let two
/// different identifiers look the same on screen.
fn is_forbidden_invisible(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                | '\u{1BCA0}'..='\u{1BCA3}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// NFKC, default case fold, NFKC, repeated until nothing changes (bounded): an NFKC_Casefold-like
/// mapping whose output is a fixed point, hence idempotent.
fn fold(s: &str) -> String {
    let mut current: String = s.nfkc().collect();
    for _ in 0..4 {
        let next: String = caseless::default_case_fold_str(&current).nfkc().collect();
        if next == current {
            break;
        }
        current = next;
    }
    current
}

/// Refuses whitespace and invisible characters that normalisation may have produced (e.g. NFKC
/// turns U+00A8 into a space and a combining mark).
fn check_clean(s: &str) -> Result<(), IdentifierError> {
    if s.chars().any(is_forbidden_invisible) {
        return Err(IdentifierError::ControlCharacter);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(IdentifierError::Whitespace);
    }
    Ok(())
}

fn normalize_email(trimmed: &str) -> Result<String, IdentifierError> {
    let compat: String = trimmed.nfkc().collect();
    check_clean(&compat)?;
    let (local_raw, domain_raw) = compat
        .rsplit_once('@')
        .ok_or(IdentifierError::InvalidEmail("an '@' is required"))?;
    if local_raw.is_empty() {
        return Err(IdentifierError::InvalidEmail(
            "the part before '@' is empty",
        ));
    }
    if domain_raw.is_empty() {
        return Err(IdentifierError::InvalidEmail(
            "the domain after '@' is empty",
        ));
    }
    let local = fold(local_raw);
    check_clean(&local)?;
    if local.contains('@') {
        return Err(IdentifierError::InvalidEmail("only one '@' is allowed"));
    }
    let local_len = local.chars().count();
    if local_len > MAX_LOCAL_PART_CHARS {
        return Err(IdentifierError::TooLong {
            part: "email local part",
            max: MAX_LOCAL_PART_CHARS,
            unit: "characters",
        });
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(IdentifierError::InvalidEmail(
            "the part before '@' must not start or end with '.' or contain '..'",
        ));
    }
    if is_mixed_script(&local) {
        return Err(IdentifierError::MixedScript("email local part"));
    }
    let domain = normalize_domain(domain_raw)?;
    if local_len + 1 + domain.len() > MAX_EMAIL_CHARS {
        return Err(IdentifierError::TooLong {
            part: "email address",
            max: MAX_EMAIL_CHARS,
            unit: "characters",
        });
    }
    Ok(format!("{local}@{domain}"))
}

/// Maps an (already NFKC) email domain to lowercase ASCII via IDNA UTS-46 and checks it is a plain
/// DNS host name whose labels are each single-script.
fn normalize_domain(raw: &str) -> Result<String, IdentifierError> {
    // The URL host parser percent-decodes and treats brackets as IPv6; neither belongs in email.
    if raw.contains('%') {
        return Err(IdentifierError::InvalidDomain("'%' is not allowed"));
    }
    if raw.starts_with('[') {
        return Err(IdentifierError::InvalidDomain(
            "IP address literals are not allowed",
        ));
    }
    let host = url::Host::parse(raw)
        .map_err(|_| IdentifierError::InvalidDomain("not a valid domain name"))?;
    let ascii = match host {
        url::Host::Domain(d) => d.to_ascii_lowercase(),
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => {
            return Err(IdentifierError::InvalidDomain(
                "IP address literals are not allowed",
            ));
        }
    };
    let ascii = ascii.strip_suffix('.').unwrap_or(&ascii).to_owned();
    if ascii.split('.').count() < 2 {
        return Err(IdentifierError::InvalidDomain(
            "at least two labels are required, e.g. example.com",
        ));
    }
    for label in ascii.split('.') {
        check_label(label)?;
    }
    Ok(ascii)
}

fn check_label(label: &str) -> Result<(), IdentifierError> {
    if label.is_empty() {
        return Err(IdentifierError::InvalidDomain("empty label ('..')"));
    }
    if label.len() > MAX_DOMAIN_LABEL_CHARS {
        return Err(IdentifierError::TooLong {
            part: "email domain label",
            max: MAX_DOMAIN_LABEL_CHARS,
            unit: "characters",
        });
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(IdentifierError::InvalidDomain(
            "labels may contain only letters, digits and '-'",
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(IdentifierError::InvalidDomain(
            "labels must not start or end with '-'",
        ));
    }
    // Judge scripts on the Unicode form, whether the caller typed Unicode or punycode.
    let unicode = match label.strip_prefix("xn--") {
        Some(encoded) => punycode_decode(encoded)
            .ok_or(IdentifierError::InvalidDomain("invalid punycode label"))?,
        None => label.to_owned(),
    };
    if is_mixed_script(&unicode) {
        return Err(IdentifierError::MixedScript("email domain label"));
    }
    Ok(())
}

fn normalize_phone(trimmed: &str) -> Result<String, IdentifierError> {
    let compat: String = trimmed.nfkc().collect();
    if compat.chars().any(is_forbidden_invisible) {
        return Err(IdentifierError::ControlCharacter);
    }
    let rest = compat
        .strip_prefix('+')
        .ok_or(IdentifierError::InvalidPhone(
            "it must start with '+' and the country code",
        ))?;
    let mut digits = String::with_capacity(MAX_PHONE_DIGITS);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => {
                return Err(IdentifierError::InvalidPhone(
                    "only digits and the separators ' ', '-', '.', '(' and ')' may follow '+'",
                ));
            }
        }
    }
    if digits.len() > MAX_PHONE_DIGITS {
        return Err(IdentifierError::TooLong {
            part: "phone number",
            max: MAX_PHONE_DIGITS,
            unit: "digits",
        });
    }
    if digits.len() < MIN_PHONE_DIGITS {
        return Err(IdentifierError::InvalidPhone(
            "it is too short: at least 8 digits are required",
        ));
    }
    if digits.starts_with('0') {
        return Err(IdentifierError::InvalidPhone(
            "the country code cannot start with 0",
        ));
    }
    Ok(format!("+{digits}"))
}

fn normalize_username(trimmed: &str) -> Result<String, IdentifierError> {
    let name = fold(trimmed);
    check_clean(&name)?;
    if name.is_empty() {
        return Err(IdentifierError::Empty);
    }
    if name.contains('@') {
        return Err(IdentifierError::InvalidUsername(
            "it must not contain '@'; use an email identifier instead",
        ));
    }
    if name.chars().count() > MAX_USERNAME_CHARS {
        return Err(IdentifierError::TooLong {
            part: "username",
            max: MAX_USERNAME_CHARS,
            unit: "characters",
        });
    }
    // Combining marks are part of a letter (Hindi viramas, the dot that folding adds to Turkish
    // `İ`), so they are allowed, but only right after a letter, digit or another mark.
    let mut previous_is_word = false;
    for c in name.chars() {
        let is_mark = unicode_normalization::char::is_combining_mark(c);
        let ok =
            c.is_alphanumeric() || matches!(c, '.' | '_' | '-') || (is_mark && previous_is_word);
        if !ok {
            return Err(IdentifierError::InvalidUsername(
                "only letters, digits, '.', '_' and '-' are allowed",
            ));
        }
        previous_is_word = c.is_alphanumeric() || is_mark;
    }
    if is_mixed_script(&name) {
        return Err(IdentifierError::MixedScript("username"));
    }
    Ok(name)
}

/// Scripts whose letters are commonly confused with each other; every other script is lumped into
/// `Other`, which is fine alone but counts as a distinct script when mixed with these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    Latin,
    Greek,
    Cyrillic,
    Armenian,
    Cherokee,
    Other,
}

/// The script of a letter by Unicode block; `None` for digits, punctuation and combining marks,
/// which are neutral.
fn script_of(c: char) -> Option<Script> {
    // Marks take the script of the letter they sit on, so they never decide mixing themselves.
    if !c.is_alphabetic() || unicode_normalization::char::is_combining_mark(c) {
        return None;
    }
    Some(match u32::from(c) {
        0x0041..=0x005A
        | 0x0061..=0x007A
        | 0x00AA
        | 0x00BA
        | 0x00C0..=0x024F
        | 0x0250..=0x02AF
        | 0x1D00..=0x1DBF
        | 0x1E00..=0x1EFF
        | 0x2C60..=0x2C7F
        | 0xA720..=0xA7FF
        | 0xAB30..=0xAB6F
        | 0xFB00..=0xFB06
        | 0xFF21..=0xFF3A
        | 0xFF41..=0xFF5A => Script::Latin,
        0x0370..=0x03FF | 0x1F00..=0x1FFF => Script::Greek,
        0x0400..=0x052F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => Script::Cyrillic,
        0x0530..=0x058F | 0xFB13..=0xFB17 => Script::Armenian,
        0x13A0..=0x13FF | 0xAB70..=0xABBF => Script::Cherokee,
        _ => Script::Other,
    })
}

/// True when `s` holds letters from more than one script.
fn is_mixed_script(s: &str) -> bool {
    let mut seen: Option<Script> = None;
    for script in s.chars().filter_map(script_of) {
        match seen {
            None => seen = Some(script),
            Some(first) if first != script => return true,
            Some(_) => {}
        }
    }
    false
}

/// RFC 3492 punycode decoding of one label body (without `xn--`), used only to see the scripts of
/// an IDN label given in ASCII form. Returns `None` on malformed input or arithmetic overflow.
fn punycode_decode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    const T_MIN: u32 = 1;
    const T_MAX: u32 = 26;
    const INITIAL_N: u32 = 128;
    const INITIAL_BIAS: u32 = 72;

    let (basic, extended) = input.rsplit_once('-').unwrap_or(("", input));
    if !basic.is_ascii() {
        return None;
    }
    let mut output: Vec<char> = basic.chars().collect();
    let mut n = INITIAL_N;
    let mut i: u32 = 0;
    let mut bias = INITIAL_BIAS;
    let mut bytes = extended.bytes().peekable();
    while bytes.peek().is_some() {
        let old_i = i;
        let mut weight: u32 = 1;
        let mut k = BASE;
        loop {
            let byte = bytes.next()?;
            let digit = u32::from(match byte {
                b'a'..=b'z' => byte - b'a',
                b'A'..=b'Z' => byte - b'A',
                b'0'..=b'9' => byte - b'0' + 26,
                _ => return None,
            });
            i = i.checked_add(digit.checked_mul(weight)?)?;
            let t = if k <= bias {
                T_MIN
            } else if k >= bias.checked_add(T_MAX)? {
                T_MAX
            } else {
                k - bias
            };
            if digit < t {
                break;
            }
            weight = weight.checked_mul(BASE - t)?;
            k = k.checked_add(BASE)?;
        }
        let len = u32::try_from(output.len()).ok()?.checked_add(1)?;
        bias = punycode_adapt(i - old_i, len, old_i == 0);
        n = n.checked_add(i / len)?;
        i %= len;
        let position = usize::try_from(i).ok()?;
        if position > output.len() {
            return None;
        }
        output.insert(position, char::from_u32(n)?);
        i += 1;
    }
    Some(output.into_iter().collect())
}

/// RFC 3492 bias adaptation.
fn punycode_adapt(delta: u32, num_points: u32, first_time: bool) -> u32 {
    const BASE: u32 = 36;
    const T_MIN: u32 = 1;
    const T_MAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    let mut delta = if first_time { delta / DAMP } else { delta / 2 };
    delta += delta / num_points.max(1);
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) / 2 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + ((BASE - T_MIN + 1) * delta) / (delta + SKEW)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;

    fn email(raw: &str) -> Result<String, IdentifierError> {
        normalize(IdentifierKind::Email, raw).map(|n| n.value)
    }
    fn phone(raw: &str) -> Result<String, IdentifierError> {
        normalize(IdentifierKind::Phone, raw).map(|n| n.value)
    }
    fn username(raw: &str) -> Result<String, IdentifierError> {
        normalize(IdentifierKind::Username, raw).map(|n| n.value)
    }
    fn code<T: std::fmt::Debug>(r: Result<T, IdentifierError>) -> &'static str {
        r.expect_err("expected an error").code()
    }

    // --- kinds -----------------------------------------------------------------------------------

    #[test]
    fn kind_names_round_trip_and_match_serde() {
        for kind in [
            IdentifierKind::Email,
            IdentifierKind::Phone,
            IdentifierKind::Username,
        ] {
            assert_eq!(IdentifierKind::parse(kind.as_str()), Some(kind));
            assert_eq!(
                serde_json::to_value(kind).unwrap(),
                serde_json::Value::String(kind.as_str().to_owned())
            );
        }
        assert_eq!(IdentifierKind::parse("Email"), None);
        assert_eq!(IdentifierKind::parse("sms"), None);
    }

    #[test]
    fn the_result_carries_its_kind() {
        let n = normalize(IdentifierKind::Phone, "+14155550100").unwrap();
        assert_eq!(n.kind, IdentifierKind::Phone);
        assert_eq!(n.value, "+14155550100");
    }

    // --- all kinds -------------------------------------------------------------------------------

    #[test]
    fn empty_or_blank_input_is_empty() {
        for kind in [
            IdentifierKind::Email,
            IdentifierKind::Phone,
            IdentifierKind::Username,
        ] {
            assert_eq!(code(normalize(kind, "")), "empty");
            assert_eq!(code(normalize(kind, "   \t ")), "empty");
        }
    }

    #[test]
    fn surrounding_whitespace_is_trimmed() {
        assert_eq!(
            email("  alice@example.com \n").unwrap(),
            "alice@example.com"
        );
        assert_eq!(username("\u{3000}alice\u{00A0}").unwrap(), "alice");
        assert_eq!(phone(" +14155550100 ").unwrap(), "+14155550100");
    }

    #[test]
    fn inner_whitespace_is_refused() {
        assert_eq!(code(email("ali ce@example.com")), "whitespace");
        assert_eq!(code(email("alice@exa mple.com")), "whitespace");
        assert_eq!(code(username("alice smith")), "whitespace");
        // A no-break space becomes a plain space under NFKC and is refused too.
        assert_eq!(code(username("alice\u{00A0}smith")), "whitespace");
    }

    #[test]
    fn control_and_invisible_characters_are_refused() {
        assert_eq!(code(username("ali\u{0007}ce")), "control_character");
        assert_eq!(code(username("ali\tce")), "control_character");
        assert_eq!(
            code(email("alice\u{200B}@example.com")),
            "control_character"
        );
        assert_eq!(code(username("admin\u{202E}")), "control_character");
        assert_eq!(code(username("\u{3164}")), "control_character");
        assert_eq!(code(phone("+1415\u{0000}5550100")), "control_character");
        assert_eq!(
            code(email("alice\u{FE0F}@example.com")),
            "control_character"
        );
    }

    #[test]
    fn oversized_input_is_refused_before_normalisation() {
        let huge = "a".repeat(MAX_INPUT_CHARS + 1);
        assert_eq!(code(username(&huge)), "too_long");
        let huge_phone = format!("+{}", "1".repeat(MAX_INPUT_CHARS));
        assert_eq!(code(phone(&huge_phone)), "too_long");
    }

    #[test]
    fn normalisation_is_idempotent() {
        let samples: [(IdentifierKind, &str); 16] = [
            (IdentifierKind::Email, "Alice@Example.COM"),
            (IdentifierKind::Email, "ＡＬＩＣＥ＠ＥＸＡＭＰＬＥ．ＣＯＭ"),
            (IdentifierKind::Email, "Jürgen@Bücher.Example"),
            (IdentifierKind::Email, "STRASSE@straße.de"),
            (IdentifierKind::Email, "user+tag@xn--bcher-kva.example."),
            (IdentifierKind::Email, "иван@пример.рф"),
            (IdentifierKind::Email, "ǅemal@example.com"),
            (IdentifierKind::Email, "ﬁle@example.com"),
            (IdentifierKind::Phone, "+1 (415) 555-0100"),
            (IdentifierKind::Phone, "＋４４ ２０ ７９４６ ０９５８"),
            (IdentifierKind::Username, "STRASSE"),
            (IdentifierKind::Username, "straße"),
            (IdentifierKind::Username, "ΣΊΣΥΦΟΣ"),
            (IdentifierKind::Username, "Ｊｏｈｎ_Ｄｏｅ"),
            (IdentifierKind::Username, "ǄEMAL"),
            (IdentifierKind::Username, "İstanbul"),
        ];
        for (kind, raw) in samples {
            let once = normalize(kind, raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            let twice = normalize(kind, &once.value).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(once, twice, "not idempotent for {raw:?}");
        }
    }

    #[test]
    fn error_codes_are_stable() {
        let all = [
            (IdentifierError::Empty, "empty"),
            (
                IdentifierError::TooLong {
                    part: "username",
                    max: 64,
                    unit: "characters",
                },
                "too_long",
            ),
            (IdentifierError::ControlCharacter, "control_character"),
            (IdentifierError::Whitespace, "whitespace"),
            (IdentifierError::InvalidEmail("x"), "invalid_email"),
            (IdentifierError::InvalidDomain("x"), "invalid_domain"),
            (IdentifierError::InvalidPhone("x"), "invalid_phone"),
            (IdentifierError::InvalidUsername("x"), "invalid_username"),
            (IdentifierError::MixedScript("username"), "mixed_script"),
        ];
        for (err, expected) in all {
            assert_eq!(err.code(), expected);
            assert!(!err.to_string().is_empty());
        }
        assert_eq!(
            IdentifierError::TooLong {
                part: "phone number",
                max: 15,
                unit: "digits"
            }
            .to_string(),
            "the phone number is too long: at most 15 digits are allowed"
        );
    }

    // --- email -----------------------------------------------------------------------------------

    #[test]
    fn email_case_differences_vanish() {
        assert_eq!(email("Alice@Example.COM").unwrap(), "alice@example.com");
        assert_eq!(email("Alice@Example.COM"), email("alice@example.com"));
    }

    #[test]
    fn email_fullwidth_forms_become_ascii() {
        assert_eq!(
            email("ＡＬＩＣＥ＠ＥＸＡＭＰＬＥ．ＣＯＭ").unwrap(),
            "alice@example.com"
        );
        assert_eq!(
            email("alice１２３@example.com").unwrap(),
            "alice123@example.com"
        );
    }

    #[test]
    fn email_local_part_is_case_folded_fully() {
        assert_eq!(email("STRASSE@example.com"), email("straße@example.com"));
        assert_eq!(email("ﬁle@example.com").unwrap(), "file@example.com");
    }

    #[test]
    fn email_idn_domain_becomes_punycode() {
        assert_eq!(
            email("info@bücher.example").unwrap(),
            "info@xn--bcher-kva.example"
        );
        assert_eq!(
            email("info@BÜCHER.example").unwrap(),
            "info@xn--bcher-kva.example"
        );
        assert_eq!(
            email("info@xn--bcher-kva.example").unwrap(),
            "info@xn--bcher-kva.example"
        );
        assert_eq!(
            email("иван@пример.рф").unwrap(),
            "иван@xn--e1afmkfd.xn--p1ai"
        );
    }

    #[test]
    fn email_domain_keeps_sharp_s_as_dns_does() {
        // IDNA 2008 treats straße.de and strasse.de as different domains, so we must too.
        assert_eq!(email("a@straße.de").unwrap(), "a@xn--strae-oqa.de");
        assert_eq!(email("a@strasse.de").unwrap(), "a@strasse.de");
    }

    #[test]
    fn email_trailing_dot_of_domain_is_dropped() {
        assert_eq!(email("alice@EXAMPLE.COM.").unwrap(), "alice@example.com");
        assert_eq!(code(email("alice@example.com..")), "invalid_domain");
    }

    #[test]
    fn email_splits_at_the_last_at_sign_and_refuses_a_second_one() {
        assert_eq!(code(email("a@b@example.com")), "invalid_email");
        assert_eq!(code(email("alice.example.com")), "invalid_email");
        assert_eq!(code(email("@example.com")), "invalid_email");
        assert_eq!(code(email("alice@")), "invalid_email");
    }

    #[test]
    fn email_local_part_allows_tags_and_symbols() {
        assert_eq!(
            email("Alice+News@example.com").unwrap(),
            "alice+news@example.com"
        );
        assert_eq!(email("o'brien@example.com").unwrap(), "o'brien@example.com");
        assert_eq!(email("a.b.c@example.com").unwrap(), "a.b.c@example.com");
    }

    #[test]
    fn email_local_part_dots_are_checked() {
        assert_eq!(code(email(".alice@example.com")), "invalid_email");
        assert_eq!(code(email("alice.@example.com")), "invalid_email");
        assert_eq!(code(email("al..ice@example.com")), "invalid_email");
    }

    #[test]
    fn email_domain_must_be_a_multi_label_host_name() {
        assert_eq!(code(email("alice@localhost")), "invalid_domain");
        assert_eq!(code(email("alice@example..com")), "invalid_domain");
        assert_eq!(code(email("alice@.example.com")), "invalid_domain");
        assert_eq!(code(email("alice@exa_mple.com")), "invalid_domain");
        assert_eq!(code(email("alice@-example.com")), "invalid_domain");
        assert_eq!(code(email("alice@example-.com")), "invalid_domain");
        assert_eq!(code(email("alice@ex%61mple.com")), "invalid_domain");
        assert_eq!(code(email("alice@exa/mple.com")), "invalid_domain");
        assert_eq!(code(email("alice@xn--zz.com")), "invalid_domain");
    }

    #[test]
    fn email_domain_must_not_be_an_ip_literal() {
        assert_eq!(code(email("alice@192.168.0.1")), "invalid_domain");
        assert_eq!(code(email("alice@[192.168.0.1]")), "invalid_domain");
        assert_eq!(code(email("alice@[::1]")), "invalid_domain");
        assert_eq!(code(email("alice@example.123")), "invalid_domain");
    }

    #[test]
    fn email_length_limits() {
        let local64 = "a".repeat(64);
        assert!(email(&format!("{local64}@example.com")).is_ok());
        assert_eq!(code(email(&format!("{local64}a@example.com"))), "too_long");

        let label63 = "b".repeat(63);
        assert!(email(&format!("a@{label63}.com")).is_ok());
        assert_eq!(code(email(&format!("a@{label63}b.com"))), "too_long");

        // 64 + 1 + 189 = 254 characters exactly.
        let domain189 = format!(
            "{}.{}.{}.com",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(57)
        );
        assert_eq!(domain189.len(), 189);
        let at_limit = format!("{local64}@{domain189}");
        assert_eq!(at_limit.len(), 254);
        assert_eq!(email(&at_limit).unwrap(), at_limit);
        let over = format!("{local64}@c{domain189}");
        assert_eq!(code(email(&over)), "too_long");
    }

    #[test]
    fn email_local_part_limit_counts_characters_not_bytes() {
        let local = "ü".repeat(64);
        assert!(email(&format!("{local}@example.com")).is_ok());
    }

    #[test]
    fn email_cyrillic_homoglyphs_are_refused() {
        // 'а' below is U+0430 CYRILLIC SMALL LETTER A.
        assert_eq!(code(email("alice@p\u{0430}ypal.com")), "mixed_script");
        assert_eq!(code(email("p\u{0430}ypal@example.com")), "mixed_script");
        // The same spoof given in punycode is caught too.
        let spoof = url::Host::parse("p\u{0430}ypal.com").unwrap().to_string();
        assert!(spoof.starts_with("xn--"));
        assert_eq!(code(email(&format!("alice@{spoof}"))), "mixed_script");
    }

    #[test]
    fn email_greek_omicron_in_latin_word_is_refused() {
        // 'ο' is U+03BF GREEK SMALL LETTER OMICRON.
        assert_eq!(
            code(email("g\u{03BF}\u{03BF}gle@example.com")),
            "mixed_script"
        );
        assert_eq!(code(email("alice@g\u{03BF}ogle.com")), "mixed_script");
    }

    #[test]
    fn email_single_script_labels_may_differ_from_each_other() {
        // Each label is its own unit: a Cyrillic label under a Latin TLD is fine.
        assert_eq!(email("alice@пример.com").unwrap(), "alice@xn--e1afmkfd.com");
        assert_eq!(email("иван@example.com").unwrap(), "иван@example.com");
    }

    // --- phone -----------------------------------------------------------------------------------

    #[test]
    fn phone_separators_are_stripped() {
        assert_eq!(phone("+1 (415) 555-0100").unwrap(), "+14155550100");
        assert_eq!(phone("+44 20.7946.0958").unwrap(), "+442079460958");
        assert_eq!(phone("+14155550100").unwrap(), "+14155550100");
    }

    #[test]
    fn phone_fullwidth_forms_become_ascii() {
        assert_eq!(
            phone("＋１ ４１５ ５５５ ０１００").unwrap(),
            "+14155550100"
        );
    }

    #[test]
    fn phone_requires_a_leading_plus() {
        assert_eq!(code(phone("14155550100")), "invalid_phone");
        assert_eq!(code(phone("(415) 555-0100")), "invalid_phone");
        assert_eq!(code(phone("00 1 415 555 0100")), "invalid_phone");
    }

    #[test]
    fn phone_digit_count_is_8_to_15() {
        assert_eq!(
            phone("+1234567").map_err(|e| e.code()),
            Err("invalid_phone")
        );
        assert_eq!(phone("+12345678").unwrap(), "+12345678");
        assert_eq!(phone("+123456789012345").unwrap(), "+123456789012345");
        assert_eq!(code(phone("+1234567890123456")), "too_long");
        assert_eq!(code(phone("+")), "invalid_phone");
    }

    #[test]
    fn phone_country_code_cannot_start_with_zero() {
        assert_eq!(code(phone("+04155550100")), "invalid_phone");
    }

    #[test]
    fn phone_refuses_letters_and_other_symbols() {
        assert_eq!(code(phone("+1 415 CALL-NOW")), "invalid_phone");
        assert_eq!(code(phone("+1/415/5550100")), "invalid_phone");
        assert_eq!(code(phone("++14155550100")), "invalid_phone");
        // Non-ASCII decimal digits are not folded to ASCII by NFKC and are refused.
        assert_eq!(code(phone("+١٤١٥٥٥٥٠١٠٠")), "invalid_phone");
    }

    // --- username --------------------------------------------------------------------------------

    #[test]
    fn username_case_and_fullwidth_forms_vanish() {
        assert_eq!(username("Alice").unwrap(), "alice");
        assert_eq!(username("ＡＬＩＣＥ").unwrap(), "alice");
        assert_eq!(username("ｊｏｈｎ＿ｄｏｅ１").unwrap(), "john_doe1");
    }

    #[test]
    fn username_sharp_s_folds_to_ss() {
        assert_eq!(username("STRASSE").unwrap(), "strasse");
        assert_eq!(username("straße"), username("STRASSE"));
    }

    #[test]
    fn username_allows_letters_digits_and_three_punctuation_marks() {
        assert_eq!(username("john.doe_42-x").unwrap(), "john.doe_42-x");
        assert_eq!(username("山田太郎").unwrap(), "山田太郎");
        assert_eq!(username("محمد").unwrap(), "محمد");
        assert_eq!(code(username("john!")), "invalid_username");
        assert_eq!(code(username("john+doe")), "invalid_username");
        assert_eq!(code(username("😀")), "invalid_username");
    }

    #[test]
    fn username_allows_combining_marks_after_letters_only() {
        assert_eq!(username("नमस्ते").unwrap(), "नमस्ते");
        // Full case folding turns Turkish `İ` into `i` plus U+0307 COMBINING DOT ABOVE.
        assert_eq!(username("İstanbul").unwrap(), "i\u{0307}stanbul");
        assert_eq!(code(username("\u{0301}abc")), "invalid_username");
        assert_eq!(code(username("a.\u{0301}b")), "invalid_username");
    }

    #[test]
    fn username_must_not_look_like_an_email() {
        assert_eq!(code(username("alice@example.com")), "invalid_username");
        assert_eq!(code(username("alice＠example")), "invalid_username");
    }

    #[test]
    fn username_length_limit_is_64_characters() {
        assert!(username(&"a".repeat(64)).is_ok());
        assert!(username(&"я".repeat(64)).is_ok());
        assert_eq!(code(username(&"a".repeat(65))), "too_long");
        assert!(username("a").is_ok());
    }

    #[test]
    fn username_cyrillic_homoglyphs_are_refused() {
        assert_eq!(code(username("p\u{0430}ypal")), "mixed_script");
        assert_eq!(code(username("\u{0430}dmin")), "mixed_script");
    }

    #[test]
    fn username_greek_omicron_in_latin_word_is_refused() {
        assert_eq!(code(username("r\u{03BF}bert")), "mixed_script");
    }

    #[test]
    fn username_single_non_latin_scripts_are_accepted() {
        assert_eq!(username("иван").unwrap(), "иван");
        assert_eq!(username("ИВАН").unwrap(), "иван");
        // Case folding also erases the final-sigma spelling difference.
        assert_eq!(username("σίσυφος").unwrap(), "σίσυφοσ");
        assert_eq!(username("ΣΊΣΥΦΟΣ"), username("σίσυφος"));
        assert_eq!(username("Ջոն").unwrap(), "ջոն");
    }

    #[test]
    fn username_digits_and_punctuation_are_script_neutral() {
        assert_eq!(username("иван_2024").unwrap(), "иван_2024");
        assert_eq!(username("2024").unwrap(), "2024");
    }

    #[test]
    fn username_other_scripts_count_when_mixed_with_confusable_ones() {
        assert_eq!(code(username("abc山田")), "mixed_script");
        assert_eq!(code(username("ᏣᎳᎩa")), "mixed_script");
    }

    // --- helpers ---------------------------------------------------------------------------------

    #[test]
    fn punycode_decoder_matches_rfc_examples() {
        assert_eq!(punycode_decode("bcher-kva").unwrap(), "bücher");
        assert_eq!(punycode_decode("e1afmkfd").unwrap(), "пример");
        assert_eq!(punycode_decode("strae-oqa").unwrap(), "straße");
        assert_eq!(punycode_decode("abc-").unwrap(), "abc");
        assert_eq!(punycode_decode("!!!"), None);
        assert_eq!(punycode_decode("99999999999999"), None);
    }

    #[test]
    fn scripts_are_classified_by_block() {
        assert_eq!(script_of('a'), Some(Script::Latin));
        assert_eq!(script_of('é'), Some(Script::Latin));
        assert_eq!(script_of('\u{0430}'), Some(Script::Cyrillic));
        assert_eq!(script_of('ο'), Some(Script::Greek));
        assert_eq!(script_of('ա'), Some(Script::Armenian));
        assert_eq!(script_of('Ꭰ'), Some(Script::Cherokee));
        assert_eq!(script_of('山'), Some(Script::Other));
        assert_eq!(script_of('7'), None);
        assert_eq!(script_of('-'), None);
    }
}
