// The "Add PAM account" admin form: the policies to create in AWS depend on the resource
// (its Resource Role, its project's External ID), which the server fills in for
// ?resource=<id>. Once a resource is chosen, offer that page: a link, never an automatic
// reload, which would throw away what the person is typing. A file, not inline script:
// the Content-Security-Policy forbids inline code.
(function () {
  "use strict";

  function init() {
    var select = document.getElementById("id_resource");
    var link = document.getElementById("pam-account-policies-show");
    var shown = document.getElementById("pam-account-policies");
    if (!select || select.tagName !== "SELECT") return; // a saved account: resource fixed
    if (!link && !shown) return;

    function chosen() {
      var id = select.value;
      if (shown && shown.dataset.resource === id) return;
      var url = new URL(window.location.href);
      url.searchParams.set("resource", id);
      if (!link) {
        // Policies of another resource are on the page: say they no longer apply.
        shown.classList.add("pam-stale");
        link = document.createElement("a");
        link.id = "pam-account-policies-show";
        link.textContent = "Show the policies of the chosen resource (reloads this form)";
        shown.parentNode.insertBefore(link, shown);
      }
      link.href = url.toString();
      link.hidden = !id;
    }

    if (window.django && window.django.jQuery) {
      // select2 (the admin's autocomplete) announces a choice through jQuery's events.
      window.django.jQuery(select).on("change", chosen);
    } else {
      select.addEventListener("change", chosen);
    }
    chosen();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
