// Pages inside Pipedrive (custom UI): initialize the App Extensions SDK at once (Pipedrive hides
// an iframe that has not initialized within 10 s), follow the theme, and keep the signed token
// that HTMX sends in the X-Pipedrive-Token header fresh.
(function () {
  "use strict";
  var SDK = window.AppExtensionsSDK;
  if (!SDK) { return; }
  var Command = SDK.Command || {};
  var Event = SDK.Event || {};
  var sdkPromise = new SDK.default().initialize({ size: { height: document.body.scrollHeight } });

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
    var height = Math.max(100, Math.min(750, document.documentElement.scrollHeight));
    return sdk.execute(Command.RESIZE || "resize", { height: height });
  }
  sdkPromise.then(function (sdk) {
    window.pmSdk = sdk;
    document.documentElement.setAttribute("data-theme", (sdk.userSettings || {}).theme || "light");
    if (Event.USER_SETTINGS_CHANGE) {
      sdk.listen(Event.USER_SETTINGS_CHANGE, function (e) {
        var theme = e && e.data && e.data.theme;
        if (theme) { document.documentElement.setAttribute("data-theme", theme); }
      });
    }
    resize(sdk);
    setInterval(function () { refreshToken(sdk); }, 4 * 60 * 1000);
    document.body.addEventListener("htmx:afterSwap", function () { resize(sdk); });
  });
  window.pmSdkReady = sdkPromise;
})();
