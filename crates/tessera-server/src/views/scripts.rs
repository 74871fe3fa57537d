//! The scripts a sign-in method may ask the hosted page to run (a passkey ceremony): static files
//! shipped in `assets/static` and embedded in the binary, each served at its own path on the public
//! listener with its Subresource Integrity hash computed once from the embedded bytes. A script node
//! names one by path; a path that is not shipped is never drawn, so no code ever comes from data.
//!
//! The page that runs one is served with a fresh nonce in its CSP (`script-src 'nonce-…'`, see
//! `public::respond::html_headers`); a page without script nodes gets no `script-src` at all.
use std::sync::LazyLock;

use tessera_model::flow::{Flow, NodeType};

/// Every script Tessera ships: (path on the public listener, source).
const SHIPPED: &[(&str, &str)] = &[(
    "/assets/webauthn.js",
    include_str!("../../../../assets/static/webauthn.js"),
)];

/// A shipped script.
#[derive(Debug)]
pub struct Script {
    pub path: &'static str,
    pub source: &'static str,
    /// `sha384-…` of `source`, for the `integrity` attribute.
    pub integrity: String,
}

static SCRIPTS: LazyLock<Vec<Script>> = LazyLock::new(|| {
    SHIPPED
        .iter()
        .map(|(path, source)| Script {
            path,
            source,
            integrity: tessera_crypto::sri_sha384(source.as_bytes()),
        })
        .collect()
});

/// Every shipped script, for the router.
pub fn shipped() -> &'static [Script] {
    &SCRIPTS
}

/// The shipped script at `path`.
pub fn script(path: &str) -> Option<&'static Script> {
    SCRIPTS.iter().find(|s| s.path == path)
}

/// A script node's data (JSON text) as the page hands it to the script, in a `data-value` attribute:
/// the same JSON with `<`, `>` and `&` written as `\u003c`, `\u003e`, `\u0026` (in JSON they can only
/// occur inside strings, where the escapes mean the same). Browsers refuse the nonce of a script
/// element any of whose attributes holds `<script` or `<style` (the HTML standard's defence against
/// dangling markup stealing a nonce), so data a customer typed could otherwise disable the method's
/// script. `None` when the text is not JSON.
pub fn script_data(value: &str) -> Option<String> {
    let parsed: serde_json::Value = serde_json::from_str(value).ok()?;
    Some(
        parsed
            .to_string()
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026"),
    )
}

/// Whether a flow shows a script node (then its page needs a nonce).
pub fn has_script(flow: &Flow) -> bool {
    flow.ui
        .nodes
        .iter()
        .any(|n| n.node_type == NodeType::Script)
}

/// Sets the `integrity` of every script node naming a shipped script, for the JSON API's clients (an app
/// that loads the script itself can check it); a node naming anything else keeps none.
pub fn fill_integrity(flow: &mut Flow) {
    for n in &mut flow.ui.nodes {
        if n.node_type == NodeType::Script {
            n.integrity = n
                .src
                .as_deref()
                .and_then(script)
                .map(|s| s.integrity.clone());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_script_is_a_same_origin_asset_with_its_sri_hash() {
        assert!(!shipped().is_empty());
        for s in shipped() {
            assert!(
                s.path.starts_with("/assets/") && s.path.ends_with(".js"),
                "{}",
                s.path
            );
            assert_eq!(s.integrity, tessera_crypto::sri_sha384(s.source.as_bytes()));
            assert!(s.integrity.starts_with("sha384-"));
        }
        assert!(script("/assets/webauthn.js").is_some());
        assert!(script("https://cdn.example/webauthn.js").is_none());
        assert!(script("/assets/tessera.css").is_none());
    }

    #[test]
    fn script_data_holds_no_markup_and_means_the_same() {
        let data = serde_json::json!({"challenge": "</script><script>&amp;<style>", "n": [1, "<"]});
        let out = script_data(&data.to_string()).unwrap();
        assert!(
            !out.contains('<') && !out.contains('>') && !out.contains('&'),
            "{out}"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out).unwrap(),
            data
        );
        assert_eq!(script_data("not json <script>"), None);
    }
}
