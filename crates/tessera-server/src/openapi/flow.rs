//! The flow API document, one operation per flow kind.
//!
//! The router serves every kind through one `{kind}` route, but what a kind reads from a submission, and
//! whether it needs a signed-in customer, differ; so the document lists each kind's start, read and
//! submit on a path of its own, with that kind's submission schema, and links from a start's answer to
//! reading and submitting the flow with the returned id and secret (a 410's replacement is driven the
//! same way). Only the start links: Schemathesis's stateful phase opens its runs with any POST that has
//! links, and a submission with a random id is only ever a 404.
use serde_json::{Map, Value, json};
use tessera_model::flow::FlowKind;

const START: &str = "/t/{tenant}/api/flows/{kind}";
const FLOW: &str = "/t/{tenant}/api/flows/{kind}/{id}";
/// The header the flow secret travels in, as the document spells it.
const SECRET: &str = "Tessera-Flow-Secret";

/// Replaces the `{kind}` operations with one per kind, adds the submission schemas and the session
/// security scheme. A document without the `{kind}` paths is left as it is.
pub(super) fn per_kind(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let (Some(start), Some(flow)) = (paths.remove(START), paths.remove(FLOW)) else {
        return;
    };
    for kind in FlowKind::ALL {
        let k = kind.as_str();
        let settings = kind == FlowKind::Settings;
        let mut item = Map::new();
        if let Some(op) = start.get("post") {
            item.insert("post".into(), start_op(op.clone(), k, settings));
        }
        paths.insert(START.replace("{kind}", k), Value::Object(item));
        let mut item = Map::new();
        if let Some(op) = flow.get("get") {
            item.insert("get".into(), get_op(op.clone(), k, settings));
        }
        if let Some(op) = flow.get("post") {
            item.insert("post".into(), submit_op(op.clone(), k, settings));
        }
        paths.insert(FLOW.replace("{kind}", k), Value::Object(item));
    }
    for path in [
        "/t/{tenant}/api/sessions",
        "/t/{tenant}/api/sessions/current",
    ] {
        if let Some(item) = paths.get_mut(path).and_then(Value::as_object_mut) {
            for op in item.values_mut() {
                set(op, &["security"], json!([{"session": []}]));
                // An unknown tenant holds no session of the token's: 401, like a wrong token.
                describe(
                    op,
                    "404",
                    "The path is not readable (a malformed percent-encoding).",
                );
            }
        }
    }
    set(
        doc,
        &["components", "securitySchemes", "session"],
        json!({
            "type": "http",
            "scheme": "bearer",
            "description": "The customer's session token: `session_token` of the answer that finished a sign-in.",
        }),
    );
    for kind in FlowKind::ALL {
        let name = submission_name(kind.as_str());
        set(doc, &["components", "schemas", &name], submission(kind));
    }
}

/// Sets `value` at `path` inside `target`, making the objects on the way; a step through something that
/// is not an object leaves the document as it is.
fn set(target: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut at = target;
    for key in parents {
        let Some(object) = at.as_object_mut() else {
            return;
        };
        at = object.entry(*key).or_insert_with(|| json!({}));
    }
    if let Some(object) = at.as_object_mut() {
        object.insert((*last).to_owned(), value);
    }
}

fn start_op(mut op: Value, k: &str, settings: bool) -> Value {
    common(&mut op, k, "start", settings);
    set(&mut op, &["summary"], json!(format!("Starts a {k} flow.")));
    let description = if settings {
        "For the signed-in customer whose session token is sent; without one (or with a revoked or expired \
         one) 401. Answers the flow and, once, its `flow_secret`."
    } else {
        "Answers the flow and, once, its `flow_secret`. Each client address may start a limited number of \
         flows (the `quota_flow_starts_*` settings); past it, 429 with `Retry-After`."
    };
    set(&mut op, &["description"], json!(description));
    // The body may be left out; when sent it is an object (JSON `null` is refused).
    set(
        &mut op,
        &["requestBody"],
        json!({
            "description": "Options; the body may be left out entirely.",
            "required": false,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/StartFlow"}}},
        }),
    );
    describe(
        &mut op,
        "201",
        "The new flow, at its first step, with its `flow_secret`.",
    );
    describe(
        &mut op,
        "404",
        "No such tenant (an unknown kind names nothing either).",
    );
    describe(
        &mut op,
        "429",
        "Too many flows started from this client address, or in all; retry after `Retry-After` seconds.",
    );
    set(&mut op, &["responses", "201", "links"], links(k));
    op
}

fn get_op(mut op: Value, k: &str, settings: bool) -> Value {
    common(&mut op, k, "get", settings);
    set(&mut op, &["summary"], json!(format!("Reads a {k} flow.")));
    // Reading needs only the secret; a restart is a new start, so it needs what a start needs.
    if settings {
        op.as_object_mut().map(|o| o.remove("security"));
    }
    op
}

fn submit_op(mut op: Value, k: &str, settings: bool) -> Value {
    common(&mut op, k, "submit", settings);
    set(
        &mut op,
        &["summary"],
        json!(format!("Submits a step of a {k} flow.")),
    );
    let description = json!(
        "A JSON object of field names to string values: the names of the nodes of the flow's UI. Fields the \
         step does not read are ignored; a value that is not a string is 422. A step the customer must \
         retry (a missing field, a wrong code or password, a throttled attempt) answers 400 with the flow \
         and its error messages."
    );
    set(&mut op, &["description"], description);
    set(
        &mut op,
        &["requestBody", "content", "application/json", "schema"],
        json!({"$ref": format!("#/components/schemas/{}", submission_name(k))}),
    );
    describe(
        &mut op,
        "200",
        "The flow at its next step, or finished (`done`; after a sign-in with the `session_token`).",
    );
    describe(
        &mut op,
        "409",
        "The step was submitted concurrently and the other submission won, or it conflicts with the account.",
    );
    describe(
        &mut op,
        "429",
        "A quota of this client address is used up (flow starts, mails sent, or new passwords hashed); retry \
         after `Retry-After` seconds.",
    );
    op
}

/// What the three operations of a kind share: the operation id, no `kind` parameter, the secret header's
/// meaning, and for settings the session (401 without it).
fn common(op: &mut Value, k: &str, verb: &str, settings: bool) {
    set(op, &["operationId"], json!(format!("{verb}_{k}")));
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        params.retain(|p| p["name"] != "kind");
        for p in params.iter_mut().filter(|p| p["name"] == SECRET) {
            let text = json!(
                "The `flow_secret` answered when this flow started (201) or restarted (410). Without it, or \
                 with another flow's, the flow answers 404 as if it did not exist."
            );
            set(p, &["description"], text);
        }
    }
    describe(
        op,
        "410",
        "The flow had expired or was finished: this is its replacement, with its own `flow_secret`.",
    );
    describe(
        op,
        "404",
        "No such tenant or flow, or the flow secret is missing or not this flow's.",
    );
    if settings {
        set(op, &["security"], json!([{"session": []}]));
        set(
            op,
            &["responses", "401"],
            json!({
                "description": "No session token, or one that is unknown, revoked or expired, or another customer's.",
                "content": {super::PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }),
        );
    } else if let Some(r) = op.get_mut("responses").and_then(Value::as_object_mut) {
        // Only settings needs a session, and only settings asks for a fresh one (SES-08).
        r.remove("401");
        r.remove("403");
    }
}

/// Sets the description of a response the operation lists.
fn describe(op: &mut Value, status: &str, text: &str) {
    if let Some(r) = op
        .get_mut("responses")
        .and_then(|r| r.get_mut(status))
        .and_then(Value::as_object_mut)
    {
        r.insert("description".into(), json!(text));
    }
}

/// Links from a start's answer to reading and submitting the flow of kind `k` it started.
fn links(k: &str) -> Value {
    let params = json!({
        "path.tenant": "$request.path.tenant",
        "path.id": "$response.body#/flow/id",
        format!("header.{SECRET}"): "$response.body#/flow_secret",
    });
    json!({
        "read": {"operationId": format!("get_{k}"), "parameters": params},
        "submit": {"operationId": format!("submit_{k}"), "parameters": params},
    })
}

fn submission_name(k: &str) -> String {
    let mut c = k.chars();
    let first = c.next().map(|f| f.to_ascii_uppercase()).unwrap_or_default();
    format!("{first}{}Submission", c.as_str())
}

/// A kind's submission: the fields its steps read (by step), and any other string field, which is
/// ignored. Every value is a string, which is all the server checks of the shape; the rest (a right
/// password, a code that matches) is a step's answer, 200 or 400.
fn submission(kind: FlowKind) -> Value {
    let s = |step: &str, what: &str| json!({"type": "string", "description": format!("Step `{step}`: {what}")});
    let attributes = |step: &str| {
        json!({"^attributes\\.": {"type": "string", "description": format!(
            "Step `{step}`: `attributes.<name>`, a value of the tenant's attribute schema, as text (`true` ticks a boolean)."
        )}})
    };
    let (description, properties, patterns) = match kind {
        FlowKind::Login => (
            "The login flow: `choose_method`, then `profile` when the tenant asks for missing attributes.",
            json!({
                "identifier": s("choose_method", "the email address, phone number or username."),
                "password": s("choose_method", "the password, exactly as typed."),
                "method": s("choose_method", "the button pressed (`password`)."),
            }),
            attributes("profile"),
        ),
        FlowKind::Registration => (
            "The registration flow: `enter_email`, `sent_email`, then `details`.",
            json!({
                "email": s("enter_email", "the address to sign up with."),
                "accept_terms": s("enter_email", "`true`, `on`, `1` or `yes` accepts the terms, when the tenant has terms."),
                "code": s("sent_email", "the code mailed to the address."),
                "method": s("sent_email", "`resend` asks for a new code instead of checking one."),
                "password": s("details", "the new password, exactly as typed."),
            }),
            attributes("details"),
        ),
        FlowKind::Verification => (
            "The verification flow: `enter_email`, then `sent_email`.",
            json!({
                "email": s("enter_email", "the address to verify."),
                "code": s("sent_email", "the code mailed to the address."),
            }),
            json!({}),
        ),
        FlowKind::Recovery => (
            "The recovery flow: `enter_email`, `sent_email`, then `set_password`.",
            json!({
                "email": s("enter_email", "the account's address."),
                "code": s("sent_email", "the code mailed to the address."),
                "password": s("set_password", "the new password, exactly as typed."),
                "method": s("set_password", "the button pressed (`password`)."),
            }),
            json!({}),
        ),
        FlowKind::Settings => (
            "The settings flow, one page: `method` says which form was sent, or `revoke_session` signs out one session.",
            json!({
                "method": s("settings", "`profile`, `password`, `email`, `confirm_email`, or `sign_out` (ends this session)."),
                "revoke_session": s("settings", "the id of one of the customer's sessions to sign out (an unknown id is 404)."),
                "current_password": s("settings", "with `password`: the current password."),
                "new_password": s("settings", "with `password`: the new password."),
                "email": s("settings", "with `email`: the new address, which is sent a code."),
                "code": s("settings", "with `confirm_email`: the code mailed to the new address."),
            }),
            attributes("settings"),
        ),
    };
    let mut schema = json!({
        "type": "object",
        "description": format!("{description} Every value is a string; other fields are ignored."),
        "properties": properties,
        "additionalProperties": {"type": "string"},
    });
    if patterns.as_object().is_some_and(|p| !p.is_empty()) {
        set(&mut schema, &["patternProperties"], patterns);
    }
    schema
}
