/* staffplan web app: the little behaviour htmx does not give (no build step, no network). */
(function () {
  "use strict";

  /* Tables with class "sortable": click a header to sort; an input with
     data-filter-for="<table id>" keeps the rows containing its text. */
  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    return cell.getAttribute("data-sort") || cell.textContent.trim();
  }
  function sortTable(table, index, th) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var numeric = th.classList.contains("n");
    rows.sort(function (a, b) {
      var x = cellValue(a, index), y = cellValue(b, index);
      if (numeric) {
        x = parseFloat(x.replace(/[^0-9,.\-]/g, "").replace(",", ".")) || 0;
        y = parseFloat(y.replace(/[^0-9,.\-]/g, "").replace(",", ".")) || 0;
        return asc ? x - y : y - x;
      }
      return asc ? x.localeCompare(y, "vi") : y.localeCompare(x, "vi");
    });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) { c.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    rows.forEach(function (r) { body.appendChild(r); });
  }
  function setUpTables(root) {
    root.querySelectorAll("table.sortable").forEach(function (table) {
      if (table.dataset.ready) { return; }
      table.dataset.ready = "1";
      Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
        th.style.cursor = "pointer";
        th.tabIndex = 0;
        th.addEventListener("click", function () { sortTable(table, index, th); });
        th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sortTable(table, index, th); } });
      });
    });
    root.querySelectorAll("input[data-filter-for]").forEach(function (input) {
      if (input.dataset.ready) { return; }
      input.dataset.ready = "1";
      input.addEventListener("input", function () {
        var table = document.getElementById(input.getAttribute("data-filter-for"));
        var needle = input.value.toLocaleLowerCase("vi");
        Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
          row.hidden = needle !== "" && row.textContent.toLocaleLowerCase("vi").indexOf(needle) < 0;
        });
      });
    });
  }

  /* Priorities: the up and down arrows move a row of a list with class "prio". */
  function setUpPriorities(root) {
    root.querySelectorAll("ul.prio button[data-move]").forEach(function (button) {
      if (button.dataset.ready) { return; }
      button.dataset.ready = "1";
      button.addEventListener("click", function () {
        var item = button.closest("li");
        if (button.getAttribute("data-move") === "up" && item.previousElementSibling) {
          item.parentNode.insertBefore(item, item.previousElementSibling);
        } else if (button.getAttribute("data-move") === "down" && item.nextElementSibling) {
          item.parentNode.insertBefore(item.nextElementSibling, item);
        }
        button.focus();
      });
    });
  }

  /* Maps: a div with data-figure="<id of a JSON script>" is drawn by plotly. */
  function setUpMaps(root) {
    root.querySelectorAll("div[data-figure]").forEach(function (div) {
      var source = document.getElementById(div.getAttribute("data-figure"));
      if (!source || !window.Plotly || div.dataset.drawn === source.textContent.length + "") { return; }
      div.dataset.drawn = source.textContent.length + "";
      var fig = JSON.parse(source.textContent);
      window.Plotly.react(div, fig.data, fig.layout, { displaylogo: false, responsive: true });
    });
  }

  /* Live progress of a run: at each server-sent event the page asks the server for the
     progress fields (rendered in the planner's language); when the run is over it goes on
     to the run's page. */
  function setUpProgress(root) {
    var box = root.querySelector("#progress[data-events]");
    if (!box || box.dataset.ready || !window.EventSource) { return; }
    box.dataset.ready = "1";
    var source = new EventSource(box.getAttribute("data-events"));
    var busy = false, again = false;
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      window.htmx.ajax("GET", box.getAttribute("data-fragment"), { target: "#progress-fields", swap: "innerHTML" })
        .then(function () { busy = false; if (again) { again = false; refresh(); } });
    }
    function finish() {
      source.close();
      window.location.assign(box.getAttribute("data-done"));
    }
    source.addEventListener("progress", refresh);
    source.addEventListener("done", finish);
    source.onerror = function () {
      /* the stream ended without "done" (the server stopped): show the job as it is */
      if (source.readyState === EventSource.CLOSED) { finish(); }
    };
  }

  /* Buttons with data-print print the page (no inline script: the app's CSP forbids it). */
  function setUpPrint(root) {
    root.querySelectorAll("button[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  }

  function setUp(root) {
    setUpPrint(root);
    setUpTables(root);
    setUpPriorities(root);
    setUpMaps(root);
    setUpProgress(root);
  }
  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  document.addEventListener("htmx:afterSettle", function (e) { setUp(e.target); });
})();
