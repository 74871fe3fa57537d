//! Form view-models: a flow's UI nodes as the template draws them (forms, labelled controls, messages
//! tied to their fields, unique element ids).
use std::collections::HashSet;

use serde::Serialize;
use serde_json::Map;
use tessera_model::flow::{Flow, FlowKind, MessageKind, NodeType, UiMessage, UiNode};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use super::assets::TenantAssets;
use super::i18n::message_text;
use super::locale::Locale;

#[derive(Serialize)]
pub(super) struct MsgView {
    id: String,
    kind: &'static str,
    kind_label: String,
    text: String,
}

#[derive(Serialize)]
pub(super) struct FormView {
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
    /// A script node's shipped script and its SRI hash (the page checked it is shipped).
    src: Option<&'static str>,
    integrity: Option<&'static str>,
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
pub(super) const TIME_ARGS: [(&str, &str); 4] = [
    ("created_at", "label-time-created-at"),
    ("granted_at", "label-time-granted-at"),
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
pub(super) struct IdAllocator {
    used: HashSet<String>,
}

impl IdAllocator {
    pub(super) fn next(&mut self, base: &str) -> String {
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
pub(super) fn build_forms(
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
                        // Only the form's first button is primary, and never a secondary action.
                        view.primary = first_submit && !n.secondary;
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
        NodeType::Script => "script",
    };
    let id = match node.node_type {
        NodeType::Hidden | NodeType::Script => String::new(),
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
    } else if node.node_type == NodeType::Script {
        node.value.as_deref().and_then(super::scripts::script_data)
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
    let shipped = (node.node_type == NodeType::Script)
        .then(|| node.src.as_deref().and_then(super::scripts::script))
        .flatten();
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
        src: shipped.map(|s| s.path),
        integrity: shipped.map(|s| s.integrity.as_str()),
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

pub(super) fn message_view(
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
pub(super) fn sanitize_id(s: &str) -> String {
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
    use crate::views::{FlowLinks, Views};

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
        // The engine marks "sign out this session" as a secondary action.
        let revoke = |id: &str| UiNode {
            secondary: true,
            ..UiNode::submit(
                "sessions",
                "revoke_session",
                id,
                msg(MessageKind::Info, "button-revoke", "x"),
            )
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
            revoke("b"),
            session("c", "Edge on Windows", false),
            revoke("c"),
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
        assert!(
            a.contains("button-secondary"),
            "first in its form, but marked secondary: {a}"
        );
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
    fn only_rfc_3339_arguments_become_times() {
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
}
