//! Building blocks for flow UIs: labelled inputs with the right `autocomplete` tokens, and form fields for
//! schema attributes (only scalar types can be typed into a form).
use serde_json::{Map, Value};
use tessera_model::attributes::{AttributeDef, AttributeSchema, AttributeType};
use tessera_model::flow::{NodeType, UiMessage, UiNode};

use super::FlowInput;
use crate::FieldProblem;

/// The email field of a form.
pub fn email(group: &str, value: Option<String>, autocomplete: &str) -> UiNode {
    UiNode::input(
        group,
        "email",
        "email",
        UiMessage::info("label-email", "Email"),
    )
    .required()
    .autocomplete(autocomplete)
    .with_value(value)
}

/// The sign-in identifier (email or username).
pub fn identifier(value: Option<String>) -> UiNode {
    UiNode::input(
        "default",
        "identifier",
        "text",
        UiMessage::info("label-identifier", "Email or username"),
    )
    .required()
    .autocomplete("username")
    .with_value(value)
}

/// A password field: `current-password` for sign-in, `new-password` when setting one.
pub fn password(group: &str, name: &str, new: bool) -> UiNode {
    let (id, text, ac) = match (new, name) {
        (true, _) => ("label-new-password", "New password", "new-password"),
        (false, "current_password") => (
            "label-current-password",
            "Current password",
            "current-password",
        ),
        (false, _) => ("label-password", "Password", "current-password"),
    };
    UiNode::input(group, name, "password", UiMessage::info(id, text))
        .required()
        .autocomplete(ac)
}

/// A one-time code field.
pub fn code(group: &str) -> UiNode {
    let mut n = UiNode::input(
        group,
        "code",
        "text",
        UiMessage::info("label-code", "Code from the email"),
    )
    .required()
    .autocomplete("one-time-code");
    n.options = Vec::new();
    n
}

/// A submit button.
pub fn button(group: &str, name: &str, value: &str, id: &str, text: &str) -> UiNode {
    UiNode::submit(group, name, value, UiMessage::info(id, text))
}

/// Read-only text.
pub fn text(group: &str, name: &str, msg: UiMessage) -> UiNode {
    UiNode {
        group: group.into(),
        name: name.into(),
        node_type: NodeType::Text,
        input_type: None,
        value: None,
        required: false,
        autocomplete: None,
        label: Some(msg),
        messages: Vec::new(),
        options: Vec::new(),
        secondary: false,
        src: None,
        integrity: None,
    }
}

/// The terms-acceptance checkbox.
pub fn accept_terms(version: &str) -> UiNode {
    UiNode {
        group: "default".into(),
        name: "accept_terms".into(),
        node_type: NodeType::Checkbox,
        input_type: None,
        value: Some("true".into()),
        required: true,
        autocomplete: None,
        label: Some(
            UiMessage::info(
                "label-accept-terms",
                "I accept the terms of service and the privacy notice",
            )
            .arg("version", version),
        ),
        messages: Vec::new(),
        options: Vec::new(),
        secondary: false,
        src: None,
        integrity: None,
    }
}

fn attribute_label(def: &AttributeDef) -> UiMessage {
    let text = def
        .description
        .clone()
        .unwrap_or_else(|| def.name.replace('_', " "));
    UiMessage::info(&format!("attribute-{}", def.name.replace('_', "-")), &text)
}

/// A form field for one scalar attribute, pre-filled from `current`. `None` for types a form cannot hold.
pub fn attribute(
    group: &str,
    def: &AttributeDef,
    current: Option<&Value>,
    required: bool,
) -> Option<UiNode> {
    let name = format!("attributes.{}", def.name);
    let value = current.and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    });
    let mut node = match &def.ty {
        AttributeType::String { .. } => UiNode::input(group, &name, "text", attribute_label(def)),
        AttributeType::Number { .. } => UiNode::input(group, &name, "number", attribute_label(def)),
        AttributeType::Date => UiNode::input(group, &name, "date", attribute_label(def)),
        AttributeType::Boolean => {
            let mut n = UiNode::input(group, &name, "checkbox", attribute_label(def));
            n.node_type = NodeType::Checkbox;
            n.input_type = None;
            n
        }
        AttributeType::Enum { values } => {
            let mut n = UiNode::input(group, &name, "text", attribute_label(def));
            n.node_type = NodeType::Select;
            n.input_type = None;
            n.options = values.clone();
            n
        }
        AttributeType::Object { .. } | AttributeType::List { .. } => return None,
    };
    let autocomplete = match def.name.as_str() {
        "given_name" | "first_name" => Some("given-name"),
        "family_name" | "last_name" => Some("family-name"),
        "name" | "full_name" => Some("name"),
        "birthdate" | "birthday" => Some("bday"),
        "phone" | "phone_number" => Some("tel"),
        "country" => Some("country-name"),
        "postal_code" | "zip" => Some("postal-code"),
        _ => None,
    };
    if let Some(a) = autocomplete {
        node = node.autocomplete(a);
    }
    node.value = if def.ty == AttributeType::Boolean {
        Some("true".into())
    } else {
        value
    };
    if def.ty == AttributeType::Boolean && current == Some(&Value::Bool(true)) {
        node.options = vec!["checked".into()];
    }
    node.required = required && def.ty != AttributeType::Boolean;
    Some(node)
}

/// Turns submitted form strings into typed attribute values for the named attributes. Missing optional
/// values are left out; booleans are false when unticked.
pub fn parse_attributes(
    schema: &AttributeSchema,
    names: &[String],
    input: &FlowInput,
) -> Result<Map<String, Value>, Vec<FieldProblem>> {
    let mut out = Map::new();
    let mut problems = Vec::new();
    for name in names {
        let Some(def) = schema.get(name) else {
            continue;
        };
        let raw = input
            .get(&format!("attributes.{name}"))
            .map(|s| s.trim())
            .filter(|s| !s.is_empty());
        let value = match (&def.ty, raw) {
            (AttributeType::Boolean, r) => {
                Some(Value::Bool(matches!(r, Some("true" | "on" | "1"))))
            }
            (_, None) => None,
            (AttributeType::Number { .. }, Some(r)) => match r.parse::<i64>() {
                Ok(i) => Some(Value::from(i)),
                Err(_) => match r.parse::<f64>() {
                    Ok(f) if f.is_finite() => Some(Value::from(f)),
                    _ => {
                        problems.push(FieldProblem {
                            field: format!("attributes.{name}"),
                            code: "wrong_type".into(),
                            message: "enter a number".into(),
                        });
                        None
                    }
                },
            },
            (_, Some(r)) => Some(Value::String(r.to_owned())),
        };
        if let Some(v) = value {
            out.insert(name.clone(), v);
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Attaches attribute problems to their fields.
pub fn attach_problems(ui: &mut tessera_model::flow::Ui, problems: &[FieldProblem]) {
    for p in problems {
        let field = p.field.strip_prefix("attributes.").unwrap_or(&p.field);
        let top = field.split(['.', '[']).next().unwrap_or(field);
        let msg = UiMessage::error("error-attribute-invalid", &p.message).arg("attribute", top);
        ui.field_error(&format!("attributes.{top}"), msg);
    }
}

/// The UI of the first step of the email-code journeys (recovery, verification): ask for the address.
/// The journey sets its own state.
pub fn ask_email(flow: &mut tessera_model::flow::Flow, email: Option<&str>) {
    flow.ui.nodes = vec![
        self::email("default", email.map(str::to_owned), "email"),
        button(
            "default",
            "method",
            "email",
            "button-send-code",
            "Send me a code",
        ),
    ];
}

/// The UI of the code step of the email-code journeys, with the same notice whether or not a code was
/// sent. The journey sets its own state.
pub fn ask_code(flow: &mut tessera_model::flow::Flow, notice: UiMessage) {
    flow.ui.nodes = vec![
        code("code"),
        button("code", "method", "code", "button-verify", "Verify"),
    ];
    flow.ui.messages = vec![notice];
}
