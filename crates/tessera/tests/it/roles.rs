//! ADM-01: deny by default, per endpoint, for every role. Each role's key calls every admin endpoint; the
//! answer is 403 exactly when the role lacks the endpoint's permission. Ids are random, so permitted calls
//! answer 404 (or 409/201) without changing anything that matters, while denied ones never get that far.
use serde_json::{Value, json};
use tessera_model::api_key::{Permission, Role};
use tessera_testkit::{Engine, Resp, TestServer, engine_tests};

fn endpoints() -> Vec<(reqwest::Method, String, Option<Value>, Permission)> {
    use Permission::*;
    use reqwest::Method as M;
    let t = "/admin/v1/tenants/default";
    let id = uuid::Uuid::now_v7();
    let org = uuid::Uuid::now_v7();
    vec![
        (M::GET, "/admin/v1/tenants".into(), None, TenantRead),
        (M::GET, t.into(), None, TenantRead),
        (
            M::POST,
            "/admin/v1/tenants".into(),
            Some(json!({"slug": "default", "name": "Taken"})),
            TenantWrite,
        ),
        (
            M::PATCH,
            t.into(),
            Some(json!({"name": "Default"})),
            TenantWrite,
        ),
        (M::GET, format!("{t}/identities"), None, IdentityRead),
        (M::GET, format!("{t}/identities/{id}"), None, IdentityRead),
        (
            M::POST,
            format!("{t}/identities"),
            Some(
                json!({"identifiers": [{"kind": "email", "value": format!("{}@example.com", uuid::Uuid::now_v7().simple())}]}),
            ),
            IdentityWrite,
        ),
        (
            M::PATCH,
            format!("{t}/identities/{id}"),
            Some(json!({"attributes": {}})),
            IdentityWrite,
        ),
        (
            M::POST,
            format!("{t}/identities"),
            Some(
                json!({"identifiers": [{"kind": "email", "value": format!("{}@example.com", uuid::Uuid::now_v7().simple()), "verified": true}]}),
            ),
            IdentityVerify,
        ),
        (
            M::PATCH,
            format!("{t}/identities/{id}"),
            Some(
                json!({"identifiers": [{"kind": "email", "value": "v@example.com", "verified": true}]}),
            ),
            IdentityVerify,
        ),
        (
            M::POST,
            format!("{t}/identities/{id}/suspend"),
            None,
            IdentityWrite,
        ),
        (
            M::POST,
            format!("{t}/identities/{id}/reactivate"),
            None,
            IdentityWrite,
        ),
        (
            M::POST,
            format!("{t}/identities/{id}/schedule-deletion"),
            None,
            IdentityDelete,
        ),
        (
            M::DELETE,
            format!("{t}/identities/{id}"),
            None,
            IdentityDelete,
        ),
        (M::GET, format!("{t}/attribute-schema"), None, SchemaRead),
        (
            M::PUT,
            format!("{t}/attribute-schema"),
            Some(json!({"attributes": []})),
            SchemaWrite,
        ),
        (M::GET, format!("{t}/policy"), None, PolicyRead),
        (M::GET, format!("{t}/policy/versions"), None, PolicyRead),
        (M::GET, format!("{t}/policy/versions/1"), None, PolicyRead),
        (M::GET, format!("{t}/policy/effective"), None, PolicyRead),
        (
            M::PUT,
            format!("{t}/policy"),
            Some(json!({"document": {}, "reason": "matrix"})),
            PolicyWrite,
        ),
        (
            M::GET,
            format!("{t}/organizations/{org}/policy"),
            None,
            PolicyRead,
        ),
        (
            M::PUT,
            format!("{t}/organizations/{org}/policy"),
            Some(json!({"document": {}, "reason": "matrix"})),
            PolicyWrite,
        ),
        (M::GET, format!("{t}/organizations"), None, OrganizationRead),
        (
            M::GET,
            format!("{t}/organizations/{org}"),
            None,
            OrganizationRead,
        ),
        (
            M::GET,
            format!("{t}/organizations/{org}/members"),
            None,
            OrganizationRead,
        ),
        (
            M::POST,
            format!("{t}/organizations"),
            Some(json!({"name": format!("Org {}", uuid::Uuid::now_v7().simple())})),
            OrganizationWrite,
        ),
        (
            M::PATCH,
            format!("{t}/organizations/{org}"),
            Some(json!({})),
            OrganizationWrite,
        ),
        (
            M::DELETE,
            format!("{t}/organizations/{org}"),
            None,
            OrganizationWrite,
        ),
        (
            M::POST,
            format!("{t}/organizations/{org}/members"),
            Some(json!({"identity_id": id})),
            OrganizationWrite,
        ),
        (
            M::PUT,
            format!("{t}/organizations/{org}/members/{id}"),
            Some(json!({"roles": []})),
            OrganizationWrite,
        ),
        (
            M::DELETE,
            format!("{t}/organizations/{org}/members/{id}"),
            None,
            OrganizationWrite,
        ),
        (M::GET, "/admin/v1/api-keys".into(), None, ApiKeyRead),
        (
            M::POST,
            "/admin/v1/api-keys".into(),
            Some(
                json!({"name": format!("k{}", uuid::Uuid::now_v7().simple()), "role": "readonly"}),
            ),
            ApiKeyWrite,
        ),
        (
            M::DELETE,
            format!("/admin/v1/api-keys/{}", uuid::Uuid::now_v7()),
            None,
            ApiKeyWrite,
        ),
        (M::GET, format!("{t}/events"), None, EventRead),
        (M::GET, format!("{t}/mail/dead-letters"), None, MailRead),
        (
            M::POST,
            format!("{t}/mail/dead-letters/{id}/replay"),
            None,
            MailReplay,
        ),
        (M::GET, "/admin/v1/audit/verify".into(), None, AuditVerify),
        (M::GET, format!("{t}/clients"), None, ClientRead),
        (M::GET, format!("{t}/clients/nobody"), None, ClientRead),
        (
            M::POST,
            format!("{t}/clients"),
            Some(json!({"name": "Matrix", "grant_types": ["client_credentials"], "scopes": ["a"]})),
            ClientWrite,
        ),
        (
            M::PUT,
            format!("{t}/clients/nobody"),
            Some(json!({"name": "Matrix", "grant_types": ["client_credentials"]})),
            ClientWrite,
        ),
        (
            M::POST,
            format!("{t}/clients/nobody/secret"),
            None,
            ClientWrite,
        ),
        (M::DELETE, format!("{t}/clients/nobody"), None, ClientWrite),
        (
            M::GET,
            format!("{t}/identities/{id}/consents"),
            None,
            IdentityRead,
        ),
        (
            M::DELETE,
            format!("{t}/identities/{id}/consents/nobody"),
            None,
            IdentityWrite,
        ),
    ]
}

async fn adm_01_every_role_is_checked_on_every_endpoint(engine: Engine) {
    let Some(s) = TestServer::start(engine).await else {
        return;
    };
    let mut failures = Vec::new();
    for role in Role::ALL {
        let key = s
            .mint_key(&format!("matrix-{}", role.as_str()), role.as_str(), None)
            .await;
        for (method, path, body, permission) in endpoints() {
            let mut req = s.admin_req_as(&key, method.clone(), &path);
            if let Some(b) = &body {
                req = req.json(b);
            }
            let r = Resp::from(req.send().await.unwrap()).await;
            let denied = r.status == 403;
            if denied == role.allows(permission) || r.status >= 500 || r.status == 401 {
                failures.push(format!(
                    "{} {method} {path}: {} {}",
                    role.as_str(),
                    r.status,
                    r.json["code"]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "role checks disagree with the permission table:\n{}",
        failures.join("\n")
    );
}

/// The role table in the docs is the one the code enforces.
#[test]
fn the_documented_role_table_matches_the_code() {
    let doc = include_str!("../../../../docs/admin-roles.md");
    let header = doc
        .lines()
        .find(|l| l.starts_with("| permission |"))
        .unwrap();
    let roles: Vec<&str> = header
        .split('|')
        .map(str::trim)
        .skip(3)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        roles,
        Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>()
    );
    let mut seen = 0;
    for p in Permission::ALL {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", p.as_str())))
            .unwrap_or_else(|| panic!("{} undocumented", p.as_str()));
        let cells: Vec<&str> = row
            .split('|')
            .map(str::trim)
            .skip(3)
            .filter(|c| !c.is_empty())
            .collect();
        for (role, cell) in Role::ALL.iter().zip(cells) {
            assert_eq!(
                cell == "✓",
                role.allows(p),
                "docs say {cell} for {} / {}",
                role.as_str(),
                p.as_str()
            );
        }
        seen += 1;
    }
    assert_eq!(seen, Permission::ALL.len());
}

engine_tests!(adm_01_every_role_is_checked_on_every_endpoint);
