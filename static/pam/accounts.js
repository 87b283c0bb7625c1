// The accounts page: filter as you type, and favourites saved as they are ticked.
// A file, not inline script: the Content-Security-Policy is script-src 'self'.
// Without it the page still works: the filter is a GET form (?q=), each star a POST.
(function () {
  "use strict";

  var input = document.getElementById("account-filter");
  var count = document.getElementById("account-count");
  var empty = document.getElementById("filter-empty");
  var cards = Array.prototype.slice.call(document.querySelectorAll("li.account[data-filter]"));
  var groups = Array.prototype.slice.call(document.querySelectorAll("[data-filter-group]"));

  // The same rule as sessions_app/home.py matches(): every whitespace-separated term
  // of the query is in the card's text (project, resource, account, role), any case.
  function matches(haystack, terms) {
    for (var i = 0; i < terms.length; i++) {
      if (haystack.indexOf(terms[i]) === -1) return false;
    }
    return true;
  }

  function filter() {
    var query = input.value.trim();
    var terms = query.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    cards.forEach(function (card) {
      var ok = matches(card.dataset.filter, terms);
      card.hidden = !ok;
      if (ok) shown++;
    });
    groups.forEach(function (group) {
      group.hidden = !group.querySelector("li.account:not([hidden])");
    });
    var total = Number(count.dataset.total);
    count.textContent = shown + " of " + total + " account" + (total === 1 ? "" : "s");
    empty.hidden = shown > 0;
    empty.querySelector(".filter-text").textContent = query;
    // The address keeps the filter, so a reload (or the favourite's redirect) keeps it.
    var url = new URL(window.location.href);
    if (query) url.searchParams.set("q", query);
    else url.searchParams.delete("q");
    window.history.replaceState(null, "", url);
  }

  if (input && count && empty) {
    input.addEventListener("input", filter);
    // Enter would reload the page with ?q=: the list is already filtered.
    input.form.addEventListener("submit", function (event) {
      event.preventDefault();
      filter();
    });
  }

  // A star saves at once (no reload: the page stays where the person is). The account
  // moves to Favourites on the next visit. On failure the box goes back as it was.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("form.favourite input.star")) return;
    var form = box.form;
    var body = new FormData(form);
    body.set("state", box.checked ? "on" : "off");
    box.disabled = true;
    fetch(form.action, {
      method: "POST",
      body: body,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status);
        return response.json();
      })
      .then(function (answer) {
        box.checked = answer.favourite;
      })
      .catch(function () {
        box.checked = !box.checked;
      })
      .finally(function () {
        box.disabled = false;
      });
  });
})();
