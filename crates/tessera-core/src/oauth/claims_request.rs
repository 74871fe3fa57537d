//! The `claims` authorization parameter (OIDC Core §5.5), as far as Tessera honours it: an `acr` asked
//! for as *essential* (§5.5.1.1), which the sign-in must reach or the request fails with
//! `unmet_authentication_requirements`. Every other claim is released by scope (see [`super::claims`]);
//! asking for one by name, essential or not, changes nothing, which §5.5.1 allows ("not an error
//! condition" to leave a claim out).

use serde_json::Value;

/// The longest `claims` parameter taken; a request object's worth of JSON is not an acr request.
pub const MAX_CLAIMS_PARAM: usize = 4096;

/// The `acr` values one essential request accepts, in the order given; `Ok(None)` when no `acr` was
/// essential (or it was, without naming values: any `acr` then meets it). When both `id_token` and
/// `userinfo` ask, the one `acr` Tessera reports must satisfy both, so only values both name count.
pub fn essential_acr(claims: Option<&str>) -> Result<Option<Vec<String>>, &'static str> {
    let Some(raw) = claims else {
        return Ok(None);
    };
    if raw.len() > MAX_CLAIMS_PARAM {
        return Err("claims is too long");
    }
    let Ok(Value::Object(doc)) = serde_json::from_str::<Value>(raw) else {
        return Err("claims must be a JSON object");
    };
    let mut accepted: Option<Vec<String>> = None;
    for member in ["id_token", "userinfo"] {
        let requests = match doc.get(member) {
            None | Some(Value::Null) => continue,
            Some(Value::Object(o)) => o,
            Some(_) => return Err("claims.id_token and claims.userinfo must be objects"),
        };
        let Some(values) = essential_values(requests.get("acr"))? else {
            continue;
        };
        accepted = Some(match accepted {
            None => values,
            Some(before) => before.into_iter().filter(|v| values.contains(v)).collect(),
        });
    }
    Ok(accepted)
}

/// The values of one claim request (`null` or `{"essential", "value", "values"}`) when it is essential
/// and names values.
fn essential_values(request: Option<&Value>) -> Result<Option<Vec<String>>, &'static str> {
    let o = match request {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => return Err("a claim request must be null or an object"),
    };
    let essential = match o.get("essential") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("essential must be true or false"),
    };
    let mut values = Vec::new();
    match o.get("value") {
        None | Some(Value::Null) => {}
        Some(Value::String(v)) => values.push(v.clone()),
        Some(_) => return Err("an acr value must be a string"),
    }
    match o.get("values") {
        None | Some(Value::Null) => {}
        Some(Value::Array(vs)) => {
            for v in vs {
                let Value::String(v) = v else {
                    return Err("acr values must be strings");
                };
                values.push(v.clone());
            }
        }
        Some(_) => return Err("values must be an array"),
    }
    Ok((essential && !values.is_empty()).then_some(values))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn acr(raw: &str) -> Result<Option<Vec<String>>, &'static str> {
        essential_acr(Some(raw))
    }

    fn values(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn oidc_03_an_essential_acr_is_read_from_the_id_token_or_userinfo_request() {
        assert_eq!(essential_acr(None), Ok(None));
        assert_eq!(
            acr(r#"{"id_token":{"acr":{"essential":true,"value":"aal2"}}}"#),
            Ok(values(&["aal2"]))
        );
        assert_eq!(
            acr(r#"{"userinfo":{"acr":{"essential":true,"values":["aal1","aal2"]}}}"#),
            Ok(values(&["aal1", "aal2"]))
        );
        assert_eq!(
            acr(
                r#"{"id_token":{"acr":{"essential":true,"values":["aal1","aal2"]}},
                    "userinfo":{"acr":{"essential":true,"values":["aal2"]}}}"#
            ),
            Ok(values(&["aal2"])),
            "both must be met by the one acr reported"
        );
    }

    #[test]
    fn oidc_03_a_voluntary_or_valueless_acr_and_other_claims_ask_for_nothing() {
        for raw in [
            r#"{}"#,
            r#"{"id_token":{"acr":null}}"#,
            r#"{"id_token":{"acr":{"values":["aal2"]}}}"#,
            r#"{"id_token":{"acr":{"essential":false,"value":"aal2"}}}"#,
            r#"{"id_token":{"acr":{"essential":true}}}"#,
            r#"{"userinfo":{"email":{"essential":true}},"other":5}"#,
        ] {
            assert_eq!(acr(raw), Ok(None), "{raw}");
        }
    }

    #[test]
    fn oidc_03_a_malformed_claims_parameter_is_invalid() {
        for raw in [
            "not json",
            "[]",
            r#"{"id_token":[]}"#,
            r#"{"id_token":{"acr":"aal2"}}"#,
            r#"{"id_token":{"acr":{"essential":"yes","value":"aal2"}}}"#,
            r#"{"id_token":{"acr":{"essential":true,"values":"aal2"}}}"#,
            r#"{"id_token":{"acr":{"essential":true,"values":[2]}}}"#,
            r#"{"id_token":{"acr":{"essential":true,"value":2}}}"#,
        ] {
            assert!(acr(raw).is_err(), "{raw}");
        }
        let long = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_CLAIMS_PARAM));
        assert_eq!(acr(&long), Err("claims is too long"));
    }
}
