// The users table, enhanced. Everything works without this script: the search form and the sort
// header buttons submit to the server, and the confirmation dialogs open by their invoker buttons.
// With it, the search box filters the rows as you type, the headers sort in place, and a
// Server-Sent Events stream (watches of the project's users and Passcodes) says when to fetch the
// rows again. A table of more than one page (data-paged) holds only some of the users: search and
// sort are then the server's (the form and the header buttons submit), and a refresh fetches the
// same page again.
(function () {
  "use strict";
  // Invoker buttons (commandfor + command) open and close dialogs natively in current browsers;
  // this does the same in the others.
  if (!("command" in HTMLButtonElement.prototype)) {
    document.addEventListener("click", function (e) {
      var b = e.target.closest ? e.target.closest("button[commandfor]") : null;
      var d = b ? document.getElementById(b.getAttribute("commandfor")) : null;
      if (!d || !d.showModal) { return; }
      if (b.getAttribute("command") === "show-modal") { d.showModal(); }
      if (b.getAttribute("command") === "close") { d.close(); }
    });
  }

  var body = document.getElementById("users-body");
  var table = document.getElementById("users");
  if (!body || !table) { return; }
  var search = document.getElementById("q");
  var shown = document.getElementById("shown");
  var live = document.getElementById("live");
  var headers = Array.prototype.slice.call(table.querySelectorAll("th[data-key]"));
  var paged = body.dataset.paged === "1";
  var state = { key: "", desc: false };
  // The rows came filtered by the server when the address had ?q=: the first keystroke fetches
  // them all, so that a wider search finds the others.
  var serverFiltered = search !== null && search.value.trim() !== "";
  headers.forEach(function (th) {
    var s = th.getAttribute("aria-sort");
    if (s === "ascending" || s === "descending") { state.key = th.dataset.key; state.desc = s === "descending"; }
  });

  function rows() { return Array.prototype.slice.call(body.querySelectorAll("tr[data-user]")); }

  // cell is what a column sorts on, as the server sorts it (the name regardless of case).
  function cell(tr, key) {
    var td = tr.querySelector('td[data-key="' + key + '"]');
    var t = td ? td.textContent.trim() : "";
    return key === "name" ? t.toLowerCase() : t;
  }

  function filter() {
    var q = search ? search.value.trim().toLowerCase() : "";
    var n = 0;
    rows().forEach(function (tr) {
      tr.hidden = q !== "" && tr.dataset.search.indexOf(q) < 0;
      if (!tr.hidden) { n++; }
    });
    if (shown) { shown.textContent = (n === 1 ? "1 user" : n + " users") + (q ? " matching “" + search.value.trim() + "”" : ""); }
  }

  function sort() {
    headers.forEach(function (th) {
      var key = th.dataset.key;
      th.setAttribute("aria-sort", key !== state.key ? "none" : (state.desc ? "descending" : "ascending"));
      th.querySelector("button").value = key === state.key && !state.desc ? "-" + key : key;
    });
    if (!state.key) { return; }
    var sorted = rows().sort(function (a, b) {
      var x = cell(a, state.key), y = cell(b, state.key);
      var c = x < y ? -1 : (x > y ? 1 : 0);
      return state.desc ? -c : c;
    });
    sorted.forEach(function (tr) { body.appendChild(tr); });
  }

  // remember puts the search and the order in the address, so that a reload shows the same.
  function remember() {
    var url = new URL("/", window.location.href);
    url.searchParams.set("ns", body.dataset.ns);
    if (search && search.value.trim()) { url.searchParams.set("q", search.value.trim()); }
    if (state.key) { url.searchParams.set("sort", state.key); }
    if (state.desc) { url.searchParams.set("desc", "1"); }
    window.history.replaceState(null, "", url);
  }

  headers.forEach(function (th) {
    if (paged) { return; }
    th.querySelector("button").addEventListener("click", function (e) {
      e.preventDefault();
      state.desc = state.key === th.dataset.key ? !state.desc : false;
      state.key = th.dataset.key;
      sort();
      remember();
    });
  });
  if (search && !paged) {
    search.addEventListener("input", function () {
      remember();
      if (serverFiltered) { refresh(); } else { filter(); }
    });
  }

  // The rows are not replaced while focus is in the table (a role being chosen, a dialog open):
  // the refresh waits until focus leaves it.
  var timer = null, pending = false;
  function busy() { return body.contains(document.activeElement) || body.querySelector("dialog[open]") !== null; }
  function refresh() {
    timer = null;
    if (busy()) { pending = true; return; }
    pending = false;
    // The same page of a paged table; all the rows (filtered and sorted here) of one that is not.
    var url = new URL(paged ? window.location.href : "/", window.location.href);
    url.searchParams.set("ns", body.dataset.ns);
    url.searchParams.set("partial", "rows");
    var size = new URL(window.location.href).searchParams.get("limit");
    if (size) { url.searchParams.set("limit", size); }
    var morePages = false, count = null;
    inflight = true;
    var done = function () { inflight = false; if (again) { again = false; schedule(); } };
    fetch(url, { credentials: "same-origin" }).then(function (r) {
      morePages = r.headers.get("X-Users-Paged") === "1";
      count = r.headers.get("X-Users-Shown");
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html === null) { return; }
      if (busy()) { pending = true; return; }
      // The project outgrew one page (or came back to one): load the page anew, with the pager.
      if (morePages !== paged) { window.location.reload(); return; }
      body.innerHTML = html;
      if (paged) { if (shown && count) { shown.textContent = count; } return; }
      serverFiltered = false;
      sort();
      filter();
    }).then(done, done);
  }
  // A paged table is a project too big for one page: each fetch reads it all on the server, so
  // changes are gathered for longer, and a fetch never starts while one is under way.
  var inflight = false, again = false;
  function schedule() {
    if (inflight) { again = true; return; }
    if (timer === null) { timer = window.setTimeout(refresh, paged ? 2000 : 250); }
  }
  body.addEventListener("focusout", function () {
    if (pending) { window.setTimeout(function () { if (pending && !busy()) { refresh(); } }, 0); }
  });
  body.addEventListener("close", function () { if (pending) { window.setTimeout(refresh, 0); } }, true);

  if (!window.EventSource) { return; }
  var events = new EventSource("/events?ns=" + encodeURIComponent(body.dataset.ns));
  events.onmessage = schedule;
  events.addEventListener("passcode", schedule);
  events.onerror = function () { if (live) { live.textContent = "Live updates paused: reconnecting…"; } };
  events.onopen = function () { if (live) { live.textContent = "Live: the table follows changes as they happen."; } };
}());
