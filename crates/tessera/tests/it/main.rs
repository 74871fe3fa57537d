//! The one integration-test binary: every module is a chapter of the specification.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod admin_api;
mod admin_identities;
mod audit_log;
mod bootstrap;
mod browser;
mod cli;
mod codes;
mod dev_mailbox;
mod events;
mod flow_api;
mod flow_secret;
mod flows;
mod guard;
mod logging;
mod methods;
mod oauth_clients;
mod oidc_attacks;
mod oidc_caches;
mod oidc_conformance;
mod oidc_consent;
mod oidc_device;
mod oidc_flow;
mod oidc_grants_end;
mod oidc_logout;
mod oidc_par;
mod oidc_red_team;
mod oidc_scopes;
mod oidc_sso_profile;
mod oidc_tokens;
mod openapi;
mod outage;
mod pages;
mod roles;
mod scripts;
mod security_coverage;
mod sessions;
mod signing_keys;
mod store_suite;
mod store_tx;
mod worker;
