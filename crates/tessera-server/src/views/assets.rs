//! Everything pages and mails are drawn with: the built-in templates, texts and stylesheet embedded in
//! the binary, and each tenant's override directory, read at render time and cached by file stamps.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use fluent_bundle::FluentResource;
use fluent_bundle::concurrent::FluentBundle;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, State, UndefinedBehavior};
use serde_json::Map;

use super::ViewError;
use super::i18n::{
    BUILTIN_DE, BUILTIN_EN, Bundle, fluent_args, format_message, parse_builtin, template_t,
};
use super::locale::Locale;
use super::theme::{Theme, parse_theme, render_theme_css};

/// Built-in templates, embedded so the binary needs no files to serve pages.
pub(super) const BUILTIN_TEMPLATES: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../../../../assets/templates/layout.html"),
    ),
    (
        "flow.html",
        include_str!("../../../../assets/templates/flow.html"),
    ),
    (
        "message.html",
        include_str!("../../../../assets/templates/message.html"),
    ),
    (
        "consent.html",
        include_str!("../../../../assets/templates/consent.html"),
    ),
    (
        "mail/layout.html",
        include_str!("../../../../assets/templates/mail/layout.html"),
    ),
    (
        "mail/verification_code.txt",
        include_str!("../../../../assets/templates/mail/verification_code.txt"),
    ),
    (
        "mail/verification_code.html",
        include_str!("../../../../assets/templates/mail/verification_code.html"),
    ),
    (
        "mail/sign_in_code.txt",
        include_str!("../../../../assets/templates/mail/sign_in_code.txt"),
    ),
    (
        "mail/sign_in_code.html",
        include_str!("../../../../assets/templates/mail/sign_in_code.html"),
    ),
    (
        "mail/recovery_code.txt",
        include_str!("../../../../assets/templates/mail/recovery_code.txt"),
    ),
    (
        "mail/recovery_code.html",
        include_str!("../../../../assets/templates/mail/recovery_code.html"),
    ),
    (
        "mail/email_change_code.txt",
        include_str!("../../../../assets/templates/mail/email_change_code.txt"),
    ),
    (
        "mail/email_change_code.html",
        include_str!("../../../../assets/templates/mail/email_change_code.html"),
    ),
    (
        "mail/email_changed_notice.txt",
        include_str!("../../../../assets/templates/mail/email_changed_notice.txt"),
    ),
    (
        "mail/email_changed_notice.html",
        include_str!("../../../../assets/templates/mail/email_changed_notice.html"),
    ),
    (
        "mail/password_changed_notice.txt",
        include_str!("../../../../assets/templates/mail/password_changed_notice.txt"),
    ),
    (
        "mail/password_changed_notice.html",
        include_str!("../../../../assets/templates/mail/password_changed_notice.html"),
    ),
    (
        "mail/account_exists.txt",
        include_str!("../../../../assets/templates/mail/account_exists.txt"),
    ),
    (
        "mail/account_exists.html",
        include_str!("../../../../assets/templates/mail/account_exists.html"),
    ),
];

pub(super) const BUILTIN_CSS: &str = include_str!("../../../../assets/static/tessera.css");

/// How long a tenant's override files are trusted before they are looked at again.
pub(super) const RECHECK: Duration = Duration::from_secs(1);
/// Bound on cached tenants, so a flood of distinct slugs cannot grow memory without limit.
const CACHE_MAX: usize = 1024;
/// Larger override files are ignored: templates and texts are small, anything bigger is a mistake.
const MAX_OVERRIDE_BYTES: u64 = 512 * 1024;

/// The built-in assets and the per-tenant overrides, cached.
pub(super) struct Store {
    theme_dir: Option<PathBuf>,
    builtin_en: Arc<FluentResource>,
    builtin_de: Arc<FluentResource>,
    /// What every tenant without overrides uses.
    base: Arc<TenantAssets>,
    cache: RwLock<HashMap<String, CacheEntry>>,
    recheck: Duration,
}

struct CacheEntry {
    stamp: Vec<FileStamp>,
    checked: Instant,
    assets: Arc<TenantAssets>,
}

/// Identifies one version of one override file: relative path, modification time, length.
type FileStamp = (String, SystemTime, u64);

/// Everything one tenant's pages are drawn with: templates, texts and theme.
pub(super) struct TenantAssets {
    pub(super) env: Environment<'static>,
    en: Bundle,
    de: Bundle,
    pub(super) theme: Theme,
    pub(super) theme_css: String,
    pub(super) theme_version: String,
    /// Whether any template was overridden (then a failing render is retried with the built-in ones).
    pub(super) overridden_templates: bool,
}

impl TenantAssets {
    pub(super) fn bundle(&self, locale: Locale) -> &Bundle {
        match locale {
            Locale::En => &self.en,
            Locale::De => &self.de,
        }
    }

    /// The message in `locale`, else in English; `None` when neither has it.
    pub(super) fn lookup(
        &self,
        locale: Locale,
        id: &str,
        args: &Map<String, serde_json::Value>,
    ) -> Option<String> {
        let fargs = fluent_args(args);
        format_message(self.bundle(locale), id, &fargs).or_else(|| match locale {
            Locale::En => None,
            _ => format_message(&self.en, id, &fargs),
        })
    }

    pub(super) fn has(&self, locale: Locale, id: &str) -> bool {
        self.bundle(locale).has_message(id) || self.en.has_message(id)
    }
}

/// What the files of a tenant's override directory say.
#[derive(Default)]
struct Overrides {
    templates: Vec<(String, String)>,
    locales: Vec<(Locale, String)>,
    theme: Option<String>,
}

impl Store {
    pub(super) fn new(theme_dir: Option<PathBuf>, recheck: Duration) -> Result<Self, ViewError> {
        if let Some(dir) = &theme_dir
            && !dir.is_dir()
        {
            return Err(ViewError::ThemeDir {
                path: dir.clone(),
                reason: "is not a readable directory".into(),
            });
        }
        let builtin_en = Arc::new(parse_builtin("en", BUILTIN_EN)?);
        let builtin_de = Arc::new(parse_builtin("de", BUILTIN_DE)?);
        let base = Arc::new(build_assets(
            &builtin_en,
            &builtin_de,
            "",
            Overrides::default(),
        )?);
        Ok(Self {
            theme_dir,
            builtin_en,
            builtin_de,
            base,
            cache: RwLock::new(HashMap::new()),
            recheck,
        })
    }

    pub(super) fn theme_dir(&self) -> Option<&Path> {
        self.theme_dir.as_deref()
    }

    /// What every tenant without overrides uses.
    pub(super) fn base(&self) -> &Arc<TenantAssets> {
        &self.base
    }

    /// The tenant's assets: the shared built-in ones unless its override directory has files; cached and
    /// rebuilt when a file's modification time or size changes.
    pub(super) fn get(&self, tenant: &str) -> Arc<TenantAssets> {
        let inner = self;
        let Some(root) = &inner.theme_dir else {
            return inner.base.clone();
        };
        if tessera_model::tenant::check_slug(tenant).is_err() {
            return inner.base.clone();
        }
        {
            let cache = inner.cache.read().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = cache.get(tenant)
                && entry.checked.elapsed() < inner.recheck
            {
                return entry.assets.clone();
            }
        }
        let dir = root.join(tenant);
        let stamp = stamp_dir(&dir);
        {
            let mut cache = inner.cache.write().unwrap_or_else(|e| e.into_inner());
            if let Some(entry) = cache.get_mut(tenant)
                && entry.stamp == stamp
            {
                entry.checked = Instant::now();
                return entry.assets.clone();
            }
        }
        // Built outside the lock so other tenants' pages do not wait for this one's files.
        let assets = if stamp.is_empty() {
            inner.base.clone()
        } else {
            let overrides = read_overrides(&dir, &stamp);
            match build_assets(&inner.builtin_en, &inner.builtin_de, tenant, overrides) {
                Ok(a) => Arc::new(a),
                Err(e) => {
                    tracing::warn!(tenant, error = %e, "tenant overrides unusable; using the built-in pages");
                    inner.base.clone()
                }
            }
        };
        let mut cache = inner.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_MAX && !cache.contains_key(tenant) {
            cache.clear();
        }
        cache.insert(
            tenant.to_owned(),
            CacheEntry {
                stamp,
                checked: Instant::now(),
                assets: assets.clone(),
            },
        );
        assets
    }
}

fn new_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    env.add_function("t", template_t);
    env.set_formatter(html_formatter);
    env
}

/// Like the default formatter, but escapes only `& < > " '` in HTML (enough inside text and quoted
/// attributes), so URLs stay readable instead of turning every `/` into `&#x2f;`.
fn html_formatter(
    out: &mut minijinja::Output,
    state: &mut State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    match value.as_str() {
        Some(text) if matches!(state.auto_escape(), AutoEscape::Html) && !value.is_safe() => {
            let mut escaped = String::with_capacity(text.len() + 16);
            for c in text.chars() {
                match c {
                    '&' => escaped.push_str("&amp;"),
                    '<' => escaped.push_str("&lt;"),
                    '>' => escaped.push_str("&gt;"),
                    '"' => escaped.push_str("&quot;"),
                    '\'' => escaped.push_str("&#39;"),
                    c => escaped.push(c),
                }
            }
            out.write_str(&escaped).map_err(minijinja::Error::from)
        }
        _ => minijinja::escape_formatter(out, state, value),
    }
}

fn build_assets(
    builtin_en: &Arc<FluentResource>,
    builtin_de: &Arc<FluentResource>,
    tenant: &str,
    overrides: Overrides,
) -> Result<TenantAssets, ViewError> {
    let mut env = new_env();
    for (name, source) in BUILTIN_TEMPLATES {
        env.add_template(name, source)
            .map_err(|source| ViewError::Template {
                name: (*name).to_owned(),
                source,
            })?;
    }
    let mut overridden_templates = false;
    for (name, source) in overrides.templates {
        match env.add_template_owned(name.clone(), source) {
            Ok(()) => overridden_templates = true,
            Err(error) => {
                tracing::warn!(tenant, template = %name, %error, "tenant template does not compile; keeping the built-in one")
            }
        }
    }
    let bundle = |locale: Locale, builtin: &Arc<FluentResource>| {
        let mut b: Bundle = FluentBundle::new_concurrent(vec![locale.langid()]);
        b.set_use_isolating(false);
        // Built-in ids are unique (a test checks); ignore the impossible duplicate error.
        let _ = b.add_resource(builtin.clone());
        for (_, source) in overrides.locales.iter().filter(|(l, _)| *l == locale) {
            let resource = match FluentResource::try_new(source.clone()) {
                Ok(r) => r,
                Err((partial, errors)) => {
                    tracing::warn!(
                        tenant,
                        locale = locale.as_str(),
                        ?errors,
                        "tenant texts have errors; using the messages that parse"
                    );
                    partial
                }
            };
            b.add_resource_overriding(Arc::new(resource));
        }
        b
    };
    let en = bundle(Locale::En, builtin_en);
    let de = bundle(Locale::De, builtin_de);
    let theme = overrides
        .theme
        .as_deref()
        .map(|t| parse_theme(t, tenant))
        .unwrap_or_default();
    let theme_css = render_theme_css(&theme);
    let theme_version = short_hash(&format!(
        "{theme_css}{}",
        theme.logo_url.as_deref().unwrap_or_default()
    ));
    Ok(TenantAssets {
        env,
        en,
        de,
        theme,
        theme_css,
        theme_version,
        overridden_templates,
    })
}

/// Stats the override files of one tenant directory (an empty list when there are none).
fn stamp_dir(dir: &Path) -> Vec<FileStamp> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return out;
    }
    let mut add = |rel: String, path: &Path| {
        if let Ok(meta) = std::fs::metadata(path)
            && meta.is_file()
        {
            out.push((
                rel,
                meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                meta.len(),
            ));
        }
    };
    add("theme.toml".into(), &dir.join("theme.toml"));
    for l in Locale::ALL {
        let rel = format!("locales/{}/tessera.ftl", l.as_str());
        add(rel.clone(), &dir.join(&rel));
    }
    let mut stack = vec![(dir.join("templates"), String::new(), 0u8)];
    while let Some((path, prefix, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let full = entry.path();
            let rel = format!("{prefix}{name}");
            if full.is_dir() {
                if depth < 2 {
                    stack.push((full, format!("{rel}/"), depth + 1));
                }
            } else if name.ends_with(".html") || name.ends_with(".txt") {
                add(format!("templates/{rel}"), &full);
            }
        }
    }
    out.sort();
    out
}

fn read_overrides(dir: &Path, stamp: &[FileStamp]) -> Overrides {
    let mut o = Overrides::default();
    for (rel, _, len) in stamp {
        if *len > MAX_OVERRIDE_BYTES {
            tracing::warn!(file = %dir.join(rel).display(), "override file too large; ignored");
            continue;
        }
        let text = match std::fs::read_to_string(dir.join(rel)) {
            Ok(t) => t,
            Err(error) => {
                tracing::warn!(file = %dir.join(rel).display(), %error, "override file unreadable; ignored");
                continue;
            }
        };
        if rel == "theme.toml" {
            o.theme = Some(text);
        } else if let Some(name) = rel.strip_prefix("templates/") {
            o.templates.push((name.to_owned(), text));
        } else if let Some(locale) = rel
            .strip_prefix("locales/")
            .and_then(|r| r.split('/').next())
            .and_then(Locale::from_tag)
        {
            o.locales.push((locale, text));
        }
    }
    o
}

/// FNV-1a, for cache-busting query strings (not security).
pub(super) fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:012x}", h >> 16)
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
    use crate::views::test_support::*;
    use crate::views::{FlowLinks, MessagePage, Views};
    use tessera_model::flow::FlowKind;

    #[test]
    fn tenant_overrides_apply_without_restart() {
        let dir = tempfile::tempdir().unwrap();
        let acme = dir.path().join("acme");
        std::fs::create_dir_all(acme.join("templates/mail")).unwrap();
        std::fs::create_dir_all(acme.join("locales/de")).unwrap();
        std::fs::write(
            acme.join("theme.toml"),
            "# Acme\nname = \"Acme Corp\"\nlogo_url = \"https://cdn.acme.test/logo.svg\"\nprimary_color = \"#0B6E4F\" # green\nprimary_text_color = '#ffffff'\nbackground_color = \"#fafafa\"\n",
        )
        .unwrap();
        std::fs::write(
            acme.join("locales/de/tessera.ftl"),
            "login-title = Willkommen bei { $tenant_name }\n",
        )
        .unwrap();
        std::fs::write(
            acme.join("templates/message.html"),
            "{% extends \"layout.html\" %}{% block content %}<h1>ACME {{ title }}</h1><p>{{ t(\"error-password-too-short\", {\"min\": 99}) }}</p>{% endblock %}",
        )
        .unwrap();
        std::fs::write(
            acme.join("templates/mail/recovery_code.txt"),
            "ACME code {{ code }}",
        )
        .unwrap();
        let views = Views::with_recheck(Some(dir.path().to_owned()), Duration::ZERO).unwrap();

        // Texts: the override wins in German; English and other keys keep the built-ins.
        let html = views
            .render_flow(
                "acme",
                &Locale::De,
                &sample_flow(FlowKind::Login),
                &FlowLinks::default(),
            )
            .unwrap();
        assert!(html.contains("<h1>Willkommen bei Acme Corp</h1>"), "{html}");
        assert!(html.contains("Zum Inhalt springen"));
        assert!(
            html.contains(
                "<img class=\"logo\" src=\"https://cdn.acme.test/logo.svg\" alt=\"Acme Corp\">"
            ),
            "{html}"
        );
        let en = views
            .render_flow(
                "acme",
                &Locale::En,
                &sample_flow(FlowKind::Login),
                &FlowLinks::default(),
            )
            .unwrap();
        assert!(en.contains("<h1>Sign in</h1>"));
        // Templates.
        let page = MessagePage {
            title_id: "page-done-title".into(),
            text_id: "page-done-text".into(),
            ..Default::default()
        };
        let html = views.render_message("acme", &Locale::En, &page).unwrap();
        assert!(
            html.contains("<h1>ACME All done</h1>") && html.contains("Use at least 99 characters."),
            "{html}"
        );
        let mail = views
            .render_mail(
                "acme",
                &Locale::En,
                "recovery_code",
                &serde_json::json!({"code": "123"}),
            )
            .unwrap();
        assert_eq!(mail.text, "ACME code 123\n");
        // Other tenants are untouched.
        let other = views.render_message("globex", &Locale::En, &page).unwrap();
        assert!(other.contains("<h1>All done</h1>"));
        assert_eq!(views.theme_css("globex"), views.theme_css("default"));
        // Theme colours, lower-cased, with derived roles.
        let css = views.theme_css("acme");
        assert!(css.contains("--tessera-primary: #0b6e4f;"), "{css}");
        assert!(css.contains("--tessera-primary-text: #ffffff;"));
        assert!(css.contains("--tessera-link: #0b6e4f;"));
        assert!(css.contains("--tessera-bg: #fafafa;"));
        assert!(css.contains("--tessera-bg-text: #1b1f24;"));
        assert_eq!(views.tenant_name("acme"), "Acme Corp");

        // Edits apply on the next render, without a restart.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(
            acme.join("theme.toml"),
            "name = \"Acme\"\nprimary_color = \"red; } body { display: none\"\nbackground_color = \"#fff\"\nlogo_url = \"javascript:alert(1)\"\n",
        )
        .unwrap();
        std::fs::write(
            acme.join("templates/message.html"),
            "{% extends \"layout.html\" %}{% block content %}{{ broken(){% endblock %}",
        )
        .unwrap();
        let css = views.theme_css("acme");
        assert!(
            !css.contains("red") && !css.contains("display") && !css.contains("--tessera-primary"),
            "{css}"
        );
        assert!(!css.contains("#fff;"), "3-digit colours are refused: {css}");
        assert_eq!(views.tenant_name("acme"), "Acme");
        let html = views.render_message("acme", &Locale::En, &page).unwrap();
        assert!(
            html.contains("<h1>All done</h1>"),
            "a template that does not compile leaves the built-in one"
        );
        assert!(!html.contains("javascript"));

        // A template that fails while rendering falls back to the built-in one.
        std::fs::write(
            acme.join("templates/message.html"),
            "{{ no_such_variable }}",
        )
        .unwrap();
        let html = views.render_message("acme", &Locale::En, &page).unwrap();
        assert!(html.contains("<h1>All done</h1>"), "{html}");

        // Path tricks in the tenant never reach the file system.
        assert_eq!(views.theme_css("../acme"), views.theme_css("default"));
        assert!(Views::new(Some(dir.path().join("missing"))).is_err());
    }

    #[test]
    fn built_in_css_and_layout_fit_the_csp() {
        let views = Views::new(None).unwrap();
        assert!(views.css().contains("--tessera-primary"));
        assert!(views.css().contains(":focus-visible"));
        assert!(views.theme_css("acme").starts_with("/*"));
        let layout = BUILTIN_TEMPLATES
            .iter()
            .find(|(n, _)| *n == "layout.html")
            .unwrap()
            .1;
        assert!(layout.contains("{{ assets.theme }}") && layout.contains("{{ assets.css }}"));
        let html = views
            .render_message("acme", &Locale::En, &MessagePage::default())
            .unwrap();
        assert!(html.contains("href=\"/t/acme/theme.css?v="), "{html}");
    }
}
