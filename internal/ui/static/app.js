// Live users table: a Server-Sent Events stream (backed by a watch of the project's users) says
// when something changed; the table's rows are then fetched again, as the server renders them.
(function () {
  "use strict";
  var body = document.getElementById("users-body");
  if (!body || !window.EventSource) { return; }
  var live = document.getElementById("live");
  var events = new EventSource("/events?ns=" + encodeURIComponent(body.dataset.ns));
  var timer = null;
  function refresh() {
    timer = null;
    var url = new URL(window.location.href);
    url.searchParams.set("partial", "rows");
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
      if (html !== null) { body.innerHTML = html; }
    });
  }
  events.onmessage = function () {
    if (timer === null) { timer = window.setTimeout(refresh, 250); }
  };
  events.onerror = function () { if (live) { live.textContent = "Live updates paused: reconnecting…"; } };
  events.onopen = function () { if (live) { live.textContent = "Live: the table follows changes as they happen."; } };
}());
