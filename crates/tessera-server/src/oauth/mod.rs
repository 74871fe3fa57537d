//! The tenant's OAuth 2.0 / OpenID Connect endpoints on the public listener, under `/t/{tenant}/oauth2/`.
//! Handlers are thin: read the request in its protocol's form (`form.rs`), make one core call, answer;
//! every error goes through `crate::error::oauth::OAuthError`.
pub mod authorize;
pub mod cors;
pub mod device;
pub mod device_page;
pub mod discovery;
pub mod form;
pub mod introspect;
pub mod logout;
pub mod par;
pub mod revoke;
pub mod token;
pub mod userinfo;
