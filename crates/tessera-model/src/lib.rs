//! Plain domain data for Tessera: typed ids, identities, tenants, organizations, policies, API keys and
//! events, with the validation rules that belong to the data itself. No I/O lives here, so every rule
//! can be tested without a database or a network.
#![forbid(unsafe_code)]

pub mod api_key;
pub mod attributes;
pub mod event;
pub mod event_kinds;
pub mod flow;
pub mod identifier;
pub mod identity;
pub mod ids;
pub mod oauth_client;
pub mod organization;
pub mod password_policy;
pub mod policy;
pub mod redirect_uri;
pub mod signing_key;
pub mod tenant;

pub use ids::*;
