// Beside django-otp-webauthn's own script (a static file, as the Content-Security-Policy
// requires): reload the Security page once a passkey is added, and say plainly what
// happened when the browser's passkey prompt is cancelled or times out.
(function () {
  var CANCELLED = "The passkey prompt was cancelled or timed out, so nothing changed. " +
    "Try again, or use another method.";

  function explain(event, statusId) {
    var error = event.detail && event.detail.error;
    if (!error || (error.name !== "NotAllowedError" && error.name !== "AbortError")) return;
    var status = document.getElementById(statusId);
    if (status) {
      status.textContent = CANCELLED;
      status.classList.add("visible", "error");
    }
  }

  document.addEventListener("otp_webauthn.register_complete", function () {
    var button = document.getElementById("passkey-register-button");
    window.location.assign((button && button.dataset.doneUrl) || window.location.href);
  });
  document.addEventListener("otp_webauthn.register_failed", function (event) {
    explain(event, "passkey-register-status-message");
  });
  document.addEventListener("otp_webauthn.verification_failed", function (event) {
    explain(event, "passkey-verification-status-message");
  });
})();
