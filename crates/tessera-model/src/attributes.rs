//! The per-tenant attribute schema: which attributes an identity may carry, with what types and
//! limits, and how sensitive each one is.
//!
//! Every write of an identity's attributes is checked against the tenant's schema here, so stored
//! attributes always match it. A schema is itself checked (see [`AttributeSchema::check`]) before a
//! tenant may adopt it, which bounds the cost of validating writes.
//!
//! The JSON form of one attribute is the public contract, for example
//! `{"name":"tags","type":"list","items":{"type":"string","max_length":30},"max_items":20}`.
//! Type-specific fields sit next to `name` and `type`; fields that do not belong to the declared
//! type, or that are unknown, are refused when the schema is read.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::openapi::{RefOr, schema::Schema};
use utoipa::{PartialSchema, ToSchema};

/// Most attribute definitions a schema may hold, nested ones included; bounds validation cost.
pub const MAX_ATTRIBUTES: usize = 200;
/// Deepest nesting allowed: a top-level attribute is level 1, and each object property or list
/// item adds a level. Keeps stored documents shallow and validation bounded.
pub const MAX_DEPTH: usize = 4;
/// Largest `max_length` a string may declare; also the limit for strings that declare none, so
/// no attribute string is ever unbounded.
pub const MAX_STRING_LENGTH: u32 = 65_536;
/// Longest attribute name, in characters (`^[a-z][a-z0-9_]{0,62}$`).
pub const MAX_NAME_LENGTH: usize = 63;

/// A tenant's attribute schema: the complete list of attributes an identity may carry.
#[derive(
    Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct AttributeSchema {
    /// Top-level attributes; names are unique.
    #[serde(default)]
    pub attributes: Vec<AttributeDef>,
}

/// One named attribute of the schema (or a property of an object attribute).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AttributeDefWire", into = "AttributeDefWire")]
pub struct AttributeDef {
    /// Key in the attributes object; `^[a-z][a-z0-9_]{0,62}$` so it is safe in paths and claims.
    pub name: String,
    /// The value's type and its type-specific limits.
    pub ty: AttributeType,
    /// Whether a fully registered identity must carry a non-null value.
    pub required: bool,
    /// How sensitive the value is; drives redaction, export and erasure handling.
    pub pii: PiiClass,
    /// Whether the customer may change the value themselves (otherwise only admins may).
    pub customer_editable: bool,
    /// Free text for admins and consent screens.
    pub description: Option<String>,
    /// The tenant-defined OAuth scope that releases this (top-level) attribute to apps as a claim of
    /// its own name, e.g. `loyalty` for `loyalty_tier`; `None` keeps it out of every token and
    /// userinfo answer.
    pub scope: Option<String>,
}

/// Scopes with a meaning of their own (OIDC Core §5.4, §11): a tenant cannot define them again.
pub const RESERVED_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "phone",
    "address",
    "offline_access",
];

/// Claims with a meaning of their own in ID tokens, access tokens and userinfo (RFC 7519, RFC 9068,
/// OIDC Core §2, §5.1): an attribute released under a tenant scope cannot take one of these names.
pub const RESERVED_CLAIMS: [&str; 41] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "at_hash",
    "c_hash",
    "s_hash",
    "client_id",
    "scope",
    "cnf",
    "events",
    "act",
    "may_act",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "phone_number",
    "phone_number_verified",
    "address",
    "zoneinfo",
    "locale",
    "updated_at",
];

/// The type of an attribute value, with the limits that apply to that type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TypeSpecWire", into = "TypeSpecWire")]
pub enum AttributeType {
    /// A JSON string, at most `max_length` characters (and never more than [`MAX_STRING_LENGTH`]).
    String {
        /// Longest accepted value, in characters.
        max_length: Option<u32>,
    },
    /// A finite JSON number within the optional inclusive bounds.
    Number {
        /// Smallest accepted value, inclusive.
        min: Option<f64>,
        /// Largest accepted value, inclusive.
        max: Option<f64>,
    },
    /// A JSON boolean.
    Boolean,
    /// A real calendar date written `YYYY-MM-DD`.
    Date,
    /// One of a fixed set of strings.
    Enum {
        /// The accepted values; non-empty and unique.
        values: Vec<String>,
    },
    /// A JSON object whose keys are themselves attributes.
    Object {
        /// The object's attributes; names are unique.
        properties: Vec<AttributeDef>,
    },
    /// A JSON array whose elements all have the `items` type.
    List {
        /// Type of every element.
        items: Box<AttributeType>,
        /// Most elements accepted.
        max_items: Option<u32>,
    },
}

impl AttributeType {
    /// The `type` tag as written in JSON, for messages and for the wire form.
    pub fn type_name(&self) -> &'static str {
        self.tag().as_str()
    }

    fn tag(&self) -> TypeTag {
        match self {
            Self::String { .. } => TypeTag::String,
            Self::Number { .. } => TypeTag::Number,
            Self::Boolean => TypeTag::Boolean,
            Self::Date => TypeTag::Date,
            Self::Enum { .. } => TypeTag::Enum,
            Self::Object { .. } => TypeTag::Object,
            Self::List { .. } => TypeTag::List,
        }
    }
}

/// How sensitive an attribute's value is. Defaults to `personal`, the safe assumption for data
/// about a customer.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum PiiClass {
    /// Not personal data (e.g. a plan name).
    None,
    /// Personal data (e.g. a name or a birthdate).
    #[default]
    Personal,
    /// Special-category or otherwise sensitive data (e.g. health, national id).
    Sensitive,
}

/// Which rules a write must meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidationMode {
    /// Every rule, including `required`.
    Full,
    /// Every rule except `required`: light (prospect) accounts carry only an identifier.
    Prospect,
}

/// One reason a write of attributes was refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct AttributeProblem {
    /// Where: a dotted path with list indexes, e.g. `address.city` or `tags[2]`.
    pub attribute: String,
    /// Stable machine-readable reason: `unknown_attribute`, `required`, `wrong_type`, `too_long`,
    /// `out_of_range`, `not_in_enum`, `invalid_date`, `too_many_items` or `not_finite`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

/// One reason a schema itself was refused.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SchemaProblem {
    /// Where: a dotted path to the definition (`address.city`, `tags[]` for a list's items), or
    /// empty for the schema as a whole.
    pub path: String,
    /// Stable machine-readable reason: `too_many_attributes`, `invalid_name`, `duplicate_name`,
    /// `too_deep`, `invalid_max_length`, `invalid_max_items`, `not_finite`,
    /// `min_greater_than_max`, `empty_enum` or `duplicate_enum_value`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl AttributeSchema {
    /// Checks the schema itself, collecting every problem, so a tenant cannot adopt a schema that
    /// is ambiguous (duplicate names), unsatisfiable (min > max, empty enum) or too costly.
    pub fn check(&self) -> Result<(), Vec<SchemaProblem>> {
        let mut problems = Vec::new();
        let total = count_defs(&self.attributes);
        if total > MAX_ATTRIBUTES {
            problems.push(SchemaProblem {
                path: String::new(),
                code: "too_many_attributes",
                message: format!(
                    "the schema defines {total} attributes (nested ones included); at most {MAX_ATTRIBUTES} are allowed"
                ),
            });
        }
        check_defs(&self.attributes, "", 1, &mut problems);
        check_scopes(&self.attributes, &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Validates a complete attributes object against the schema, collecting every problem.
    ///
    /// `null` means "absent": allowed for optional attributes, a `required` problem for required
    /// ones (in [`ValidationMode::Full`] only).
    pub fn validate(
        &self,
        attrs: &Map<String, Value>,
        mode: ValidationMode,
    ) -> Result<(), Vec<AttributeProblem>> {
        let mut problems = Vec::new();
        validate_object(&self.attributes, attrs, "", mode, &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// Whether the customer may write the top-level attribute `name` themselves; unknown names
    /// are not editable.
    pub fn customer_editable(&self, name: &str) -> bool {
        self.get(name).is_some_and(|def| def.customer_editable)
    }

    /// The top-level definition called `name`.
    pub fn get(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes.iter().find(|def| def.name == name)
    }

    /// The tenant-defined scopes, each once, in schema order (for discovery's `scopes_supported`).
    pub fn scopes(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in self.attributes.iter().filter_map(|d| d.scope.as_deref()) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// The top-level attributes the given granted scopes release as claims.
    pub fn released_by<'a>(
        &'a self,
        scopes: &'a [String],
    ) -> impl Iterator<Item = &'a AttributeDef> + 'a {
        self.attributes.iter().filter(move |d| {
            d.scope
                .as_deref()
                .is_some_and(|s| scopes.iter().any(|g| g == s))
        })
    }

    /// The top-level attribute names, in schema order (e.g. to check policy documents against).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.attributes.iter().map(|def| def.name.as_str())
    }
}

// --- schema self-check ----------------------------------------------------------------------------

fn count_defs(defs: &[AttributeDef]) -> usize {
    defs.iter().map(|def| 1 + count_type_defs(&def.ty)).sum()
}

fn count_type_defs(ty: &AttributeType) -> usize {
    match ty {
        AttributeType::Object { properties } => count_defs(properties),
        AttributeType::List { items, .. } => count_type_defs(items),
        _ => 0,
    }
}

fn is_valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.len() <= MAX_NAME_LENGTH
}

fn schema_problem(path: &str, code: &'static str, message: String) -> SchemaProblem {
    SchemaProblem {
        path: path.to_owned(),
        code,
        message,
    }
}

fn check_defs(
    defs: &[AttributeDef],
    prefix: &str,
    level: usize,
    problems: &mut Vec<SchemaProblem>,
) {
    let mut seen: Vec<&str> = Vec::with_capacity(defs.len());
    for def in defs {
        let path = child_path(prefix, &def.name);
        if !is_valid_name(&def.name) {
            problems.push(schema_problem(
                &path,
                "invalid_name",
                format!(
                    "attribute name {:?} must match ^[a-z][a-z0-9_]{{0,62}}$",
                    def.name
                ),
            ));
        }
        if seen.contains(&def.name.as_str()) {
            problems.push(schema_problem(
                &path,
                "duplicate_name",
                format!("attribute {:?} is defined more than once here", def.name),
            ));
        } else {
            seen.push(&def.name);
        }
        if level > MAX_DEPTH {
            problems.push(too_deep(&path));
            continue;
        }
        check_type(&def.ty, &path, level, problems);
    }
}

/// A scope name a tenant may define: like an attribute name, with `:`, `.` and `-` allowed after the
/// first character (`loyalty`, `orders:read`), at most 63 characters.
pub fn is_valid_scope_name(scope: &str) -> bool {
    let mut bytes = scope.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b':' | b'.' | b'-')
        })
        && scope.len() <= MAX_NAME_LENGTH
}

/// Scopes are set on top-level attributes only (a claim is a whole attribute), never redefine a
/// standard scope, and never release an attribute under a registered claim's name, which a relying
/// party would read as the standard claim.
fn check_scopes(defs: &[AttributeDef], problems: &mut Vec<SchemaProblem>) {
    for def in defs {
        if let AttributeType::Object { properties } = &def.ty {
            nested_scopes(properties, &def.name, problems);
        }
        let Some(scope) = &def.scope else { continue };
        if !is_valid_scope_name(scope) {
            problems.push(schema_problem(
                &def.name,
                "invalid_scope",
                format!("scope {scope:?} must match ^[a-z][a-z0-9_:.-]{{0,62}}$"),
            ));
        } else if RESERVED_SCOPES.contains(&scope.as_str()) {
            problems.push(schema_problem(
                &def.name,
                "reserved_scope",
                format!(
                    "{scope:?} is a standard scope with claims of its own; choose another name"
                ),
            ));
        }
        if RESERVED_CLAIMS.contains(&def.name.as_str()) {
            problems.push(schema_problem(
                &def.name,
                "reserved_claim",
                format!(
                    "{:?} is a registered claim name; an attribute released under a scope needs another name",
                    def.name
                ),
            ));
        }
    }
}

fn nested_scopes(defs: &[AttributeDef], prefix: &str, problems: &mut Vec<SchemaProblem>) {
    for def in defs {
        let path = child_path(prefix, &def.name);
        if def.scope.is_some() {
            problems.push(schema_problem(
                &path,
                "nested_scope",
                "only top-level attributes can be released under a scope".into(),
            ));
        }
        if let AttributeType::Object { properties } = &def.ty {
            nested_scopes(properties, &path, problems);
        }
    }
}

fn too_deep(path: &str) -> SchemaProblem {
    schema_problem(
        path,
        "too_deep",
        format!("attributes may be nested at most {MAX_DEPTH} levels deep"),
    )
}

fn check_type(ty: &AttributeType, path: &str, level: usize, problems: &mut Vec<SchemaProblem>) {
    match ty {
        AttributeType::String { max_length } => {
            if let Some(n) = *max_length
                && (n == 0 || n > MAX_STRING_LENGTH)
            {
                problems.push(schema_problem(
                    path,
                    "invalid_max_length",
                    format!("max_length must be between 1 and {MAX_STRING_LENGTH}, not {n}"),
                ));
            }
        }
        AttributeType::Number { min, max } => {
            for (field, bound) in [("min", min), ("max", max)] {
                if bound.is_some_and(|b| !b.is_finite()) {
                    problems.push(schema_problem(
                        path,
                        "not_finite",
                        format!("{field} must be a finite number"),
                    ));
                }
            }
            if let (Some(lo), Some(hi)) = (min, max)
                && lo > hi
            {
                problems.push(schema_problem(
                    path,
                    "min_greater_than_max",
                    format!("min ({lo}) is greater than max ({hi})"),
                ));
            }
        }
        AttributeType::Boolean | AttributeType::Date => {}
        AttributeType::Enum { values } => {
            if values.is_empty() {
                problems.push(schema_problem(
                    path,
                    "empty_enum",
                    "an enum needs at least one value".to_owned(),
                ));
            }
            for (i, value) in values.iter().enumerate() {
                if values.iter().take(i).any(|earlier| earlier == value) {
                    problems.push(schema_problem(
                        path,
                        "duplicate_enum_value",
                        format!("enum value {value:?} is listed more than once"),
                    ));
                }
            }
        }
        AttributeType::Object { properties } => check_defs(properties, path, level + 1, problems),
        AttributeType::List { items, max_items } => {
            if *max_items == Some(0) {
                problems.push(schema_problem(
                    path,
                    "invalid_max_items",
                    "max_items must be at least 1".to_owned(),
                ));
            }
            let items_path = format!("{path}[]");
            if level + 1 > MAX_DEPTH {
                problems.push(too_deep(&items_path));
            } else {
                check_type(items, &items_path, level + 1, problems);
            }
        }
    }
}

// --- value validation -----------------------------------------------------------------------------

fn child_path(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn problem(path: &str, code: &'static str, message: String) -> AttributeProblem {
    AttributeProblem {
        attribute: path.to_owned(),
        code,
        message,
    }
}

fn validate_object(
    defs: &[AttributeDef],
    object: &Map<String, Value>,
    prefix: &str,
    mode: ValidationMode,
    problems: &mut Vec<AttributeProblem>,
) {
    for (key, value) in object {
        let path = child_path(prefix, key);
        let Some(def) = defs.iter().find(|def| def.name == *key) else {
            problems.push(problem(
                &path,
                "unknown_attribute",
                format!("{path} is not in the attribute schema"),
            ));
            continue;
        };
        if value.is_null() {
            if def.required && mode == ValidationMode::Full {
                problems.push(problem(&path, "required", format!("{path} is required")));
            }
            continue;
        }
        validate_value(&def.ty, value, &path, mode, problems);
    }
    if mode == ValidationMode::Full {
        for def in defs.iter().filter(|def| def.required) {
            if !object.contains_key(&def.name) {
                let path = child_path(prefix, &def.name);
                problems.push(problem(&path, "required", format!("{path} is required")));
            }
        }
    }
}

/// Characters no attribute value may hold: the C0 and C1 controls but tab and line breaks (a NUL would
/// also be refused by PostgreSQL's JSONB, and an invisible character could stand in for a required
/// value), and the bidirectional embeddings, overrides and isolates, which make a value display as
/// something it is not.
fn unprintable(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing on their own: white space, the zero-width and joining characters, the
/// bidirectional marks, the soft hyphen and the fillers. Allowed inside a value (a joiner is part of some
/// scripts and emoji), but a value of nothing else would satisfy a required attribute invisibly.
fn invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2060}'..='\u{2064}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
        )
}

fn wrong_type(path: &str, expected: &str) -> AttributeProblem {
    problem(path, "wrong_type", format!("{path} must be {expected}"))
}

fn validate_value(
    ty: &AttributeType,
    value: &Value,
    path: &str,
    mode: ValidationMode,
    problems: &mut Vec<AttributeProblem>,
) {
    match ty {
        AttributeType::String { max_length } => {
            let Some(s) = value.as_str() else {
                problems.push(wrong_type(path, "a string"));
                return;
            };
            let limit = max_length
                .unwrap_or(MAX_STRING_LENGTH)
                .min(MAX_STRING_LENGTH);
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            if !s.is_empty() && s.chars().all(invisible) {
                problems.push(problem(
                    path,
                    "blank",
                    format!("{path} must contain a visible character"),
                ));
            }
            if s.chars().any(unprintable) {
                problems.push(problem(
                    path,
                    "control_character",
                    format!(
                        "{path} must not contain control characters (only tabs and line breaks)"
                    ),
                ));
            }
            // Byte length bounds char count from above, so short strings skip the count.
            if s.len() > limit && s.chars().count() > limit {
                problems.push(problem(
                    path,
                    "too_long",
                    format!("{path} must be at most {limit} characters"),
                ));
            }
        }
        AttributeType::Number { min, max } => {
            let Value::Number(number) = value else {
                problems.push(wrong_type(path, "a number"));
                return;
            };
            let Some(n) = number.as_f64().filter(|n| n.is_finite()) else {
                problems.push(problem(
                    path,
                    "not_finite",
                    format!("{path} must be a finite number"),
                ));
                return;
            };
            if let Some(lo) = *min
                && n < lo
            {
                problems.push(problem(
                    path,
                    "out_of_range",
                    format!("{path} must be at least {lo}"),
                ));
            }
            if let Some(hi) = *max
                && n > hi
            {
                problems.push(problem(
                    path,
                    "out_of_range",
                    format!("{path} must be at most {hi}"),
                ));
            }
        }
        AttributeType::Boolean => {
            if !value.is_boolean() {
                problems.push(wrong_type(path, "true or false"));
            }
        }
        AttributeType::Date => {
            let Some(s) = value.as_str() else {
                problems.push(wrong_type(path, "a date string (YYYY-MM-DD)"));
                return;
            };
            if parse_date(s).is_none() {
                problems.push(problem(
                    path,
                    "invalid_date",
                    format!("{path} must be a real calendar date written YYYY-MM-DD"),
                ));
            }
        }
        AttributeType::Enum { values } => {
            let Some(s) = value.as_str() else {
                problems.push(wrong_type(path, "a string"));
                return;
            };
            if !values.iter().any(|v| v == s) {
                problems.push(problem(
                    path,
                    "not_in_enum",
                    format!("{path} must be one of: {}", values.join(", ")),
                ));
            }
        }
        AttributeType::Object { properties } => {
            let Some(object) = value.as_object() else {
                problems.push(wrong_type(path, "an object"));
                return;
            };
            validate_object(properties, object, path, mode, problems);
        }
        AttributeType::List { items, max_items } => {
            let Some(array) = value.as_array() else {
                problems.push(wrong_type(path, "a list"));
                return;
            };
            if let Some(max) = *max_items
                && array.len() > usize::try_from(max).unwrap_or(usize::MAX)
            {
                problems.push(problem(
                    path,
                    "too_many_items",
                    format!("{path} may hold at most {max} items"),
                ));
            }
            for (i, item) in array.iter().enumerate() {
                validate_value(items, item, &format!("{path}[{i}]"), mode, problems);
            }
        }
    }
}

/// Strict `YYYY-MM-DD` with a real calendar date (leap years included); nothing else.
fn parse_date(s: &str) -> Option<time::Date> {
    let mut parts = s.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let digits =
        |part: &str, len: usize| part.len() == len && part.bytes().all(|b| b.is_ascii_digit());
    if !(digits(year, 4) && digits(month, 2) && digits(day, 2)) {
        return None;
    }
    let month = time::Month::try_from(month.parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()
}

// --- wire form ------------------------------------------------------------------------------------
//
// serde cannot combine `flatten` with `deny_unknown_fields`, so the JSON shape is spelled out in
// these flat structs and converted to and from the typed public form.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum TypeTag {
    String,
    Number,
    Boolean,
    Date,
    Enum,
    Object,
    List,
}

impl TypeTag {
    fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Enum => "enum",
            Self::Object => "object",
            Self::List => "list",
        }
    }

    /// The type-specific fields that may appear with this tag.
    fn fields(self) -> &'static [&'static str] {
        match self {
            Self::String => &["max_length"],
            Self::Number => &["min", "max"],
            Self::Boolean | Self::Date => &[],
            Self::Enum => &["values"],
            Self::Object => &["properties"],
            Self::List => &["items", "max_items"],
        }
    }
}

/// Writes whole-valued bounds as JSON integers (`0`, not `0.0`) so schemas round-trip as written.
fn serialize_bound<S: serde::Serializer>(
    value: &Option<f64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    const EXACT_INTEGER_LIMIT: f64 = 9_007_199_254_740_992.0;
    match *value {
        Some(v) if v.fract() == 0.0 && v.abs() < EXACT_INTEGER_LIMIT => {
            serializer.serialize_i64(v as i64)
        }
        Some(v) => serializer.serialize_f64(v),
        None => serializer.serialize_none(),
    }
}

/// JSON form of a type specification (a list's `items`).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(no_recursion)]
struct TypeSpecWire {
    // The value type. (A doc comment here would make utoipa wrap the inline enum in an `allOf`
    // with an object type, which no string satisfies.)
    #[serde(rename = "type")]
    #[schema(inline)]
    ty: TypeTag,
    /// `string`: longest accepted value, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_length: Option<u32>,
    /// `number`: smallest accepted value, inclusive.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_bound"
    )]
    min: Option<f64>,
    /// `number`: largest accepted value, inclusive.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_bound"
    )]
    max: Option<f64>,
    /// `enum`: the accepted values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    values: Option<Vec<String>>,
    /// `object`: the object's attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    properties: Option<Vec<AttributeDef>>,
    /// `list`: the type of every element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    items: Option<Box<AttributeType>>,
    /// `list`: most elements accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_items: Option<u32>,
}

impl TryFrom<TypeSpecWire> for AttributeType {
    type Error = String;

    fn try_from(wire: TypeSpecWire) -> Result<Self, String> {
        let present = [
            ("max_length", wire.max_length.is_some()),
            ("min", wire.min.is_some()),
            ("max", wire.max.is_some()),
            ("values", wire.values.is_some()),
            ("properties", wire.properties.is_some()),
            ("items", wire.items.is_some()),
            ("max_items", wire.max_items.is_some()),
        ];
        let tag = wire.ty;
        if let Some((field, _)) = present
            .iter()
            .find(|(field, is_present)| *is_present && !tag.fields().contains(field))
        {
            return Err(format!(
                "field `{field}` does not apply to type `{}`",
                tag.as_str()
            ));
        }
        let missing = |field: &str| format!("type `{}` requires `{field}`", tag.as_str());
        Ok(match tag {
            TypeTag::String => Self::String {
                max_length: wire.max_length,
            },
            TypeTag::Number => Self::Number {
                min: wire.min,
                max: wire.max,
            },
            TypeTag::Boolean => Self::Boolean,
            TypeTag::Date => Self::Date,
            TypeTag::Enum => Self::Enum {
                values: wire.values.ok_or_else(|| missing("values"))?,
            },
            TypeTag::Object => Self::Object {
                properties: wire.properties.ok_or_else(|| missing("properties"))?,
            },
            TypeTag::List => Self::List {
                items: wire.items.ok_or_else(|| missing("items"))?,
                max_items: wire.max_items,
            },
        })
    }
}

impl From<AttributeType> for TypeSpecWire {
    fn from(ty: AttributeType) -> Self {
        let mut wire = Self {
            ty: ty.tag(),
            max_length: None,
            min: None,
            max: None,
            values: None,
            properties: None,
            items: None,
            max_items: None,
        };
        match ty {
            AttributeType::String { max_length } => wire.max_length = max_length,
            AttributeType::Number { min, max } => {
                wire.min = min;
                wire.max = max;
            }
            AttributeType::Boolean | AttributeType::Date => {}
            AttributeType::Enum { values } => wire.values = Some(values),
            AttributeType::Object { properties } => wire.properties = Some(properties),
            AttributeType::List { items, max_items } => {
                wire.items = Some(items);
                wire.max_items = max_items;
            }
        }
        wire
    }
}

/// JSON form of a named attribute: the type specification's fields plus name and flags.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(no_recursion)]
struct AttributeDefWire {
    /// Key in the attributes object: `^[a-z][a-z0-9_]{0,62}$`.
    name: String,
    // The value type. (A doc comment here would make utoipa wrap the inline enum in an `allOf`
    // with an object type, which no string satisfies.)
    #[serde(rename = "type")]
    #[schema(inline)]
    ty: TypeTag,
    /// `string`: longest accepted value, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_length: Option<u32>,
    /// `number`: smallest accepted value, inclusive.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_bound"
    )]
    min: Option<f64>,
    /// `number`: largest accepted value, inclusive.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_bound"
    )]
    max: Option<f64>,
    /// `enum`: the accepted values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    values: Option<Vec<String>>,
    /// `object`: the object's attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    properties: Option<Vec<AttributeDef>>,
    /// `list`: the type of every element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    items: Option<Box<AttributeType>>,
    /// `list`: most elements accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max_items: Option<u32>,
    /// Whether a fully registered identity must carry a non-null value.
    #[serde(default)]
    required: bool,
    /// How sensitive the value is; `personal` when omitted.
    #[serde(default)]
    pii: PiiClass,
    /// Whether the customer may change the value themselves.
    #[serde(default)]
    customer_editable: bool,
    /// Free text for admins and consent screens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// The tenant-defined OAuth scope that releases this top-level attribute as a claim of its own
    /// name (`^[a-z][a-z0-9_:.-]{0,62}$`, not a standard scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scope: Option<String>,
}

impl TryFrom<AttributeDefWire> for AttributeDef {
    type Error = String;

    fn try_from(wire: AttributeDefWire) -> Result<Self, String> {
        let spec = TypeSpecWire {
            ty: wire.ty,
            max_length: wire.max_length,
            min: wire.min,
            max: wire.max,
            values: wire.values,
            properties: wire.properties,
            items: wire.items,
            max_items: wire.max_items,
        };
        let ty =
            AttributeType::try_from(spec).map_err(|e| format!("attribute {:?}: {e}", wire.name))?;
        Ok(Self {
            name: wire.name,
            ty,
            required: wire.required,
            pii: wire.pii,
            customer_editable: wire.customer_editable,
            description: wire.description,
            scope: wire.scope,
        })
    }
}

impl From<AttributeDef> for AttributeDefWire {
    fn from(def: AttributeDef) -> Self {
        let spec = TypeSpecWire::from(def.ty);
        Self {
            name: def.name,
            ty: spec.ty,
            max_length: spec.max_length,
            min: spec.min,
            max: spec.max,
            values: spec.values,
            properties: spec.properties,
            items: spec.items,
            max_items: spec.max_items,
            required: def.required,
            pii: def.pii,
            customer_editable: def.customer_editable,
            description: def.description,
            scope: def.scope,
        }
    }
}

// The OpenAPI schemas describe the wire form, which is what clients see. These impls do not recurse
// into each other, which is what keeps the recursive types from looping during collection.

impl PartialSchema for AttributeDef {
    fn schema() -> RefOr<Schema> {
        <AttributeDefWire as PartialSchema>::schema()
    }
}

impl ToSchema for AttributeDef {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AttributeDef")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((PiiClass::name().into_owned(), PiiClass::schema()));
        schemas.push((AttributeType::name().into_owned(), AttributeType::schema()));
    }
}

impl PartialSchema for AttributeType {
    fn schema() -> RefOr<Schema> {
        <TypeSpecWire as PartialSchema>::schema()
    }
}

impl ToSchema for AttributeType {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("AttributeType")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((PiiClass::name().into_owned(), PiiClass::schema()));
        schemas.push((AttributeDef::name().into_owned(), AttributeDef::schema()));
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
    use serde_json::json;

    fn schema(value: Value) -> AttributeSchema {
        serde_json::from_value(value).unwrap()
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    /// The problems as `(attribute, code)` pairs, sorted, for compact assertions.
    fn problems(
        schema: &AttributeSchema,
        attrs: Value,
        mode: ValidationMode,
    ) -> Vec<(String, &'static str)> {
        let mut found: Vec<_> = match schema.validate(&object(attrs), mode) {
            Ok(()) => Vec::new(),
            Err(problems) => problems
                .into_iter()
                .map(|p| (p.attribute, p.code))
                .collect(),
        };
        found.sort();
        found
    }

    fn full(schema: &AttributeSchema, attrs: Value) -> Vec<(String, &'static str)> {
        problems(schema, attrs, ValidationMode::Full)
    }

    fn pairs(expected: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
        let mut v: Vec<_> = expected
            .iter()
            .map(|(a, c)| ((*a).to_owned(), *c))
            .collect();
        v.sort();
        v
    }

    fn schema_codes(schema: &AttributeSchema) -> Vec<(String, &'static str)> {
        let mut found: Vec<_> = match schema.check() {
            Ok(()) => Vec::new(),
            Err(problems) => problems.into_iter().map(|p| (p.path, p.code)).collect(),
        };
        found.sort();
        found
    }

    fn example_json() -> Value {
        json!({"attributes": [
            {"name":"given_name","type":"string","max_length":100,"required":true,"pii":"personal","customer_editable":true},
            {"name":"age","type":"number","min":0,"max":150},
            {"name":"newsletter","type":"boolean"},
            {"name":"birthdate","type":"date"},
            {"name":"plan","type":"enum","values":["free","pro"]},
            {"name":"address","type":"object","properties":[
                {"name":"street","type":"string"},
                {"name":"city","type":"string","required":true}
            ]},
            {"name":"tags","type":"list","items":{"type":"string","max_length":30},"max_items":20}
        ]})
    }

    fn example() -> AttributeSchema {
        schema(example_json())
    }

    // --- JSON shape ------------------------------------------------------------------------------

    #[test]
    fn an_attribute_with_every_flag_round_trips_exactly() {
        let input = json!({"name":"given_name","type":"string","max_length":100,"required":true,"pii":"personal","customer_editable":true});
        let def: AttributeDef = serde_json::from_value(input.clone()).unwrap();
        assert_eq!(def.name, "given_name");
        assert_eq!(
            def.ty,
            AttributeType::String {
                max_length: Some(100)
            }
        );
        assert!(def.required && def.customer_editable);
        assert_eq!(def.pii, PiiClass::Personal);
        assert_eq!(serde_json::to_value(&def).unwrap(), input);
    }

    #[test]
    fn the_example_schema_round_trips_with_defaults_made_explicit() {
        let parsed = example();
        let written = serde_json::to_value(&parsed).unwrap();
        // Omitted flags come back explicit: readers of a schema see the effective values.
        let mut expected = example_json();
        for def in expected["attributes"].as_array_mut().unwrap() {
            let def = def.as_object_mut().unwrap();
            def.entry("required").or_insert(json!(false));
            def.entry("pii").or_insert(json!("personal"));
            def.entry("customer_editable").or_insert(json!(false));
            if let Some(props) = def.get_mut("properties") {
                for p in props.as_array_mut().unwrap() {
                    let p = p.as_object_mut().unwrap();
                    p.entry("required").or_insert(json!(false));
                    p.entry("pii").or_insert(json!("personal"));
                    p.entry("customer_editable").or_insert(json!(false));
                }
            }
        }
        assert_eq!(written, expected);
        let reparsed: AttributeSchema = serde_json::from_value(written).unwrap();
        assert_eq!(reparsed, parsed);
    }

    #[test]
    fn whole_number_bounds_are_written_as_integers_and_fractions_as_floats() {
        let def: AttributeDef =
            serde_json::from_value(json!({"name":"score","type":"number","min":-1,"max":2.5}))
                .unwrap();
        let written = serde_json::to_value(&def).unwrap();
        assert_eq!(written["min"], json!(-1));
        assert_eq!(written["max"], json!(2.5));
    }

    #[test]
    fn the_example_parses_into_typed_definitions() {
        let s = example();
        assert_eq!(
            s.get("age").unwrap().ty,
            AttributeType::Number {
                min: Some(0.0),
                max: Some(150.0)
            }
        );
        assert_eq!(s.get("newsletter").unwrap().ty, AttributeType::Boolean);
        assert_eq!(s.get("birthdate").unwrap().ty, AttributeType::Date);
        assert_eq!(
            s.get("plan").unwrap().ty,
            AttributeType::Enum {
                values: vec!["free".into(), "pro".into()]
            }
        );
        assert_eq!(
            s.get("tags").unwrap().ty,
            AttributeType::List {
                items: Box::new(AttributeType::String {
                    max_length: Some(30)
                }),
                max_items: Some(20)
            }
        );
        assert_eq!(s.get("address").unwrap().ty.type_name(), "object");
        assert_eq!(s.get("age").unwrap().pii, PiiClass::Personal);
        assert!(!s.get("age").unwrap().required);
        assert_eq!(s.get("missing"), None);
        assert_eq!(
            s.names().collect::<Vec<_>>(),
            [
                "given_name",
                "age",
                "newsletter",
                "birthdate",
                "plan",
                "address",
                "tags"
            ]
        );
    }

    #[test]
    fn pii_classes_are_lowercase_words() {
        for (class, word) in [
            (PiiClass::None, "none"),
            (PiiClass::Personal, "personal"),
            (PiiClass::Sensitive, "sensitive"),
        ] {
            assert_eq!(serde_json::to_value(class).unwrap(), json!(word));
        }
        assert_eq!(PiiClass::default(), PiiClass::Personal);
    }

    #[test]
    fn an_empty_object_is_an_empty_schema() {
        assert_eq!(schema(json!({})), AttributeSchema::default());
    }

    #[test]
    fn unknown_fields_are_refused_when_reading_a_schema() {
        let bad = [
            json!({"attributes": [], "extra": 1}),
            json!({"attributes": [{"name":"a","type":"string","colour":"red"}]}),
            json!({"attributes": [{"name":"a","type":"list","items":{"type":"string","name":"x"}}]}),
            json!({"attributes": [{"name":"a","type":"list","items":{"type":"string","required":true}}]}),
        ];
        for value in bad {
            assert!(
                serde_json::from_value::<AttributeSchema>(value.clone()).is_err(),
                "{value}"
            );
        }
    }

    #[test]
    fn fields_of_another_type_are_refused_when_reading_a_schema() {
        let err = serde_json::from_value::<AttributeDef>(
            json!({"name":"a","type":"string","values":["x"]}),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("`values` does not apply to type `string`"),
            "{err}"
        );
        assert!(
            serde_json::from_value::<AttributeDef>(json!({"name":"a","type":"boolean","max":1}))
                .is_err()
        );
        assert!(
            serde_json::from_value::<AttributeDef>(
                json!({"name":"a","type":"number","max_length":1})
            )
            .is_err()
        );
    }

    #[test]
    fn type_specific_required_fields_and_unknown_types_are_refused() {
        for value in [
            json!({"name":"a","type":"enum"}),
            json!({"name":"a","type":"object"}),
            json!({"name":"a","type":"list"}),
            json!({"name":"a","type":"uuid"}),
            json!({"name":"a"}),
            json!({"type":"string"}),
        ] {
            assert!(
                serde_json::from_value::<AttributeDef>(value.clone()).is_err(),
                "{value}"
            );
        }
    }

    #[test]
    fn openapi_schemas_are_collected_without_looping() {
        let mut collected = Vec::new();
        <AttributeSchema as ToSchema>::schemas(&mut collected);
        let names: Vec<&str> = collected.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"AttributeDef"), "{names:?}");
        assert!(names.contains(&"AttributeType"), "{names:?}");
        assert!(names.contains(&"PiiClass"), "{names:?}");
        let def = serde_json::to_value(AttributeDef::schema()).unwrap();
        assert_eq!(def["properties"]["type"]["type"], json!("string"), "{def}");
        assert_eq!(
            def["properties"]["type"]["enum"].as_array().map(Vec::len),
            Some(7)
        );
        assert!(def["properties"]["max_items"].is_object(), "{def}");
    }

    // --- schema self-check -----------------------------------------------------------------------

    #[test]
    fn the_example_schema_passes_its_own_check() {
        assert_eq!(example().check(), Ok(()));
        assert_eq!(AttributeSchema::default().check(), Ok(()));
    }

    #[test]
    fn names_must_be_lowercase_identifiers_of_at_most_63_characters() {
        let ok = "a".repeat(63);
        let long = "a".repeat(64);
        let s = schema(json!({"attributes": [
            {"name": "given_name2", "type": "string"},
            {"name": ok, "type": "string"},
            {"name": long, "type": "string"},
            {"name": "GivenName", "type": "string"},
            {"name": "2fa", "type": "string"},
            {"name": "_x", "type": "string"},
            {"name": "a-b", "type": "string"},
            {"name": "a.b", "type": "string"},
            {"name": "", "type": "string"}
        ]}));
        let long_path = "a".repeat(64);
        assert_eq!(
            schema_codes(&s),
            pairs(&[
                (&long_path, "invalid_name"),
                ("GivenName", "invalid_name"),
                ("2fa", "invalid_name"),
                ("_x", "invalid_name"),
                ("a-b", "invalid_name"),
                ("a.b", "invalid_name"),
                ("", "invalid_name"),
            ])
        );
    }

    #[test]
    fn names_are_unique_per_level_but_may_repeat_across_levels() {
        let s = schema(json!({"attributes": [
            {"name": "city", "type": "string"},
            {"name": "city", "type": "number"},
            {"name": "address", "type": "object", "properties": [
                {"name": "city", "type": "string"},
                {"name": "zip", "type": "string"},
                {"name": "zip", "type": "string"}
            ]}
        ]}));
        assert_eq!(
            schema_codes(&s),
            pairs(&[
                ("city", "duplicate_name"),
                ("address.zip", "duplicate_name")
            ])
        );
    }

    #[test]
    fn a_tenant_scope_releases_top_level_attributes_under_names_of_their_own() {
        let s = schema(json!({"attributes": [
            {"name": "loyalty_tier", "type": "string", "scope": "loyalty"},
            {"name": "points", "type": "number", "scope": "loyalty"},
            {"name": "orders", "type": "list", "items": {"type": "string"}, "scope": "orders:read"},
            {"name": "plan", "type": "string"}
        ]}));
        assert_eq!(schema_codes(&s), pairs(&[]));
        assert_eq!(s.scopes(), vec!["loyalty", "orders:read"]);
        let granted = vec!["openid".to_owned(), "loyalty".to_owned()];
        let released: Vec<&str> = s.released_by(&granted).map(|d| d.name.as_str()).collect();
        assert_eq!(released, vec!["loyalty_tier", "points"]);
        let back = serde_json::to_value(&s).unwrap();
        assert_eq!(back["attributes"][0]["scope"], json!("loyalty"));
        assert!(back["attributes"][3].get("scope").is_none());
    }

    #[test]
    fn a_tenant_scope_cannot_shadow_a_standard_scope_or_claim_or_sit_on_a_nested_attribute() {
        let s = schema(json!({"attributes": [
            {"name": "tier", "type": "string", "scope": "profile"},
            {"name": "email", "type": "string", "scope": "contact"},
            {"name": "updated_at", "type": "string", "scope": "meta"},
            {"name": "locale", "type": "string", "scope": "meta"},
            {"name": "odd", "type": "string", "scope": "Loyalty"},
            {"name": "sub_scope", "type": "string", "scope": ""},
            {"name": "home", "type": "object", "properties": [
                {"name": "city", "type": "string", "scope": "home"}
            ]}
        ]}));
        assert_eq!(
            schema_codes(&s),
            pairs(&[
                ("tier", "reserved_scope"),
                ("email", "reserved_claim"),
                ("updated_at", "reserved_claim"),
                ("locale", "reserved_claim"),
                ("odd", "invalid_scope"),
                ("sub_scope", "invalid_scope"),
                ("home.city", "nested_scope"),
            ])
        );
    }

    #[test]
    fn enums_need_unique_values() {
        let s = schema(json!({"attributes": [
            {"name": "empty", "type": "enum", "values": []},
            {"name": "dup", "type": "enum", "values": ["a", "b", "a"]}
        ]}));
        assert_eq!(
            schema_codes(&s),
            pairs(&[("empty", "empty_enum"), ("dup", "duplicate_enum_value")])
        );
    }

    #[test]
    fn number_bounds_must_be_ordered_and_finite() {
        let s = schema(json!({"attributes": [
            {"name": "ok", "type": "number", "min": 5, "max": 5},
            {"name": "bad", "type": "number", "min": 10, "max": 1}
        ]}));
        assert_eq!(schema_codes(&s), pairs(&[("bad", "min_greater_than_max")]));

        let built = AttributeSchema {
            attributes: vec![AttributeDef {
                name: "x".into(),
                ty: AttributeType::Number {
                    min: Some(f64::NAN),
                    max: None,
                },
                required: false,
                pii: PiiClass::None,
                customer_editable: false,
                description: None,
                scope: None,
            }],
        };
        assert_eq!(schema_codes(&built), pairs(&[("x", "not_finite")]));
    }

    #[test]
    fn max_length_is_1_to_65536_and_max_items_at_least_1() {
        let s = schema(json!({"attributes": [
            {"name": "at_limit", "type": "string", "max_length": 65536},
            {"name": "over", "type": "string", "max_length": 65537},
            {"name": "zero", "type": "string", "max_length": 0},
            {"name": "no_items", "type": "list", "items": {"type": "boolean"}, "max_items": 0},
            {"name": "bad_items", "type": "list", "items": {"type": "string", "max_length": 70000}}
        ]}));
        assert_eq!(
            schema_codes(&s),
            pairs(&[
                ("over", "invalid_max_length"),
                ("zero", "invalid_max_length"),
                ("no_items", "invalid_max_items"),
                ("bad_items[]", "invalid_max_length"),
            ])
        );
    }

    #[test]
    fn nesting_is_limited_to_four_levels() {
        let four = json!({"attributes": [
            {"name": "a", "type": "object", "properties": [
                {"name": "b", "type": "object", "properties": [
                    {"name": "c", "type": "object", "properties": [
                        {"name": "d", "type": "string"}
                    ]}
                ]}
            ]}
        ]});
        assert_eq!(schema(four).check(), Ok(()));

        let five = json!({"attributes": [
            {"name": "a", "type": "object", "properties": [
                {"name": "b", "type": "object", "properties": [
                    {"name": "c", "type": "object", "properties": [
                        {"name": "d", "type": "object", "properties": [
                            {"name": "e", "type": "string"}
                        ]}
                    ]}
                ]}
            ]}
        ]});
        assert_eq!(
            schema_codes(&schema(five)),
            pairs(&[("a.b.c.d.e", "too_deep")])
        );
    }

    #[test]
    fn list_items_count_as_a_level() {
        let ok = json!({"attributes": [
            {"name": "a", "type": "list", "items": {"type": "list", "items": {"type": "list", "items": {"type": "string"}}}}
        ]});
        assert_eq!(schema(ok).check(), Ok(()));
        let too_deep = json!({"attributes": [
            {"name": "a", "type": "list", "items": {"type": "list", "items": {"type": "list", "items":
                {"type": "list", "items": {"type": "string"}}}}}
        ]});
        assert_eq!(
            schema_codes(&schema(too_deep)),
            pairs(&[("a[][][][]", "too_deep")])
        );
        let objects_in_list = json!({"attributes": [
            {"name": "a", "type": "list", "items": {"type": "object", "properties": [
                {"name": "b", "type": "object", "properties": [{"name": "c", "type": "string"}]}
            ]}}
        ]});
        assert_eq!(schema(objects_in_list).check(), Ok(()));
        let objects_in_list_too_deep = json!({"attributes": [
            {"name": "a", "type": "list", "items": {"type": "object", "properties": [
                {"name": "b", "type": "object", "properties": [
                    {"name": "c", "type": "object", "properties": [{"name": "d", "type": "string"}]}
                ]}
            ]}}
        ]});
        assert_eq!(
            schema_codes(&schema(objects_in_list_too_deep)),
            pairs(&[("a[].b.c.d", "too_deep")])
        );
    }

    #[test]
    fn at_most_200_attributes_counting_nested_ones() {
        let defs = |n: usize| -> Vec<Value> {
            (0..n)
                .map(|i| json!({"name": format!("a{i}"), "type": "boolean"}))
                .collect()
        };
        assert_eq!(schema(json!({"attributes": defs(200)})).check(), Ok(()));
        assert_eq!(
            schema_codes(&schema(json!({"attributes": defs(201)}))),
            pairs(&[("", "too_many_attributes")])
        );
        let mut nested = defs(199);
        nested.push(
            json!({"name": "obj", "type": "object", "properties": [{"name": "x", "type": "date"}]}),
        );
        assert_eq!(
            schema_codes(&schema(json!({"attributes": nested}))),
            pairs(&[("", "too_many_attributes")])
        );
    }

    #[test]
    fn all_schema_problems_are_reported_together() {
        let s = schema(json!({"attributes": [
            {"name": "Bad", "type": "enum", "values": []},
            {"name": "n", "type": "number", "min": 2, "max": 1}
        ]}));
        let problems = s.check().unwrap_err();
        assert_eq!(problems.len(), 3);
        assert!(problems.iter().all(|p| !p.message.is_empty()));
    }

    // --- validating values: each type -------------------------------------------------------------

    #[test]
    fn strings_are_measured_in_characters() {
        let s =
            schema(json!({"attributes": [{"name": "nick", "type": "string", "max_length": 3}]}));
        assert_eq!(full(&s, json!({"nick": "abc"})), pairs(&[]));
        assert_eq!(full(&s, json!({"nick": "äöü"})), pairs(&[]));
        assert_eq!(full(&s, json!({"nick": ""})), pairs(&[]));
        assert_eq!(
            full(&s, json!({"nick": "abcd"})),
            pairs(&[("nick", "too_long")])
        );
        assert_eq!(
            full(&s, json!({"nick": 3})),
            pairs(&[("nick", "wrong_type")])
        );
    }

    #[test]
    fn strings_refuse_control_characters_and_invisible_values_but_keep_line_breaks_and_joiners() {
        let s = schema(json!({"attributes": [{"name": "plan", "type": "string"}]}));
        for bad in [
            "\u{0}",
            "a\u{0}b",
            "\u{1}",
            "\u{7f}",
            "\u{85}x",
            "\u{202e}gpj.exe",
        ] {
            assert_eq!(
                full(&s, json!({ "plan": bad })),
                pairs(&[("plan", "control_character")]),
                "{bad:?}"
            );
        }
        for blank in [
            "\u{200b}",
            "\u{feff}\u{2060}",
            "\u{ad}",
            "\u{3164}",
            "\u{200e}\u{200f}",
            " \u{180e} ",
        ] {
            assert_eq!(
                full(&s, json!({ "plan": blank })),
                pairs(&[("plan", "blank")]),
                "{blank:?}"
            );
        }
        for good in [
            "Hauptstraße 1\nBerlin",
            "a\tb",
            "l\r\nm",
            "名前",
            "🙂",
            "👩\u{200d}💻",
            "a\u{200b}b",
        ] {
            assert_eq!(full(&s, json!({ "plan": good })), pairs(&[]), "{good:?}");
        }
    }

    #[test]
    fn strings_without_max_length_are_still_capped() {
        let s = schema(json!({"attributes": [{"name": "bio", "type": "string"}]}));
        let at_cap = "x".repeat(65_536);
        let over = "x".repeat(65_537);
        assert_eq!(full(&s, json!({"bio": at_cap})), pairs(&[]));
        assert_eq!(
            full(&s, json!({"bio": over})),
            pairs(&[("bio", "too_long")])
        );
    }

    #[test]
    fn numbers_respect_inclusive_bounds() {
        let s = example();
        assert_eq!(full(&s, json!({"given_name": "A", "age": 0})), pairs(&[]));
        assert_eq!(full(&s, json!({"given_name": "A", "age": 150})), pairs(&[]));
        assert_eq!(
            full(&s, json!({"given_name": "A", "age": 42.5})),
            pairs(&[])
        );
        assert_eq!(
            full(&s, json!({"given_name": "A", "age": -1})),
            pairs(&[("age", "out_of_range")])
        );
        assert_eq!(
            full(&s, json!({"given_name": "A", "age": 150.01})),
            pairs(&[("age", "out_of_range")])
        );
        assert_eq!(
            full(&s, json!({"given_name": "A", "age": "42"})),
            pairs(&[("age", "wrong_type")])
        );
    }

    #[test]
    fn booleans_must_be_true_or_false() {
        let s = example();
        assert_eq!(
            full(&s, json!({"given_name": "A", "newsletter": false})),
            pairs(&[])
        );
        assert_eq!(
            full(&s, json!({"given_name": "A", "newsletter": "yes"})),
            pairs(&[("newsletter", "wrong_type")])
        );
        assert_eq!(
            full(&s, json!({"given_name": "A", "newsletter": 1})),
            pairs(&[("newsletter", "wrong_type")])
        );
    }

    #[test]
    fn dates_must_be_real_calendar_days_in_yyyy_mm_dd() {
        let s = example();
        for good in ["1990-01-31", "2024-02-29", "2000-02-29"] {
            assert_eq!(
                full(&s, json!({"given_name": "A", "birthdate": good})),
                pairs(&[]),
                "{good}"
            );
        }
        for bad in [
            "2023-02-29",
            "1900-02-29",
            "1990-13-01",
            "1990-00-10",
            "1990-04-31",
            "1990-1-5",
            "90-01-05",
            "1990/01/05",
            "1990-01-05T00:00:00Z",
            "+1990-01-05",
            "",
            "1990-01-0x",
        ] {
            assert_eq!(
                full(&s, json!({"given_name": "A", "birthdate": bad})),
                pairs(&[("birthdate", "invalid_date")]),
                "{bad}"
            );
        }
        assert_eq!(
            full(&s, json!({"given_name": "A", "birthdate": 19900131})),
            pairs(&[("birthdate", "wrong_type")])
        );
    }

    #[test]
    fn enums_accept_only_listed_strings() {
        let s = example();
        assert_eq!(
            full(&s, json!({"given_name": "A", "plan": "pro"})),
            pairs(&[])
        );
        assert_eq!(
            full(&s, json!({"given_name": "A", "plan": "PRO"})),
            pairs(&[("plan", "not_in_enum")])
        );
        assert_eq!(
            full(&s, json!({"given_name": "A", "plan": "enterprise"})),
            pairs(&[("plan", "not_in_enum")])
        );
        assert_eq!(
            full(&s, json!({"given_name": "A", "plan": ["pro"]})),
            pairs(&[("plan", "wrong_type")])
        );
    }

    #[test]
    fn a_nan_built_in_code_arrives_as_null_and_so_counts_as_absent() {
        // JSON cannot carry NaN or infinities; serde_json turns a non-finite f64 into null.
        let s = example();
        let mut attrs = object(json!({"given_name": "A"}));
        attrs.insert("age".into(), json!(f64::NAN));
        assert_eq!(attrs["age"], Value::Null);
        assert_eq!(s.validate(&attrs, ValidationMode::Full), Ok(()));
    }

    // --- validating values: structure --------------------------------------------------------------

    #[test]
    fn unknown_attributes_are_refused_at_every_level() {
        let s = example();
        assert_eq!(
            full(
                &s,
                json!({"given_name": "A", "nickname": "x", "address": {"city": "Oslo", "zip": "0150"}})
            ),
            pairs(&[
                ("nickname", "unknown_attribute"),
                ("address.zip", "unknown_attribute")
            ])
        );
    }

    #[test]
    fn required_attributes_must_be_present_and_not_null() {
        let s = example();
        assert_eq!(full(&s, json!({})), pairs(&[("given_name", "required")]));
        assert_eq!(
            full(&s, json!({"given_name": null})),
            pairs(&[("given_name", "required")])
        );
        assert_eq!(full(&s, json!({"given_name": "Ada"})), pairs(&[]));
    }

    #[test]
    fn null_means_absent_for_optional_attributes() {
        let s = example();
        assert_eq!(
            full(
                &s,
                json!({"given_name": "A", "age": null, "address": null, "tags": null, "plan": null})
            ),
            pairs(&[])
        );
    }

    #[test]
    fn nested_objects_are_validated_with_dotted_paths() {
        let s = example();
        assert_eq!(
            full(
                &s,
                json!({"given_name": "A", "address": {"city": "Oslo", "street": "Karl Johans gate 1"}})
            ),
            pairs(&[])
        );
        assert_eq!(
            full(&s, json!({"given_name": "A", "address": {"street": 12}})),
            pairs(&[
                ("address.street", "wrong_type"),
                ("address.city", "required")
            ])
        );
        assert_eq!(
            full(&s, json!({"given_name": "A", "address": {"city": null}})),
            pairs(&[("address.city", "required")])
        );
        assert_eq!(
            full(&s, json!({"given_name": "A", "address": "Oslo"})),
            pairs(&[("address", "wrong_type")])
        );
    }

    #[test]
    fn optional_objects_may_be_left_out_even_with_required_properties() {
        let s = example();
        assert_eq!(full(&s, json!({"given_name": "A"})), pairs(&[]));
    }

    #[test]
    fn lists_check_their_length_and_every_item_with_indexed_paths() {
        let s = example();
        assert_eq!(full(&s, json!({"given_name": "A", "tags": []})), pairs(&[]));
        assert_eq!(
            full(&s, json!({"given_name": "A", "tags": ["vip", "beta"]})),
            pairs(&[])
        );
        let long = "x".repeat(31);
        assert_eq!(
            full(
                &s,
                json!({"given_name": "A", "tags": ["ok", 7, long, null]})
            ),
            pairs(&[
                ("tags[1]", "wrong_type"),
                ("tags[2]", "too_long"),
                ("tags[3]", "wrong_type")
            ])
        );
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert_eq!(
            full(&s, json!({"given_name": "A", "tags": many})),
            pairs(&[("tags", "too_many_items")])
        );
        assert_eq!(
            full(&s, json!({"given_name": "A", "tags": "vip"})),
            pairs(&[("tags", "wrong_type")])
        );
    }

    #[test]
    fn lists_of_objects_combine_indexes_and_dots() {
        let s = schema(json!({"attributes": [
            {"name": "phones", "type": "list", "items": {"type": "object", "properties": [
                {"name": "label", "type": "enum", "values": ["home", "work"]},
                {"name": "number", "type": "string", "required": true}
            ]}}
        ]}));
        assert_eq!(
            full(
                &s,
                json!({"phones": [{"label": "home", "number": "+1"}, {"label": "cell"}]})
            ),
            pairs(&[
                ("phones[1].label", "not_in_enum"),
                ("phones[1].number", "required")
            ])
        );
        assert_eq!(
            problems(
                &s,
                json!({"phones": [{"label": "cell"}]}),
                ValidationMode::Prospect
            ),
            pairs(&[("phones[0].label", "not_in_enum")])
        );
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let s = example();
        let found = full(
            &s,
            json!({"age": 200, "newsletter": "no", "plan": "gold", "birthdate": "1990-02-30", "x": 1}),
        );
        assert_eq!(
            found,
            pairs(&[
                ("given_name", "required"),
                ("age", "out_of_range"),
                ("newsletter", "wrong_type"),
                ("plan", "not_in_enum"),
                ("birthdate", "invalid_date"),
                ("x", "unknown_attribute"),
            ])
        );
        let detailed = s
            .validate(&object(json!({"age": 200})), ValidationMode::Full)
            .unwrap_err();
        assert!(detailed.iter().all(|p| !p.message.is_empty()));
    }

    #[test]
    fn prospect_mode_skips_required_but_nothing_else() {
        let s = example();
        assert_eq!(
            problems(&s, json!({}), ValidationMode::Prospect),
            pairs(&[])
        );
        assert_eq!(
            problems(&s, json!({"given_name": null}), ValidationMode::Prospect),
            pairs(&[])
        );
        assert_eq!(
            problems(&s, json!({"address": {}}), ValidationMode::Prospect),
            pairs(&[])
        );
        assert_eq!(
            problems(
                &s,
                json!({"age": "old", "other": 1}),
                ValidationMode::Prospect
            ),
            pairs(&[("age", "wrong_type"), ("other", "unknown_attribute")])
        );
    }

    #[test]
    fn problems_serialize_with_stable_field_names() {
        let p = AttributeProblem {
            attribute: "address.city".into(),
            code: "required",
            message: "address.city is required".into(),
        };
        assert_eq!(
            serde_json::to_value(&p).unwrap(),
            json!({"attribute": "address.city", "code": "required", "message": "address.city is required"})
        );
        let sp = SchemaProblem {
            path: "tags[]".into(),
            code: "too_deep",
            message: "m".into(),
        };
        assert_eq!(
            serde_json::to_value(&sp).unwrap(),
            json!({"path": "tags[]", "code": "too_deep", "message": "m"})
        );
    }

    // --- look-ups ----------------------------------------------------------------------------------

    #[test]
    fn customer_editable_follows_the_flag_and_is_false_for_unknown_names() {
        let s = example();
        assert!(s.customer_editable("given_name"));
        assert!(!s.customer_editable("age"));
        assert!(!s.customer_editable("nope"));
        assert!(!s.customer_editable("address.city"));
    }
}
