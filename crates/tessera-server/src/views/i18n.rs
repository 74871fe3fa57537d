//! The Fluent glue: looking messages up with their arguments, and `t()` for templates.
use std::sync::Arc;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use minijinja::value::{Object, Value};
use minijinja::{ErrorKind, State};
use serde_json::Map;
use tessera_model::flow::UiMessage;

use super::ViewError;
use super::assets::TenantAssets;
use super::locale::Locale;
use super::theme::{Theme, display_name};

pub(super) const BUILTIN_EN: &str = include_str!("../../../../assets/locales/en/tessera.ftl");
pub(super) const BUILTIN_DE: &str = include_str!("../../../../assets/locales/de/tessera.ftl");

/// Context key under which a render passes its translator to `t()`.
const I18N_KEY: &str = "__tessera_i18n";

pub(super) type Bundle = FluentBundle<Arc<FluentResource>>;

/// The page's translator, handed to the template function `t()` through the render context.
pub(super) struct I18n {
    assets: Arc<TenantAssets>,
    locale: Locale,
    defaults: Map<String, serde_json::Value>,
}

impl I18n {
    /// The translator of one render: the tenant's texts in `locale`, with `defaults` for every message.
    pub(super) fn new(
        assets: Arc<TenantAssets>,
        locale: Locale,
        defaults: Map<String, serde_json::Value>,
    ) -> Self {
        Self {
            assets,
            locale,
            defaults,
        }
    }
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
pub(super) fn template_t(
    state: &State,
    id: String,
    args: Option<Value>,
) -> Result<String, minijinja::Error> {
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

pub(super) fn format_message(bundle: &Bundle, id: &str, args: &FluentArgs) -> Option<String> {
    let pattern = bundle.get_message(id)?.value()?;
    let mut errors = Vec::new();
    let text = bundle.format_pattern(pattern, Some(args), &mut errors);
    if !errors.is_empty() {
        tracing::debug!(id, ?errors, "a message was formatted with errors");
    }
    Some(text.into_owned())
}

pub(super) fn fluent_args(args: &Map<String, serde_json::Value>) -> FluentArgs<'static> {
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

pub(super) fn with_defaults(
    defaults: &Map<String, serde_json::Value>,
    args: &Map<String, serde_json::Value>,
) -> Map<String, serde_json::Value> {
    let mut merged = defaults.clone();
    merged.extend(args.iter().map(|(k, v)| (k.clone(), v.clone())));
    merged
}

pub(super) fn page_defaults(tenant: &str, theme: &Theme) -> Map<String, serde_json::Value> {
    let mut m = Map::new();
    m.insert("tenant_name".into(), display_name(tenant, theme).into());
    m
}

pub(super) fn parse_builtin(lang: &'static str, source: &str) -> Result<FluentResource, ViewError> {
    FluentResource::try_new(source.to_owned()).map_err(|(_, errors)| ViewError::BuiltinLocale {
        lang,
        detail: format!("{errors:?}"),
    })
}

/// An engine message's text. Besides its own args, the Fluent message may use `$text`, the engine's
/// text (for messages whose content is data, such as a session's device name).
pub(super) fn message_text(
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

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::*;
    use crate::views::assets::BUILTIN_TEMPLATES;
    use crate::views::forms::TIME_ARGS;
    use crate::views::{MAILS, Views};

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
        "info-consent",
        "button-revoke-consent",
        "success-consent-revoked",
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
            "page-logout-error-title",
            "page-logout-error-text",
            "page-logout-confirm-title",
            "page-logout-confirm-text",
            "page-consent-title",
            "page-consent-text",
            "consent-scope-openid",
            "consent-scope-profile",
            "consent-scope-email",
            "consent-scope-phone",
            "consent-scope-address",
            "consent-scope-offline_access",
            "consent-scope-custom",
            "settings-group-apps",
            "page-device-title",
            "page-device-text",
            "label-user-code",
            "button-device-continue",
            "error-user-code",
            "page-device-confirm-title",
            "page-device-confirm-text",
            "button-device-allow",
            "button-device-deny",
            "page-device-allowed-title",
            "page-device-allowed-text",
            "page-device-denied-title",
            "page-device-denied-text",
            "page-device-gone-title",
            "page-device-gone-text",
            "page-device-retype-title",
            "page-device-retype-text",
            "link-device-page",
            "page-device-signed-out-title",
            "page-device-signed-out-text",
            "page-device-sign-in-first-title",
            "page-device-sign-in-first-text",
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
                    "granted_at",
                    "version",
                    "email",
                    "attribute",
                    "purpose",
                    "tenant_name",
                    "code",
                    "link",
                    "change",
                    "detail",
                    "client",
                    "host",
                    "scope",
                    "app",
                    "account",
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
}
