// Live console sessions count down, each second: "12m 30s left", then "ended" at zero,
// without a reload. Renew (hidden until then) shows in a session's last minutes; at the
// end Open again and Renew go, since the console session is over.
// A file, not inline script: the Content-Security-Policy is script-src 'self'. Without
// it the page shows the time left as it was when the page was made.
(function () {
  "use strict";
  if (window.pamCountdown) return; // a page that includes it twice counts once
  window.pamCountdown = true;

  // As pam_project/durations.py format_countdown: "1h 0m 5s", "12m 30s", "0s".
  function format(seconds) {
    var hours = Math.floor(seconds / 3600);
    var minutes = Math.floor((seconds % 3600) / 60);
    var parts = hours ? [hours + "h"] : [];
    if (minutes || hours) parts.push(minutes + "m");
    parts.push((seconds % 60) + "s");
    return parts.join(" ");
  }

  // The deadline from the seconds left when the page was made, on this browser's own
  // clock: a browser clock that is off does not shift the countdown.
  var started = Date.now();
  var timers = Array.prototype.slice.call(document.querySelectorAll("[data-seconds-left]"));
  var lives = timers.map(function (timer) {
    return {
      timer: timer,
      box: timer.closest("[data-live]"),
      end: started + Number(timer.dataset.secondsLeft) * 1000,
      done: false,
    };
  });
  if (!lives.length) return;

  function tick() {
    var now = Date.now();
    var running = 0;
    lives.forEach(function (live) {
      if (live.done) return;
      var left = Math.max(0, Math.ceil((live.end - now) / 1000 - 0.001));
      if (left > 0) {
        running++;
        live.timer.textContent = format(left) + " left";
        live.box.querySelectorAll(".renew[hidden]").forEach(function (renew) {
          if (left <= Number(renew.dataset.renewAt)) renew.hidden = false;
        });
        return;
      }
      live.done = true;
      live.timer.textContent = "ended";
      live.box.classList.add("ended");
      live.box.querySelectorAll(".open-again, .renew").forEach(function (action) {
        action.hidden = true;
      });
    });
    if (!running) window.clearInterval(interval);
  }

  var interval = window.setInterval(tick, 1000);
  tick();
})();
