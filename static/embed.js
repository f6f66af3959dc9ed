// Pages inside Pipedrive (custom UI): initialize the App Extensions SDK at once (Pipedrive hides
// an iframe that has not initialized within 10 s), follow the theme, and keep the signed token
// that HTMX sends in the X-Pipedrive-Token header fresh.
(function () {
  "use strict";
  var SDK = window.AppExtensionsSDK;
  if (!SDK) { return; }
  var Command = SDK.Command || {};
  var Event = SDK.Event || {};
  // The UMD build's global is the SDK class itself (with Command, Event… attached).
  var Sdk = typeof SDK === "function" ? SDK : SDK.default;
  var sdkPromise = new Sdk().initialize({ size: { height: contentHeight() } });

  // The body's own height (not the viewport's), so the iframe can shrink again; 100-750 px.
  function contentHeight() {
    return Math.max(100, Math.min(750, Math.ceil(document.body.scrollHeight)));
  }

  function setToken(token) {
    var headers = JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    headers["X-Pipedrive-Token"] = token;
    document.body.setAttribute("hx-headers", JSON.stringify(headers));
  }
  function refreshToken(sdk) {
    return sdk.execute(Command.GET_SIGNED_TOKEN || "get_signed_token").then(function (res) {
      if (res && res.token) { setToken(res.token); }
    });
  }
  function resize(sdk) {
    return sdk.execute(Command.RESIZE || "resize", { height: contentHeight() });
  }
  sdkPromise.then(function (sdk) {
    window.pmSdk = sdk;
    document.documentElement.setAttribute("data-theme", (sdk.userSettings || {}).theme || "light");
    if (Event.USER_SETTINGS_CHANGE) {
      sdk.listen(Event.USER_SETTINGS_CHANGE, function (e) {
        var theme = e && ((e.data && e.data.theme) || e.theme);  // payload shape UNCONFIRMED
        if (theme) { document.documentElement.setAttribute("data-theme", theme); }
      });
    }
    resize(sdk);
    setInterval(function () { refreshToken(sdk); }, 4 * 60 * 1000);
    document.body.addEventListener("htmx:afterSwap", function () { resize(sdk); });
  });
  window.pmSdkReady = sdkPromise;
  window.pmSetToken = setToken;
})();
