// Copy buttons in the admin (External ID, policies). A file, not inline script, so a
// strict Content-Security-Policy can forbid inline code.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.pam-copy");
  if (!button) return;
  var source = document.getElementById(button.dataset.copyTarget);
  if (!source || !navigator.clipboard) return;
  navigator.clipboard.writeText(source.textContent).then(function () {
    var label = button.textContent;
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  });
});
