// Keyboard shortcuts for the inbox: "/" search, j/k move between rows, Enter opens;
// on a conversation: r focuses the reply, n the note, e resolves.
(function () {
  "use strict";
  function rows() { return Array.from(document.querySelectorAll("table.conversations tbody tr[data-href]")); }
  function typing(target) { return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable); }
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
