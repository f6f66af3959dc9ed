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
// The settings page's sections by URL: /settings?section=import, /settings#import, or a click
// in the section navigation. The cards loaded after the page (Which persons, Engagement) push
// what follows them down as they arrive, so the section is scrolled to again as each settles
// the first time, unless the admin has scrolled since choosing it.
(function () {
  "use strict";
  var lazy = ["sync-rules", "engagement"];
  var settled = [];
  var moved = false;
  function show() {
    var id = window.location.hash.slice(1) ||
      new URLSearchParams(window.location.search).get("section");
    var target = id ? document.getElementById(id) : null;
    if (!moved && target && target.closest(".page")) { target.scrollIntoView(); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    show();
    ["wheel", "keydown", "touchmove"].forEach(function (name) {
      window.addEventListener(name, function () { moved = true; }, { passive: true });
    });
  });
  window.addEventListener("hashchange", function () { moved = false; show(); });
  document.addEventListener("htmx:afterSettle", function (event) {
    var id = event.target && event.target.id;
    if (lazy.indexOf(id) === -1 || settled.indexOf(id) !== -1) { return; }
    settled.push(id);
    show();
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
