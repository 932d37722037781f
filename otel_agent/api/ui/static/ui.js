// Live status for runs in flight: poll their status every 5 s (bounded), update the run list's cells,
// and reload a run's own page when it ends. Everything else on the pages works without script.
(function () {
  "use strict";
  var POLL_MS = 5000;
  var MAX_POLLS = 720; // an hour; a page left open longer stops asking
  var liveUrl = document.body.getAttribute("data-live-url");

  function usd(value) {
    return Math.abs(value) >= 1 ? "$" + value.toFixed(2) : "$" + value.toFixed(4);
  }

  function duration(ms) {
    if (ms === null || ms === undefined) return "\u2014";
    var s = ms / 1000;
    if (s < 1) return Math.round(ms) + " ms";
    if (s < 60) return s.toFixed(1) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function setStatus(pill, status) {
    pill.textContent = status;
    pill.className = "pill status-" + status;
  }

  function updateRow(row, run) {
    var pill = row.querySelector("[data-status]");
    if (pill) setStatus(pill, run.status);
    var cell = row.querySelector("[data-duration]");
    if (cell) cell.textContent = duration(run.duration_ms);
    cell = row.querySelector("[data-cost]");
    if (cell) cell.textContent = usd(run.cost_usd) + (run.unpriced_calls ? " +" + run.unpriced_calls + " unpriced" : "");
    if (run.status !== "running") row.removeAttribute("data-live");
  }

  function poll(count) {
    var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-live]"));
    var page = document.querySelector("[data-live-run]");
    var ids = rows.map(function (r) { return r.getAttribute("data-run"); });
    if (page) ids.push(page.getAttribute("data-live-run"));
    if (!ids.length || count >= MAX_POLLS) return;
    fetch(liveUrl + "?ids=" + encodeURIComponent(ids.join(",")), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (runs) {
        if (!runs) return; // logged out or server gone: stop quietly
        rows.forEach(function (row) {
          var run = runs[row.getAttribute("data-run")];
          if (run) updateRow(row, run);
        });
        if (page) {
          var run = runs[page.getAttribute("data-live-run")];
          if (run && run.status !== "running") { window.location.reload(); return; }
        }
        window.setTimeout(function () { poll(count + 1); }, POLL_MS);
      })
      .catch(function () { window.setTimeout(function () { poll(count + 1); }, POLL_MS * 2); });
  }

  if (liveUrl) window.setTimeout(function () { poll(0); }, POLL_MS);
})();
