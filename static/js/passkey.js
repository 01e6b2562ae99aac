// Passkeys for the staff sign-in: the site's one script, loaded only on the pages that offer
// passkeys. Without it (or without WebAuthn) those pages still work with codes.
(function () {
  "use strict";

  function toBytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: toBytes(item.id) });
    });
  }

  // The JSON the server sent, with the byte fields WebAuthn wants as buffers.
  function creationOptions(json) {
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      user: Object.assign({}, json.user, { id: toBytes(json.user.id) }),
      excludeCredentials: withIds(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      allowCredentials: withIds(json.allowCredentials),
    });
  }

  // The credential as the JSON py_webauthn reads (what PublicKeyCredential.toJSON gives).
  function credentialJSON(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      response: { clientDataJSON: toBase64url(response.clientDataJSON) },
    };
    if (response.attestationObject) {
      out.response.attestationObject = toBase64url(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      out.response.authenticatorData = toBase64url(response.authenticatorData);
      out.response.signature = toBase64url(response.signature);
      if (response.userHandle) out.response.userHandle = toBase64url(response.userHandle);
    }
    return out;
  }

  function post(url, csrf, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: body === undefined ? "" : JSON.stringify(body),
    }).then(function (reply) {
      return reply.json().catch(function () { return {}; }).then(function (data) {
        if (!reply.ok) throw new Error(data.error || "Something went wrong. Please try again.");
        return data;
      });
    });
  }

  function start(box) {
    var mode = box.dataset.passkey;
    var csrf = box.dataset.csrf;
    var status = box.querySelector("[data-passkey-status]");
    var nameInput = box.querySelector("[data-passkey-name]");
    var button = box.querySelector("[data-passkey-start]");
    button.disabled = true;
    status.textContent = "";
    post(box.dataset.options, csrf)
      .then(function (options) {
        if (mode === "register") {
          return navigator.credentials.create({ publicKey: creationOptions(options) });
        }
        return navigator.credentials.get({ publicKey: requestOptions(options) });
      })
      .then(function (credential) {
        var body = credentialJSON(credential);
        if (mode === "register") {
          body = { credential: body, name: nameInput ? nameInput.value : "" };
        }
        return post(box.dataset.verify, csrf, body);
      })
      .then(function (result) {
        if (!result || typeof result.redirect !== "string") {
          throw new Error("Something went wrong. Please reload the page and try again.");
        }
        window.location.assign(result.redirect);
      })
      .catch(function (error) {
        // NotAllowedError: the person cancelled, or the browser timed out.
        status.textContent = error && error.name === "NotAllowedError"
          ? "The passkey request was cancelled or timed out. Try again, or use a code."
          : (error && error.message) || "That did not work. Please try again.";
        button.disabled = false;
      });
  }

  if (!window.PublicKeyCredential || !navigator.credentials) return;
  document.querySelectorAll("[data-passkey]").forEach(function (box) {
    box.hidden = false;
    box.querySelector("[data-passkey-start]").addEventListener("click", function () {
      start(box);
    });
  });
})();
