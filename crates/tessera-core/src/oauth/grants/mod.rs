//! One file per grant of the token endpoint; `token.rs` dispatches to them.
pub(crate) mod authorization_code;
pub(crate) mod client_credentials;
pub(crate) mod device_code;
pub(crate) mod refresh_token;
