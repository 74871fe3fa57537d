//! Which language a page is in, and how that language writes a moment.
use time::{Month, OffsetDateTime, UtcOffset};
use unic_langid::LanguageIdentifier;

/// A language the pages and mails are available in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Locale {
    /// English, the default and the fallback for missing texts.
    #[default]
    En,
    /// German.
    De,
}

impl Locale {
    /// Every supported locale, the default first.
    pub const ALL: [Locale; 2] = [Locale::En, Locale::De];

    /// The BCP 47 language tag (`lang` attribute, `ui_locales`, directory names).
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
        }
    }

    /// The language's own name, for the language switch.
    pub fn native_name(&self) -> &'static str {
        match self {
            Self::En => "English",
            Self::De => "Deutsch",
        }
    }

    /// The supported locale a language tag asks for, by its primary language subtag (`de-CH` → `de`).
    pub fn from_tag(tag: &str) -> Option<Self> {
        let tag = tag.trim();
        if tag.is_empty() || tag.len() > 35 {
            return None;
        }
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        Self::ALL
            .into_iter()
            .find(|l| primary.eq_ignore_ascii_case(l.as_str()))
    }

    pub(super) fn langid(&self) -> LanguageIdentifier {
        self.as_str().parse().unwrap_or_default()
    }

    /// A moment as readers of this language write it (`23 Nov 2026, 14:05 UTC`, `23. Nov. 2026, 14:05
    /// UTC`). Always in UTC, and saying so: a page without scripts cannot know the reader's time zone.
    pub(super) fn format_datetime(&self, at: OffsetDateTime) -> String {
        let at = at.to_offset(UtcOffset::UTC);
        let (day, year, hour, minute) = (at.day(), at.year(), at.hour(), at.minute());
        match self {
            Self::En => format!(
                "{day} {} {year}, {hour:02}:{minute:02} UTC",
                english_month(at.month())
            ),
            Self::De => format!(
                "{day}. {} {year}, {hour:02}:{minute:02} UTC",
                german_month(at.month())
            ),
        }
    }
}

fn english_month(m: Month) -> &'static str {
    match m {
        Month::January => "Jan",
        Month::February => "Feb",
        Month::March => "Mar",
        Month::April => "Apr",
        Month::May => "May",
        Month::June => "Jun",
        Month::July => "Jul",
        Month::August => "Aug",
        Month::September => "Sep",
        Month::October => "Oct",
        Month::November => "Nov",
        Month::December => "Dec",
    }
}

/// The abbreviations of German dates (CLDR, as in "23. Nov. 2026"): short names are written out.
fn german_month(m: Month) -> &'static str {
    match m {
        Month::January => "Jan.",
        Month::February => "Feb.",
        Month::March => "März",
        Month::April => "Apr.",
        Month::May => "Mai",
        Month::June => "Juni",
        Month::July => "Juli",
        Month::August => "Aug.",
        Month::September => "Sept.",
        Month::October => "Okt.",
        Month::November => "Nov.",
        Month::December => "Dez.",
    }
}

impl std::fmt::Display for Locale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Picks the page language: the first supported tag of `ui_locales` (space-separated, in order of
/// preference, OpenID Connect style), else the best-weighted supported tag of `Accept-Language`, else
/// English. Region subtags are ignored (`de-CH` → German); garbage is skipped.
pub(super) fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Locale {
    if let Some(found) = ui_locales
        .into_iter()
        .flat_map(|s| s.split_whitespace().take(16))
        .find_map(Locale::from_tag)
    {
        return found;
    }
    let mut best: Option<(u16, Locale)> = None;
    for entry in accept_language.unwrap_or_default().split(',').take(32) {
        let mut parts = entry.split(';');
        let tag = parts.next().unwrap_or_default().trim();
        let mut weight = Some(1000u16);
        for param in parts {
            if let Some((k, v)) = param.split_once('=')
                && k.trim().eq_ignore_ascii_case("q")
            {
                weight = parse_qvalue(v.trim());
            }
        }
        let (Some(weight), Some(locale)) = (weight, Locale::from_tag(tag)) else {
            continue;
        };
        if weight > 0 && best.is_none_or(|(w, _)| weight > w) {
            best = Some((weight, locale));
        }
    }
    best.map(|(_, l)| l).unwrap_or_default()
}
/// `q` weights as thousandths; `None` for a malformed weight (the entry is then ignored).
fn parse_qvalue(v: &str) -> Option<u16> {
    if v.len() > 5 {
        return None;
    }
    let q: f32 = v.parse().ok()?;
    (0.0..=1.0)
        .contains(&q)
        .then(|| (q * 1000.0).round() as u16)
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
    use crate::views::Views;

    #[test]
    fn negotiation() {
        let v = Views::new(None).unwrap();
        let cases: &[(Option<&str>, Option<&str>, Locale)] = &[
            (None, None, Locale::En),
            (None, Some("de-CH"), Locale::De),
            (None, Some("de-DE,de;q=0.9,en;q=0.8"), Locale::De),
            (None, Some("en;q=0.5, de;q=0.8"), Locale::De),
            (None, Some("fr-FR,fr;q=0.9,de;q=0.7,en;q=0.6"), Locale::De),
            (None, Some("fr, en;q=0.1"), Locale::En),
            (None, Some("de;q=0, en;q=0.1"), Locale::En),
            (None, Some("de;q=0"), Locale::En),
            (None, Some("*"), Locale::En),
            (None, Some("de;q=2"), Locale::En),
            (None, Some("de;q=abc"), Locale::En),
            (None, Some("DE"), Locale::De),
            (None, Some("de_AT"), Locale::De),
            (None, Some(";;;,,,=q;q=;-,☃,\u{0}"), Locale::En),
            (None, Some(""), Locale::En),
            (Some("de"), Some("en"), Locale::De),
            (Some("fr de-CH en"), None, Locale::De),
            (Some("fr"), Some("de"), Locale::De),
            (Some("en"), Some("de"), Locale::En),
            (Some("garbage!!"), None, Locale::En),
            (Some(""), Some("de"), Locale::De),
        ];
        for (ui, al, want) in cases {
            assert_eq!(
                v.negotiate(*ui, *al),
                *want,
                "ui_locales={ui:?} accept-language={al:?}"
            );
        }
        let long = "xx;q=0.5,".repeat(10_000) + "de";
        assert_eq!(
            v.negotiate(None, Some(&long)),
            Locale::En,
            "only the first entries are read"
        );
    }

    #[test]
    fn dates_are_written_the_way_each_language_writes_them() {
        let at = time::macros::datetime!(2026-11-23 15:05:59 +01:00);
        assert_eq!(Locale::En.format_datetime(at), "23 Nov 2026, 14:05 UTC");
        assert_eq!(Locale::De.format_datetime(at), "23. Nov. 2026, 14:05 UTC");
        let may = time::macros::datetime!(2027-05-02 07:00 UTC);
        assert_eq!(Locale::En.format_datetime(may), "2 May 2027, 07:00 UTC");
        assert_eq!(Locale::De.format_datetime(may), "2. Mai 2027, 07:00 UTC");
    }
}
