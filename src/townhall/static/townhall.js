// Keyboard shortcuts for the inbox: "/" search, j/k move between rows, Enter opens.
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
    } else if (event.key === "j") { select(index + 1); }
    else if (event.key === "k") { select(index - 1); }
    else if (event.key === "Enter" && index >= 0) {
      var list = rows();
      if (list[index]) { window.location.href = list[index].getAttribute("data-href"); }
    }
  });
  document.addEventListener("htmx:afterSwap", function () { index = -1; });
})();
