//! What the views' tests share: a sample flow with every node type, and checks of rendered HTML.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use std::collections::HashSet;

use tessera_model::TenantId;
use tessera_model::flow::{
    Flow, FlowChannel, FlowId, FlowKind, MessageKind, NodeType, Ui, UiMessage, UiNode,
};
use time::OffsetDateTime;

use super::FlowLinks;

pub(super) const HOSTILE: &str = "<script>alert(1)</script>\"'";

pub(super) fn msg(kind: MessageKind, id: &str, text: &str) -> UiMessage {
    UiMessage {
        id: id.into(),
        kind,
        text: text.into(),
        args: Default::default(),
    }
}

/// A flow whose UI has every node type, field errors, a hostile value and form-level messages.
pub(super) fn sample_flow(kind: FlowKind) -> Flow {
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
    text.label =
        Some(msg(MessageKind::Info, "info-code-sent", "Sent.").arg("email", "someone@example.com"));
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
        UiNode {
            // As the engine marks it.
            secondary: true,
            ..UiNode::submit(
                "code",
                "method",
                "resend",
                msg(MessageKind::Info, "button-resend", "Resend"),
            )
        },
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
            ..Ui::default()
        },
        internal: serde_json::Value::Null,
        version: 1,
        requested_aal: 1,
    }
}

pub(super) fn links() -> FlowLinks {
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
pub(super) fn attr_values(html: &str, attr: &str) -> Vec<String> {
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
pub(super) fn element_with_id<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html
        .find(&format!(" id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element with id {id}"));
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[start..=end]
}

pub(super) fn check_page_basics(html: &str) {
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(
        html.contains("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
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
