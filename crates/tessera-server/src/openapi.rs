//! The two OpenAPI 3.1 documents: the admin API (admin listener, `/openapi.json`) and the JSON flow API
//! (public listener, `/openapi.json`), generated from the handlers' annotations.
//!
//! A document is a contract a client (or `scripts/openapi-fuzz.sh`) may hold the server to, so it must say
//! everything the server does: the error statuses come from the extractors each handler uses
//! ([`ExtractorErrors`]), every error is `application/problem+json`, and the limits the core enforces on
//! request fields are written into the schemas ([`constraints`]).
use serde_json::{Value, json};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr};
use utoipa::{Modify, OpenApi};

use crate::admin;

mod flow;

/// The media type of every error document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Declares the bearer-key security scheme and applies it to every operation.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("tsk_…")
                    .description(Some("An admin API key. Its role decides what it may do; see docs/admin-roles.md."))
                    .build(),
            ),
        );
    }
}

/// Adds to every operation the errors its extractors can answer (see `extract.rs`), and declares every
/// error body as `application/problem+json`. Reading them off the operation keeps them in step with the
/// handlers: a path parameter is an `ApiPath` (404), a query an `ApiQuery` (400), a body an `ApiJson` or
/// `OptionalJson` (400, 413, 415, 422), `If-Match` an `IfMatch` (412), a secured operation an `Admin`
/// (401, and 403 since every admin operation checks a permission). Every operation reads the database
/// (503 with `Retry-After` while it is unreachable).
struct ExtractorErrors;

impl Modify for ExtractorErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let secured_by_default = openapi.security.as_ref().is_some_and(|s| !s.is_empty());
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                add_extractor_errors(op, secured_by_default);
            }
        }
    }
}

fn add_extractor_errors(op: &mut Operation, secured_by_default: bool) {
    let params = op.parameters.as_deref().unwrap_or_default();
    let has = |place: ParameterIn| {
        params.iter().any(|p| match p {
            RefOr::T(p) => p.parameter_in == place,
            RefOr::Ref(_) => false,
        })
    };
    let (path, query) = (has(ParameterIn::Path), has(ParameterIn::Query));
    let if_match = params.iter().any(|p| match p {
        RefOr::T(p) => p.parameter_in == ParameterIn::Header && p.name == "If-Match",
        RefOr::Ref(_) => false,
    });
    let body = op.request_body.is_some();
    let secured = match &op.security {
        Some(s) => !s.is_empty(),
        None => secured_by_default,
    };
    // An extractor's refusal is always a problem, also where the handler answers the same status with
    // another body (the flow API's 400 is a flow with error messages, or a problem).
    let mut add =
        |status: &str, description: &str| match op.responses.responses.entry(status.to_owned()) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(RefOr::T(problem_response(description)));
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                if let RefOr::T(r) = e.get_mut()
                    && !r.content.contains_key(PROBLEM_JSON)
                    && !has_problem_schema(r)
                {
                    r.content
                        .insert(PROBLEM_JSON.to_owned(), RefOr::T(problem_content()));
                    r.description = format!("{} Or: {description}", r.description);
                }
            }
        };
    if body {
        add(
            "400",
            "The body is missing (`missing_body`) or not JSON (`malformed_json`).",
        );
        add("413", "The body is larger than `max_body_bytes`.");
        add("415", "The body is not `application/json`.");
        add(
            "422",
            "The body does not fit the schema (`invalid_body`) or a rule of the data (`invalid_field`).",
        );
    }
    if query {
        add("400", "A query parameter is unknown or malformed.");
    }
    if path {
        add(
            "404",
            "No such resource, or one outside the key's tenant (a malformed id names nothing either).",
        );
    }
    if if_match {
        add(
            "412",
            "`If-Match` is not the resource's current ETag, or not an ETag this API issued.",
        );
    }
    if secured {
        op.responses
            .responses
            .entry("401".to_owned())
            .or_insert_with(|| {
                let mut r =
                    problem_response("No key, or a key that is unknown, expired or revoked.");
                r.headers.insert(
                    "WWW-Authenticate".to_owned(),
                    RefOr::T(
                        HeaderBuilder::new()
                            .description(Some("`Bearer realm=\"tessera-admin\"`"))
                            .build(),
                    ),
                );
                RefOr::T(r)
            });
        op.responses
            .responses
            .entry("403".to_owned())
            .or_insert_with(|| RefOr::T(problem_response("The key's role does not allow this.")));
    }
    op.responses
        .responses
        .entry("503".to_owned())
        .or_insert_with(|| {
            let mut r =
                problem_response("The database is unreachable; retry after `Retry-After` seconds.");
            r.headers.insert(
                "Retry-After".to_owned(),
                RefOr::T(HeaderBuilder::new().build()),
            );
            RefOr::T(r)
        });
    for (status, resp) in op.responses.responses.iter_mut() {
        if let RefOr::T(resp) = resp
            && status.starts_with(['4', '5'])
        {
            as_problem_json(resp);
        }
    }
}

fn problem_content() -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build()
}

fn problem_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, problem_content())
        .build()
}

fn is_problem(c: &RefOr<utoipa::openapi::Content>) -> bool {
    match c {
        RefOr::T(c) => {
            matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Problem"))
        }
        RefOr::Ref(_) => false,
    }
}

/// Whether a response annotated with `body = Problem` (served as problem+json below).
fn has_problem_schema(resp: &Response) -> bool {
    resp.content.get("application/json").is_some_and(is_problem)
}

/// An error response annotated with `body = Problem` is served as `application/problem+json`.
fn as_problem_json(resp: &mut Response) {
    if let Some(content) = resp.content.shift_remove("application/json") {
        let key = if is_problem(&content) {
            PROBLEM_JSON
        } else {
            "application/json"
        };
        resp.content.insert(key.to_owned(), content);
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Tessera admin API", description = "Manage tenants, customer identities, attribute schemas, policies, organizations, OAuth clients, API keys, the event log and the mail queue's dead letters. Errors are application/problem+json with a stable `code`."),
    security(("admin_key" = [])),
    modifiers(&BearerKey, &ExtractorErrors),
    paths(
        admin::tenants::list, admin::tenants::create, admin::tenants::get, admin::tenants::update,
        admin::identities::create, admin::identities::list, admin::identities::get, admin::identities::update,
        admin::identities::suspend, admin::identities::reactivate, admin::identities::schedule_deletion, admin::identities::delete,
        admin::identities::sessions, admin::identities::revoke_sessions,
        admin::consents::list, admin::consents::revoke,
        admin::policies::get_schema, admin::policies::put_schema,
        admin::policies::get_tenant_policy, admin::policies::put_tenant_policy, admin::policies::tenant_policy_history,
        admin::policies::tenant_policy_version, admin::policies::effective_policy,
        admin::policies::get_org_policy, admin::policies::put_org_policy,
        admin::organizations::create, admin::organizations::list, admin::organizations::get, admin::organizations::update,
        admin::organizations::delete, admin::organizations::members, admin::organizations::add_member,
        admin::organizations::set_member, admin::organizations::remove_member,
        admin::keys::list, admin::keys::create, admin::keys::revoke,
        admin::events::list, admin::events::verify,
        admin::mail::dead_letters, admin::mail::replay,
        admin::clients::create, admin::clients::list, admin::clients::get, admin::clients::replace,
        admin::clients::rotate_secret, admin::clients::delete,
    ),
    tags(
        (name = "tenants"), (name = "identities"), (name = "attribute schema"), (name = "policy"),
        (name = "organizations"), (name = "api keys"), (name = "events"), (name = "mail"),
        (name = "clients", description = "OAuth 2.0 / OpenID Connect clients: the apps customers sign in to."),
    )
)]
struct AdminApi;

#[derive(OpenApi)]
#[openapi(
    info(title = "Tessera flow API", description = "The hosted flows (sign-in, sign-up, verification, recovery, settings) for native and single-page apps, as JSON, on the public listener under `/t/{tenant}/api`, and the tenant's JWKS (`/t/{tenant}/.well-known/jwks.json`). Errors are application/problem+json with a stable `code`; a step the customer must retry is a flow with error messages, not a problem."),
    modifiers(&ExtractorErrors),
    paths(
        crate::flow_api::start, crate::flow_api::get, crate::flow_api::submit, crate::flow_api::sessions, crate::flow_api::sign_out,
        crate::jwks::jwks,
    ),
    tags((name = "flows"), (name = "keys", description = "The keys relying parties verify Tessera's tokens with.")),
)]
struct FlowApi;

/// A limit the core enforces on a request field: the schema, the JSON pointer of the field inside it, and
/// the keywords merged into it.
type Constraint = (&'static str, &'static str, Value);

/// Limits the core enforces on the admin API's request fields, merged into the generated schemas.
/// Without them the document allows requests the server refuses. Each pattern is checked against the
/// rule it describes in this module's tests.
fn constraints() -> Vec<Constraint> {
    let slug = json!({"pattern": patterns::SLUG});
    let name = json!({"pattern": patterns::NAME});
    let roles = json!({"maxItems": 50, "items": {"pattern": patterns::ROLE}});
    vec![
        ("NewTenant", "/properties/slug", slug.clone()),
        ("NewTenant", "/properties/name", name.clone()),
        ("TenantPatch", "/properties/name", name.clone()),
        (
            "NewApiKey",
            "/properties/name",
            json!({"pattern": patterns::KEY_NAME}),
        ),
        ("NewApiKey", "/properties/tenant", slug),
        ("NewOrganization", "/properties/name", name.clone()),
        ("OrganizationPatch", "/properties/name", name),
        (
            "NewOrganization",
            "/properties/domains",
            json!({"maxItems": 100}),
        ),
        (
            "OrganizationPatch",
            "/properties/domains",
            json!({"maxItems": 100}),
        ),
        ("MemberInput", "/properties/roles", roles.clone()),
        ("MemberRoles", "/properties/roles", roles),
        // `identities::normalize_all`: 1 to 10 identifiers.
        (
            "NewIdentity",
            "/properties/identifiers",
            json!({"minItems": 1, "maxItems": 10}),
        ),
        (
            "IdentityPatch",
            "/properties/identifiers",
            json!({"minItems": 1, "maxItems": 10}),
        ),
        // `oauth::clients::MAX_ROTATION_GRACE`: at most seven days.
        (
            "SecretRotation",
            "/properties/grace_secs",
            json!({"minimum": 0, "maximum": 604_800}),
        ),
        // A new identity is `active` or a `prospect`; the other states are reached by transitions.
        (
            "NewIdentity",
            "/properties/state",
            json!({"oneOf": [{"type": "string", "enum": ["active", "prospect"]}, {"type": "null"}]}),
        ),
    ]
}

/// Limits the core enforces on the flow API's request fields (see [`constraints`]).
fn flow_constraints() -> Vec<Constraint> {
    vec![(
        "StartFlow",
        "/properties/client_id",
        json!({
            "maxLength": tessera_model::flow::CLIENT_ID_MAX_CHARS,
            "pattern": patterns::CLIENT_ID,
            "description": "The application the customer is signing in to (progressive profiling). Empty means none.",
        }),
    )]
}

/// The patterns of [`constraints`] and [`flow_constraints`], as ECMA-262 regular expressions that mean the same in Rust's `regex`.
pub mod patterns {
    /// `tenant::check_slug`: a lowercase DNS-like label of at most 63 characters.
    pub const SLUG: &str = "^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$";
    /// `tenant::check_name`: no control character, and 1 to 200 characters once surrounding whitespace
    /// (Unicode `White_Space` that is not a control character) is trimmed.
    pub const NAME: &str = concat!(
        "^[ \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*",
        "[^\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]",
        "(?:[^\\u0000-\\u001f\\u007f-\\u009f]{0,198}",
        "[^\\u0000-\\u001f\\u007f-\\u009f \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000])?",
        "[ \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]*$",
    );
    /// `api_key::check_key_name`.
    pub const KEY_NAME: &str = "^[A-Za-z0-9._-]{1,64}$";
    /// `organization::check_roles`, per role.
    pub const ROLE: &str = "^[a-z0-9_-]{1,64}$";
    /// `extract::parse_if_match`: `*`, or an ETag the API issued (a version of at most 18 digits).
    pub const IF_MATCH: &str = "^(\\*|(W/)?\"[0-9]{1,18}\")$";
    /// `flow::check_client_id`: at most 200 characters, none of them a control character.
    pub const CLIENT_ID: &str = "^[^\\u0000-\\u001f\\u007f-\\u009f]{0,200}$";
}

/// What every generated operation needs said more exactly than the annotations say it: a body that may be
/// left out is optional, not nullable (`OptionalJson` refuses a JSON `null`), a `u32` parameter takes
/// every `u32`, and `If-Match` takes only `*` or an ETag this API issued (anything else is 412).
fn fix_operations(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for op in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(Value::as_object_mut)
    {
        if let Some(body) = op.get_mut("requestBody").and_then(Value::as_object_mut) {
            let nullable = body
                .get_mut("content")
                .and_then(|c| c.get_mut("application/json"))
                .and_then(|c| c.get_mut("schema"))
                .and_then(|schema| {
                    let one_of = schema.get("oneOf")?.as_array()?;
                    let [inner, null] = one_of.as_slice() else {
                        return None;
                    };
                    (null == &json!({"type": "null"}))
                        .then(|| inner.clone())
                        .map(|inner| *schema = inner)
                });
            if nullable.is_some() {
                body.insert("required".into(), json!(false));
            }
        }
        for schema in op
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(|p| p.get_mut("schema"))
            .filter(|s| {
                s.get("format") == Some(&json!("int32")) && s.get("minimum") == Some(&json!(0))
            })
        {
            // A `u32` is rendered as an int32 from 0, but the server reads every value up to 2^32 - 1.
            *schema = json!({"type": "integer", "minimum": 0, "maximum": u32::MAX});
        }
        for param in op
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
            .filter(|p| p.get("name") == Some(&json!("If-Match")))
        {
            param.insert(
                "schema".into(),
                json!({"type": "string", "pattern": patterns::IF_MATCH}),
            );
            param.insert(
                "description".into(),
                json!(
                    "`*`, or the `ETag` of the version this write expects; another version is 412."
                ),
            );
        }
    }
}

/// A schema that flattens a closed one (`additionalProperties: false`) into an `allOf` with more
/// properties would refuse every value it describes; it is written out as one closed object instead.
fn close_flattened(schemas: &mut Value) {
    let Some(all) = schemas.as_object() else {
        return;
    };
    let mut fixed = Vec::new();
    for (name, schema) in all {
        let Some(parts) = schema.get("allOf").and_then(Value::as_array) else {
            continue;
        };
        let mut properties = serde_json::Map::new();
        let mut required = Vec::new();
        let mut closed = false;
        for part in parts {
            let part = match part.get("$ref").and_then(Value::as_str) {
                Some(r) => match r.rsplit('/').next().and_then(|n| all.get(n)) {
                    Some(target) => target,
                    None => continue,
                },
                None => part,
            };
            closed |= part.get("additionalProperties") == Some(&json!(false));
            if let Some(p) = part.get("properties").and_then(Value::as_object) {
                properties.extend(p.clone());
            }
            if let Some(r) = part.get("required").and_then(Value::as_array) {
                required.extend(r.iter().cloned());
            }
        }
        if closed {
            let mut out = json!({
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": false,
            });
            if let (Some(d), Some(o)) = (schema.get("description"), out.as_object_mut()) {
                o.insert("description".into(), d.clone());
            }
            fixed.push((name.clone(), out));
        }
    }
    if let Some(all) = schemas.as_object_mut() {
        all.extend(fixed);
    }
}

fn finish(mut doc: Value, constraints: Vec<Constraint>) -> Value {
    fix_operations(&mut doc);
    if let Some(schemas) = doc.pointer_mut("/components/schemas") {
        close_flattened(schemas);
        for (schema, pointer, keywords) in constraints {
            if let (Some(Value::Object(target)), Value::Object(add)) = (
                schemas.get_mut(schema).and_then(|s| s.pointer_mut(pointer)),
                keywords,
            ) {
                merge(target, add);
            }
        }
    }
    doc
}

fn merge(target: &mut serde_json::Map<String, Value>, add: serde_json::Map<String, Value>) {
    for (k, v) in add {
        match (target.get_mut(&k), v) {
            (Some(Value::Object(t)), Value::Object(a)) => merge(t, a),
            (_, v) => {
                target.insert(k, v);
            }
        }
    }
}

fn to_value(doc: utoipa::openapi::OpenApi) -> Result<Value, String> {
    serde_json::to_value(doc).map_err(|e| e.to_string())
}

/// The admin API document.
pub fn document() -> Result<Value, String> {
    Ok(finish(to_value(AdminApi::openapi())?, constraints()))
}

/// The flow API document: one operation per flow kind (see [`flow`]).
pub fn flow_document() -> Result<Value, String> {
    let mut doc = finish(to_value(FlowApi::openapi())?, flow_constraints());
    flow::per_kind(&mut doc);
    Ok(doc)
}

/// The admin document as pretty JSON.
pub fn document_json() -> Result<String, String> {
    serde_json::to_string_pretty(&document()?).map_err(|e| e.to_string())
}

/// The flow API document as pretty JSON.
pub fn flow_document_json() -> Result<String, String> {
    serde_json::to_string_pretty(&flow_document()?).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_model::{api_key, organization, tenant};

    fn re(pattern: &str) -> regex::Regex {
        regex::Regex::new(pattern).unwrap()
    }

    /// Strings built from the characters the rules treat specially, in every short combination and in
    /// long pseudo-random runs around the length limits.
    fn corpus() -> Vec<String> {
        let alphabet: Vec<char> = vec![
            'a', 'z', 'A', 'Z', '0', '9', '-', '_', '.', ' ', '\t', '\n', '\r', '\u{0}', '\u{7f}',
            '\u{85}', '\u{9f}', '\u{a0}', '\u{2003}', '\u{3000}', '\u{feff}', 'é', 'ß', '日', '😀',
            '"', '*', '/', 'W',
        ];
        let mut out = vec![String::new()];
        for a in &alphabet {
            out.push(a.to_string());
            for b in &alphabet {
                out.push(format!("{a}{b}"));
                out.push(format!("x{a}{b}x"));
            }
        }
        let mut seed: u64 = 0x5eed;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            usize::try_from(seed >> 33).unwrap()
        };
        for len in [61, 62, 63, 64, 65, 198, 199, 200, 201, 202, 300] {
            for _ in 0..200 {
                let s: String = (0..len)
                    .map(|_| {
                        if next() % 4 == 0 {
                            alphabet[next() % alphabet.len()]
                        } else {
                            ['a', 'b', '1', '-'][next() % 4]
                        }
                    })
                    .collect();
                out.push(s.clone());
                out.push(format!("  {s}"));
                out.push(format!("{}{s}", "\u{3000}".repeat(5)));
            }
            out.push("a".repeat(len));
            out.push(format!("  {}  ", "b".repeat(len)));
        }
        out
    }

    fn assert_same(pattern: &str, rule: impl Fn(&str) -> bool) {
        let re = re(pattern);
        for s in corpus() {
            assert_eq!(re.is_match(&s), rule(&s), "{pattern} on {s:?}");
        }
    }

    #[test]
    fn each_pattern_accepts_exactly_what_its_rule_accepts() {
        assert_same(patterns::SLUG, |s| tenant::check_slug(s).is_ok());
        assert_same(patterns::NAME, |s| tenant::check_name(s).is_ok());
        assert_same(patterns::KEY_NAME, api_key::check_key_name);
        assert_same(patterns::ROLE, |s| {
            organization::check_roles(&[s.to_owned()]).is_ok()
        });
        assert_same(patterns::CLIENT_ID, tessera_model::flow::check_client_id);
        assert_same(patterns::IF_MATCH, |s| {
            crate::extract::parse_if_match(s).is_some()
        });
        for (value, ok) in [
            ("*", true),
            ("\"0\"", true),
            ("W/\"12\"", true),
            ("\"999999999999999999\"", true),
            ("\"1234567890123456789\"", false),
            ("5", false),
            ("\"\"", false),
            ("\"5", false),
            ("W/5", false),
            ("\"\"5\"\"", false),
            (" \"5\"", false),
            ("\"-5\"", false),
            ("**", false),
        ] {
            assert_eq!(re(patterns::IF_MATCH).is_match(value), ok, "{value}");
            assert_eq!(
                crate::extract::parse_if_match(value).is_some(),
                ok,
                "{value}"
            );
        }
    }

    #[test]
    fn every_constraint_lands_on_a_property_of_the_document() {
        let admin = (document().unwrap(), constraints());
        let flow = (flow_document().unwrap(), flow_constraints());
        for (doc, (schema, pointer, keywords)) in [admin, flow]
            .into_iter()
            .flat_map(|(doc, cs)| cs.into_iter().map(move |c| (doc.clone(), c)))
        {
            let target = doc["components"]["schemas"][schema].pointer(pointer);
            let target =
                target.unwrap_or_else(|| panic!("{schema}{pointer} is not in the document"));
            for (k, v) in keywords.as_object().unwrap() {
                if let Some(items) = v.as_object() {
                    for (ik, iv) in items {
                        assert_eq!(&target[k][ik], iv, "{schema}{pointer}/{k}/{ik}");
                    }
                } else {
                    assert_eq!(&target[k], v, "{schema}{pointer}/{k}");
                }
            }
        }
    }

    #[test]
    fn every_error_of_either_document_is_problem_json() {
        for doc in [document().unwrap(), flow_document().unwrap()] {
            for (path, item) in doc["paths"].as_object().unwrap() {
                for (method, op) in item.as_object().unwrap() {
                    for (status, resp) in op["responses"].as_object().unwrap() {
                        let problem = resp["content"].get(PROBLEM_JSON).is_some();
                        let flow = resp["content"]["application/json"]["schema"]["$ref"]
                            == "#/components/schemas/FlowResponse";
                        if status.starts_with(['4', '5']) {
                            assert!(problem || flow, "{method} {path} {status}: {resp}");
                        }
                    }
                }
            }
        }
    }
}
