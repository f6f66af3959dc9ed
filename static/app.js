// Errors of HTMX requests that are not swapped (401/403/5xx, network) shown in plain words.
(function () {
  "use strict";
  function show(text) {
    var flash = document.getElementById("flash");
    if (!flash) { return; }
    flash.textContent = text;
    flash.hidden = false;
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var doc = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var text = doc.querySelector(".message p");
    show(text ? text.textContent : "The request failed (" + xhr.status + "). Please try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    show("The app could not be reached. Check your connection and try again.");
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var flash = document.getElementById("flash");
    if (flash) { flash.hidden = true; }
  });
})();
// The settings form: the DOI mailing ID and DOI+ show only while the DOI process is on (the
// fields stay in the form, so turning DOI off and on again keeps them), and the help under
// Initial permission says whether it applies.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    if (!event.target || event.target.id !== "doi_enabled") { return; }
    var on = event.target.checked;
    var fields = document.getElementById("doi_fields");
    if (fields) { fields.hidden = !on; }
    var help = document.getElementById("initial_permission_help");
    if (help) { help.textContent = help.getAttribute(on ? "data-doi-on" : "data-doi-off"); }
  });
})();
// The settings page's sections by URL: /settings?section=import or /settings#import. The
// section is scrolled to again once the cards loaded afterwards (Which persons) have settled,
// unless the admin has scrolled meanwhile.
(function () {
  "use strict";
  var id = new URLSearchParams(window.location.search).get("section") ||
    window.location.hash.slice(1);
  if (!id) { return; }
  var moved = false;
  function show() {
    var target = document.getElementById(id);
    if (target && target.closest(".page")) { target.scrollIntoView(); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    show();
    window.addEventListener("wheel", function () { moved = true; }, { once: true });
    window.addEventListener("keydown", function () { moved = true; }, { once: true });
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    if (!moved && event.target && event.target.id === "sync-rules") { show(); moved = true; }
  });
})();
// The sync rules form: the rule choices show only for "Persons matching any of these rules",
// and "When a person stops matching" only when someone can stop matching; switching back to
// All persons resets it to keeping the contact, so no removal stays chosen unseen.
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target || target.name !== "mode" || !target.form || target.form.id !== "rules-form") {
      return;
    }
    var choices = document.getElementById("rules_choices");
    if (choices) { choices.hidden = target.value !== "rules"; }
    var onStop = document.getElementById("on_stop_field");
    if (onStop) { onStop.hidden = target.value === "all"; }
    if (target.value === "all") {
      var keep = document.getElementById("on_stop_keep");
      if (keep) { keep.checked = true; }
    }
  });
})();
