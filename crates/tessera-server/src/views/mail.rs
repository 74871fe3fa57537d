//! Mails: a subject from Fluent and text and HTML bodies from templates, in the tenant's language.
use serde_json::Map;

use super::theme::display_name;
use super::{Locale, ViewError, Views};

/// The mails Tessera sends; each has `mail/<name>.txt`, `mail/<name>.html` and `mail-<name>-subject`.
pub const MAILS: &[&str] = &[
    "verification_code",
    "recovery_code",
    "sign_in_code",
    "email_change_code",
    "email_changed_notice",
    "password_changed_notice",
    "account_exists",
];

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

impl Views {
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
}
