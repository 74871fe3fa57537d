// Passkeys on the hosted pages: NOT IMPLEMENTED YET. No built-in method uses this script today.
//
// When passkeys land, this script will read the WebAuthn options its method put in the script node's
// data, call navigator.credentials.get() or create() with them, put the result in the form's hidden
// field and submit the form. Today it does only the parts around that ceremony, so the way a method's
// script reaches the page (a shipped file, its SRI hash, the page's CSP nonce, the node's data) works
// and is tested end to end before passkeys depend on it:
// it reads its data, {"field": "<name of a hidden input of its form>", "challenge": "<text>"}, and
// writes "<webauthn|none>:<challenge>" into that field: whether this browser offers WebAuthn at all,
// and the challenge it was given, intact.
//
// The page loads it with `defer`, so the whole form exists when it runs. It uses no HTML sinks (the
// page's CSP requires Trusted Types) and loads nothing else.
(function () {
  "use strict";
  var me = document.currentScript;
  if (!me || !me.dataset.value) {
    return;
  }
  var data;
  try {
    data = JSON.parse(me.dataset.value);
  } catch (e) {
    return;
  }
  if (!data || typeof data.field !== "string" || typeof data.challenge !== "string") {
    return;
  }
  var form = me.closest("form");
  var field = form ? form.elements.namedItem(data.field) : null;
  if (!field || field.type !== "hidden") {
    return;
  }
  var available = typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
  field.value = (available ? "webauthn:" : "none:") + data.challenge;
})();
