//! The policy document: one versioned document per tenant (and optionally per organization) that says
//! how Tessera behaves for it. Each capability owns one section; this file defines the frame and the
//! first sections. Unknown sections and fields are refused, so a typo never silently does nothing.
use serde::{Deserialize, Serialize};

/// The whole policy of a tenant or organization. Every section has defaults, so `{}` is a valid policy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyDocument {
    pub sessions: SessionPolicy,
    pub registration: RegistrationPolicy,
    pub authentication: AuthenticationPolicy,
}

/// How customers sign in: which methods are offered and what assurance a sign-in must reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuthenticationPolicy {
    /// The sign-in methods offered, by id (`password`, `email_code`), in the order the sign-in shows them.
    pub methods: Vec<String>,
    /// The authenticator assurance level every sign-in must reach: 1 (one factor) or 2 (two factors of
    /// different kinds, each allowed at that level).
    pub aal: i64,
}

impl Default for AuthenticationPolicy {
    fn default() -> Self {
        Self {
            methods: vec!["password".into()],
            aal: 1,
        }
    }
}

/// How long a customer stays signed in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct SessionPolicy {
    /// A session unused for this long ends.
    pub idle_timeout_minutes: u32,
    /// A session ends this long after sign-in, however active.
    pub absolute_lifetime_hours: u32,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_timeout_minutes: 3 * 24 * 60,
            absolute_lifetime_hours: 30 * 24,
        }
    }
}

/// Whether a new account must prove its email before it becomes active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailVerification {
    #[default]
    Required,
    Optional,
}

/// Which attributes a client needs before a customer may use it, and why (shown to the customer and kept
/// with the collected value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientProfileRequirement {
    pub client_id: String,
    pub attributes: Vec<String>,
    pub purpose: String,
}

/// Who may sign up and what they must give.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationPolicy {
    pub enabled: bool,
    pub email_verification: EmailVerification,
    /// Attributes asked at sign-up, beyond those the schema marks required.
    pub required_attributes: Vec<String>,
    /// Refuse addresses at known disposable-mail domains (the shipped list, adjusted below).
    pub block_disposable_email: bool,
    /// Domains refused in addition to the shipped list.
    pub blocked_email_domains: Vec<String>,
    /// Domains never refused, even if on the shipped list.
    pub allowed_email_domains: Vec<String>,
    /// Version of the terms of service a customer accepts at sign-up; recorded with the acceptance.
    pub terms_version: Option<String>,
    /// Version of the privacy notice shown at sign-up; recorded with the acceptance.
    pub privacy_notice_version: Option<String>,
    /// Progressive profiling: what each client needs, asked once at sign-in when missing.
    pub progressive_profiling: Vec<ClientProfileRequirement>,
}

impl Default for RegistrationPolicy {
    fn default() -> Self {
        Self {
            enabled: true,
            email_verification: EmailVerification::Required,
            required_attributes: Vec::new(),
            block_disposable_email: false,
            blocked_email_domains: Vec::new(),
            allowed_email_domains: Vec::new(),
            terms_version: None,
            privacy_notice_version: None,
            progressive_profiling: Vec::new(),
        }
    }
}

/// One reason a policy document was refused, with the JSON path of the offending value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PolicyProblem {
    pub path: String,
    pub message: String,
}

impl PolicyDocument {
    /// Parses and checks a document. `known_attributes` are the names in the tenant's attribute schema;
    /// the policy may only refer to those.
    pub fn parse(
        value: &serde_json::Value,
        known_attributes: &[&str],
    ) -> Result<Self, Vec<PolicyProblem>> {
        let doc: PolicyDocument = serde_json::from_value(value.clone()).map_err(|e| {
            vec![PolicyProblem {
                path: "$".into(),
                message: e.to_string(),
            }]
        })?;
        let problems = doc.check(known_attributes);
        if problems.is_empty() {
            Ok(doc)
        } else {
            Err(problems)
        }
    }

    /// Cross-field rules serde cannot express.
    pub fn check(&self, known_attributes: &[&str]) -> Vec<PolicyProblem> {
        let mut out = Vec::new();
        let mut problem = |path: &str, message: String| {
            out.push(PolicyProblem {
                path: path.into(),
                message,
            })
        };
        let s = &self.sessions;
        if s.idle_timeout_minutes < 5 {
            problem(
                "$.sessions.idle_timeout_minutes",
                "must be at least 5 minutes".into(),
            );
        }
        if s.absolute_lifetime_hours == 0 || s.absolute_lifetime_hours > 24 * 366 {
            problem(
                "$.sessions.absolute_lifetime_hours",
                "must be between 1 hour and 366 days".into(),
            );
        }
        if u64::from(s.idle_timeout_minutes) > u64::from(s.absolute_lifetime_hours) * 60 {
            problem(
                "$.sessions.idle_timeout_minutes",
                "must not exceed the absolute lifetime".into(),
            );
        }
        let a = &self.authentication;
        if a.methods.is_empty() {
            problem(
                "$.authentication.methods",
                "offer at least one sign-in method".into(),
            );
        }
        for (i, m) in a.methods.iter().enumerate() {
            if a.methods.iter().take(i).any(|earlier| earlier == m) {
                problem(
                    &format!("$.authentication.methods[{i}]"),
                    format!("{m:?} is listed twice"),
                );
            }
        }
        if !(1..=2).contains(&a.aal) {
            problem("$.authentication.aal", "must be 1 or 2".into());
        }
        let r = &self.registration;
        for (i, a) in r.required_attributes.iter().enumerate() {
            if !known_attributes.contains(&a.as_str()) {
                problem(
                    &format!("$.registration.required_attributes[{i}]"),
                    format!("no attribute {a:?} in the schema"),
                );
            }
        }
        for (i, req) in r.progressive_profiling.iter().enumerate() {
            if req.client_id.trim().is_empty() {
                problem(
                    &format!("$.registration.progressive_profiling[{i}].client_id"),
                    "must not be empty".into(),
                );
            }
            if req.purpose.trim().is_empty() {
                problem(
                    &format!("$.registration.progressive_profiling[{i}].purpose"),
                    "say why the data is needed".into(),
                );
            }
            for (j, a) in req.attributes.iter().enumerate() {
                if !known_attributes.contains(&a.as_str()) {
                    problem(
                        &format!("$.registration.progressive_profiling[{i}].attributes[{j}]"),
                        format!("no attribute {a:?} in the schema"),
                    );
                }
            }
        }
        for (field, list) in [
            ("blocked_email_domains", &r.blocked_email_domains),
            ("allowed_email_domains", &r.allowed_email_domains),
        ] {
            for (i, d) in list.iter().enumerate() {
                if crate::organization::normalize_domain(d).is_err() {
                    problem(
                        &format!("$.registration.{field}[{i}]"),
                        format!("{d:?} is not a domain"),
                    );
                }
            }
        }
        out
    }
}

/// Overlays an organization's partial document on its tenant's: objects merge key by key, anything
/// else (numbers, lists) in the override replaces the tenant's value.
pub fn merge_override(base: &serde_json::Value, over: &serde_json::Value) -> serde_json::Value {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                let merged = match b.get(k) {
                    Some(bv) => merge_override(bv, v),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            serde_json::Value::Object(out)
        }
        _ => over.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_empty_document_is_the_default_policy() {
        assert_eq!(
            PolicyDocument::parse(&json!({}), &[]).unwrap(),
            PolicyDocument::default()
        );
    }

    #[test]
    fn unknown_sections_and_fields_are_refused() {
        assert!(PolicyDocument::parse(&json!({"sesions": {}}), &[]).is_err());
        assert!(PolicyDocument::parse(&json!({"sessions": {"idle": 5}}), &[]).is_err());
    }

    #[test]
    fn policy_may_only_name_attributes_the_schema_has() {
        let doc = json!({"registration": {"required_attributes": ["given_name", "shoe_size"]}});
        let problems = PolicyDocument::parse(&doc, &["given_name"]).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "$.registration.required_attributes[1]");
    }

    #[test]
    fn idle_timeout_cannot_exceed_absolute_lifetime() {
        let doc = json!({"sessions": {"idle_timeout_minutes": 600, "absolute_lifetime_hours": 1}});
        assert!(PolicyDocument::parse(&doc, &[]).is_err());
    }

    #[test]
    fn organization_overrides_merge_into_the_tenant_policy() {
        let tenant = json!({"sessions": {"idle_timeout_minutes": 60, "absolute_lifetime_hours": 24}, "registration": {"enabled": true}});
        let org = json!({"sessions": {"idle_timeout_minutes": 15}});
        let merged = merge_override(&tenant, &org);
        assert_eq!(
            merged,
            json!({"sessions": {"idle_timeout_minutes": 15, "absolute_lifetime_hours": 24}, "registration": {"enabled": true}})
        );
    }
}
