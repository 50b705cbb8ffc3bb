"""The HTML report's stylesheet and script (vanilla JS: sorting, filtering, charts)."""

from __future__ import annotations

CSS = """
:root { --red:#c92a2a; --amber:#e67700; --green:#2b8a3e; --ink:#212529; --muted:#6c757d;
  --line:#dee2e6; --bg:#f8f9fa; --blue:#1864ab; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
  color:var(--ink); background:var(--bg); }
header { background:#212529; color:#f8f9fa; padding:18px 32px 14px; }
header h1 { margin:0 0 4px; font-size:20px; font-weight:600; }
header .meta { color:#adb5bd; font-size:13px; }
header code { color:#e9ecef; }
nav { display:flex; gap:18px; padding:8px 32px; background:#343a40; font-size:13px;
  position:sticky; top:0; z-index:10; }
nav a { color:#dee2e6; text-decoration:none; } nav a:hover { color:white; }
main { max-width:1400px; margin:0 auto; padding:20px 32px 48px; }
section { background:white; border:1px solid var(--line); border-radius:8px;
  padding:16px 20px; margin:0 0 20px; }
section h2 { margin:0 0 4px; font-size:16px; }
section .hint { color:var(--muted); margin:0 0 10px; font-size:13px; }
.banner { border-left:6px solid var(--green); }
.banner.violates { border-left-color:var(--red); }
.banner.unproven { border-left-color:var(--amber); }
.banner .headline { font-size:19px; font-weight:600; margin:0 0 12px; }
.cards { display:flex; flex-wrap:wrap; gap:12px; }
.card { border:1px solid var(--line); border-radius:6px; padding:8px 14px; flex:1 1 105px; }
.card .n { font-size:22px; font-weight:650; font-variant-numeric:tabular-nums; }
.card .k { color:var(--muted); font-size:11px; text-transform:uppercase; letter-spacing:.03em;
  white-space:nowrap; }
.card.violates .n { color:var(--red); } .card.unproven .n { color:var(--amber); }
.card.meets .n { color:var(--green); }
.note { margin:10px 0 0; color:var(--muted); font-size:13px; }
.controls { display:flex; flex-wrap:wrap; gap:10px; align-items:center; margin:0 0 10px; }
.controls input[type=search] { min-width:320px; padding:6px 10px; border:1px solid #ced4da;
  border-radius:5px; font:inherit; }
.controls select { padding:5px 8px; border:1px solid #ced4da; border-radius:5px; font:inherit; }
.controls .count { color:var(--muted); margin-left:auto; }
.table-wrap { max-height:640px; overflow:auto; border:1px solid var(--line); border-radius:6px; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { padding:5px 8px; border-bottom:1px solid #f1f3f5; text-align:left; vertical-align:top; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
thead th { position:sticky; top:0; background:#f1f3f5; z-index:1; white-space:nowrap;
  border-bottom:1px solid var(--line); }
table.sortable th { cursor:pointer; user-select:none; }
table.sortable th::after { content:"⇅"; color:#adb5bd; margin-left:4px; font-size:11px; }
table.sortable th[aria-sort=ascending]::after { content:"▲"; color:var(--ink); }
table.sortable th[aria-sort=descending]::after { content:"▼"; color:var(--ink); }
tbody tr:hover { background:#f8f9fa; }
td.nodeid { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12px;
  overflow-wrap:anywhere; min-width:240px; }
.pill { display:inline-block; padding:1px 8px; border-radius:10px; font-size:12px;
  font-weight:600; white-space:nowrap; }
.pill.violates { background:#ffe3e3; color:var(--red); }
.pill.unproven { background:#fff3bf; color:#a35200; }
.pill.meets { background:#d3f9d8; color:var(--green); }
.pill.flag { background:#e7f5ff; color:var(--blue); font-weight:500; margin:0 3px 2px 0; }
td.flags { min-width:90px; }
.muted { color:var(--muted); }
.grid2 { display:grid; grid-template-columns:1fr 1fr; gap:20px; }
@media (max-width:1100px) { .grid2 { grid-template-columns:1fr; } }
.legend { display:flex; flex-wrap:wrap; gap:14px; font-size:12px; color:var(--muted); }
.legend i { display:inline-block; width:12px; height:12px; border-radius:2px;
  margin-right:5px; vertical-align:-2px; border:1px solid #ced4da; }
pre { white-space:pre-wrap; word-break:break-word; background:#f8f9fa; padding:8px;
  border-radius:4px; font-size:12px; max-height:260px; overflow:auto; margin:6px 0 0; }
details summary { cursor:pointer; color:var(--blue); }
dl.defs { display:grid; grid-template-columns:max-content 1fr; gap:4px 16px; margin:0;
  font-size:13px; }
dl.defs dt { font-weight:600; } dl.defs dd { margin:0; color:#495057; }
.empty { color:var(--muted); font-style:italic; }
"""

JS = r"""
(function () {
  "use strict";
  function cellKey(cell, numeric) {
    var v = cell.getAttribute("data-v");
    if (v === null) v = cell.textContent.trim();
    if (!numeric) return v.toLowerCase();
    if (v === "") return null;
    var n = parseFloat(v);
    return isNaN(n) ? null : n;
  }
  function sortTable(table, col, th) {
    var numeric = th.getAttribute("data-type") === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    var heads = table.tHead.rows[0].cells;
    for (var i = 0; i < heads.length; i++) heads[i].removeAttribute("aria-sort");
    th.setAttribute("aria-sort", dir);
    var sign = dir === "ascending" ? 1 : -1;
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellKey(a.cells[col], numeric), y = cellKey(b.cells[col], numeric);
      if (x === y) return 0;
      if (x === null) return 1;   // blanks last, whichever the direction
      if (y === null) return -1;
      return (x < y ? -1 : 1) * sign;
    });
    var frag = document.createDocumentFragment();
    rows.forEach(function (r) { frag.appendChild(r); });
    body.appendChild(frag);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortTable(table, col, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(table, col, th); }
      });
    });
  });
  var table = document.getElementById("tests-table");
  if (table) {
    var search = document.getElementById("filter-text");
    var verdict = document.getElementById("filter-verdict");
    var status = document.getElementById("filter-status");
    var count = document.getElementById("filter-count");
    var apply = function () {
      var text = search.value.trim().toLowerCase();
      var shown = 0, rows = table.tBodies[0].rows;
      for (var i = 0; i < rows.length; i++) {
        var r = rows[i];
        var ok = (!text || r.getAttribute("data-nodeid").toLowerCase().indexOf(text) >= 0) &&
          (!verdict.value || r.getAttribute("data-verdict") === verdict.value) &&
          (!status.value || r.getAttribute("data-status") === status.value);
        r.hidden = !ok;
        if (ok) shown++;
      }
      count.textContent = shown + " of " + rows.length + " tests";
    };
    [search, verdict, status].forEach(function (el) {
      el.addEventListener("input", apply);
      el.addEventListener("change", apply);
    });
    apply();
  }
  if (typeof Plotly === "undefined") return;
  document.querySelectorAll("script[type='application/json'][data-figure]").forEach(function (s) {
    var spec = JSON.parse(s.textContent);
    var target = document.getElementById(s.getAttribute("data-figure"));
    Plotly.newPlot(target, spec.data, spec.layout,
      {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"]});
  });
})();
"""
