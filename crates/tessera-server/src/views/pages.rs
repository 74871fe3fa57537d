//! The HTML pages: a flow in its current state, and simple message pages.
use serde::Serialize;
use serde_json::Map;
use tessera_model::flow::{Flow, MessageKind, NodeType};

use super::assets::{BUILTIN_CSS, TenantAssets, short_hash};
use super::forms::{FormView, IdAllocator, MsgView, build_forms, message_view};
use super::i18n::{page_defaults, with_defaults};
use super::theme::display_name;
use super::{CSS_PATH, Locale, ViewError, Views, scripts};

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

/// The consent page's content (CON-01), as the core decided it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsentForm {
    /// Where the form posts (a path of this server).
    pub action: String,
    /// The stored authorization request's id.
    pub request: String,
    pub csrf_token: String,
    /// The app's registered name.
    pub client: String,
    /// The host the app gets the answer at.
    pub host: String,
    /// The scopes to ask about; each becomes one plain line (`consent-scope-{scope}`, or
    /// `consent-scope-custom` for a scope the tenant defined).
    pub scopes: Vec<String>,
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
    /// A text field above the button, when the form asks for something (the device page's code).
    pub input: Option<PageInput>,
    /// Two buttons posting one field with different values (allow or deny), instead of one.
    pub choice: Option<PageChoice>,
    /// Scopes to list above the buttons, one plain line each, as the consent page draws them (the
    /// device confirmation).
    pub scopes: Vec<String>,
}

/// A page form's text field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageInput {
    pub name: String,
    /// Fluent id of the label.
    pub label_id: String,
    pub value: String,
    /// Fluent id of an error shown under the field.
    pub error_id: Option<String>,
}

/// A page form's two buttons: the main one posts `name=value` (its text is the form's `button_id`), the
/// other `name=other_value`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageChoice {
    pub name: String,
    pub value: String,
    pub other_value: String,
    /// Fluent id of the other button's text.
    pub other_label_id: String,
}

impl Views {
    /// The HTML page of a flow in its current state; a flow with a script node needs
    /// [`Views::render_flow_with_nonce`].
    pub fn render_flow(
        &self,
        tenant: &str,
        locale: &Locale,
        flow: &Flow,
        links: &FlowLinks,
    ) -> Result<String, ViewError> {
        self.render_flow_with_nonce(tenant, locale, flow, links, None)
    }

    /// The HTML page of a flow whose script nodes run with `nonce`, the nonce of the response's CSP.
    /// A script node naming no shipped script, or one drawn without a nonce, fails the page: a script
    /// the browser would refuse leaves the method unusable, which the error page says honestly.
    pub fn render_flow_with_nonce(
        &self,
        tenant: &str,
        locale: &Locale,
        flow: &Flow,
        links: &FlowLinks,
        nonce: Option<&str>,
    ) -> Result<String, ViewError> {
        for n in flow
            .ui
            .nodes
            .iter()
            .filter(|n| n.node_type == NodeType::Script)
        {
            let reason = if n.src.as_deref().and_then(scripts::script).is_none() {
                "names no script Tessera ships"
            } else if n
                .value
                .as_deref()
                .is_some_and(|v| scripts::script_data(v).is_none())
            {
                "its data is not JSON"
            } else if nonce.is_none() {
                "the page has no CSP nonce"
            } else {
                continue;
            };
            return Err(ViewError::Script {
                name: n.name.clone(),
                reason,
            });
        }
        let assets = self.assets(tenant);
        let locale = *locale;
        let defaults = page_defaults(tenant, &assets.theme);
        let kind = flow.kind.as_str();
        // The flow names its heading and intro, most specific first; the first with a text wins. The
        // kind's own texts close both lists, for flows saved before the engine named them.
        let (kind_title, kind_intro) = (format!("{kind}-title"), format!("{kind}-intro"));
        let has = |id: &&String| assets.has(locale, id);
        let title_id = flow
            .ui
            .title_ids
            .iter()
            .chain([&kind_title])
            .find(has)
            .unwrap_or(&kind_title)
            .clone();
        let intro_id = flow
            .ui
            .intro_ids
            .iter()
            .chain([&kind_intro])
            .find(has)
            .cloned();
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
            script_nonce: nonce,
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
            input: f.input.as_ref().map(|i| InputView {
                name: i.name.clone(),
                label: assets
                    .lookup(locale, &i.label_id, &args)
                    .unwrap_or_else(|| i.label_id.clone()),
                value: i.value.clone(),
                error: i
                    .error_id
                    .as_ref()
                    .map(|e| assets.lookup(locale, e, &args).unwrap_or_else(|| e.clone())),
            }),
            choice: f.choice.as_ref().map(|c| ChoiceView {
                name: c.name.clone(),
                value: c.value.clone(),
                other_value: c.other_value.clone(),
                other_label: assets
                    .lookup(locale, &c.other_label_id, &args)
                    .unwrap_or_else(|| c.other_label_id.clone()),
            }),
            lines: scope_lines(&assets, locale, &args, &f.scopes),
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

    /// The consent page: which app, where it sends the answer, one plain line per scope, Allow / Deny.
    pub fn render_consent(
        &self,
        tenant: &str,
        locale: &Locale,
        form: &ConsentForm,
    ) -> Result<String, ViewError> {
        let assets = self.assets(tenant);
        let locale = *locale;
        let defaults = page_defaults(tenant, &assets.theme);
        let mut own = Map::new();
        own.insert("client".into(), form.client.clone().into());
        own.insert("host".into(), form.host.clone().into());
        let args = with_defaults(&defaults, &own);
        let lookup = |id: &str, args: &Map<String, serde_json::Value>| {
            assets
                .lookup(locale, id, args)
                .unwrap_or_else(|| id.to_owned())
        };
        let lines = scope_lines(&assets, locale, &args, &form.scopes);
        let title = lookup("page-consent-title", &args);
        let view = ConsentView {
            frame: self.frame(tenant, &assets, locale, title, &FlowLinks::default()),
            text: lookup("page-consent-text", &args),
            lines,
            action: form.action.clone(),
            request: form.request.clone(),
            csrf_token: form.csrf_token.clone(),
        };
        self.render(&assets, "consent.html", &view, locale, defaults)
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
                css: BUILTIN_CSS_URL.clone(),
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
}

/// The built-in stylesheet's URL with its content hash, hashed once: every page names it, and hashing
/// the whole stylesheet byte by byte on each render cost about as much as rendering the page's frame.
static BUILTIN_CSS_URL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{CSS_PATH}?v={}", short_hash(BUILTIN_CSS)));

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
    /// The CSP nonce of this response, when the flow shows a script node.
    script_nonce: Option<&'a str>,
}

#[derive(Serialize)]
struct FlowView {
    id: String,
    kind: &'static str,
    state: String,
}

#[derive(Serialize)]
struct ConsentView {
    #[serde(flatten)]
    frame: Frame,
    text: String,
    lines: Vec<String>,
    action: String,
    request: String,
    csrf_token: String,
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
    input: Option<InputView>,
    choice: Option<ChoiceView>,
    lines: Vec<String>,
}

#[derive(Serialize)]
struct InputView {
    name: String,
    label: String,
    value: String,
    error: Option<String>,
}

#[derive(Serialize)]
struct ChoiceView {
    name: String,
    value: String,
    other_value: String,
    other_label: String,
}

#[derive(Serialize)]
struct HiddenView {
    name: String,
    value: String,
}

/// One plain line per scope (`consent-scope-{scope}`, or `consent-scope-custom` for a scope the tenant
/// defined): the consent page's and the device confirmation's.
fn scope_lines(
    assets: &TenantAssets,
    locale: Locale,
    args: &Map<String, serde_json::Value>,
    scopes: &[String],
) -> Vec<String> {
    scopes
        .iter()
        .map(|scope| {
            assets
                .lookup(locale, &format!("consent-scope-{scope}"), args)
                .unwrap_or_else(|| {
                    let mut a = args.clone();
                    a.insert("scope".into(), scope.clone().into());
                    assets
                        .lookup(locale, "consent-scope-custom", &a)
                        .unwrap_or_else(|| "consent-scope-custom".to_owned())
                })
        })
        .collect()
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
    use std::path::Path;

    use super::*;
    use crate::views::test_support::*;
    use tessera_model::flow::FlowKind;

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

    #[test]
    fn a_script_node_is_drawn_as_its_shipped_script_with_the_nonce_and_escaped_data() {
        let views = Views::new(None).unwrap();
        let mut flow = sample_flow(FlowKind::Login);
        let data = serde_json::json!({"challenge": "\"></script><script>alert(1)</script>&'"});
        flow.ui.nodes.push(tessera_model::flow::UiNode::script(
            "passkey",
            "passkey_script",
            "/assets/webauthn.js",
            Some(&data),
        ));
        let html = views
            .render_flow_with_nonce(
                "acme",
                &Locale::En,
                &flow,
                &FlowLinks::default(),
                Some("n0nce"),
            )
            .unwrap();
        let integrity = &scripts::script("/assets/webauthn.js").unwrap().integrity;
        let tag = format!(
            "<script src=\"/assets/webauthn.js\" integrity=\"{integrity}\" nonce=\"n0nce\" defer data-value=\""
        );
        assert!(html.contains(&tag), "{html}");
        assert_eq!(
            html.matches("<script").count(),
            1,
            "the data opens no element: {html}"
        );
        assert!(!html.contains("alert(1)</script>"), "{html}");
        let at = html.find("<script").unwrap();
        let tag = &html[at..at + html[at..].find('>').unwrap()];
        assert!(
            !tag.contains("&lt;"),
            "no markup in the tag, even escaped (nonce hiding): {tag}"
        );
        assert!(html.contains(r"\u003c/script\u003e"), "{html}");
        // The same flow without a nonce, or naming a script Tessera does not ship, is no page.
        assert!(matches!(
            views.render_flow("acme", &Locale::En, &flow, &FlowLinks::default()),
            Err(ViewError::Script { .. })
        ));
        for src in [
            "https://cdn.example/x.js",
            "/assets/tessera.css",
            "data:,alert(1)",
        ] {
            flow.ui.nodes.last_mut().unwrap().src = Some(src.into());
            assert!(
                matches!(
                    views.render_flow_with_nonce(
                        "acme",
                        &Locale::En,
                        &flow,
                        &FlowLinks::default(),
                        Some("n0nce")
                    ),
                    Err(ViewError::Script { .. })
                ),
                "{src}"
            );
        }
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
        // The engine names the heading and intro of a state (here as it does for a recovery's new
        // password and a verification's sent code); the page shows the first that has a text.
        let ids = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let views = Views::new(None).unwrap();
        let mut flow = sample_flow(FlowKind::Recovery);
        flow.ui.title_ids = ids(&["recovery-set-password-title", "recovery-title"]);
        flow.ui.intro_ids = ids(&["recovery-set-password", "recovery-intro"]);
        let html = views
            .render_flow("acme", &Locale::En, &flow, &FlowLinks::default())
            .unwrap();
        assert!(html.contains("<h1>Choose a new password</h1>"));
        assert!(html.contains("Choose a new password for your account."));
        let mut flow = sample_flow(FlowKind::Verification);
        flow.ui.title_ids = ids(&[
            "verification-sent-email-title",
            "verification-sent-title",
            "verification-title",
        ]);
        flow.ui.intro_ids = ids(&[
            "verification-sent-email",
            "verification-sent",
            "verification-intro",
        ]);
        let html = views
            .render_flow("acme", &Locale::De, &flow, &FlowLinks::default())
            .unwrap();
        assert!(html.contains("<h1>E-Mail-Adresse bestätigen</h1>"));
        assert!(html.contains("Wir haben einen Code an Ihre E-Mail-Adresse gesendet."));
        // Ids without a text, or none at all (a flow saved before the engine named them): the kind's.
        flow.ui.title_ids = ids(&["no-such-title"]);
        flow.ui.intro_ids = Vec::new();
        let html = views
            .render_flow("acme", &Locale::En, &flow, &FlowLinks::default())
            .unwrap();
        assert!(
            html.contains("<h1>Confirm your email address</h1>"),
            "{html}"
        );
        assert!(html.contains("Enter your email address and we will send you a code."));
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
}
