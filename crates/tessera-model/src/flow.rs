//! Flows: every customer journey (sign-in, sign-up, verification, recovery, settings) is a persisted
//! state machine. A flow carries its own UI description — a list of nodes with stable message ids — so the
//! same flow can be drawn by the server's HTML pages, a single-page app, or a native app.
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{IdentityId, TenantId};

/// A flow's id: random and unguessable (it appears in URLs), not time-ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FlowId(pub uuid::Uuid);

impl FlowId {
    /// A fresh random id (122 random bits).
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4())
    }
}

impl std::fmt::Display for FlowId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for FlowId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(Self)
    }
}

impl utoipa::PartialSchema for FlowId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Uuid,
            )))
            .into()
    }
}
impl utoipa::ToSchema for FlowId {}

/// Which journey a flow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowKind {
    Login,
    Registration,
    Verification,
    Recovery,
    Settings,
}

impl FlowKind {
    /// Every kind, in the order the documents list them.
    pub const ALL: [FlowKind; 5] = [
        Self::Login,
        Self::Registration,
        Self::Verification,
        Self::Recovery,
        Self::Settings,
    ];

    /// Stable text form: storage, URLs, event names.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::Registration => "registration",
            Self::Verification => "verification",
            Self::Recovery => "recovery",
            Self::Settings => "settings",
        }
    }

    /// Inverse of [`Self::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "login" => Self::Login,
            "registration" => Self::Registration,
            "verification" => Self::Verification,
            "recovery" => Self::Recovery,
            "settings" => Self::Settings,
            _ => return None,
        })
    }
}

/// Who drives the flow: a browser (HTML forms, cookie-bound) or an app (JSON, token-bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlowChannel {
    Browser,
    Api,
}

/// How serious a message is, so any renderer can style it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Info,
    Error,
    Success,
}

/// A message with a stable id. Renderers translate by `id` (it is also the Fluent message key) and fall
/// back to `text`, the English default. `args` fills placeholders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UiMessage {
    pub id: String,
    pub kind: MessageKind,
    pub text: String,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub args: serde_json::Map<String, serde_json::Value>,
}

impl UiMessage {
    /// An error message.
    pub fn error(id: &str, text: &str) -> Self {
        Self {
            id: id.into(),
            kind: MessageKind::Error,
            text: text.into(),
            args: Default::default(),
        }
    }
    /// An informational message.
    pub fn info(id: &str, text: &str) -> Self {
        Self {
            id: id.into(),
            kind: MessageKind::Info,
            text: text.into(),
            args: Default::default(),
        }
    }
    /// A success message.
    pub fn success(id: &str, text: &str) -> Self {
        Self {
            id: id.into(),
            kind: MessageKind::Success,
            text: text.into(),
            args: Default::default(),
        }
    }
    /// Adds a placeholder value.
    pub fn arg(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.args.insert(name.into(), value.into());
        self
    }
}

/// What kind of control a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeType {
    /// A text-like input; `input_type` says which (`email`, `password`, `text`, `tel`, `number`, `date`).
    Input,
    Hidden,
    Checkbox,
    /// A choice among `options`.
    Select,
    Submit,
    /// Read-only text (for example, the address a code was sent to).
    Text,
    /// A script the method needs the hosted page to run (a passkey ceremony): `src` names a static asset
    /// Tessera ships (a same-origin path, never code from data), `integrity` is its SRI hash, filled in
    /// by the server, and `value`, when set, is JSON text the script reads. Apps driving the JSON API
    /// run their own code and read the node as data.
    Script,
}

/// One form control or text block of a flow's UI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UiNode {
    /// Which method the node belongs to (`default`, `password`, `code`, `profile`, `consent`).
    pub group: String,
    /// The form field name.
    pub name: String,
    #[serde(rename = "type")]
    pub node_type: NodeType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default)]
    pub required: bool,
    /// The standard `autocomplete` token (`username`, `email`, `current-password`, `new-password`, `one-time-code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autocomplete: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<UiMessage>,
    /// Errors and hints tied to this field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<UiMessage>,
    /// Choices of a `select`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// A secondary action (send a new code, sign out, end another session): drawn as such, never as the
    /// form's main button.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secondary: bool,
    /// A script node's asset path on the public listener (`/assets/webauthn.js`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    /// A script node's Subresource Integrity hash (`sha384-…`) of the shipped asset, set by the server
    /// that serves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<String>,
}

impl UiNode {
    /// A labelled input.
    pub fn input(group: &str, name: &str, input_type: &str, label: UiMessage) -> Self {
        Self {
            group: group.into(),
            name: name.into(),
            node_type: NodeType::Input,
            input_type: Some(input_type.into()),
            value: None,
            required: false,
            autocomplete: None,
            label: Some(label),
            messages: Vec::new(),
            options: Vec::new(),
            secondary: false,
            src: None,
            integrity: None,
        }
    }
    /// A hidden field.
    pub fn hidden(name: &str, value: &str) -> Self {
        Self {
            group: "default".into(),
            name: name.into(),
            node_type: NodeType::Hidden,
            input_type: None,
            value: Some(value.into()),
            required: true,
            autocomplete: None,
            label: None,
            messages: Vec::new(),
            options: Vec::new(),
            secondary: false,
            src: None,
            integrity: None,
        }
    }
    /// A submit button; `value` says which method or action it triggers.
    pub fn submit(group: &str, name: &str, value: &str, label: UiMessage) -> Self {
        Self {
            group: group.into(),
            name: name.into(),
            node_type: NodeType::Submit,
            input_type: None,
            value: Some(value.into()),
            required: false,
            autocomplete: None,
            label: Some(label),
            messages: Vec::new(),
            options: Vec::new(),
            secondary: false,
            src: None,
            integrity: None,
        }
    }
    /// A script the hosted page runs for `group` (a method): `src` is the path of a static asset the
    /// server ships; `data`, when given, is handed to the script as JSON text.
    pub fn script(group: &str, name: &str, src: &str, data: Option<&serde_json::Value>) -> Self {
        Self {
            group: group.into(),
            name: name.into(),
            node_type: NodeType::Script,
            input_type: None,
            value: data.map(|d| d.to_string()),
            required: false,
            autocomplete: None,
            label: None,
            messages: Vec::new(),
            options: Vec::new(),
            secondary: false,
            src: Some(src.into()),
            integrity: None,
        }
    }
    /// Marks a button as a secondary action.
    pub fn secondary(mut self) -> Self {
        self.secondary = true;
        self
    }
    /// Marks the node required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    /// Sets the autocomplete token.
    pub fn autocomplete(mut self, token: &str) -> Self {
        self.autocomplete = Some(token.into());
        self
    }
    /// Pre-fills the value.
    pub fn with_value(mut self, value: Option<String>) -> Self {
        self.value = value;
        self
    }
}

/// The UI of a flow in its current state.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ui {
    /// Where the form posts (a path on the public listener).
    pub action: String,
    pub method: String,
    pub nodes: Vec<UiNode>,
    /// Messages about the whole form.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<UiMessage>,
    /// Fluent ids of the page's heading, most specific first (`recovery-set-password-title`, then
    /// `recovery-title`): a renderer shows the first one it has a text for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub title_ids: Vec<String>,
    /// Fluent ids of the text under the heading, most specific first; when none has a text, there is
    /// no such text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub intro_ids: Vec<String>,
}

impl Ui {
    /// Attaches an error to the named field, or to the form when no field has that name.
    pub fn field_error(&mut self, name: &str, msg: UiMessage) {
        match self.nodes.iter_mut().find(|n| n.name == name) {
            Some(n) => n.messages.push(msg),
            None => self.messages.push(msg),
        }
    }
}

/// A flow as stored and as shown to its driver (minus the internal state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Flow {
    pub id: FlowId,
    pub tenant_id: TenantId,
    pub kind: FlowKind,
    pub channel: FlowChannel,
    /// The step the flow is at (`choose_method`, `sent_email`, `set_password`, …), per kind: the name of
    /// the journey's typed state (`tessera-core/src/flows/state.rs`), set with it, never by hand.
    pub state: String,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Sent back with every submission; checked in constant time.
    #[serde(skip)]
    pub csrf_token: String,
    /// Where to go when done (same origin as the base URL, checked).
    pub return_to: Option<String>,
    /// The application the customer is signing in to, for progressive profiling.
    pub client_id: Option<String>,
    /// The journey variant this flow belongs to (for funnels and A/B pilots).
    pub journey: String,
    pub locale: Option<String>,
    /// The identity the flow concerns, once known.
    #[serde(skip)]
    pub identity_id: Option<IdentityId>,
    pub ui: Ui,
    /// The journey's typed state, serialised (never shown); only the journey reads it, through its type.
    #[serde(skip)]
    #[schema(value_type = Object)]
    pub internal: serde_json::Value,
    #[serde(skip)]
    pub version: i64,
    /// The authenticator assurance level the flow must reach before it signs anyone in (1: one factor;
    /// 2: two factors of different kinds), fixed when the flow starts.
    #[serde(default = "one")]
    pub requested_aal: i64,
}

/// The most characters a flow's `client_id` may have.
pub const CLIENT_ID_MAX_CHARS: usize = 200;

/// Whether an app may start a flow with this `client_id`: at most [`CLIENT_ID_MAX_CHARS`] characters and
/// no control character (no application is named with one, and PostgreSQL text cannot hold NUL). An
/// empty one means none and is not checked here.
pub fn check_client_id(client_id: &str) -> bool {
    client_id.chars().count() <= CLIENT_ID_MAX_CHARS && !client_id.chars().any(char::is_control)
}

impl Flow {
    /// A flow is usable until it expires.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        now >= self.expires_at
    }
}

fn one() -> i64 {
    1
}
