//! Server-rendered hosted pages and mails.
//!
//! Every flow (login, registration, verification, recovery, settings) is drawn by one generic template
//! from its [`Flow::ui`], so the HTML pages show exactly what an app would get as JSON. Texts are Fluent
//! messages (English and German built in) keyed by the ids the flow engine emits; the engine's English
//! text is the last fallback.
//!
//! Operators restyle and reword per tenant without rebuilding: everything built in (templates, texts,
//! stylesheet) is embedded in the binary, and an optional theme directory overrides it per tenant:
//!
//! ```text
//! <theme_dir>/<tenant_slug>/theme.toml                  name, logo_url, primary_color, primary_text_color, background_color
//! <theme_dir>/<tenant_slug>/templates/<name>            e.g. templates/flow.html, templates/mail/recovery_code.txt
//! <theme_dir>/<tenant_slug>/locales/<lang>/tessera.ftl  messages override the built-in ones key by key
//! ```
//!
//! Overrides are read at render time and cached by file modification time, so edits apply without a
//! restart. A broken override never takes pages down: a template that does not compile is skipped (the
//! built-in one stays), and one that fails while rendering is retried with the built-in one; both are
//! logged. Colours are only accepted as `#rrggbb` (no CSS injection), and only used for a role when they
//! keep WCAG AA contrast.
//!
//! Pages carry no inline script or style (they are served with a strict CSP): styling is the external
//! `/assets/tessera.css` plus the per-tenant `/t/{tenant}/theme.css` that [`Views::theme_css`] generates.
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use minijinja::value::{Object, Value};
use minijinja::{AutoEscape, Environment, ErrorKind, State, UndefinedBehavior};
use serde::Serialize;
use serde_json::Map;
use tessera_model::flow::{Flow, FlowKind, MessageKind, NodeType, UiMessage, UiNode};
use time::format_description::well_known::Rfc3339;
use time::{Month, OffsetDateTime, UtcOffset};
use unic_langid::LanguageIdentifier;

/// Built-in templates, embedded so the binary needs no files to serve pages.
const BUILTIN_TEMPLATES: &[(&str, &str)] = &[
    (
        "layout.html",
        include_str!("../../../assets/templates/layout.html"),
    ),
    (
        "flow.html",
        include_str!("../../../assets/templates/flow.html"),
    ),
    (
        "message.html",
        include_str!("../../../assets/templates/message.html"),
    ),
    (
        "mail/layout.html",
        include_str!("../../../assets/templates/mail/layout.html"),
    ),
    (
        "mail/verification_code.txt",
        include_str!("../../../assets/templates/mail/verification_code.txt"),
    ),
    (
        "mail/verification_code.html",
        include_str!("../../../assets/templates/mail/verification_code.html"),
    ),
    (
        "mail/recovery_code.txt",
        include_str!("../../../assets/templates/mail/recovery_code.txt"),
    ),
    (
        "mail/recovery_code.html",
        include_str!("../../../assets/templates/mail/recovery_code.html"),
    ),
    (
        "mail/email_change_code.txt",
        include_str!("../../../assets/templates/mail/email_change_code.txt"),
    ),
    (
        "mail/email_change_code.html",
        include_str!("../../../assets/templates/mail/email_change_code.html"),
    ),
    (
        "mail/email_changed_notice.txt",
        include_str!("../../../assets/templates/mail/email_changed_notice.txt"),
    ),
    (
        "mail/email_changed_notice.html",
        include_str!("../../../assets/templates/mail/email_changed_notice.html"),
    ),
    (
        "mail/password_changed_notice.txt",
        include_str!("../../../assets/templates/mail/password_changed_notice.txt"),
    ),
    (
        "mail/password_changed_notice.html",
        include_str!("../../../assets/templates/mail/password_changed_notice.html"),
    ),
    (
        "mail/account_exists.txt",
        include_str!("../../../assets/templates/mail/account_exists.txt"),
    ),
    (
        "mail/account_exists.html",
        include_str!("../../../assets/templates/mail/account_exists.html"),
    ),
];

/// The mails Tessera sends; each has `mail/<name>.txt`, `mail/<name>.html` and `mail-<name>-subject`.
pub const MAILS: &[&str] = &[
    "verification_code",
    "recovery_code",
    "email_change_code",
    "email_changed_notice",
    "password_changed_notice",
    "account_exists",
];

const BUILTIN_EN: &str = include_str!("../../../assets/locales/en/tessera.ftl");
const BUILTIN_DE: &str = include_str!("../../../assets/locales/de/tessera.ftl");
const BUILTIN_CSS: &str = include_str!("../../../assets/static/tessera.css");

/// Where the pages load the built-in stylesheet from.
pub const CSS_PATH: &str = "/assets/tessera.css";

/// Context key under which a render passes its translator to `t()`.
const I18N_KEY: &str = "__tessera_i18n";
/// How long a tenant's override files are trusted before they are looked at again.
const RECHECK: Duration = Duration::from_secs(1);
/// Bound on cached tenants, so a flood of distinct slugs cannot grow memory without limit.
const CACHE_MAX: usize = 1024;
/// Larger override files are ignored: templates and texts are small, anything bigger is a mistake.
const MAX_OVERRIDE_BYTES: u64 = 512 * 1024;

/// Why a page or mail could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// The configured theme directory is unusable (reported at start-up, not on the first page view).
    #[error("theme directory {path}: {reason}")]
    ThemeDir { path: PathBuf, reason: String },
    /// A built-in Fluent file does not parse: a build defect, caught by the tests.
    #[error("built-in {lang} texts do not parse: {detail}")]
    BuiltinLocale { lang: &'static str, detail: String },
    /// A template failed to compile or render.
    #[error("template {name}: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },
    /// `render_mail` was asked for a mail that has no template.
    #[error("no mail template named {0:?}")]
    UnknownMail(String),
    /// Mail variables must be a JSON object (or null).
    #[error("mail variables must be a JSON object")]
    MailVars,
    /// A text that must exist (a mail subject) is missing in every locale.
    #[error("no text for message id {0:?}")]
    MissingText(String),
}

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

    fn langid(&self) -> LanguageIdentifier {
        self.as_str().parse().unwrap_or_default()
    }

    /// A moment as readers of this language write it (`23 Nov 2026, 14:05 UTC`, `23. Nov. 2026, 14:05
    /// UTC`). Always in UTC, and saying so: a page without scripts cannot know the reader's time zone.
    fn format_datetime(&self, at: OffsetDateTime) -> String {
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

/// Hrefs of the pages a flow page links to. Each is shown only where it makes sense for the flow's kind
/// (sign-in page: "forgot password" and "create account"; sign-up page: "sign in"; …) and only if set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FlowLinks {
    /// Starts a login flow.
    pub sign_in: Option<String>,
    /// Starts a registration flow.
    pub sign_up: Option<String>,
    /// Starts a recovery flow ("forgot your password?").
    pub recovery: Option<String>,
    /// Starts a verification flow.
    pub verification: Option<String>,
    /// Starts a settings flow.
    pub settings: Option<String>,
    /// The sign-out page (it confirms or posts with its own token; a plain link never signs out by itself).
    pub sign_out: Option<String>,
    /// Back to the application that sent the person here (a checked `return_to`).
    pub back: Option<String>,
    /// The tenant's terms of service, shown in the footer.
    pub terms: Option<String>,
    /// The tenant's privacy policy, shown in the footer.
    pub privacy: Option<String>,
    /// This page's own URL without `ui_locales`; when set, the footer offers a language switch.
    pub current: Option<String>,
}

/// A simple page: "done", "signed out", "check your email", or an error that says what to do next.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MessagePage {
    /// Fluent id of the heading (and `<title>`).
    pub title_id: String,
    /// Fluent id of the text.
    pub text_id: String,
    /// Placeholder values for both texts (`$tenant_name` is always available).
    pub args: Map<String, serde_json::Value>,
    /// The next step: `(href, Fluent id of the link text)`.
    pub link: Option<(String, String)>,
    /// The HTTP status the page is served with; 400 and above mark it as an error page.
    pub status: u16,
}

/// A form under a message page's text: one button posting hidden fields (a confirmation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageForm {
    /// Where the form posts (a path of this server).
    pub action: String,
    /// Hidden fields, in order: `(name, value)`.
    pub fields: Vec<(String, String)>,
    /// Fluent id of the button text.
    pub button_id: String,
}

/// A mail ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    /// One line, no control characters (safe as a header value).
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part (auto-escaped; styles inline, as mail clients need).
    pub html: String,
}

/// The page and mail renderer. Cheap to clone; one per process.
#[derive(Clone)]
pub struct Views {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Views")
            .field("theme_dir", &self.inner.theme_dir)
            .finish_non_exhaustive()
    }
}

struct Inner {
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

type Bundle = FluentBundle<Arc<FluentResource>>;

/// Everything one tenant's pages are drawn with: templates, texts and theme.
struct TenantAssets {
    env: Environment<'static>,
    en: Bundle,
    de: Bundle,
    theme: Theme,
    theme_css: String,
    theme_version: String,
    /// Whether any template was overridden (then a failing render is retried with the built-in ones).
    overridden_templates: bool,
}

impl TenantAssets {
    fn bundle(&self, locale: Locale) -> &Bundle {
        match locale {
            Locale::En => &self.en,
            Locale::De => &self.de,
        }
    }

    /// The message in `locale`, else in English; `None` when neither has it.
    fn lookup(
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

    fn has(&self, locale: Locale, id: &str) -> bool {
        self.bundle(locale).has_message(id) || self.en.has_message(id)
    }
}

/// A tenant's validated theme settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Theme {
    name: Option<String>,
    logo_url: Option<String>,
    primary: Option<Rgb>,
    primary_text: Option<Rgb>,
    background: Option<Rgb>,
}

/// What the files of a tenant's override directory say.
#[derive(Default)]
struct Overrides {
    templates: Vec<(String, String)>,
    locales: Vec<(Locale, String)>,
    theme: Option<String>,
}

impl Views {
    /// Loads the built-in templates and texts; `theme_dir` (if any) holds per-tenant overrides and must be
    /// a directory. Fails only on a build defect or a missing theme directory.
    pub fn new(theme_dir: Option<PathBuf>) -> Result<Self, ViewError> {
        Self::with_recheck(theme_dir, RECHECK)
    }

    fn with_recheck(theme_dir: Option<PathBuf>, recheck: Duration) -> Result<Self, ViewError> {
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
            inner: Arc::new(Inner {
                theme_dir,
                builtin_en,
                builtin_de,
                base,
                cache: RwLock::new(HashMap::new()),
                recheck,
            }),
        })
    }

    /// The built-in stylesheet, served at [`CSS_PATH`].
    pub fn css(&self) -> &'static str {
        BUILTIN_CSS
    }

    /// The tenant's `theme.css` (served at `/t/{tenant}/theme.css`): custom properties only, from
    /// validated colours; empty of rules when the tenant has no theme.
    pub fn theme_css(&self, tenant: &str) -> String {
        self.assets(tenant).theme_css.clone()
    }

    /// The name pages and mails show for the tenant: `name` from its theme, else its slug.
    pub fn tenant_name(&self, tenant: &str) -> String {
        display_name(tenant, &self.assets(tenant).theme)
    }

    /// Picks the page language: the first supported tag of `ui_locales` (space-separated, in order of
    /// preference, OpenID Connect style), else the best-weighted supported tag of `Accept-Language`,
    /// else English. Region subtags are ignored (`de-CH` → German); garbage is skipped.
    pub fn negotiate(&self, ui_locales: Option<&str>, accept_language: Option<&str>) -> Locale {
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

    /// The text of message `id` in `locale` (falling back to English, then to `id` itself), with `args`
    /// filled in. `$tenant_name` is always available.
    pub fn translate(
        &self,
        tenant: &str,
        locale: &Locale,
        id: &str,
        args: &Map<String, serde_json::Value>,
    ) -> String {
        let assets = self.assets(tenant);
        let args = with_defaults(&page_defaults(tenant, &assets.theme), args);
        assets
            .lookup(*locale, id, &args)
            .unwrap_or_else(|| id.to_owned())
    }

    /// The text of a flow engine message: by its id in `locale`, then in English, then its own `text`.
    pub fn translate_message(&self, tenant: &str, locale: &Locale, msg: &UiMessage) -> String {
        let assets = self.assets(tenant);
        message_text(&assets, *locale, &page_defaults(tenant, &assets.theme), msg)
    }

    /// The HTML page of a flow in its current state.
    pub fn render_flow(
        &self,
        tenant: &str,
        locale: &Locale,
        flow: &Flow,
        links: &FlowLinks,
    ) -> Result<String, ViewError> {
        let assets = self.assets(tenant);
        let locale = *locale;
        let defaults = page_defaults(tenant, &assets.theme);
        let kind = flow.kind.as_str();
        // `set_password` → `recovery-set-password-title`, `recovery-set-password`; `sent_email` also
        // tries the shorter `<kind>-sent`.
        let state = sanitize_id(&flow.state).replace('_', "-");
        let alias = match flow.state.as_str() {
            "sent_email" => Some("sent"),
            _ => None,
        };
        let mut title_ids = vec![format!("{kind}-{state}-title")];
        let mut intro_ids = Vec::new();
        if !matches!(state.as_str(), "title" | "intro" | "") {
            intro_ids.push(format!("{kind}-{state}"));
        }
        if let Some(a) = alias {
            title_ids.push(format!("{kind}-{a}-title"));
            intro_ids.push(format!("{kind}-{a}"));
        }
        title_ids.push(format!("{kind}-title"));
        intro_ids.push(format!("{kind}-intro"));
        let title_id = title_ids
            .into_iter()
            .find(|id| assets.has(locale, id))
            .unwrap_or_else(|| format!("{kind}-title"));
        let intro_id = intro_ids.into_iter().find(|id| assets.has(locale, id));
        let title = assets
            .lookup(locale, &title_id, &defaults)
            .unwrap_or_else(|| kind.to_owned());
        let intro = intro_id
            .as_deref()
            .and_then(|id| assets.lookup(locale, id, &defaults));

        let mut ids = IdAllocator::default();
        let mut alerts = Vec::new();
        let mut notices = Vec::new();
        for msg in &flow.ui.messages {
            let view = message_view(&assets, locale, &defaults, msg, ids.next("message"));
            if msg.kind == MessageKind::Error {
                alerts.push(view);
            } else {
                notices.push(view);
            }
        }
        let forms = build_forms(&assets, locale, &defaults, flow, &mut ids);

        let frame = self.frame(tenant, &assets, locale, title, links);
        let page = FlowPage {
            frame,
            flow: FlowView {
                id: flow.id.to_string(),
                kind,
                state: flow.state.clone(),
            },
            title_id,
            intro,
            intro_id,
            alerts,
            notices,
            forms,
            links,
        };
        self.render(&assets, "flow.html", &page, locale, defaults)
    }

    /// A simple HTML page (see [`MessagePage`]).
    pub fn render_message(
        &self,
        tenant: &str,
        locale: &Locale,
        page: &MessagePage,
    ) -> Result<String, ViewError> {
        self.render_message_page(tenant, locale, page, None)
    }

    /// A message page that asks before acting: its text says what the button does, and the button
    /// posts `form`.
    pub fn render_confirmation(
        &self,
        tenant: &str,
        locale: &Locale,
        page: &MessagePage,
        form: &PageForm,
    ) -> Result<String, ViewError> {
        self.render_message_page(tenant, locale, page, Some(form))
    }

    fn render_message_page(
        &self,
        tenant: &str,
        locale: &Locale,
        page: &MessagePage,
        form: Option<&PageForm>,
    ) -> Result<String, ViewError> {
        let assets = self.assets(tenant);
        let locale = *locale;
        let defaults = page_defaults(tenant, &assets.theme);
        let args = with_defaults(&defaults, &page.args);
        let title = assets
            .lookup(locale, &page.title_id, &args)
            .unwrap_or_else(|| page.title_id.clone());
        let text = assets
            .lookup(locale, &page.text_id, &args)
            .unwrap_or_else(|| page.text_id.clone());
        let link = page.link.as_ref().map(|(href, label_id)| LinkView {
            href: href.clone(),
            label: assets
                .lookup(locale, label_id, &args)
                .unwrap_or_else(|| label_id.clone()),
        });
        let form = form.map(|f| PageFormView {
            action: f.action.clone(),
            fields: f
                .fields
                .iter()
                .map(|(name, value)| HiddenView {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect(),
            label: assets
                .lookup(locale, &f.button_id, &args)
                .unwrap_or_else(|| f.button_id.clone()),
        });
        let view = MessageView {
            frame: self.frame(tenant, &assets, locale, title, &FlowLinks::default()),
            text,
            status: page.status,
            is_error: page.status >= 400,
            link,
            form,
        };
        self.render(&assets, "message.html", &view, locale, defaults)
    }

    /// A mail: subject from `mail-<name>-subject`, bodies from `mail/<name>.txt` and `mail/<name>.html`.
    /// `vars` (a JSON object) may hold `code`, `link`, `recovery_link`, `email`, `expires_minutes` and
    /// `tenant_name` (defaults to [`Self::tenant_name`]); every one of them is defined in the templates,
    /// absent ones as none, and all of them are available to the mail's Fluent messages.
    pub fn render_mail(
        &self,
        tenant: &str,
        locale: &Locale,
        name: &str,
        vars: &serde_json::Value,
    ) -> Result<RenderedMail, ViewError> {
        let assets = self.assets(tenant);
        let locale = *locale;
        let txt = format!("mail/{name}.txt");
        let html = format!("mail/{name}.html");
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid_name
            || assets.env.get_template(&txt).is_err()
            || assets.env.get_template(&html).is_err()
        {
            return Err(ViewError::UnknownMail(name.to_owned()));
        }
        let mut ctx = Map::new();
        for key in ["code", "link", "recovery_link", "email", "expires_minutes"] {
            ctx.insert(key.into(), serde_json::Value::Null);
        }
        ctx.insert(
            "tenant_name".into(),
            display_name(tenant, &assets.theme).into(),
        );
        match vars {
            serde_json::Value::Object(v) => {
                ctx.extend(v.iter().map(|(k, v)| (k.clone(), v.clone())))
            }
            serde_json::Value::Null => {}
            _ => return Err(ViewError::MailVars),
        }
        let subject_id = format!("mail-{name}-subject");
        let subject = assets
            .lookup(locale, &subject_id, &ctx)
            .ok_or(ViewError::MissingText(subject_id))?;
        let subject = subject
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect::<String>()
            .trim()
            .to_owned();
        ctx.insert("subject".into(), subject.clone().into());
        ctx.insert("lang".into(), locale.as_str().into());
        let defaults: Map<String, serde_json::Value> = ctx
            .iter()
            .filter(|(_, v)| v.is_string() || v.is_number())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut text = self.render(&assets, &txt, &ctx, locale, defaults.clone())?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        let html = self.render(&assets, &html, &ctx, locale, defaults)?;
        Ok(RenderedMail {
            subject,
            text,
            html,
        })
    }

    /// The parts every page shares.
    fn frame(
        &self,
        tenant: &str,
        assets: &TenantAssets,
        locale: Locale,
        title: String,
        links: &FlowLinks,
    ) -> Frame {
        let mut footer_links = Vec::new();
        for (href, id) in [
            (&links.terms, "link-terms"),
            (&links.privacy, "link-privacy"),
        ] {
            if let Some(href) = href {
                footer_links.push(LinkView {
                    href: href.clone(),
                    label: assets
                        .lookup(locale, id, &Map::new())
                        .unwrap_or_else(|| id.to_owned()),
                });
            }
        }
        let locale_links = links
            .current
            .as_deref()
            .map(|current| {
                Locale::ALL
                    .into_iter()
                    .map(|l| LocaleLink {
                        lang: l.as_str(),
                        label: l.native_name(),
                        href: with_query(current, "ui_locales", l.as_str()),
                        current: l == locale,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Frame {
            lang: locale.as_str(),
            tenant: TenantView {
                slug: tenant.to_owned(),
                name: display_name(tenant, &assets.theme),
                logo_url: assets.theme.logo_url.clone(),
            },
            assets: AssetsView {
                css: format!("{CSS_PATH}?v={}", short_hash(BUILTIN_CSS)),
                theme: format!(
                    "/t/{}/theme.css?v={}",
                    encode_path_segment(tenant),
                    assets.theme_version
                ),
            },
            title,
            footer_links,
            locale_links,
        }
    }

    /// Renders `name` with the tenant's templates; if an overridden template fails, logs it and retries
    /// with the built-in templates so a bad override cannot lock people out.
    fn render(
        &self,
        assets: &Arc<TenantAssets>,
        name: &str,
        ctx: &impl Serialize,
        locale: Locale,
        defaults: Map<String, serde_json::Value>,
    ) -> Result<String, ViewError> {
        let i18n = Value::from_object(I18n {
            assets: assets.clone(),
            locale,
            defaults,
        });
        let ctx = minijinja::context! { __tessera_i18n => i18n, ..Value::from(minijinja::value::Serde(ctx)) };
        let attempt =
            |env: &Environment<'static>| env.get_template(name).and_then(|t| t.render(&ctx));
        match attempt(&assets.env) {
            Ok(out) => Ok(out),
            Err(err) if assets.overridden_templates => {
                tracing::warn!(template = name, error = %err, "a tenant template failed; using the built-in one");
                attempt(&self.inner.base.env).map_err(|source| ViewError::Template {
                    name: name.to_owned(),
                    source,
                })
            }
            Err(source) => Err(ViewError::Template {
                name: name.to_owned(),
                source,
            }),
        }
    }

    /// The tenant's assets: the shared built-in ones unless its override directory has files; cached and
    /// rebuilt when a file's modification time or size changes.
    fn assets(&self, tenant: &str) -> Arc<TenantAssets> {
        let inner = &self.inner;
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

// ---------------------------------------------------------------------------------------------------
// Template context

#[derive(Serialize)]
struct Frame {
    lang: &'static str,
    tenant: TenantView,
    assets: AssetsView,
    title: String,
    footer_links: Vec<LinkView>,
    locale_links: Vec<LocaleLink>,
}

#[derive(Serialize)]
struct TenantView {
    slug: String,
    name: String,
    logo_url: Option<String>,
}

#[derive(Serialize)]
struct AssetsView {
    css: String,
    theme: String,
}

#[derive(Serialize)]
struct LinkView {
    href: String,
    label: String,
}

#[derive(Serialize)]
struct LocaleLink {
    lang: &'static str,
    label: &'static str,
    href: String,
    current: bool,
}

#[derive(Serialize)]
struct FlowPage<'a> {
    #[serde(flatten)]
    frame: Frame,
    flow: FlowView,
    title_id: String,
    intro: Option<String>,
    intro_id: Option<String>,
    alerts: Vec<MsgView>,
    notices: Vec<MsgView>,
    forms: Vec<FormView>,
    links: &'a FlowLinks,
}

#[derive(Serialize)]
struct FlowView {
    id: String,
    kind: &'static str,
    state: String,
}

#[derive(Serialize)]
struct MessageView {
    #[serde(flatten)]
    frame: Frame,
    text: String,
    status: u16,
    is_error: bool,
    link: Option<LinkView>,
    form: Option<PageFormView>,
}

#[derive(Serialize)]
struct PageFormView {
    action: String,
    fields: Vec<HiddenView>,
    label: String,
}

#[derive(Serialize)]
struct HiddenView {
    name: String,
    value: String,
}

#[derive(Serialize)]
struct MsgView {
    id: String,
    kind: &'static str,
    kind_label: String,
    text: String,
}

#[derive(Serialize)]
struct FormView {
    action: String,
    method: String,
    group: String,
    heading: Option<String>,
    heading_id: String,
    nodes: Vec<NodeView>,
}

#[derive(Serialize)]
struct NodeView {
    #[serde(rename = "type")]
    node_type: &'static str,
    group: String,
    name: String,
    id: String,
    input_type: Option<&'static str>,
    value: Option<String>,
    required: bool,
    autocomplete: Option<String>,
    label: Option<String>,
    messages: Vec<MsgView>,
    describedby: Option<String>,
    invalid: bool,
    autofocus: bool,
    /// Identifiers and codes: no auto-capitalisation or spell checking on phones.
    plain: bool,
    checked: bool,
    options: Vec<OptionView>,
    placeholder_option: bool,
    /// The first button of a form is the primary action (Enter triggers it).
    primary: bool,
    /// Moments a text node mentions (a session's sign-in, last activity, expiry), each for people and
    /// for machines.
    times: Vec<TimeView>,
    /// The text describes the thing this very request uses (the current session).
    current: bool,
}

#[derive(Serialize)]
struct TimeView {
    label: String,
    /// RFC 3339 in UTC, for `<time datetime>`.
    datetime: String,
    /// In the page's language.
    text: String,
}

/// Message arguments that hold a moment (RFC 3339) to show with a text node, in display order, with the
/// Fluent id of the words before each.
const TIME_ARGS: [(&str, &str); 3] = [
    ("created_at", "label-time-created-at"),
    ("last_seen_at", "label-time-last-seen-at"),
    ("expires_at", "label-time-expires-at"),
];

#[derive(Serialize)]
struct OptionView {
    value: String,
    label: String,
    selected: bool,
}

/// Hands out page-unique, attribute-safe element ids.
#[derive(Default)]
struct IdAllocator {
    used: HashSet<String>,
}

impl IdAllocator {
    fn next(&mut self, base: &str) -> String {
        let base = sanitize_id(base);
        let base = if base.is_empty() {
            "field".to_owned()
        } else {
            base
        };
        let mut candidate = base.clone();
        let mut n = 2;
        while self.used.contains(&candidate) {
            candidate = format!("{base}-{n}");
            n += 1;
        }
        self.used.insert(candidate.clone());
        candidate
    }
}

/// Splits a flow's nodes into forms. Settings get one form per method group, each carrying the shared
/// hidden fields (so Enter in the password section never submits the profile); every other flow is one
/// form. A CSRF field is added from `flow.csrf_token` if the engine did not put one in the nodes.
fn build_forms(
    assets: &TenantAssets,
    locale: Locale,
    defaults: &Map<String, serde_json::Value>,
    flow: &Flow,
    ids: &mut IdAllocator,
) -> Vec<FormView> {
    let mut nodes: Vec<UiNode> = Vec::with_capacity(flow.ui.nodes.len() + 1);
    if !flow.csrf_token.is_empty() && !flow.ui.nodes.iter().any(|n| n.name == "csrf_token") {
        nodes.push(UiNode::hidden("csrf_token", &flow.csrf_token));
    }
    nodes.extend(flow.ui.nodes.iter().cloned());
    // HTML forms know only GET and POST; anything else posts.
    let method = if flow.ui.method.trim().eq_ignore_ascii_case("get") {
        "get"
    } else {
        "post"
    }
    .to_owned();

    let mut groups: Vec<(String, Vec<UiNode>)> = Vec::new();
    if flow.kind == FlowKind::Settings {
        let (shared, own): (Vec<UiNode>, Vec<UiNode>) = nodes
            .into_iter()
            .partition(|n| n.node_type == NodeType::Hidden && n.group == "default");
        for node in own {
            match groups.iter_mut().find(|(g, _)| *g == node.group) {
                Some((_, list)) => list.push(node),
                None => groups.push((node.group.clone(), vec![node])),
            }
        }
        if groups.is_empty() {
            groups.push(("default".into(), Vec::new()));
        }
        for (_, list) in &mut groups {
            let mut with_shared = shared.clone();
            with_shared.append(list);
            *list = with_shared;
        }
    } else {
        groups.push(("default".into(), nodes));
    }

    let mut autofocus_taken = false;
    groups
        .into_iter()
        .map(|(group, nodes)| {
            let heading = if flow.kind == FlowKind::Settings {
                assets.lookup(
                    locale,
                    &format!("settings-group-{}", sanitize_id(&group)),
                    defaults,
                )
            } else {
                None
            };
            let heading_id = ids.next(&format!("section-{group}"));
            let mut first_submit = true;
            let mut previous_text: Option<String> = None;
            let nodes = nodes
                .iter()
                .map(|n| {
                    let mut view = node_view(assets, locale, defaults, flow.kind, n, ids);
                    if view.node_type == "submit" {
                        // Only the form's first button is primary, and never a quiet action.
                        let quiet = n.label.as_ref().is_some_and(|l| {
                            matches!(
                                l.id.as_str(),
                                "button-revoke" | "button-sign-out" | "button-resend"
                            )
                        });
                        view.primary = first_submit && !quiet;
                        first_submit = false;
                        // A button right after a text ("Firefox on Linux" + "Sign out this session")
                        // is described by it, so each of several equal buttons says what it acts on.
                        if let Some(text_id) = previous_text.take() {
                            view.describedby = Some(match view.describedby.take() {
                                Some(own) => format!("{text_id} {own}"),
                                None => text_id,
                            });
                        }
                    }
                    previous_text = (view.node_type == "text").then(|| view.id.clone());
                    if view.invalid
                        && !autofocus_taken
                        && matches!(view.node_type, "input" | "checkbox" | "select")
                    {
                        view.autofocus = true;
                        autofocus_taken = true;
                    }
                    view
                })
                .collect();
            FormView {
                action: flow.ui.action.clone(),
                method: method.clone(),
                group,
                heading,
                heading_id,
                nodes,
            }
        })
        .collect()
}

fn node_view(
    assets: &TenantAssets,
    locale: Locale,
    defaults: &Map<String, serde_json::Value>,
    kind: FlowKind,
    node: &UiNode,
    ids: &mut IdAllocator,
) -> NodeView {
    let node_type = match node.node_type {
        NodeType::Input => "input",
        NodeType::Hidden => "hidden",
        NodeType::Checkbox => "checkbox",
        NodeType::Select => "select",
        NodeType::Submit => "submit",
        NodeType::Text => "text",
    };
    let id = match node.node_type {
        NodeType::Hidden => String::new(),
        NodeType::Submit => ids.next(&format!("button-{}", node.name)),
        NodeType::Text => ids.next(&format!("text-{}", node.name)),
        _ => ids.next(&format!("field-{}", node.name)),
    };
    let input_type =
        (node.node_type == NodeType::Input).then(|| input_type(node.input_type.as_deref()));
    let is_password = input_type == Some("password");
    let mut autocomplete = node.autocomplete.as_deref().and_then(clean_autocomplete);
    if is_password && autocomplete.as_deref().is_none_or(|a| a == "off") {
        // Password managers must be able to help; the engine's token wins when it gave one.
        autocomplete = Some(match kind {
            FlowKind::Login => "current-password".into(),
            _ => "new-password".into(),
        });
    }
    let plain = matches!(input_type, Some("email" | "url"))
        || matches!(
            autocomplete.as_deref(),
            Some("username" | "email" | "one-time-code")
        );
    // A password is never sent back to the browser.
    let value = if is_password {
        None
    } else {
        node.value.clone()
    };
    let label = node
        .label
        .as_ref()
        .map(|m| message_text(assets, locale, defaults, m))
        .or_else(|| {
            matches!(
                node.node_type,
                NodeType::Input | NodeType::Checkbox | NodeType::Select | NodeType::Submit
            )
            .then(|| node.name.clone())
        });
    let messages: Vec<MsgView> = node
        .messages
        .iter()
        .map(|m| {
            let msg_id = ids.next(&format!(
                "{}-message",
                if id.is_empty() {
                    node.name.as_str()
                } else {
                    id.as_str()
                }
            ));
            message_view(assets, locale, defaults, m, msg_id)
        })
        .collect();
    let describedby = (!messages.is_empty()).then(|| {
        messages
            .iter()
            .map(|m| m.id.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let invalid = node.messages.iter().any(|m| m.kind == MessageKind::Error);
    // A checkbox's `value` is what it submits; the engine marks a ticked box with the option `checked`.
    let checked =
        node.node_type == NodeType::Checkbox && node.options.iter().any(|o| o == "checked");
    let select_options: &[String] = if node.node_type == NodeType::Select {
        &node.options
    } else {
        &[]
    };
    let options: Vec<OptionView> = select_options
        .iter()
        .map(|o| OptionView {
            value: o.clone(),
            label: assets
                .lookup(
                    locale,
                    &format!("option-{}-{}", sanitize_id(&node.name), sanitize_id(o)),
                    defaults,
                )
                .unwrap_or_else(|| o.clone()),
            selected: node.value.as_deref() == Some(o.as_str()),
        })
        .collect();
    let placeholder_option =
        node.node_type == NodeType::Select && !options.iter().any(|o| o.selected);
    let (times, current) = match (&node.node_type, &node.label) {
        (NodeType::Text, Some(label)) => (
            time_views(assets, locale, defaults, &label.args),
            label.args.get("current") == Some(&serde_json::Value::Bool(true)),
        ),
        _ => (Vec::new(), false),
    };
    NodeView {
        node_type,
        group: node.group.clone(),
        name: node.name.clone(),
        id,
        input_type,
        value,
        required: node.required,
        autocomplete,
        label,
        messages,
        describedby,
        invalid,
        autofocus: false,
        plain,
        checked,
        options,
        placeholder_option,
        primary: false,
        times,
        current,
    }
}

/// The moments among a message's arguments (see [`TIME_ARGS`]); values that are not RFC 3339 are left
/// out rather than shown raw.
fn time_views(
    assets: &TenantAssets,
    locale: Locale,
    defaults: &Map<String, serde_json::Value>,
    args: &Map<String, serde_json::Value>,
) -> Vec<TimeView> {
    TIME_ARGS
        .iter()
        .filter_map(|(key, label_id)| {
            let raw = args.get(*key)?.as_str()?;
            let at = OffsetDateTime::parse(raw, &Rfc3339)
                .ok()?
                .to_offset(UtcOffset::UTC);
            // HTML's `datetime` takes at most milliseconds; minutes are what is shown anyway.
            let at = at.replace_nanosecond(0).unwrap_or(at);
            Some(TimeView {
                label: assets
                    .lookup(locale, label_id, defaults)
                    .unwrap_or_else(|| (*label_id).to_owned()),
                datetime: at.format(&Rfc3339).ok()?,
                text: locale.format_datetime(at),
            })
        })
        .collect()
}

fn message_view(
    assets: &TenantAssets,
    locale: Locale,
    defaults: &Map<String, serde_json::Value>,
    msg: &UiMessage,
    id: String,
) -> MsgView {
    let (kind, label_id) = match msg.kind {
        MessageKind::Error => ("error", "message-kind-error"),
        MessageKind::Info => ("info", "message-kind-info"),
        MessageKind::Success => ("success", "message-kind-success"),
    };
    MsgView {
        id,
        kind,
        kind_label: assets
            .lookup(locale, label_id, defaults)
            .unwrap_or_else(|| kind.to_owned()),
        text: message_text(assets, locale, defaults, msg),
    }
}

/// An engine message's text. Besides its own args, the Fluent message may use `$text`, the engine's
/// text (for messages whose content is data, such as a session's device name).
fn message_text(
    assets: &TenantAssets,
    locale: Locale,
    defaults: &Map<String, serde_json::Value>,
    msg: &UiMessage,
) -> String {
    let mut args = with_defaults(defaults, &msg.args);
    args.entry("text")
        .or_insert_with(|| msg.text.clone().into());
    assets
        .lookup(locale, &msg.id, &args)
        .unwrap_or_else(|| msg.text.clone())
}

/// Types an input may have; anything else (`file`, `hidden`, a typo) is drawn as text.
fn input_type(t: Option<&str>) -> &'static str {
    match t.unwrap_or("text") {
        "email" => "email",
        "password" => "password",
        "tel" => "tel",
        "number" => "number",
        "date" => "date",
        "url" => "url",
        "search" => "search",
        _ => "text",
    }
}

/// Keeps an autocomplete token only if it is made of token characters.
fn clean_autocomplete(token: &str) -> Option<String> {
    let token = token.trim();
    let ok = !token.is_empty()
        && token.len() <= 64
        && token
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b' ');
    ok.then(|| token.to_owned())
}

/// Letters, digits, `-` and `_` survive; everything else becomes `-`. Safe in ids and Fluent keys.
fn sanitize_id(s: &str) -> String {
    s.chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------
// Translation

/// The page's translator, handed to the template function `t()` through the render context.
struct I18n {
    assets: Arc<TenantAssets>,
    locale: Locale,
    defaults: Map<String, serde_json::Value>,
}

impl std::fmt::Debug for I18n {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("I18n")
            .field("locale", &self.locale)
            .finish_non_exhaustive()
    }
}

impl Object for I18n {}

/// `t(id, args?)`: the Fluent message `id` in the page's locale (English, then `id` as fallbacks);
/// `args` is a map of placeholder values, merged over the page's defaults (`tenant_name`, …).
fn template_t(state: &State, id: String, args: Option<Value>) -> Result<String, minijinja::Error> {
    let missing = || {
        minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "t() needs the page's translator",
        )
    };
    let holder = state.lookup(I18N_KEY).ok_or_else(missing)?;
    let i18n = holder.downcast_object_ref::<I18n>().ok_or_else(missing)?;
    let mut merged = i18n.defaults.clone();
    if let Some(args) = args.filter(|a| !a.is_none() && !a.is_undefined()) {
        let json = serde_json::to_value(&args).map_err(|e| {
            minijinja::Error::new(ErrorKind::InvalidOperation, format!("t() args: {e}"))
        })?;
        match json {
            serde_json::Value::Object(map) => merged.extend(map),
            _ => {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    "t() args must be a map",
                ));
            }
        }
    }
    Ok(i18n.assets.lookup(i18n.locale, &id, &merged).unwrap_or(id))
}

fn format_message(bundle: &Bundle, id: &str, args: &FluentArgs) -> Option<String> {
    let pattern = bundle.get_message(id)?.value()?;
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, Some(args), &mut errors);
    if !errors.is_empty() {
        tracing::debug!(id, ?errors, "a message was formatted with errors");
    }
    Some(text.into_owned())
}

fn fluent_args(args: &Map<String, serde_json::Value>) -> FluentArgs<'static> {
    let mut out = FluentArgs::with_capacity(args.len());
    for (k, v) in args {
        let value: FluentValue<'static> = match v {
            serde_json::Value::Null => continue,
            serde_json::Value::String(s) => s.clone().into(),
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => i.into(),
                (_, Some(u), _) => u.into(),
                (_, _, Some(f)) => f.into(),
                _ => n.to_string().into(),
            },
            serde_json::Value::Bool(b) => b.to_string().into(),
            other => other.to_string().into(),
        };
        out.set(k.clone(), value);
    }
    out
}

fn with_defaults(
    defaults: &Map<String, serde_json::Value>,
    args: &Map<String, serde_json::Value>,
) -> Map<String, serde_json::Value> {
    let mut merged = defaults.clone();
    merged.extend(args.iter().map(|(k, v)| (k.clone(), v.clone())));
    merged
}

fn page_defaults(tenant: &str, theme: &Theme) -> Map<String, serde_json::Value> {
    let mut m = Map::new();
    m.insert("tenant_name".into(), display_name(tenant, theme).into());
    m
}

fn display_name(tenant: &str, theme: &Theme) -> String {
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

fn parse_builtin(lang: &'static str, source: &str) -> Result<FluentResource, ViewError> {
    FluentResource::try_new(source.to_owned()).map_err(|(_, errors)| ViewError::BuiltinLocale {
        lang,
        detail: format!("{errors:?}"),
    })
}

// ---------------------------------------------------------------------------------------------------
// Assets, overrides and cache

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

// ---------------------------------------------------------------------------------------------------
// Theme

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

/// Reads the flat `key = "value"` subset of TOML that theme files use; anything else is logged and
/// skipped. Values are validated here, so nothing unchecked reaches CSS or HTML.
fn parse_theme(text: &str, tenant: &str) -> Theme {
    let mut theme = Theme::default();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.starts_with('[') {
            tracing::warn!(
                tenant,
                line = n + 1,
                "theme.toml: tables are not read; stopping here"
            );
            break;
        }
        let Some((key, rest)) = line.split_once('=') else {
            tracing::warn!(
                tenant,
                line = n + 1,
                "theme.toml: not a key = \"value\" line"
            );
            continue;
        };
        let key = key.trim().trim_matches('"');
        let Some(value) = toml_string(rest.trim()) else {
            tracing::warn!(
                tenant,
                line = n + 1,
                key,
                "theme.toml: value is not a quoted string"
            );
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
            "logo_url" => match clean_logo_url(&value) {
                Some(url) => theme.logo_url = Some(url),
                None => refused("an https:// URL, a /path or a data:image/ URL"),
            },
            "primary_color" | "primary_text_color" | "background_color" => match Rgb::parse(&value)
            {
                Some(c) => match key {
                    "primary_color" => theme.primary = Some(c),
                    "primary_text_color" => theme.primary_text = Some(c),
                    _ => theme.background = Some(c),
                },
                None => refused("colours are #rrggbb"),
            },
            _ => tracing::warn!(tenant, key, "theme.toml: unknown key ignored"),
        }
    }
    theme
}

/// A TOML basic (`"…"`, with escapes) or literal (`'…'`) string, optionally followed by a comment.
fn toml_string(s: &str) -> Option<String> {
    let mut chars = s.chars();
    let quote = chars.next()?;
    let mut out = String::new();
    match quote {
        '\'' => loop {
            match chars.next()? {
                '\'' => break,
                c => out.push(c),
            }
        },
        '"' => loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'u' => {
                        let hex: String = chars.by_ref().take(4).collect();
                        out.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    _ => return None,
                },
                c => out.push(c),
            }
        },
        _ => return None,
    }
    let rest = chars.as_str().trim();
    (rest.is_empty() || rest.starts_with('#')).then_some(out)
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
fn render_theme_css(theme: &Theme) -> String {
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

// ---------------------------------------------------------------------------------------------------
// Small helpers

/// FNV-1a, for cache-busting query strings (not security).
fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{:012x}", h >> 16)
}

fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Appends `key=value` (both already URL-safe) to an href, keeping any fragment last.
fn with_query(href: &str, key: &str, value: &str) -> String {
    let (base, fragment) = match href.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (href, None),
    };
    let sep = if base.contains('?') { '&' } else { '?' };
    let mut out = format!("{base}{sep}{key}={value}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
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
    use tessera_model::TenantId;
    use tessera_model::flow::{FlowChannel, FlowId, Ui};
    use time::OffsetDateTime;

    const HOSTILE: &str = "<script>alert(1)</script>\"'";

    /// Ids the flow engine emits; each must exist in every built-in locale.
    const ENGINE_IDS: &[&str] = &[
        "label-email",
        "label-password",
        "label-new-password",
        "label-current-password",
        "label-code",
        "label-identifier",
        "label-accept-terms",
        "button-sign-in",
        "button-sign-up",
        "button-continue",
        "button-send-code",
        "button-verify",
        "button-save",
        "button-resend",
        "button-sign-out",
        "button-revoke",
        "error-invalid-credentials",
        "error-required",
        "error-invalid-email",
        "error-password-too-short",
        "error-password-too-long",
        "error-password-common",
        "error-password-contains-context",
        "error-password-breached",
        "error-code-invalid",
        "error-code-expired",
        "error-flow-expired",
        "error-csrf",
        "error-throttled",
        "error-disposable-email",
        "error-registration-closed",
        "error-terms-required",
        "error-attribute-invalid",
        "error-recovery-voided",
        "info-code-sent",
        "info-verification-sent",
        "info-profile-needed",
        "success-verified",
        "success-password-changed",
        "success-email-change-pending",
        "success-settings-saved",
        "success-session-revoked",
        "success-signed-out",
        "label-current-email",
        "info-session",
        "info-session-current",
        "info-password-weak",
    ];

    /// Ids chosen in Rust rather than written in a template.
    fn code_ids() -> Vec<String> {
        let mut ids: Vec<String> = [
            "message-kind-error",
            "message-kind-info",
            "message-kind-success",
            "link-terms",
            "link-privacy",
            "page-done-title",
            "page-done-text",
            "page-signed-out-title",
            "page-signed-out-text",
            "page-check-email-title",
            "page-check-email-text",
            "page-error-title",
            "page-error-text",
            "page-not-found-title",
            "page-not-found-text",
            "page-flow-expired-title",
            "page-flow-expired-text",
            "page-unavailable-title",
            "page-unavailable-text",
            "page-rate-limited-title",
            "page-rate-limited-text",
            "link-try-again",
            "link-start-over",
            "link-continue",
            "link-settings",
            "link-sign-in",
            "link-sign-up",
            "link-start-again",
            "page-bad-request-title",
            "page-bad-request-text",
            "page-forbidden-title",
            "page-forbidden-text",
            "page-confirmed-title",
            "page-confirmed-text",
            "page-link-invalid-title",
            "page-link-invalid-text",
            "page-not-me-title",
            "page-not-me-text",
            "button-freeze-account",
            "page-frozen-title",
            "page-frozen-text",
            "page-other-browser-title",
            "page-other-browser-text",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        ids.extend(TIME_ARGS.iter().map(|(_, label)| (*label).to_owned()));
        // The strength hints the engine passes on, whatever the estimator finds.
        ids.extend(
            tessera_model::password_policy::Advice::ALL
                .iter()
                .map(|a| a.id().to_owned()),
        );
        for kind in [
            "login",
            "registration",
            "verification",
            "recovery",
            "settings",
        ] {
            ids.push(format!("{kind}-title"));
            ids.push(format!("{kind}-intro"));
        }
        for mail in MAILS {
            ids.push(format!("mail-{mail}-subject"));
        }
        ids
    }

    fn msg(kind: MessageKind, id: &str, text: &str) -> UiMessage {
        UiMessage {
            id: id.into(),
            kind,
            text: text.into(),
            args: Default::default(),
        }
    }

    /// A flow whose UI has every node type, field errors, a hostile value and form-level messages.
    fn sample_flow(kind: FlowKind) -> Flow {
        let mut email = UiNode::input(
            "default",
            "identifier",
            "email",
            msg(MessageKind::Info, "label-email", "Email"),
        )
        .required()
        .autocomplete("email")
        .with_value(Some(HOSTILE.into()));
        email.messages.push(msg(
            MessageKind::Error,
            "error-invalid-email",
            "Enter a valid email.",
        ));
        let mut password = UiNode::input(
            "password",
            "password",
            "password",
            msg(MessageKind::Info, "label-password", "Password"),
        )
        .required()
        .autocomplete(if kind == FlowKind::Login {
            "current-password"
        } else {
            "new-password"
        })
        .with_value(Some("hunter2-secret".into()));
        password
            .messages
            .push(msg(MessageKind::Error, "error-password-too-short", "Too short.").arg("min", 12));
        let code = UiNode::input(
            "code",
            "code",
            "text",
            msg(MessageKind::Info, "label-code", "Code"),
        )
        .autocomplete("one-time-code");
        let mut terms = UiNode::input(
            "profile",
            "terms",
            "text",
            msg(MessageKind::Info, "label-accept-terms", "Terms"),
        )
        .required();
        terms.node_type = NodeType::Checkbox;
        terms.input_type = None;
        terms.messages.push(msg(
            MessageKind::Error,
            "error-terms-required",
            "Accept the terms.",
        ));
        let mut country = UiNode::input(
            "profile",
            "country",
            "text",
            msg(MessageKind::Info, "label-country", "Country"),
        );
        country.node_type = NodeType::Select;
        country.input_type = None;
        country.options = vec!["de".into(), "ch".into(), "at".into()];
        country.value = Some("ch".into());
        let mut text = UiNode::hidden("sent_to", "someone@example.com");
        text.node_type = NodeType::Text;
        text.label = Some(
            msg(MessageKind::Info, "info-code-sent", "Sent.").arg("email", "someone@example.com"),
        );
        let nodes = vec![
            UiNode::hidden("flow", "0190aaaa"),
            email,
            password,
            code,
            terms,
            country,
            text,
            UiNode::submit(
                "password",
                "method",
                "password",
                msg(MessageKind::Info, "button-continue", "Continue"),
            ),
            UiNode::submit(
                "code",
                "method",
                "resend",
                msg(MessageKind::Info, "button-resend", "Resend"),
            ),
        ];
        let now = OffsetDateTime::now_utc();
        Flow {
            id: FlowId::random(),
            tenant_id: TenantId::new(),
            kind,
            channel: FlowChannel::Browser,
            state: "choose_method".into(),
            issued_at: now,
            expires_at: now + time::Duration::minutes(10),
            csrf_token: "csrf-token-value".into(),
            return_to: None,
            client_id: None,
            journey: "default".into(),
            locale: None,
            identity_id: None,
            ui: Ui {
                action: "/self-service/login?flow=1&x=<y>".into(),
                method: "POST".into(),
                nodes,
                messages: vec![
                    msg(MessageKind::Error, "error-invalid-credentials", "Wrong."),
                    msg(MessageKind::Info, "error-throttled", "Wait.").arg("seconds", 30),
                    msg(MessageKind::Info, "no-such-id", "Engine fallback text"),
                ],
            },
            internal: serde_json::Value::Null,
            version: 1,
        }
    }

    fn links() -> FlowLinks {
        FlowLinks {
            sign_in: Some("/self-service/login/browser".into()),
            sign_up: Some("/self-service/registration/browser".into()),
            recovery: Some("/self-service/recovery/browser".into()),
            verification: Some("/self-service/verification/browser".into()),
            settings: Some("/self-service/settings/browser".into()),
            sign_out: Some("/self-service/logout".into()),
            back: Some("https://app.example.com/".into()),
            terms: Some("https://example.com/terms".into()),
            privacy: Some("https://example.com/privacy".into()),
            current: Some("/self-service/login?flow=1".into()),
        }
    }

    /// Every value of `attr="…"` in `html`.
    fn attr_values(html: &str, attr: &str) -> Vec<String> {
        let needle = format!(" {attr}=\"");
        let mut out = Vec::new();
        let mut rest = html;
        while let Some(i) = rest.find(&needle) {
            rest = &rest[i + needle.len()..];
            let end = rest.find('"').unwrap();
            out.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
        out
    }

    /// The opening tag of the element with `id`.
    fn element_with_id<'a>(html: &'a str, id: &str) -> &'a str {
        let at = html
            .find(&format!(" id=\"{id}\""))
            .unwrap_or_else(|| panic!("no element with id {id}"));
        let start = html[..at].rfind('<').unwrap();
        let end = at + html[at..].find('>').unwrap();
        &html[start..=end]
    }

    fn check_page_basics(html: &str) {
        assert!(html.starts_with("<!doctype html>"), "{html}");
        assert!(
            html.contains(
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            )
        );
        assert!(html.contains("<main id=\"main\""));
        assert!(html.contains("href=\"#main\""));
        assert!(html.contains("<link rel=\"stylesheet\" href=\"/assets/tessera.css?v="));
        assert!(html.contains("/theme.css?v="));
        assert!(!html.contains("<script"), "no scripts: {html}");
        assert!(!html.contains(" style="), "no inline styles (CSP): {html}");
        assert!(!html.contains("<style"), "no style elements (CSP)");
        let ids = attr_values(html, "id");
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "element ids are unique: {ids:?}");
    }

    #[test]
    fn every_flow_kind_renders_accessibly_in_both_locales() {
        let views = Views::new(None).unwrap();
        for kind in [
            FlowKind::Login,
            FlowKind::Registration,
            FlowKind::Verification,
            FlowKind::Recovery,
            FlowKind::Settings,
        ] {
            for locale in Locale::ALL {
                let flow = sample_flow(kind);
                let html = views.render_flow("acme", &locale, &flow, &links()).unwrap();
                check_page_basics(&html);
                assert!(html.contains(&format!("<html lang=\"{}\">", locale.as_str())));

                // Every label points at a form control that exists.
                let fors = attr_values(&html, "for");
                assert!(
                    fors.len() >= 5,
                    "{kind:?}: labels for email, password, code, terms, country"
                );
                for id in &fors {
                    let el = element_with_id(&html, id);
                    assert!(
                        el.starts_with("<input") || el.starts_with("<select"),
                        "label for {id} -> {el}"
                    );
                }
                // Every aria-describedby names existing message elements; errors mark the field invalid.
                let described = attr_values(&html, "aria-describedby");
                assert!(
                    described.len() >= 3,
                    "{kind:?}: email, password, terms have messages"
                );
                for list in &described {
                    for id in list.split(' ') {
                        let el = element_with_id(&html, id);
                        assert!(el.starts_with("<p"), "{el}");
                    }
                }
                let email = element_with_id(&html, "field-identifier");
                assert!(email.contains("aria-invalid=\"true\""), "{email}");
                assert!(
                    email.contains("aria-describedby=\"field-identifier-message\""),
                    "{email}"
                );
                assert!(
                    email.contains("autofocus"),
                    "the first invalid field gets focus: {email}"
                );
                assert!(email.contains("type=\"email\"") && email.contains(" required"));
                assert!(html.contains("<p id=\"field-identifier-message\" class=\"field-message error\" role=\"alert\">"));

                // Autocomplete tokens reach the inputs; passwords are never echoed.
                let autocomplete = attr_values(&html, "autocomplete");
                assert!(autocomplete.contains(&"email".to_owned()));
                assert!(autocomplete.contains(&"one-time-code".to_owned()));
                let password = element_with_id(&html, "field-password");
                assert!(password.contains("type=\"password\""));
                assert!(!password.contains("autocomplete=\"off\""));
                let expected = if kind == FlowKind::Login {
                    "current-password"
                } else {
                    "new-password"
                };
                assert!(
                    password.contains(&format!("autocomplete=\"{expected}\"")),
                    "{password}"
                );
                assert!(
                    !html.contains("hunter2-secret"),
                    "password values are not sent back"
                );

                // Hostile values are escaped, in text and in attributes.
                assert!(!html.contains("<script>alert"));
                assert!(
                    html.contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;\""),
                    "{html}"
                );
                assert!(!html.contains("x=<y>"));

                // Other node types.
                assert!(html.contains("<input type=\"hidden\" name=\"flow\" value=\"0190aaaa\">"));
                assert!(html.contains(
                    "<input type=\"hidden\" name=\"csrf_token\" value=\"csrf-token-value\">"
                ));
                assert!(html.contains("type=\"checkbox\" value=\"true\" required"));
                assert!(html.contains("<option value=\"ch\" selected>ch</option>"));
                assert!(html.contains("someone@example.com"));
                assert!(html.contains("name=\"method\" value=\"password\""));
                if kind != FlowKind::Settings {
                    // In one form, only the first button is the primary action.
                    assert!(html.contains(
                        "class=\"button button-secondary\" name=\"method\" value=\"resend\""
                    ));
                }
                assert!(html.contains("role=\"alert\""));
                assert!(html.contains("role=\"status\""));
                assert!(
                    html.contains("Engine fallback text"),
                    "unknown ids fall back to the engine's text"
                );

                match locale {
                    Locale::En => {
                        assert!(html.contains("Use at least 12 characters."));
                        assert!(html.contains("Please wait 30 seconds"));
                        assert!(html.contains("Skip to main content"));
                    }
                    Locale::De => {
                        assert!(
                            html.contains("Verwenden Sie mindestens 12 Zeichen."),
                            "{html}"
                        );
                        assert!(html.contains("Bitte warten Sie 30 Sekunden"));
                        assert!(html.contains("Zum Inhalt springen"));
                    }
                }

                // Links between flows, per kind.
                match kind {
                    FlowKind::Login => {
                        assert!(html.contains("href=\"/self-service/registration/browser\""));
                        assert!(html.contains("href=\"/self-service/recovery/browser\""));
                    }
                    FlowKind::Registration => {
                        assert!(html.contains("href=\"/self-service/login/browser\""));
                        assert!(!html.contains("href=\"/self-service/registration/browser\""));
                    }
                    FlowKind::Recovery | FlowKind::Verification => {
                        assert!(html.contains("href=\"/self-service/login/browser\""));
                    }
                    FlowKind::Settings => {
                        assert!(html.contains("href=\"/self-service/logout\""));
                        // One form per method group, each with the shared hidden fields.
                        assert!(html.matches("<form ").count() >= 3, "{html}");
                        assert_eq!(
                            html.matches("name=\"csrf_token\"").count(),
                            html.matches("<form ").count()
                        );
                    }
                }
                assert!(html.contains("hreflang=\"de\""));
                assert!(html.contains("?flow=1&amp;ui_locales=de"));
            }
        }
    }

    /// Writes sample pages for a manual look (`TESSERA_VIEWS_DUMP=/some/dir`); does nothing otherwise.
    #[test]
    fn dump_samples_when_asked() {
        let Ok(dir) = std::env::var("TESSERA_VIEWS_DUMP") else {
            return;
        };
        let views = Views::new(None).unwrap();
        let mut login = sample_flow(FlowKind::Login);
        login.ui.nodes.retain(|n| {
            matches!(
                n.name.as_str(),
                "flow" | "identifier" | "password" | "method"
            ) && n.group != "code"
        });
        login.ui.messages.truncate(1);
        for n in &mut login.ui.nodes {
            if n.name == "identifier" {
                n.value = Some("ada@example".into());
            }
        }
        let pages = [
            (
                "login.html",
                views
                    .render_flow("acme", &Locale::En, &login, &links())
                    .unwrap(),
            ),
            (
                "login-de.html",
                views
                    .render_flow("acme", &Locale::De, &login, &links())
                    .unwrap(),
            ),
            (
                "all-nodes.html",
                views
                    .render_flow(
                        "acme",
                        &Locale::En,
                        &sample_flow(FlowKind::Registration),
                        &links(),
                    )
                    .unwrap(),
            ),
            (
                "settings.html",
                views
                    .render_flow(
                        "acme",
                        &Locale::En,
                        &sample_flow(FlowKind::Settings),
                        &links(),
                    )
                    .unwrap(),
            ),
        ];
        for (name, html) in pages {
            std::fs::write(Path::new(&dir).join(name), html).unwrap();
        }
        let mail = views.render_mail("acme", &Locale::En, "verification_code", &serde_json::json!({"code": "428913", "expires_minutes": 15, "link": "https://id.example.com/v?c=1"})).unwrap();
        std::fs::write(Path::new(&dir).join("mail.html"), mail.html).unwrap();
        std::fs::write(
            Path::new(&dir).join("mail.txt"),
            format!("Subject: {}\n\n{}", mail.subject, mail.text),
        )
        .unwrap();
        std::fs::write(Path::new(&dir).join("tessera.css"), views.css()).unwrap();
    }

    /// The shapes the flow engine produces: ticked boxes carry the option `checked`, several
    /// "sign out this session" buttons each follow the text that names their session.
    #[test]
    fn engine_shaped_settings() {
        let views = Views::new(None).unwrap();
        let mut flow = sample_flow(FlowKind::Settings);
        let mut newsletter = UiNode::input(
            "profile",
            "attributes.newsletter",
            "checkbox",
            msg(MessageKind::Info, "attribute-newsletter", "Newsletter"),
        );
        newsletter.node_type = NodeType::Checkbox;
        newsletter.value = Some("true".into());
        newsletter.options = vec!["checked".into()];
        let session = |id: &str, text: &str, current: bool| {
            let mut n = UiNode::hidden(&format!("session_{id}"), "");
            n.node_type = NodeType::Text;
            n.value = None;
            n.group = "sessions".into();
            n.label = Some(
                msg(
                    MessageKind::Info,
                    if current {
                        "info-session-current"
                    } else {
                        "info-session"
                    },
                    text,
                )
                .arg("created_at", "2026-11-23T14:05:09.123456Z")
                .arg("last_seen_at", "2026-11-24T09:30:00+01:00")
                .arg("expires_at", "2026-03-01T00:00:00Z")
                .arg("current", current)
                .arg("ip", "192.0.2.1"),
            );
            n
        };
        flow.ui.nodes = vec![
            UiNode::hidden("csrf_token", "engine-token"),
            newsletter,
            UiNode::submit(
                "profile",
                "method",
                "profile",
                msg(MessageKind::Info, "button-save", "Save"),
            ),
            session("a", "Firefox on Linux", true),
            session("b", "Safari on iPhone", false),
            UiNode::submit(
                "sessions",
                "revoke_session",
                "b",
                msg(MessageKind::Info, "button-revoke", "x"),
            ),
            session("c", "Edge on Windows", false),
            UiNode::submit(
                "sessions",
                "revoke_session",
                "c",
                msg(MessageKind::Info, "button-revoke", "x"),
            ),
        ];
        let html = views
            .render_flow("acme", &Locale::De, &flow, &FlowLinks::default())
            .unwrap();
        check_page_basics(&html);
        assert_eq!(
            html.matches("name=\"csrf_token\"").count(),
            2,
            "the engine's token, in both forms"
        );
        assert!(
            !html.contains("csrf-token-value"),
            "no second token when the engine sent one"
        );
        let newsletter = element_with_id(&html, "field-attributes-newsletter");
        assert!(
            newsletter.contains("value=\"true\" checked"),
            "{newsletter}"
        );
        assert!(html.contains("Firefox on Linux (dieses Gerät)"), "{html}");
        // Session times: for people in the page's language, for machines in RFC 3339 (UTC, seconds).
        assert!(
            html.contains("<dt>Angemeldet am</dt> <dd><time datetime=\"2026-11-23T14:05:09Z\">23. Nov. 2026, 14:05 UTC</time></dd>"),
            "{html}"
        );
        assert!(
            html.contains("<dt>Zuletzt aktiv am</dt> <dd><time datetime=\"2026-11-24T08:30:00Z\">24. Nov. 2026, 08:30 UTC</time></dd>"),
            "{html}"
        );
        assert!(
            html.contains("<dt>Läuft ab am</dt> <dd><time datetime=\"2026-03-01T00:00:00Z\">1. März 2026, 00:00 UTC</time></dd>"),
            "{html}"
        );
        assert!(!html.contains("2026-11-23 14:05"), "no raw times: {html}");
        assert!(!html.contains("192.0.2.1"), "{html}");
        // The current session is marked (and has no button to sign it out).
        let a = element_with_id(&html, "text-session_a");
        assert!(
            a.starts_with("<div class=\"text-node current\"")
                && a.contains("aria-current=\"true\""),
            "{a}"
        );
        let b = element_with_id(&html, "text-session_b");
        assert!(!b.contains("current"), "{b}");
        let en = views
            .render_flow("acme", &Locale::En, &flow, &FlowLinks::default())
            .unwrap();
        assert!(
            en.contains("<dt>Signed in</dt> <dd><time datetime=\"2026-11-23T14:05:09Z\">23 Nov 2026, 14:05 UTC</time></dd>"),
            "{en}"
        );
        assert!(en.contains("<dt>Expires</dt> <dd><time datetime=\"2026-03-01T00:00:00Z\">1 Mar 2026, 00:00 UTC</time></dd>"));
        assert!(html.contains("<h2 id=\"section-sessions\">Wo Sie angemeldet sind</h2>"));
        let b = element_with_id(&html, "button-revoke_session-2");
        assert!(b.contains("aria-describedby=\"text-session_c\""), "{b}");
        assert!(b.contains("button-secondary"), "{b}");
        let a = element_with_id(&html, "button-revoke_session");
        assert!(a.contains("aria-describedby=\"text-session_b\""), "{a}");
        // An unticked terms box stays unticked even though its value is "true".
        let terms = element_with_id(
            &views
                .render_flow(
                    "acme",
                    &Locale::En,
                    &sample_flow(FlowKind::Registration),
                    &FlowLinks::default(),
                )
                .unwrap(),
            "field-terms",
        )
        .to_owned();
        assert!(!terms.contains("checked"), "{terms}");
    }

    #[test]
    fn dates_are_written_the_way_each_language_writes_them() {
        let at = time::macros::datetime!(2026-11-23 15:05:59 +01:00);
        assert_eq!(Locale::En.format_datetime(at), "23 Nov 2026, 14:05 UTC");
        assert_eq!(Locale::De.format_datetime(at), "23. Nov. 2026, 14:05 UTC");
        let may = time::macros::datetime!(2027-05-02 07:00 UTC);
        assert_eq!(Locale::En.format_datetime(may), "2 May 2027, 07:00 UTC");
        assert_eq!(Locale::De.format_datetime(may), "2. Mai 2027, 07:00 UTC");
        // Only RFC 3339 arguments become times; anything else is left out, never shown raw.
        let views = Views::new(None).unwrap();
        let assets = views.assets("acme");
        let mut args = Map::new();
        args.insert("created_at".into(), "yesterday".into());
        args.insert("expires_at".into(), "2026-11-23T14:05:00Z".into());
        let times = time_views(&assets, Locale::En, &Map::new(), &args);
        assert_eq!(times.len(), 1);
        assert_eq!(times[0].label, "Expires");
        assert_eq!(times[0].datetime, "2026-11-23T14:05:00Z");
    }

    #[test]
    fn password_hints_are_translated_by_their_ids() {
        use tessera_model::password_policy::Advice;
        let views = Views::new(None).unwrap();
        for a in Advice::ALL {
            let m = UiMessage::info(a.id(), a.text());
            assert_eq!(
                views.translate_message("acme", &Locale::En, &m),
                a.text(),
                "the engine's English and the English texts agree"
            );
            assert_ne!(views.translate_message("acme", &Locale::De, &m), a.text());
        }
        let m = UiMessage::info(Advice::KeyboardPatterns.id(), "x");
        assert_eq!(
            views.translate_message("acme", &Locale::De, &m),
            "Tastaturmuster wie „qwert“ oder „asdf“ sind leicht zu erraten."
        );
    }

    #[test]
    fn german_title_with_ui_locales_de() {
        let views = Views::new(None).unwrap();
        let locale = views.negotiate(Some("de"), Some("en-US,en;q=0.9"));
        assert_eq!(locale, Locale::De);
        let html = views
            .render_flow(
                "acme",
                &locale,
                &sample_flow(FlowKind::Login),
                &FlowLinks::default(),
            )
            .unwrap();
        assert!(html.contains("<h1>Anmelden</h1>"), "{html}");
        assert!(html.contains("Melden Sie sich an, um mit acme fortzufahren."));
        assert!(html.contains("<title>Anmelden · acme</title>"));
    }

    #[test]
    fn state_specific_titles_and_intros() {
        let views = Views::new(None).unwrap();
        let mut flow = sample_flow(FlowKind::Recovery);
        flow.state = "set_password".into();
        let html = views
            .render_flow("acme", &Locale::En, &flow, &FlowLinks::default())
            .unwrap();
        assert!(html.contains("<h1>Choose a new password</h1>"));
        let mut flow = sample_flow(FlowKind::Verification);
        flow.state = "sent_email".into();
        let html = views
            .render_flow("acme", &Locale::De, &flow, &FlowLinks::default())
            .unwrap();
        assert!(html.contains("<h1>E-Mail-Adresse bestätigen</h1>"));
        assert!(html.contains("Wir haben einen Code an Ihre E-Mail-Adresse gesendet."));
    }

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
    fn message_pages() {
        let views = Views::new(None).unwrap();
        let mut args = Map::new();
        args.insert("email".into(), HOSTILE.into());
        let page = MessagePage {
            title_id: "page-check-email-title".into(),
            text_id: "page-check-email-text".into(),
            args,
            link: Some((
                "/self-service/login/browser".into(),
                "link-back-to-sign-in".into(),
            )),
            status: 200,
        };
        let html = views.render_message("default", &Locale::De, &page).unwrap();
        check_page_basics(&html);
        assert!(html.contains("<h1>Sehen Sie in Ihr Postfach</h1>"));
        assert!(
            html.contains(
                "<a class=\"button\" href=\"/self-service/login/browser\">Zurück zur Anmeldung</a>"
            ),
            "{html}"
        );
        assert!(!html.contains("<script>alert"));
        assert!(
            html.contains("· Tessera</title>"),
            "the default tenant is called Tessera"
        );
        let error = MessagePage {
            title_id: "page-flow-expired-title".into(),
            text_id: "page-flow-expired-text".into(),
            status: 410,
            ..Default::default()
        };
        let html = views.render_message("acme", &Locale::En, &error).unwrap();
        assert!(html.contains("That took too long, so we started over."));
    }

    #[test]
    fn every_mail_renders_in_both_locales() {
        let views = Views::new(None).unwrap();
        let vars = serde_json::json!({
            "code": "428913",
            "link": "https://id.example.com/self-service/verification?flow=1&code=428913",
            "email": "new<b>@example.com",
            "expires_minutes": 15,
            "recovery_link": "https://id.example.com/t/acme/recovery",
        });
        for locale in Locale::ALL {
            for name in MAILS {
                let mail = views.render_mail("acme", &locale, name, &vars).unwrap();
                assert!(
                    !mail.subject.is_empty() && !mail.subject.contains("mail-"),
                    "{name}: {}",
                    mail.subject
                );
                assert!(mail.subject.contains("acme"), "{name}: {}", mail.subject);
                assert!(
                    !mail.text.contains("mail-") && !mail.html.contains("mail-"),
                    "{name}: untranslated id"
                );
                assert!(
                    mail.html
                        .contains(&format!("<html lang=\"{}\">", locale.as_str()))
                );
                assert!(!mail.html.contains("new<b>@"), "{name}: html mail escapes");
                if name.ends_with("_code") {
                    assert!(
                        mail.text.contains("428913") && mail.html.contains("428913"),
                        "{name}"
                    );
                    assert!(mail.text.contains("15"), "{name}: expiry");
                    assert!(
                        mail.text.contains("flow=1&code=428913"),
                        "text mails are not escaped: {}",
                        mail.text
                    );
                }
                if *name == "account_exists" {
                    assert!(mail.text.contains("https://id.example.com/t/acme/recovery"));
                    assert!(
                        mail.html
                            .contains("href=\"https://id.example.com/t/acme/recovery\"")
                    );
                }
                if *name == "email_change_code" {
                    assert!(mail.text.contains("new<b>@example.com"));
                    assert!(mail.html.contains("new&lt;b&gt;@example.com"));
                }
            }
        }
        // Variables may be left out; templates see them as none.
        let bare = views
            .render_mail(
                "acme",
                &Locale::En,
                "password_changed_notice",
                &serde_json::Value::Null,
            )
            .unwrap();
        assert!(bare.subject.contains("acme"));
        let de = views
            .render_mail("acme", &Locale::De, "verification_code", &vars)
            .unwrap();
        assert!(
            de.text.contains("Der Code ist 15 Minuten lang gültig."),
            "{}",
            de.text
        );
        assert!(matches!(
            views.render_mail("acme", &Locale::En, "../flow", &vars),
            Err(ViewError::UnknownMail(_))
        ));
        assert!(matches!(
            views.render_mail(
                "acme",
                &Locale::En,
                "recovery_code",
                &serde_json::json!([1])
            ),
            Err(ViewError::MailVars)
        ));
    }

    /// Fluent ids used by a template: the first argument of every `t("…")` / `t('…')`.
    fn template_ids(source: &str) -> Vec<String> {
        let mut out = Vec::new();
        for quote in ['"', '\''] {
            let needle = format!("t({quote}");
            let mut rest = source;
            while let Some(i) = rest.find(&needle) {
                rest = &rest[i + needle.len()..];
                let end = rest.find(quote).unwrap();
                out.push(rest[..end].to_owned());
            }
        }
        out
    }

    /// Message ids of a Fluent file: every `id =` at the start of a line (terms and comments excluded).
    fn ftl_ids(source: &str) -> HashSet<String> {
        assert!(
            FluentResource::try_new(source.to_owned()).is_ok(),
            "built-in Fluent parses"
        );
        source
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
            .filter_map(|l| l.split_once(" =").map(|(id, _)| id.trim().to_owned()))
            .collect()
    }

    #[test]
    fn every_fluent_id_exists_in_english_and_german() {
        let en = ftl_ids(BUILTIN_EN);
        let de = ftl_ids(BUILTIN_DE);
        let mut wanted: Vec<String> = ENGINE_IDS.iter().map(|s| (*s).to_owned()).collect();
        wanted.extend(code_ids());
        for (name, source) in BUILTIN_TEMPLATES {
            let ids = template_ids(source);
            assert!(
                !ids.is_empty()
                    || name.starts_with("mail/layout")
                    || *name == "message.html"
                    || *name == "flow.html",
                "{name}"
            );
            wanted.extend(ids);
        }
        assert!(wanted.len() > 100);
        for id in &wanted {
            assert!(en.contains(id), "{id} missing in en");
            assert!(de.contains(id), "{id} missing in de");
        }
        let only_en: Vec<_> = en.difference(&de).collect();
        let only_de: Vec<_> = de.difference(&en).collect();
        assert!(
            only_en.is_empty() && only_de.is_empty(),
            "en only: {only_en:?}, de only: {only_de:?}"
        );
        assert!(
            !en.contains("error-email-taken"),
            "registration never reveals existing accounts"
        );
        // Every built-in message formats without errors when given the arguments it names.
        let views = Views::new(None).unwrap();
        let assets = views.assets("acme");
        for locale in Locale::ALL {
            for id in &en {
                let bundle = assets.bundle(locale);
                let pattern = bundle.get_message(id).unwrap().value().unwrap();
                let mut args = FluentArgs::new();
                for name in [
                    "min",
                    "max",
                    "seconds",
                    "minutes",
                    "expires_minutes",
                    "undo_hours",
                ] {
                    args.set(name, 5);
                }
                for name in [
                    "text",
                    "ip",
                    "created_at",
                    "version",
                    "email",
                    "attribute",
                    "purpose",
                    "tenant_name",
                    "code",
                    "link",
                    "change",
                ] {
                    args.set(name, "x");
                }
                let mut errors = Vec::new();
                let _ = bundle.format_pattern(pattern, Some(&args), &mut errors);
                assert!(errors.is_empty(), "{locale} {id}: {errors:?}");
            }
        }
    }

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
        assert_eq!(toml_string("\"a\\\"b\" # c"), Some("a\"b".into()));
        assert_eq!(toml_string("\"open"), None);
        assert_eq!(toml_string("\"x\" y"), None);
        assert_eq!(clean_logo_url("//evil.test/x.png"), None);
        assert_eq!(
            clean_logo_url("/static/logo.png"),
            Some("/static/logo.png".into())
        );
        assert_eq!(clean_logo_url("https://x.test/a\"b"), None);
    }

    #[test]
    fn translate_falls_back_to_english_then_to_the_id() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("acme/locales/en")).unwrap();
        std::fs::write(
            dir.path().join("acme/locales/en/tessera.ftl"),
            "custom-only-en = Only in English\nbroken = {\n",
        )
        .unwrap();
        let views = Views::with_recheck(Some(dir.path().to_owned()), Duration::ZERO).unwrap();
        let none = Map::new();
        assert_eq!(
            views.translate("acme", &Locale::De, "custom-only-en", &none),
            "Only in English"
        );
        assert_eq!(
            views.translate("acme", &Locale::De, "no-such-message", &none),
            "no-such-message"
        );
        assert_eq!(
            views.translate("acme", &Locale::De, "button-save", &none),
            "Speichern"
        );
        let m = UiMessage::error("no-such-message", "Engine text");
        assert_eq!(
            views.translate_message("acme", &Locale::De, &m),
            "Engine text"
        );
        let m = UiMessage::error("error-password-too-long", "x").arg("max", 64);
        assert_eq!(
            views.translate_message("acme", &Locale::De, &m),
            "Verwenden Sie höchstens 64 Zeichen."
        );
        let m = UiMessage::error("error-throttled", "x").arg("seconds", 1);
        assert_eq!(
            views.translate_message("acme", &Locale::En, &m),
            "Too many attempts. Please wait a second and try again."
        );
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
