//! What a flow's page says about the flow as a whole, decided where the states are known so that no
//! renderer has to know them: the Fluent ids of the heading and the intro for the flow's kind and state,
//! and which buttons are secondary actions.
use tessera_model::flow::{Flow, NodeType};

/// Buttons (by the Fluent id of their label) that act beside the form's purpose rather than for it:
/// never the main button, so Enter and the eye go to the step itself.
const SECONDARY_BUTTONS: [&str; 3] = ["button-resend", "button-sign-out", "button-revoke"];

/// Shorter names a state's texts may use: `sent_email` is `<kind>-sent` in the catalogue.
const STATE_ALIASES: [(&str, &str); 1] = [("sent_email", "sent")];

/// Sets the heading and intro ids of `flow`'s UI for its kind and state, and marks secondary buttons.
///
/// Ids go from the most specific (`<kind>-<state>-title`, `<kind>-<state>`, state underscores as
/// hyphens) through the state's alias to the kind's own (`<kind>-title`, `<kind>-intro`), so a tenant's
/// texts can add a heading for any state without a change here.
pub(crate) fn apply(flow: &mut Flow) {
    let kind = flow.kind.as_str();
    let state = flow.state.replace('_', "-");
    let alias = STATE_ALIASES
        .iter()
        .find(|(s, _)| *s == flow.state)
        .map(|(_, a)| *a);
    let mut title = Vec::new();
    let mut intro = Vec::new();
    // `title` and `intro` as states would name the kind's own texts.
    if !matches!(state.as_str(), "" | "title" | "intro") {
        title.push(format!("{kind}-{state}-title"));
        intro.push(format!("{kind}-{state}"));
    }
    if let Some(a) = alias {
        title.push(format!("{kind}-{a}-title"));
        intro.push(format!("{kind}-{a}"));
    }
    title.push(format!("{kind}-title"));
    intro.push(format!("{kind}-intro"));
    flow.ui.title_ids = title;
    flow.ui.intro_ids = intro;
    for node in &mut flow.ui.nodes {
        node.secondary |= node.node_type == NodeType::Submit
            && node
                .label
                .as_ref()
                .is_some_and(|l| SECONDARY_BUTTONS.contains(&l.id.as_str()));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use tessera_model::TenantId;
    use tessera_model::flow::{FlowChannel, FlowId, FlowKind, Ui, UiMessage, UiNode};
    use time::OffsetDateTime;

    fn flow(kind: FlowKind, state: &str) -> Flow {
        let now = OffsetDateTime::now_utc();
        Flow {
            id: FlowId::random(),
            tenant_id: TenantId::new(),
            kind,
            channel: FlowChannel::Browser,
            state: state.into(),
            issued_at: now,
            expires_at: now,
            csrf_token: String::new(),
            return_to: None,
            client_id: None,
            journey: "default".into(),
            locale: None,
            identity_id: None,
            ui: Ui::default(),
            internal: serde_json::Value::Null,
            version: 1,
            requested_aal: 1,
        }
    }

    fn ids(kind: FlowKind, state: &str) -> (Vec<String>, Vec<String>) {
        let mut f = flow(kind, state);
        apply(&mut f);
        (f.ui.title_ids, f.ui.intro_ids)
    }

    #[test]
    fn headings_go_from_the_state_to_the_kind() {
        assert_eq!(
            ids(FlowKind::Recovery, "set_password"),
            (
                vec![
                    "recovery-set-password-title".to_owned(),
                    "recovery-title".to_owned()
                ],
                vec![
                    "recovery-set-password".to_owned(),
                    "recovery-intro".to_owned()
                ]
            )
        );
        assert_eq!(
            ids(FlowKind::Verification, "sent_email"),
            (
                vec![
                    "verification-sent-email-title".to_owned(),
                    "verification-sent-title".to_owned(),
                    "verification-title".to_owned()
                ],
                vec![
                    "verification-sent-email".to_owned(),
                    "verification-sent".to_owned(),
                    "verification-intro".to_owned()
                ]
            )
        );
        // A state named like the kind's own texts does not turn `<kind>-title` into an intro.
        let (title, intro) = ids(FlowKind::Login, "title");
        assert_eq!(title, vec!["login-title".to_owned()]);
        assert_eq!(intro, vec!["login-intro".to_owned()]);
        let (title, _) = ids(FlowKind::Settings, "");
        assert_eq!(title, vec!["settings-title".to_owned()]);
    }

    #[test]
    fn resend_sign_out_and_revoke_are_secondary() {
        let mut f = flow(FlowKind::Settings, "edit");
        let button =
            |value: &str, id: &str| UiNode::submit("g", "method", value, UiMessage::info(id, "x"));
        let mut text = UiNode::hidden("note", "");
        text.node_type = NodeType::Text;
        text.label = Some(UiMessage::info("button-resend", "a text, not a button"));
        f.ui.nodes = vec![
            button("save", "button-save"),
            button("resend", "button-resend"),
            button("sign_out", "button-sign-out"),
            button("x", "button-revoke"),
            text,
        ];
        apply(&mut f);
        let secondary: Vec<bool> = f.ui.nodes.iter().map(|n| n.secondary).collect();
        assert_eq!(secondary, [false, true, true, true, false]);
        // A button a journey marked itself stays marked.
        f.ui.nodes[0].secondary = true;
        apply(&mut f);
        assert!(f.ui.nodes[0].secondary);
    }
}
