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
//! The one script a page may run is one a method's script node names: a file Tessera ships (`scripts`),
//! loaded with its SRI hash and the nonce of that response's CSP.
//!
//! One concern per file: this module is the render API (`Views`) and its fallback to the built-in
//! templates; `pages` draws flow and message pages, `forms` turns a flow's nodes into form view-models,
//! `mail` renders mails, `i18n` is the Fluent glue behind `t()`, `locale` picks the language and writes
//! dates, `assets` loads the built-ins and the override directory (cached by file stamps), `theme`
//! reads `theme.toml` and generates the tenant's stylesheet, and `scripts` holds the shipped scripts
//! script nodes may name, with their SRI hashes.
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use minijinja::Environment;
use minijinja::value::Value;
use serde::Serialize;
use serde_json::Map;
use tessera_model::flow::UiMessage;

mod assets;
mod forms;
mod i18n;
mod locale;
mod mail;
mod pages;
pub mod scripts;
#[cfg(test)]
mod test_support;
mod theme;

use assets::{BUILTIN_CSS, RECHECK, Store, TenantAssets};
use i18n::{I18n, message_text, page_defaults, with_defaults};
use theme::display_name;

pub use locale::Locale;
pub use mail::{MAILS, RenderedMail};
pub use pages::{ConsentForm, FlowLinks, MessagePage, PageChoice, PageForm, PageInput};

/// Where the pages load the built-in stylesheet from.
pub const CSS_PATH: &str = "/assets/tessera.css";

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
    /// A script node names no script Tessera ships, or the page was drawn without a CSP nonce for it.
    #[error("script node {name:?}: {reason}")]
    Script { name: String, reason: &'static str },
}

/// The page and mail renderer. Cheap to clone; one per process.
#[derive(Clone)]
pub struct Views {
    inner: Arc<Store>,
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Views")
            .field("theme_dir", &self.inner.theme_dir())
            .finish_non_exhaustive()
    }
}

impl Views {
    /// Loads the built-in templates and texts; `theme_dir` (if any) holds per-tenant overrides and must be
    /// a directory. Fails only on a build defect or a missing theme directory.
    pub fn new(theme_dir: Option<PathBuf>) -> Result<Self, ViewError> {
        Self::with_recheck(theme_dir, RECHECK)
    }

    fn with_recheck(theme_dir: Option<PathBuf>, recheck: Duration) -> Result<Self, ViewError> {
        Ok(Self {
            inner: Arc::new(Store::new(theme_dir, recheck)?),
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
    pub fn negotiate(&self, ui_locales: Option<&str>, accept_language: Option<&str>) -> Locale {
        locale::negotiate(ui_locales, accept_language)
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
        let i18n = Value::from_object(I18n::new(assets.clone(), locale, defaults));
        let ctx = minijinja::context! { __tessera_i18n => i18n, ..Value::from(minijinja::value::Serde(ctx)) };
        let attempt =
            |env: &Environment<'static>| env.get_template(name).and_then(|t| t.render(&ctx));
        match attempt(&assets.env) {
            Ok(out) => Ok(out),
            Err(err) if assets.overridden_templates => {
                tracing::warn!(template = name, error = %err, "a tenant template failed; using the built-in one");
                attempt(&self.inner.base().env).map_err(|source| ViewError::Template {
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

    /// The tenant's assets (see [`Store::get`]).
    fn assets(&self, tenant: &str) -> Arc<TenantAssets> {
        self.inner.get(tenant)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    /// Every quoted match of `pattern`'s first group in the `.rs` files of `dir`.
    fn literals(dir: &Path, pattern: &str) -> BTreeSet<String> {
        let re = regex::Regex::new(pattern).unwrap();
        let mut out = BTreeSet::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.extend(re.captures_iter(&text).map(|c| c[1].to_owned()));
            }
        }
        out
    }

    /// The views' own code (comments and test modules cut off) and the built-in templates, by file name.
    fn view_sources() -> Vec<(String, String)> {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut out = Vec::new();
        for entry in std::fs::read_dir(crate_dir.join("src/views")).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name == "test_support.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Code only: comments may talk about states.
            let code = text.split("\nmod tests {").next().unwrap_or_default();
            let code: Vec<&str> = code
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect();
            out.push((name, code.join("\n")));
        }
        let comment = regex::Regex::new(r"(?s)\{#.*?#\}").unwrap();
        for (name, source) in super::assets::BUILTIN_TEMPLATES {
            out.push((
                (*name).to_owned(),
                comment.replace_all(source, "").into_owned(),
            ));
        }
        out
    }

    /// Views draw what the flow says: the heading, the intro and which buttons are secondary come from
    /// the engine (`tessera-core/src/flows/copy.rs`), so no state the journeys set and no button id they
    /// use is written in the views' code or templates.
    #[test]
    fn views_know_no_journey_state_or_button_id() {
        let flows = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tessera-core/src/flows");
        // A state's name is set by hand (the engine's `done`) or given by a journey's typed state
        // (`Self::SentEmail { .. } => "sent_email"`, `LoginState::ChooseMethod => "choose_method"`).
        let states = literals(
            &flows,
            r#"(?:state\s*(?:=|==|!=)\s*|(?:Self|[A-Za-z]+State)::[A-Za-z]+(?:\s*\{\s*\.\.\s*\})?\s*=>\s*)"([a-z_]+)""#,
        );
        let buttons = literals(&flows, r#""(button-[a-z-]+)""#);
        for expected in [
            "choose_method",
            "sent_email",
            "set_password",
            "details",
            "edit",
            "done",
        ] {
            assert!(
                states.contains(expected),
                "{expected} not found: {states:?}"
            );
        }
        assert!(buttons.contains("button-resend"), "{buttons:?}");
        let sources = view_sources();
        assert!(sources.iter().any(|(n, _)| n == "pages.rs"));
        assert!(sources.iter().any(|(n, _)| n == "flow.html"));
        for (file, source) in &sources {
            for literal in states.iter().chain(&buttons) {
                for quoted in [format!("\"{literal}\""), format!("'{literal}'")] {
                    assert!(
                        !source.contains(&quoted),
                        "{file} knows the engine's {quoted}: let the flow say it"
                    );
                }
            }
        }
    }
}
