// The Newsletter panel (F11), on top of embed.js (which initializes the SDK at once, follows the
// theme and resizes): every click-driven HTMX call first gets a fresh signed token from the SDK
// (GET_SIGNED_TOKEN) for the X-Pipedrive-Token header; Subscribe/Unsubscribe are confirmed with
// SHOW_CONFIRMATION and their result shown with SHOW_SNACKBAR; "Open the settings" uses
// REDIRECT_TO. Opened outside Pipedrive (no SDK) it falls back to window.confirm and links.
(function () {
  "use strict";
  var SDK = window.AppExtensionsSDK || {};
  var Command = SDK.Command || {};
  var SDK_WAIT_MS = 3000;

  // The initialized SDK, or null when there is none (or it did not initialize in time).
  function sdk(waitMs) {
    if (!window.pmSdkReady) { return Promise.resolve(null); }
    return Promise.race([
      window.pmSdkReady.catch(function () { return null; }),
      new Promise(function (resolve) { setTimeout(function () { resolve(null); }, waitMs); })
    ]);
  }
  function run(s, command, fallback, args) {
    return s.execute(Command[command] || fallback, args);
  }
  function setToken(token) {
    if (window.pmSetToken) { window.pmSetToken(token); return; }
    var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    headers["X-Pipedrive-Token"] = token;
    document.body.setAttribute("hx-headers", JSON.stringify(headers));
  }
  function freshToken(s) {
    return run(s, "GET_SIGNED_TOKEN", "get_signed_token").then(function (res) {
      if (res && res.token) { setToken(res.token); }
    }).catch(function () { /* keep the current token; the server says if it expired */ });
  }
  function snackbar(message) {
    return sdk(SDK_WAIT_MS).then(function (s) {
      if (s && message) { return run(s, "SHOW_SNACKBAR", "show_snackbar", { message: message }); }
    }).catch(function () {});
  }

  document.addEventListener("htmx:confirm", function (event) {
    var elt = event.detail.elt;
    var title = elt.getAttribute("data-confirm-title");
    if (!title && !elt.hasAttribute("data-pm-fresh")) { return; }  // e.g. the initial load
    event.preventDefault();
    sdk(SDK_WAIT_MS).then(function (s) {
      if (!s) {
        if (!title || window.confirm(title)) { event.detail.issueRequest(true); }
        return;
      }
      return freshToken(s).then(function () {
        if (!title) { return { confirmed: true }; }
        return run(s, "SHOW_CONFIRMATION", "show_confirmation", {
          title: title,
          description: elt.getAttribute("data-confirm-text") || undefined,
          okText: elt.getAttribute("data-confirm-ok") || "OK",
          cancelText: "Cancel",
          okColor: elt.getAttribute("data-confirm-color") || "primary"
        });
      }).then(function (res) {
        if (res && res.confirmed) { event.detail.issueRequest(true); }
      });
    });
  });

  // The server names the result of an action in an HX-Trigger header.
  document.addEventListener("pm-snackbar", function (event) {
    snackbar(event.detail && event.detail.message);
  });
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    snackbar(status === 401 ? "The panel's session expired. Reload the page."
      : "The request failed (" + status + "). Please try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    snackbar("The app could not be reached. Please try again.");
  });

  document.addEventListener("click", function (event) {
    var link = event.target && event.target.closest ? event.target.closest("[data-pm-redirect]")
      : null;
    if (!link || !window.pmSdkReady) { return; }
    event.preventDefault();
    sdk(SDK_WAIT_MS).then(function (s) {
      if (!s) { window.open(link.href, "_blank", "noopener"); return; }
      return run(s, "REDIRECT_TO", "redirect_to", { view: link.getAttribute("data-pm-redirect") })
        .catch(function () { window.open(link.href, "_blank", "noopener"); });
    });
  });
})();
