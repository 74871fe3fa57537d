//! Theming: a tenant's `theme.toml`, validated, and the stylesheet of custom properties made from it.
/// A tenant's validated theme settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Theme {
    name: Option<String>,
    pub(super) logo_url: Option<String>,
    primary: Option<Rgb>,
    primary_text: Option<Rgb>,
    background: Option<Rgb>,
}

/// An sRGB colour from a `#rrggbb` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rgb(u8, u8, u8);

const WHITE: Rgb = Rgb(0xff, 0xff, 0xff);
/// The default text colour (see tessera.css).
const TEXT: Rgb = Rgb(0x1b, 0x1f, 0x24);
/// The default primary colour (see tessera.css).
const PRIMARY: Rgb = Rgb(0x1d, 0x4e, 0xd8);

impl Rgb {
    fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix('#')?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let channel = |i: usize| {
            hex.get(i..i + 2)
                .and_then(|c| u8::from_str_radix(c, 16).ok())
        };
        Some(Self(channel(0)?, channel(2)?, channel(4)?))
    }

    fn hex(&self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// WCAG 2.x relative luminance.
    fn luminance(&self) -> f64 {
        let lin = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.03928 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(self.0) + 0.7152 * lin(self.1) + 0.0722 * lin(self.2)
    }

    /// WCAG 2.x contrast ratio (1 to 21).
    fn contrast(&self, other: Rgb) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        let (hi, lo) = if a > b { (a, b) } else { (b, a) };
        (hi + 0.05) / (lo + 0.05)
    }

    /// Of `candidates`, the one with the most contrast against `self`.
    fn best_text(&self, candidates: [Rgb; 2]) -> Rgb {
        let [a, b] = candidates;
        if self.contrast(a) >= self.contrast(b) {
            a
        } else {
            b
        }
    }
}

/// Reads a tenant's `theme.toml`: a TOML document of string keys (`name`, `logo_url`, `primary_color`,
/// `primary_text_color`, `background_color`). A document that does not parse is ignored as a whole;
/// unknown keys, values that are not strings and values that fail validation are skipped. Everything is
/// logged, and validated here, so nothing unchecked reaches CSS or HTML.
pub(super) fn parse_theme(text: &str, tenant: &str) -> Theme {
    let mut theme = Theme::default();
    let table = match text.parse::<toml::Table>() {
        Ok(table) => table,
        Err(error) => {
            tracing::warn!(tenant, %error, "theme.toml is not TOML; using the built-in theme");
            return theme;
        }
    };
    for (key, value) in &table {
        let key = key.as_str();
        let Some(value) = value.as_str() else {
            tracing::warn!(tenant, key, "theme.toml: value is not a string; ignored");
            continue;
        };
        let refused = |why: &str| tracing::warn!(tenant, key, why, "theme.toml: value refused");
        match key {
            "name" => {
                let v = value.trim();
                if v.is_empty() || v.chars().count() > 100 || v.chars().any(char::is_control) {
                    refused("1 to 100 characters, no control characters");
                } else {
                    theme.name = Some(v.to_owned());
                }
            }
            "logo_url" => match clean_logo_url(value) {
                Some(url) => theme.logo_url = Some(url),
                None => refused("an https:// URL, a /path or a data:image/ URL"),
            },
            "primary_color" | "primary_text_color" | "background_color" => {
                match Rgb::parse(value) {
                    Some(c) => match key {
                        "primary_color" => theme.primary = Some(c),
                        "primary_text_color" => theme.primary_text = Some(c),
                        _ => theme.background = Some(c),
                    },
                    None => refused("colours are #rrggbb"),
                }
            }
            _ => tracing::warn!(tenant, key, "theme.toml: unknown key ignored"),
        }
    }
    theme
}

fn clean_logo_url(url: &str) -> Option<String> {
    let url = url.trim();
    let allowed_start = url.starts_with("https://")
        || (url.starts_with('/') && !url.starts_with("//"))
        || url.starts_with("data:image/");
    let clean = !url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '\\'));
    (allowed_start && clean && url.len() <= 2048).then(|| url.to_owned())
}

/// The tenant's colours as custom properties. A colour is used for a role only if it keeps that
/// role's WCAG AA contrast; otherwise the built-in value (or black/white text) stays.
pub(super) fn render_theme_css(theme: &Theme) -> String {
    let mut vars: Vec<(&str, Rgb)> = Vec::new();
    if let Some(p) = theme.primary {
        vars.push(("--tessera-primary", p));
        // Links and outline buttons put the primary colour as text on white: 4.5:1. Focus rings: 3:1.
        if p.contrast(WHITE) >= 4.5 {
            vars.push(("--tessera-link", p));
        }
        if p.contrast(WHITE) >= 3.0 {
            vars.push(("--tessera-focus", p));
        }
    }
    if theme.primary.is_some() || theme.primary_text.is_some() {
        let primary = theme.primary.unwrap_or(PRIMARY);
        let text = match theme.primary_text {
            Some(t) if t.contrast(primary) >= 4.5 => t,
            _ => primary.best_text([WHITE, TEXT]),
        };
        vars.push(("--tessera-primary-text", text));
    }
    if let Some(bg) = theme.background {
        vars.push(("--tessera-bg", bg));
        vars.push(("--tessera-bg-text", bg.best_text([TEXT, WHITE])));
    }
    let mut css = String::from(
        "/* Tessera tenant theme, generated from theme.toml. Only validated #rrggbb colours appear here,\n   each checked for WCAG AA contrast in its role. */\n",
    );
    if !vars.is_empty() {
        css.push_str(":root {\n");
        for (name, colour) in vars {
            css.push_str(&format!("  {name}: {};\n", colour.hex()));
        }
        css.push_str("}\n");
    }
    css
}

pub(super) fn display_name(tenant: &str, theme: &Theme) -> String {
    match &theme.name {
        Some(name) => name.clone(),
        None if tenant.is_empty()
            || tenant == "default"
            || tessera_model::tenant::check_slug(tenant).is_err() =>
        {
            "Tessera".into()
        }
        None => tenant.to_owned(),
    }
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

    #[test]
    fn theme_colours_keep_contrast() {
        // Yellow is too light for white text, links or focus rings on white.
        let theme = parse_theme(
            "primary_color = \"#ffd400\"\nprimary_text_color = \"#ffffff\"\nbackground_color = \"#101820\"",
            "t",
        );
        let css = render_theme_css(&theme);
        assert!(css.contains("--tessera-primary: #ffd400;"));
        assert!(css.contains("--tessera-primary-text: #1b1f24;"), "{css}");
        assert!(!css.contains("--tessera-link"), "{css}");
        assert!(!css.contains("--tessera-focus"), "{css}");
        assert!(css.contains("--tessera-bg-text: #ffffff;"), "{css}");
        assert!(Rgb(0x1d, 0x4e, 0xd8).contrast(WHITE) > 6.6);
        assert!((Rgb(0, 0, 0).contrast(WHITE) - 21.0).abs() < 1e-9);
        for bad in [
            "#abc",
            "abcdef",
            "#abcdeg",
            "#abcdef0",
            "#ABCDE",
            "",
            "red",
            "#12345६",
        ] {
            assert_eq!(Rgb::parse(bad), None, "{bad}");
        }
        // TOML strings: escapes and comments are read as TOML reads them.
        let name = |text: &str| parse_theme(text, "t").name;
        assert_eq!(name("name = \"a\\\"b\" # c"), Some("a\"b".into()));
        assert_eq!(name("name = 'C:\\Acme' # literal"), Some("C:\\Acme".into()));
        assert_eq!(name("name = \"Caf\\u00e9\""), Some("Café".into()));
        // A document that is not TOML is ignored as a whole (an unclosed string, a trailing word).
        assert_eq!(name("name = \"open"), None);
        assert_eq!(name("name = \"x\" y"), None);
        assert_eq!(
            parse_theme("primary_color = \"#0b6e4f\"\nname = \"x\" y", "t"),
            Theme::default()
        );
        // Values that are not strings, keys in tables and unknown keys are skipped; the rest is read.
        let theme = parse_theme(
            "primary_color = 0x1d4ed8\nbackground_color = \"#fafafa\"\nfont = \"Comic Sans\"\n[brand]\nname = \"Inner\"",
            "t",
        );
        assert_eq!(theme.primary, None);
        assert_eq!(theme.background, Rgb::parse("#fafafa"));
        assert_eq!(theme.name, None);
        assert_eq!(clean_logo_url("//evil.test/x.png"), None);
        assert_eq!(
            clean_logo_url("/static/logo.png"),
            Some("/static/logo.png".into())
        );
        assert_eq!(clean_logo_url("https://x.test/a\"b"), None);
    }
}
