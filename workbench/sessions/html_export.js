// The token popover. Data comes from the JSON block; every string is written with
// textContent (never innerHTML), so a token's text can never become markup.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("wb-data").textContent);
  var pop = document.getElementById("pop");
  var pinned = null;

  function fmt(x) { return x === null ? "n/a" : x >= 1e-4 || x === 0 ? x.toFixed(4) : x.toExponential(1); }
  function cell(row, text, cls) {
    var td = document.createElement("td");
    td.textContent = text;
    if (cls) { td.className = cls; }
    row.appendChild(td);
    return td;
  }

  function show(span) {
    var step = data.replies[+span.dataset.r][+span.dataset.t];
    pop.replaceChildren();
    var head = document.createElement("div");
    head.className = "head";
    var name = document.createElement("b");
    name.textContent = step.l;
    head.appendChild(name);
    head.appendChild(document.createTextNode(
      "  p " + fmt(step.p) + " · q " + fmt(step.q) + " · rank " + step.r +
      " · entropy " + (step.e === null ? "not given" : step.e.toFixed(2) + " bits") + " · " + step.by));
    pop.appendChild(head);
    var table = document.createElement("table");
    // a bar draws p, or q where a server sent only that
    function val(c) { return c[2] === null ? (c[3] === null ? 0 : c[3]) : c[2]; }
    var top = step.c.length ? val(step.c[0]) : 1;
    var header = table.insertRow();
    ["#", "token", "p", "q", ""].forEach(function (t) { cell(header, t); });
    step.c.forEach(function (c, i) {
      var row = table.insertRow();
      row.className = "cand" + (c[0] === step.id ? " chosen" : "");
      cell(row, String(i + 1), "num");
      cell(row, c[1], "label");
      cell(row, fmt(c[2]), "num p");
      cell(row, fmt(c[3]), "num q");
      var bar = document.createElement("span");
      bar.className = "bar";
      bar.style.width = Math.max(1, Math.round(80 * val(c) / (top || 1))) + "px";
      cell(row, "").appendChild(bar);
    });
    pop.appendChild(table);
    if (step.r > step.c.length) {
      var note = document.createElement("div");
      note.className = "note";
      note.textContent = "The chosen token is outside the top " + step.c.length + " (rank " + step.r + ").";
      pop.appendChild(note);
    }
    var box = span.getBoundingClientRect();
    pop.hidden = false;
    var left = Math.min(window.scrollX + box.left, window.scrollX + document.documentElement.clientWidth - pop.offsetWidth - 8);
    pop.style.left = Math.max(window.scrollX + 4, left) + "px";
    pop.style.top = (window.scrollY + box.bottom + 4) + "px";
  }

  function hide() { if (!pinned) { pop.hidden = true; } }

  document.querySelectorAll(".tok[data-r]").forEach(function (span) {
    // The title is the scripts-off fallback; with scripts on the popover replaces it.
    span.dataset.title = span.title;
    span.removeAttribute("title");
    span.addEventListener("mouseenter", function () { if (!pinned) { show(span); } });
    span.addEventListener("mouseleave", hide);
    span.addEventListener("focus", function () { if (!pinned) { show(span); } });
    span.addEventListener("blur", hide);
    span.addEventListener("click", function (event) {
      event.stopPropagation();
      pinned = pinned === span ? null : span;
      show(span);
      if (!pinned) { pop.hidden = true; }
    });
  });
  document.addEventListener("click", function () { pinned = null; pop.hidden = true; });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { pinned = null; pop.hidden = true; }
  });
})();
