//! What makes a password acceptable (PW-01 to PW-04), and an advisory strength estimate.
//!
//! The rules follow current guidance rather than habit: length is what counts, so there are no
//! composition rules (no "one digit, one symbol"); length is counted in Unicode code points after NFKC,
//! the same form that is hashed; nothing is trimmed, folded or truncated; and a password is refused when
//! it is on a list of common or breached passwords or is built from the service's or the customer's own
//! names. Every refusal says why. The strength estimate only advises: it never refuses anything.
use std::collections::HashSet;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization as _;

use crate::policy::PolicyProblem;

/// The shortest password an account protected by the password alone may have (PW-01).
pub const MIN_LENGTH_PASSWORD_ONLY: u32 = 15;
/// The shortest password that is one factor of several (PW-01); no setting goes below it.
pub const MIN_LENGTH_WITH_SECOND_FACTOR: u32 = 8;
/// The longest password accepted (PW-02). Longer input is refused, never cut short.
pub const MAX_LENGTH_LIMIT: u32 = 256;
/// The least an operator may lower the maximum to: long passphrases must always fit.
pub const MAX_LENGTH_FLOOR: u32 = 64;

/// The password section of a policy: minimum and maximum lengths. Operators may raise the minimums,
/// never lower them below the rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicy {
    /// Minimum length, in characters, when the password is the only factor (at least 15).
    pub min_length: u32,
    /// Minimum length, in characters, when the account also has a second factor (at least 8).
    pub min_length_with_second_factor: u32,
    /// Maximum length, in characters (64 to 256).
    pub max_length: u32,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: MIN_LENGTH_PASSWORD_ONLY,
            min_length_with_second_factor: MIN_LENGTH_WITH_SECOND_FACTOR,
            max_length: MAX_LENGTH_LIMIT,
        }
    }
}

impl PasswordPolicy {
    /// The minimum that applies to an account with or without a second factor.
    pub fn min_length_for(&self, has_second_factor: bool) -> u32 {
        if has_second_factor {
            self.min_length_with_second_factor
        } else {
            self.min_length
        }
    }

    /// Settings serde cannot check: the floors of PW-01 and the bounds of PW-02. `path` is the JSON path
    /// of this section inside its document (e.g. `$.passwords`), used to name the offending value.
    pub fn problems(&self, path: &str) -> Vec<PolicyProblem> {
        let mut out = Vec::new();
        if self.min_length < MIN_LENGTH_PASSWORD_ONLY {
            out.push(PolicyProblem {
                path: format!("{path}.min_length"),
                message: format!("must be at least {MIN_LENGTH_PASSWORD_ONLY}"),
            });
        }
        if self.min_length_with_second_factor < MIN_LENGTH_WITH_SECOND_FACTOR {
            out.push(PolicyProblem {
                path: format!("{path}.min_length_with_second_factor"),
                message: format!("must be at least {MIN_LENGTH_WITH_SECOND_FACTOR}"),
            });
        }
        if !(MAX_LENGTH_FLOOR..=MAX_LENGTH_LIMIT).contains(&self.max_length) {
            out.push(PolicyProblem {
                path: format!("{path}.max_length"),
                message: format!("must be between {MAX_LENGTH_FLOOR} and {MAX_LENGTH_LIMIT}"),
            });
        } else if self.max_length < self.min_length.max(self.min_length_with_second_factor) {
            out.push(PolicyProblem {
                path: format!("{path}.max_length"),
                message: "must not be below the minimum lengths".into(),
            });
        }
        out
    }
}

/// What the check needs to know about the account the password is for.
#[derive(Debug, Clone, Default)]
pub struct PasswordContext<'a> {
    /// The account has (or is enrolling) a second factor, so the lower minimum applies.
    pub has_second_factor: bool,
    /// Words a guesser would try first: the tenant's and product's names, the customer's username and
    /// email address (an address also contributes its local part), their name.
    pub context_words: Vec<&'a str>,
}

/// One reason a password was refused, to show the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PasswordProblem {
    /// Stable code: `too_short`, `too_long`, `common` or `contains_context`.
    pub code: &'static str,
    /// Why, in a sentence that says what to do instead.
    pub message: String,
}

/// An advisory estimate of how hard a password is to guess, with hints. Never a reason to refuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Strength {
    /// 0 (guessed at once) to 4 (very hard to guess).
    pub score: u8,
    /// Hints for a stronger password; empty when there is nothing useful to say.
    pub feedback: Vec<Advice>,
}

/// Scores below this are worth a word to the person choosing the password (they are still accepted).
pub const WEAK_BELOW: u8 = 3;

impl Strength {
    /// Whether the estimate is low enough that the hints should be shown even though the password was
    /// accepted: the person may still want to pick a better one.
    pub fn is_weak(&self) -> bool {
        self.score < WEAK_BELOW
    }
}

/// One hint for a stronger password. A closed set with stable ids, so pages and apps can translate a hint
/// instead of showing the engine's English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Advice {
    /// It contains common words or passwords, perhaps in "leet" spelling.
    CommonWords,
    /// It is a shorter pattern said several times.
    RepeatedPattern,
    /// It contains a year.
    Years,
    /// It contains a run of one character.
    RepeatedCharacters,
    /// It contains an alphabet or digit sequence.
    Sequences,
    /// It contains a walk along a keyboard row.
    KeyboardPatterns,
    /// It is too short for its kinds of characters.
    Longer,
}

impl Advice {
    /// Every hint, in the order the estimator gives them; lets renderers check they can say each one.
    pub const ALL: [Advice; 7] = [
        Advice::CommonWords,
        Advice::RepeatedPattern,
        Advice::Years,
        Advice::RepeatedCharacters,
        Advice::Sequences,
        Advice::KeyboardPatterns,
        Advice::Longer,
    ];

    /// The message id renderers translate by (also the Fluent key of the hosted pages).
    pub fn id(self) -> &'static str {
        match self {
            Self::CommonWords => "info-password-advice-common-words",
            Self::RepeatedPattern => "info-password-advice-repeated-pattern",
            Self::Years => "info-password-advice-years",
            Self::RepeatedCharacters => "info-password-advice-repeated-characters",
            Self::Sequences => "info-password-advice-sequences",
            Self::KeyboardPatterns => "info-password-advice-keyboard",
            Self::Longer => "info-password-advice-longer",
        }
    }

    /// The English text, for renderers that have no translation of [`Self::id`].
    pub fn text(self) -> &'static str {
        match self {
            Self::CommonWords => {
                "Common words and passwords are easy to guess, even with letters swapped for digits; several unrelated words together are stronger."
            }
            Self::RepeatedPattern => "Repeating a shorter pattern adds little strength.",
            Self::Years => "Years, such as a birth year or this year, are easy to guess.",
            Self::RepeatedCharacters => "Repeated characters such as \"aaa\" add little strength.",
            Self::Sequences => "Sequences such as \"abc\" or \"1234\" are easy to guess.",
            Self::KeyboardPatterns => {
                "Keyboard patterns such as \"qwerty\" or \"asdf\" are easy to guess."
            }
            Self::Longer => {
                "Make it longer: a few unrelated words are stronger than symbols and digits."
            }
        }
    }
}

/// Checks a password a customer wants to set: length within the policy, not common, not built from the
/// context words. Every problem is reported, not only the first. On success, returns the advisory
/// strength estimate.
pub fn check(
    policy: &PasswordPolicy,
    password: &str,
    ctx: &PasswordContext<'_>,
    blocklist: &Blocklist,
) -> Result<Strength, Vec<PasswordProblem>> {
    let normalized: String = password.nfkc().collect();
    let length = normalized.chars().count();
    let mut problems = Vec::new();

    let min = policy.min_length_for(ctx.has_second_factor);
    if length < min as usize {
        problems.push(PasswordProblem {
            code: "too_short",
            message: format!("Use at least {min} characters. Several unrelated words make a long password that is easy to remember."),
        });
    }
    if length > policy.max_length as usize {
        problems.push(PasswordProblem {
            code: "too_long",
            message: format!(
                "Use at most {} characters. Longer passwords are refused, never shortened.",
                policy.max_length
            ),
        });
    }

    let folded = fold(password);
    if blocklist.contains_folded(&folded) || repeats_a_weak_unit(&folded, blocklist) {
        problems.push(PasswordProblem {
            code: "common",
            message: "This password is on a list of common or breached passwords that attackers try first. Choose a different one.".into(),
        });
    }
    if built_from_context(&folded, &ctx.context_words) {
        problems.push(PasswordProblem {
            code: "contains_context",
            message: "This password is too close to your account details or the name of this service. Choose one that has nothing to do with them.".into(),
        });
    }

    if problems.is_empty() {
        Ok(estimate(password, blocklist))
    } else {
        Err(problems)
    }
}

/// True when the password is a short unit or a listed password said again and again
/// (`passwordpassword`, `abcabcabcabcabc`): attackers try those right after the list itself.
fn repeats_a_weak_unit(folded: &str, blocklist: &Blocklist) -> bool {
    let chars: Vec<char> = folded.chars().collect();
    let n = chars.len();
    (1..=n / 2).filter(|u| n.is_multiple_of(*u)).any(|u| {
        let unit: String = chars.iter().take(u).collect();
        let repeated = chars.chunks(u).all(|c| c.iter().copied().eq(unit.chars()));
        repeated && (u < 4 || blocklist.contains_folded(&unit))
    })
}

/// The comparison form for lists and context words: NFKC, then lower case.
fn fold(s: &str) -> String {
    s.nfkc().collect::<String>().to_lowercase()
}

/// True when the password equals a context word, or one context word of four or more characters,
/// repeated or not, makes up more than half of it.
fn built_from_context(folded_password: &str, words: &[&str]) -> bool {
    let length = folded_password.chars().count();
    let mut candidates: Vec<String> = Vec::new();
    for w in words {
        let w = fold(w);
        if let Some((local, _)) = w.split_once('@') {
            candidates.push(local.to_owned());
        }
        candidates.push(w);
    }
    candidates.iter().any(|w| {
        if w.is_empty() {
            return false;
        }
        if w == folded_password {
            return true;
        }
        let w_len = w.chars().count();
        if w_len < 4 {
            return false;
        }
        let covered = folded_password.matches(w.as_str()).count() * w_len;
        covered * 2 > length
    })
}

/// A list of passwords nobody may choose. Entries and look-ups are compared in folded form (NFKC, lower
/// case), so `Password1` and `PASSWORD1` are the same entry.
#[derive(Debug, Clone, Default)]
pub struct Blocklist {
    words: HashSet<String>,
}

/// The shipped list: common and breached passwords (see `assets/data/passwords/SOURCES.md`).
const SHIPPED: &str = include_str!("../../../assets/data/passwords/common-passwords.txt");

impl Blocklist {
    /// The list shipped with Tessera, parsed once on first use.
    pub fn shipped() -> &'static Blocklist {
        static LIST: OnceLock<Blocklist> = OnceLock::new();
        LIST.get_or_init(|| Blocklist::from_lines(SHIPPED))
    }

    /// A list from text with one password per line; empty lines are skipped. Lines are taken whole
    /// (a line starting with `#` is a password, not a comment), minus the line ending.
    pub fn from_lines(text: &str) -> Self {
        let words = text
            .lines()
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .filter(|l| !l.is_empty())
            .map(fold)
            .collect();
        Self { words }
    }

    /// Whether the password, as a whole, is on the list.
    pub fn contains(&self, password: &str) -> bool {
        self.contains_folded(&fold(password))
    }

    fn contains_folded(&self, folded: &str) -> bool {
        self.words.contains(folded)
    }

    /// The number of distinct entries.
    pub fn len(&self) -> usize {
        self.words.len()
    }

    /// Whether the list has no entries.
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }
}

/// Keyboard rows, for spotting walks such as `qwerty` or `asdf`.
const KEYBOARD_ROWS: [&str; 4] = ["1234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm"];

/// Shortest list word the estimator looks for inside a password.
const MIN_WORD: usize = 4;
/// Longest list word the estimator looks for inside a password.
const MAX_WORD: usize = 24;

/// The patterns the estimator saw, for the hints.
#[derive(Debug, Default)]
struct Seen {
    word: bool,
    repeat: bool,
    sequence: bool,
    keyboard: bool,
    periodic: bool,
    year: bool,
}

/// Bits for a year from 1900 to 2099: there are only 200 of them.
const YEAR_BITS: f64 = 7.7;

/// Whether a year from 1900 to 2099 starts at `start`.
fn is_year_at(chars: &[char], start: usize) -> bool {
    match chars.get(start..start + 4) {
        Some(&[a, b, c, d]) => {
            matches!((a, b), ('1', '9') | ('2', '0')) && c.is_ascii_digit() && d.is_ascii_digit()
        }
        _ => false,
    }
}

/// Estimates how many bits of guessing a password costs, from its length, the kinds of characters in
/// it, and the patterns that make it cheaper: list words inside it (also in "leet" spelling), years,
/// repeated characters, alphabet or digit sequences, keyboard walks, and a short pattern repeated. Deliberately
/// simple and conservative; it only feeds hints.
pub fn estimate(password: &str, blocklist: &Blocklist) -> Strength {
    let normalized: String = password.nfkc().collect();
    let folded = normalized.to_lowercase();
    let chars: Vec<char> = folded.chars().collect();
    let per_char = bits_per_char(&normalized);
    let mut seen = Seen::default();

    let (unit, repeats) = shortest_period(&chars);
    let mut bits = pattern_bits(unit, per_char, blocklist, &mut seen);
    if repeats > 1 {
        seen.periodic = true;
        bits += (repeats as f64).log2();
    }
    let score = match bits {
        b if b < 28.0 => 0,
        b if b < 40.0 => 1,
        b if b < 55.0 => 2,
        b if b < 70.0 => 3,
        _ => 4,
    };

    let mut feedback = Vec::new();
    if score < 4 {
        for (seen, advice) in [
            (seen.word, Advice::CommonWords),
            (seen.periodic, Advice::RepeatedPattern),
            (seen.year, Advice::Years),
            (seen.repeat, Advice::RepeatedCharacters),
            (seen.sequence, Advice::Sequences),
            (seen.keyboard, Advice::KeyboardPatterns),
            (score < WEAK_BELOW, Advice::Longer),
        ] {
            if seen {
                feedback.push(advice);
            }
        }
    }
    Strength { score, feedback }
}

/// Bits per character when nothing better is known: log2 of the size of the character classes used.
fn bits_per_char(s: &str) -> f64 {
    let (mut lower, mut upper, mut digit, mut symbol, mut other) =
        (false, false, false, false, false);
    for c in s.chars() {
        match c {
            'a'..='z' => lower = true,
            'A'..='Z' => upper = true,
            '0'..='9' => digit = true,
            c if c.is_ascii() => symbol = true,
            _ => other = true,
        }
    }
    let pool = [
        (lower, 26),
        (upper, 26),
        (digit, 10),
        (symbol, 33),
        (other, 100),
    ]
    .iter()
    .filter(|(used, _)| *used)
    .map(|(_, n)| *n)
    .sum::<u32>()
    .max(10);
    f64::from(pool).log2()
}

/// The shortest unit the password is a repetition of, and how many times it repeats.
fn shortest_period(chars: &[char]) -> (&[char], usize) {
    let n = chars.len();
    for p in 1..=n / 2 {
        if n.is_multiple_of(p) {
            let (unit, rest) = chars.split_at(p);
            if rest.chunks(p).all(|c| c == unit) {
                return (unit, n / p);
            }
        }
    }
    (chars, 1)
}

/// Bits for one stretch of (folded) characters, left to right: a list word costs about log2 of the
/// list's size; a character that repeats, continues a sequence or walks the keyboard costs little once
/// such a run reaches three; anything else costs `per_char`.
fn pattern_bits(chars: &[char], per_char: f64, blocklist: &Blocklist, seen: &mut Seen) -> f64 {
    let word_bits = (blocklist.len().max(2) as f64).log2();
    let mut bits = 0.0;
    let mut i = 0;
    // (kind, length) of the run of cheap steps ending at the previous character.
    let mut run: (u8, usize) = (0, 0);
    while let Some(&c) = chars.get(i) {
        if is_year_at(chars, i) {
            seen.year = true;
            bits += YEAR_BITS;
            i += 4;
            run = (0, 0);
            continue;
        }
        if let Some((len, leet)) = longest_word_at(chars, i, blocklist) {
            // A listed "word" that is only keyboard walks, sequences or repeats (`qwertyuiop`,
            // `123456`) gets the hint about that pattern, which says more than "common word".
            if !chars
                .get(i..i + len)
                .is_some_and(|w| mark_if_only_runs(w, seen))
            {
                seen.word = true;
            }
            bits += word_bits + if leet { 1.0 } else { 0.0 };
            i += len;
            run = (0, 0);
            continue;
        }
        let step = i
            .checked_sub(1)
            .and_then(|j| chars.get(j))
            .map_or(0, |&prev| step_kind(prev, c));
        run = if step != 0 && step == run.0 {
            (step, run.1 + 1)
        } else if step != 0 {
            (step, 1)
        } else {
            (0, 0)
        };
        if run.1 >= 2 {
            // The third character of a run: everything from here on is predictable.
            match run.0 {
                1 => seen.repeat = true,
                2 => seen.sequence = true,
                _ => seen.keyboard = true,
            }
            bits += 1.0;
        } else if run.1 == 1 {
            bits += per_char / 2.0;
        } else {
            bits += per_char;
        }
        i += 1;
    }
    bits
}

/// Whether `word` is made only of runs of three or more predictable characters (each repeats, continues
/// a sequence or walks a keyboard row from the one before); if so, notes which of those patterns it uses.
/// Two runs may be joined by one unpredictable step (`qwertyuiop` + `12345`).
fn mark_if_only_runs(word: &[char], seen: &mut Seen) -> bool {
    let steps: Vec<(char, char)> = word
        .windows(2)
        .filter_map(|pair| match pair {
            &[a, b] => Some((a, b)),
            _ => None,
        })
        .collect();
    let predictable = |&(a, b): &(char, char)| step_kind(a, b) != 0;
    let mut runs = Vec::new();
    let mut need_run = true;
    for chunk in steps.chunk_by(|x, y| predictable(x) == predictable(y)) {
        let is_run = chunk.first().is_some_and(predictable);
        if is_run && chunk.len() >= 2 {
            runs.push(chunk);
            need_run = false;
        } else if !is_run && !need_run && chunk.len() == 1 {
            need_run = true;
        } else {
            return false;
        }
    }
    if need_run {
        return false;
    }
    for run in runs {
        // A step can be two things (`op` follows the alphabet and the keyboard): a run that is all one
        // thing is that thing (`12345` a sequence, `qwertyuiop` a keyboard walk).
        if run.iter().all(|&(a, b)| step_kind(a, b) == 2) {
            seen.sequence = true;
        } else if run.iter().all(|&(a, b)| keyboard_neighbours(a, b)) {
            seen.keyboard = true;
        } else {
            for &(a, b) in run {
                match step_kind(a, b) {
                    1 => seen.repeat = true,
                    2 => seen.sequence = true,
                    _ => seen.keyboard = true,
                }
            }
        }
    }
    true
}

/// How `c` follows `prev`: 1 repeat, 2 alphabet or digit sequence (either direction), 3 keyboard
/// neighbour on the same row, 0 unrelated.
fn step_kind(prev: char, c: char) -> u8 {
    if prev == c {
        return 1;
    }
    if prev.is_ascii_alphanumeric()
        && c.is_ascii_alphanumeric()
        && u32::from(prev).abs_diff(u32::from(c)) == 1
    {
        return 2;
    }
    if keyboard_neighbours(prev, c) { 3 } else { 0 }
}

/// Whether two keys sit next to each other on the same keyboard row.
fn keyboard_neighbours(prev: char, c: char) -> bool {
    KEYBOARD_ROWS
        .iter()
        .any(|row| match (row.find(prev), row.find(c)) {
            (Some(a), Some(b)) => a.abs_diff(b) == 1,
            _ => false,
        })
}

/// The longest list word (of `MIN_WORD` to `MAX_WORD` characters) starting at `start`, also trying the
/// "leet" reading of digits and symbols; returns its length and whether leet was needed.
fn longest_word_at(chars: &[char], start: usize, blocklist: &Blocklist) -> Option<(usize, bool)> {
    let remaining = chars.len().saturating_sub(start);
    let longest = remaining.min(MAX_WORD);
    (MIN_WORD..=longest).rev().find_map(|len| {
        let slice = chars.get(start..start + len)?;
        let plain: String = slice.iter().collect();
        if blocklist.contains_folded(&plain) {
            return Some((len, false));
        }
        let unleet: String = slice.iter().map(|&c| unleet(c)).collect();
        (unleet != plain && blocklist.contains_folded(&unleet)).then_some((len, true))
    })
}

/// The letter a digit or symbol commonly stands for.
fn unleet(c: char) -> char {
    match c {
        '0' => 'o',
        '1' | '!' => 'i',
        '3' => 'e',
        '4' | '@' => 'a',
        '5' | '$' => 's',
        '7' => 't',
        '8' => 'b',
        '9' => 'g',
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy::default()
    }

    fn alone() -> PasswordContext<'static> {
        PasswordContext::default()
    }

    fn with_mfa() -> PasswordContext<'static> {
        PasswordContext {
            has_second_factor: true,
            context_words: vec![],
        }
    }

    fn codes(r: Result<Strength, Vec<PasswordProblem>>) -> Vec<&'static str> {
        match r {
            Ok(_) => vec![],
            Err(p) => p.into_iter().map(|p| p.code).collect(),
        }
    }

    fn empty() -> Blocklist {
        Blocklist::default()
    }

    #[test]
    fn pw_01_password_only_accounts_need_15_characters() {
        let b = empty();
        assert_eq!(
            codes(check(&policy(), "vjq8-wkz2-npl4", &alone(), &b)),
            ["too_short"]
        );
        assert!(check(&policy(), "vjq8-wkz2-npl4x", &alone(), &b).is_ok());
        let err = check(&policy(), "short", &alone(), &b).unwrap_err();
        assert!(err[0].message.contains("15"), "{}", err[0].message);
    }

    #[test]
    fn pw_01_a_second_factor_lowers_the_minimum_to_8() {
        let b = empty();
        assert_eq!(
            codes(check(&policy(), "vjq8wkz", &with_mfa(), &b)),
            ["too_short"]
        );
        assert!(check(&policy(), "vjq8wkz2", &with_mfa(), &b).is_ok());
        assert_eq!(
            codes(check(&policy(), "vjq8wkz2", &alone(), &b)),
            ["too_short"]
        );
    }

    #[test]
    fn pw_01_operators_may_raise_minimums_but_not_lower_them() {
        let raised = PasswordPolicy {
            min_length: 20,
            min_length_with_second_factor: 12,
            max_length: 128,
        };
        assert!(raised.problems("$.passwords").is_empty());
        let b = empty();
        assert_eq!(
            codes(check(&raised, "vjq8wkz2npl4", &with_mfa(), &b)),
            Vec::<&str>::new()
        );
        assert_eq!(
            codes(check(&raised, "vjq8wkz2npl", &with_mfa(), &b)),
            ["too_short"]
        );
        assert_eq!(
            codes(check(&raised, "vjq8wkz2npl4abcdxyz", &alone(), &b)),
            ["too_short"]
        );

        let lowered = PasswordPolicy {
            min_length: 14,
            min_length_with_second_factor: 7,
            max_length: 256,
        };
        let paths: Vec<String> = lowered
            .problems("$.passwords")
            .into_iter()
            .map(|p| p.path)
            .collect();
        assert_eq!(
            paths,
            [
                "$.passwords.min_length",
                "$.passwords.min_length_with_second_factor"
            ]
        );
        assert!(PasswordPolicy::default().problems("$").is_empty());
    }

    #[test]
    fn policy_section_refuses_unknown_fields_and_defaults_the_rest() {
        let p: PasswordPolicy =
            serde_json::from_value(serde_json::json!({"min_length": 16})).unwrap();
        assert_eq!(p.min_length, 16);
        assert_eq!(p.max_length, 256);
        assert!(
            serde_json::from_value::<PasswordPolicy>(serde_json::json!({"min_lenght": 16}))
                .is_err()
        );
    }

    #[test]
    fn pw_02_up_to_256_characters_are_accepted_then_refused_clearly() {
        let b = empty();
        let ok: String = "correct horse battery staple "
            .chars()
            .cycle()
            .take(256)
            .collect();
        assert!(check(&policy(), &ok, &alone(), &b).is_ok());
        let long = format!("{ok}x");
        let err = check(&policy(), &long, &alone(), &b).unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err[0].code, "too_long");
        assert!(err[0].message.contains("256"));
    }

    #[test]
    fn pw_02_the_maximum_may_be_lowered_to_64_but_not_further_or_raised() {
        let mut p = policy();
        p.max_length = 64;
        assert!(p.problems("$").is_empty());
        p.max_length = 63;
        assert_eq!(p.problems("$").len(), 1);
        p.max_length = 257;
        assert_eq!(p.problems("$").len(), 1);
    }

    #[test]
    fn pw_02_spaces_count_and_are_not_trimmed() {
        let b = empty();
        // 14 visible characters plus a trailing space make 15.
        assert!(check(&policy(), "vjq8-wkz2-npl4 ", &alone(), &b).is_ok());
        assert_eq!(
            codes(check(&policy(), "vjq8-wkz2-npl4", &alone(), &b)),
            ["too_short"]
        );
    }

    #[test]
    fn pw_03_length_counts_code_points_not_bytes() {
        let b = empty();
        // 15 characters, 45 bytes.
        let cjk = "\u{5bc6}\u{7801}\u{662f}\u{4e00}\u{4e2a}\u{5f88}\u{957f}\u{7684}\u{53e5}\u{5b50}\u{6211}\u{559c}\u{6b22}\u{5b83}\u{554a}";
        assert_eq!(cjk.chars().count(), 15);
        assert!(check(&policy(), cjk, &alone(), &b).is_ok());
        // 14 emoji (56 bytes) are still too short.
        let emoji: String = (0x1f600..0x1f60e_u32).filter_map(char::from_u32).collect();
        assert_eq!(codes(check(&policy(), &emoji, &alone(), &b)), ["too_short"]);
    }

    #[test]
    fn pw_03_nfc_and_nfd_forms_have_the_same_length() {
        let b = empty();
        let nfc = "cr\u{e8}me br\u{fb}l\u{e9}e ok";
        let nfd = "cre\u{300}me bru\u{302}le\u{301}e ok";
        assert_eq!(nfc.chars().count(), 15);
        assert_eq!(nfd.chars().count(), 18);
        assert!(check(&policy(), nfc, &alone(), &b).is_ok());
        assert!(check(&policy(), nfd, &alone(), &b).is_ok());
        let short_nfd = "cre\u{300}me bru\u{302}le\u{301}e o";
        assert_eq!(
            codes(check(&policy(), short_nfd, &alone(), &b)),
            ["too_short"]
        );
    }

    #[test]
    fn pw_03_no_composition_rules() {
        let b = empty();
        for pw in [
            "alllowercaseletters",
            "ALLUPPERCASELETTERS",
            "0123498765432019",
            "words with only spaces",
        ] {
            assert!(check(&policy(), pw, &alone(), &b).is_ok(), "{pw}");
        }
    }

    #[test]
    fn pw_04_shipped_list_refuses_common_passwords_whatever_the_case() {
        let list = Blocklist::shipped();
        assert!(list.len() > 40_000, "{}", list.len());
        assert!(list.contains("password"));
        assert!(list.contains("PassWord1"));
        assert!(list.contains("manchesterunited"));
        for pw in [
            "manchesterunited",
            "ManchesterUnited",
            "MANCHESTERUNITED",
            "qwertyuiop12345",
        ] {
            let err = check(&policy(), pw, &alone(), list).unwrap_err();
            assert_eq!(
                err.iter().map(|p| p.code).collect::<Vec<_>>(),
                ["common"],
                "{pw}"
            );
            assert!(err[0].message.contains("common"));
        }
        assert!(check(&policy(), "manchesterunited!", &alone(), list).is_ok());
    }

    #[test]
    fn pw_04_lookup_is_after_nfkc() {
        let list = Blocklist::from_lines("hunter2hunter2hunter2\n\n");
        assert_eq!(list.len(), 1);
        // Full-width letters and digits fold to ASCII under NFKC.
        let fullwidth = "\u{ff28}\u{ff35}\u{ff2e}\u{ff34}\u{ff25}\u{ff32}\u{ff12}hunter2hunter2";
        assert!(list.contains(fullwidth));
        assert_eq!(
            codes(check(&policy(), fullwidth, &alone(), &list)),
            ["common"]
        );
    }

    #[test]
    fn pw_04_lines_are_taken_whole() {
        let list = Blocklist::from_lines("#name?\r\nabc def\n");
        assert!(list.contains("#NAME?"));
        assert!(list.contains("abc def"));
        assert!(!list.contains("abcdef"));
    }

    #[test]
    fn pw_04_context_words_are_refused() {
        let b = empty();
        let ctx = PasswordContext {
            has_second_factor: false,
            context_words: vec![
                "Tessera",
                "Acme Corporation",
                "jonathan.smithers@example.com",
                "jsmithers",
            ],
        };
        for pw in [
            "Acme Corporation",
            "jonathan.smithers",
            "JONATHAN.SMITHERS@EXAMPLE.COM",
            "jonathan.smithers2024",
            "TesseraTesseraTessera",
            "jsmithers123456",
            "jsmithersjsmithers",
        ] {
            assert_eq!(
                codes(check(&policy(), pw, &ctx, &b)),
                ["contains_context"],
                "{pw}"
            );
        }
        // A context word that is a small part of a long password is fine.
        assert!(check(&policy(), "my tessera account is fine", &ctx, &b).is_ok());
    }

    #[test]
    fn pw_04_short_context_words_only_count_as_the_whole_password() {
        let b = empty();
        let ctx = PasswordContext {
            has_second_factor: true,
            context_words: vec!["abc", "", "bobbybobby"],
        };
        assert!(check(&policy(), "abcxyzabcxyz", &ctx, &b).is_ok());
        assert_eq!(
            codes(check(&policy(), "BobbyBobby", &ctx, &b)),
            ["contains_context"]
        );
    }

    #[test]
    fn pw_04_every_problem_is_reported() {
        let list = Blocklist::from_lines("tessera");
        let ctx = PasswordContext {
            has_second_factor: false,
            context_words: vec!["tessera"],
        };
        assert_eq!(
            codes(check(&policy(), "Tessera", &ctx, &list)),
            ["too_short", "common", "contains_context"]
        );
    }

    #[test]
    fn problems_serialize_with_code_and_message() {
        let p = PasswordProblem {
            code: "too_short",
            message: "Use at least 15 characters.".into(),
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            serde_json::json!({"code": "too_short", "message": "Use at least 15 characters."})
        );
    }

    #[test]
    fn estimator_scores_random_long_passwords_high() {
        let b = Blocklist::shipped();
        let s = estimate("vq7#Lp2!xZ9&mR4t", b);
        assert_eq!(s.score, 4, "{s:?}");
        assert!(s.feedback.is_empty());
        assert_eq!(estimate("zkqvmwxjphtbrnfd", b).score, 4);
    }

    #[test]
    fn estimator_scores_repeats_and_sequences_low() {
        let b = &empty();
        let s = estimate("aaaaaaaaaaaaaaaa", b);
        assert_eq!(s.score, 0, "{s:?}");
        assert!(s.feedback.contains(&Advice::RepeatedPattern), "{s:?}");
        let s = estimate("abcdefghijklmnop", b);
        assert!(s.score <= 1, "{s:?}");
        assert!(s.feedback.contains(&Advice::Sequences), "{s:?}");
        let s = estimate("zxcvbnmzxcvbnm12", b);
        assert!(s.score <= 1, "{s:?}");
    }

    #[test]
    fn estimator_spots_keyboard_walks() {
        let s = estimate("wertyuiop", &empty());
        assert!(s.feedback.contains(&Advice::KeyboardPatterns), "{s:?}");
        assert_eq!(s.score, 0);
    }

    #[test]
    fn estimator_sees_list_words_inside_passwords_also_in_leet() {
        let b = Blocklist::from_lines("monkey\ndragon\nsunshine");
        let plain = estimate("monkeydragonsunshine", &b);
        assert!(plain.score <= 2, "{plain:?}");
        assert!(plain.feedback.contains(&Advice::CommonWords));
        let leet = estimate("m0nk3yDr4g0n$un$h1ne", &b);
        assert!(leet.score <= 2, "{leet:?}");
        assert!(leet.feedback.contains(&Advice::CommonWords));
    }

    #[test]
    fn estimator_names_the_pattern_of_listed_keyboard_walks_and_sequences() {
        let b = Blocklist::shipped();
        assert!(b.contains("qwertyuiop"));
        for pw in ["qwertyuiopasdfgh", "qwertyuiopasdf"] {
            let s = estimate(pw, b);
            assert!(s.is_weak(), "{pw}: {s:?}");
            assert!(
                s.feedback.contains(&Advice::KeyboardPatterns),
                "{pw}: {s:?}"
            );
            assert!(!s.feedback.contains(&Advice::CommonWords), "{pw}: {s:?}");
        }
        let s = estimate("qwertyuiop12345", b);
        assert_eq!(
            s.feedback,
            [Advice::Sequences, Advice::KeyboardPatterns, Advice::Longer]
        );
        let s = estimate("abcdefghijaaaa", &Blocklist::from_lines("abcdefghij\naaaa"));
        assert_eq!(
            s.feedback,
            [
                Advice::RepeatedCharacters,
                Advice::Sequences,
                Advice::Longer
            ]
        );
        // A listed word that is not only walks stays a common word.
        let s = estimate("password", b);
        assert_eq!(s.feedback, [Advice::CommonWords, Advice::Longer]);
        let s = estimate("qwer1", &Blocklist::from_lines("qwer1"));
        assert!(s.feedback.contains(&Advice::CommonWords), "{s:?}");
    }

    #[test]
    fn advice_has_stable_distinct_ids_and_english_texts() {
        let ids: HashSet<&str> = Advice::ALL.iter().map(|a| a.id()).collect();
        assert_eq!(ids.len(), Advice::ALL.len());
        for a in Advice::ALL {
            assert!(a.id().starts_with("info-password-advice-"), "{a:?}");
            assert!(a.text().ends_with('.'), "{a:?}");
        }
        assert_eq!(
            Advice::KeyboardPatterns.id(),
            "info-password-advice-keyboard"
        );
        assert_eq!(
            serde_json::to_value(estimate("aaaaaaaaaaaaaaaa", &empty())).unwrap(),
            serde_json::json!({"score": 0, "feedback": ["repeated_pattern", "longer"]})
        );
    }

    #[test]
    fn estimator_sees_years() {
        let s = estimate("vjqwkz1987", &empty());
        assert!(s.feedback.contains(&Advice::Years), "{s:?}");
        assert!(estimate("vjqwkz1987", &empty()).score < estimate("vjqwkz3817", &empty()).score);
    }

    #[test]
    fn estimator_rewards_length() {
        let b = Blocklist::shipped();
        let short = estimate("vjq8wkz2", b).score;
        let long = estimate("vjq8wkz2 hpl4mxr9 tgs", b).score;
        assert!(short < long, "{short} < {long}");
        assert!(estimate("", b).score == 0);
    }

    #[test]
    fn estimator_is_advisory_only() {
        // A weak but acceptable password passes the check with a low score and hints.
        let b = empty();
        let s = check(&policy(), "abcdefghijklmnopqrst", &alone(), &b).unwrap();
        assert_eq!(s.score, 0);
        assert!(s.is_weak());
        assert!(!s.feedback.is_empty());
        assert!(!estimate("vq7#Lp2!xZ9&mR4t", &b).is_weak());
    }

    #[test]
    fn estimator_handles_the_longest_accepted_input_quickly() {
        let b = Blocklist::shipped();
        let pw: String = "the quick brown fox jumps over the lazy dog "
            .chars()
            .cycle()
            .take(256)
            .collect();
        let s = estimate(&pw, b);
        assert!(s.score <= 4);
    }
}

#[cfg(test)]
mod repetition_tests {
    use super::*;

    #[test]
    fn pw_04_a_listed_password_repeated_is_still_common() {
        let list = Blocklist::from_lines("password\nletmein\n");
        let ctx = PasswordContext {
            has_second_factor: false,
            context_words: vec![],
        };
        let policy = PasswordPolicy::default();
        for pw in [
            "passwordpassword",
            "letmeinletmeinletmein",
            "abcabcabcabcabc",
            "aaaaaaaaaaaaaaaa",
        ] {
            let err = check(&policy, pw, &ctx, &list).unwrap_err();
            assert!(err.iter().any(|p| p.code == "common"), "{pw}");
        }
        assert!(check(&policy, "purple monkey dishwasher", &ctx, &list).is_ok());
    }
}
