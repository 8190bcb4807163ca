// Keyboard shortcuts for the inbox: "/" search, j/k move between rows, Enter opens;
// on a conversation: r focuses the reply, n the note, e resolves.
(function () {
  "use strict";
  function rows() { return Array.from(document.querySelectorAll("table.conversations tbody tr[data-href]")); }
  // Checkboxes and buttons take no text: after ticking a row, j/k/x keep working.
  function typing(target) {
    if (!target) { return false; }
    if (target.tagName === "INPUT") { return !/^(checkbox|radio|button|submit|reset)$/.test(target.type); }
    return target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable;
  }
  var index = -1;
  function select(next) {
    var list = rows();
    if (!list.length) { return; }
    index = Math.max(0, Math.min(list.length - 1, next));
    list.forEach(function (row, i) { row.classList.toggle("selected", i === index); });
    list[index].scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    if (event.key === "/") {
      var search = document.getElementById("search");
      if (search) { event.preventDefault(); search.focus(); }
    } else if (event.key === "r" || event.key === "n") {
      var box = document.getElementById(event.key === "r" ? "reply-text" : "note-body");
      if (box) { event.preventDefault(); box.focus(); }
    } else if (event.key === "e") {
      var resolve = document.querySelector("button[data-status=resolved]");
      if (resolve) { event.preventDefault(); resolve.click(); }
    } else if (event.key === "j") { select(index + 1); }
    else if (event.key === "k") { select(index - 1); }
    else if (event.key === "x" && index >= 0) {
      var box = rows()[index] && rows()[index].querySelector("input.row-select");
      if (box) { event.preventDefault(); box.checked = !box.checked; box.dispatchEvent(new Event("change", { bubbles: true })); }
    }
    else if (event.key === "Enter" && index >= 0) {
      var list = rows();
      if (list[index]) { window.location.href = list[index].getAttribute("data-href"); }
    }
  });
  // A refreshed list keeps the selected position, so a keystroke is never lost to a refresh.
  document.addEventListener("htmx:afterSwap", function () { if (index >= 0) { select(index); } });
})();

// Collision warning: tell the server we are viewing (or replying to) this conversation and
// show who else is, from the server-sent presence stream.
(function () {
  "use strict";
  var banner = document.getElementById("presence");
  if (!banner || typeof EventSource === "undefined") { return; }
  var id = banner.getAttribute("data-conversation-id");
  var url = "/conversations/" + id + "/presence";
  var csrf = document.querySelector("input[name=csrf_token]");
  var canAct = banner.getAttribute("data-can-act") === "true";
  var lastTyped = 0;
  function form(state) {
    var data = new FormData();
    data.append("csrf_token", csrf ? csrf.value : "");
    data.append("state", state);
    return data;
  }
  function beat() {
    var state = Date.now() - lastTyped < 15000 ? "replying" : "viewing";
    fetch(url, { method: "POST", body: form(state), credentials: "same-origin" }).catch(function () {});
  }
  if (canAct && csrf) {
    var reply = document.getElementById("reply-text");
    if (reply) {
      reply.addEventListener("input", function () {
        var quiet = Date.now() - lastTyped >= 15000;
        lastTyped = Date.now();
        if (quiet) { beat(); }
      });
    }
    beat();
    window.setInterval(beat, 10000);
    window.addEventListener("pagehide", function () {
      if (navigator.sendBeacon) { navigator.sendBeacon(url, form("left")); }
    });
  }
  var source = new EventSource(url);
  source.addEventListener("presence", function (event) {
    var others = [];
    try { others = JSON.parse(event.data); } catch (e) { return; }
    if (!others.length) { banner.hidden = true; banner.textContent = ""; return; }
    banner.textContent = others.map(function (p) {
      return p.name + (p.state === "replying" ? " is also replying" : " is also viewing");
    }).join(" · ");
    banner.hidden = false;
  });
})();

// Suggested answers in the reply composer: a click, or 1-3 outside a text field, puts the
// answer into the reply box (the agent still reads and sends it).
(function () {
  "use strict";
  function insert(button) {
    var box = document.getElementById("reply-text");
    if (!box || !button) { return; }
    box.value = button.getAttribute("data-insert");
    box.focus();
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button[data-insert]") : null;
    if (button) { event.preventDefault(); insert(button); }
  });
  document.addEventListener("keydown", function (event) {
    var t = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) { return; }
    if (/^[1-3]$/.test(event.key)) {
      var button = document.querySelector('button[data-insert][data-key="' + event.key + '"]');
      if (button) { event.preventDefault(); insert(button); }
    }
  });
})();

// Bulk actions: count the selected rows, "select all on page", and show only the field the
// chosen action needs. A refreshed list clears the selection (its rows may have changed).
(function () {
  "use strict";
  var form = document.getElementById("bulk-form");
  if (!form) { return; }
  function boxes() { return Array.from(document.querySelectorAll("input.row-select")); }
  function count() {
    var picked = boxes().filter(function (b) { return b.checked; }).length;
    document.getElementById("bulk-count").textContent = String(picked);
    var all = document.getElementById("select-page");
    if (all) { all.checked = picked > 0 && picked === boxes().length; }
  }
  function showField() {
    var action = form.querySelector("select[name=action]").value;
    form.querySelectorAll("[data-for]").forEach(function (el) {
      var on = el.getAttribute("data-for") === action;
      el.hidden = !on;
      el.disabled = !on;
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target.id === "select-page") {
      boxes().forEach(function (b) { b.checked = event.target.checked; });
    }
    if (event.target.id === "select-page" || event.target.classList.contains("row-select")) { count(); }
    if (event.target.name === "action" && event.target.form === form) { showField(); }
  });
  document.addEventListener("htmx:afterSwap", function (event) { if (event.target.id === "rows") { count(); } });
  showField();
  count();
})();
