/* The dashboard's chart and auto-refresh. Loaded as a file (no inline script), so the pages
 * work under Content-Security-Policy script-src 'self'. The server renders everything; this
 * only draws the chart from the JSON the page carries, and every few seconds swaps in a fresh
 * copy of the live part (?partial=1) so new impressions appear without a reload. */
(function () {
  "use strict";
  var REFRESH_MS = 5000;
  var chart = null;

  function drawChart() {
    var data = document.getElementById("chart-data");
    var canvas = document.getElementById("impressions-chart");
    if (!data || !canvas || typeof Chart === "undefined") { return; }
    var series = JSON.parse(data.textContent);
    // A line segment leading to a bucket that is not final, or partial, is drawn dashed and
    // lighter: its count may still grow (see the completeness note above the chart).
    function settled(index) { return series.final[index] && !series.partial[index]; }
    function unsettled(ctx, value) { return settled(ctx.p1DataIndex) ? undefined : value; }
    var datasets = [
      { label: "Impressions", data: series.current, borderColor: "#205493",
        backgroundColor: "rgba(32, 84, 147, 0.15)", fill: true, tension: 0.2, borderWidth: 2,
        pointRadius: series.current.map(function (_, i) { return settled(i) ? 0 : 2.5; }),
        pointBackgroundColor: "rgba(32, 84, 147, 0.45)", pointBorderColor: "rgba(32, 84, 147, 0.45)",
        segment: {
          borderDash: function (ctx) { return unsettled(ctx, [6, 4]); },
          borderColor: function (ctx) { return unsettled(ctx, "rgba(32, 84, 147, 0.45)"); },
          backgroundColor: function (ctx) { return unsettled(ctx, "rgba(32, 84, 147, 0.06)"); }
        } },
      { label: "Previous period", data: series.previous, borderColor: "#9aa5b1",
        borderDash: [5, 4], fill: false, tension: 0.2, pointRadius: 0, borderWidth: 1.5 }
    ];
    if (chart) {
      chart.data.labels = series.labels;
      chart.data.datasets[0].data = series.current;
      chart.data.datasets[0].pointRadius = datasets[0].pointRadius;
      chart.data.datasets[0].segment = datasets[0].segment;
      chart.data.datasets[1].data = series.previous;
      chart.update("none");
    } else {
      chart = new Chart(canvas, {
        type: "line",
        data: { labels: series.labels, datasets: datasets },
        options: {
          animation: false, responsive: true, maintainAspectRatio: false,
          interaction: { mode: "index", intersect: false },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } },
                    x: { ticks: { maxTicksLimit: 12, autoSkip: true } } },
          plugins: { legend: { position: "bottom" },
                     tooltip: { callbacks: { afterLabel: function (item) {
                       if (item.datasetIndex !== 0) { return ""; }
                       var notes = [];
                       if (series.partial[item.dataIndex]) { notes.push("partial: to " + series.ends[item.dataIndex]); }
                       if (!series.final[item.dataIndex]) { notes.push("not final yet"); }
                       return notes.join("; ");
                     } } } }
        }
      });
    }
    canvas.setAttribute("data-points", String(series.current.length));
    canvas.setAttribute("data-final", String(series.final.filter(Boolean).length));
    canvas.setAttribute("data-partial", String(series.partial.filter(Boolean).length));
    canvas.setAttribute("data-total", String(series.current.reduce(function (a, b) { return a + b; }, 0)));
  }

  function setUpRefresh() {
    var live = document.getElementById("live");
    var form = document.getElementById("range-form");
    if (!live || !form) { return; }
    var paused = window.localStorage.getItem("stats-refresh-paused") === "1";
    var bar = document.createElement("div");
    bar.className = "refresh-bar";
    var button = document.createElement("button");
    button.type = "button";
    button.id = "refresh-toggle";
    var status = document.createElement("span");
    status.id = "refresh-status";
    bar.appendChild(button);
    bar.appendChild(status);
    form.appendChild(bar);

    function label() {
      button.textContent = paused ? "Resume auto-refresh" : "Pause auto-refresh";
      status.textContent = paused ? "paused" : "refreshing every " + REFRESH_MS / 1000 + " s";
    }
    button.addEventListener("click", function () {
      paused = !paused;
      window.localStorage.setItem("stats-refresh-paused", paused ? "1" : "0");
      label();
    });
    label();

    function refresh() {
      if (paused || document.hidden) { return; }
      fetch(live.getAttribute("data-live-url"), { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.text();
        })
        .then(function (html) {
          if (paused) { return; }  // paused while this request was in flight: keep the page still
          live.innerHTML = html;
          chart = null;  // the canvas was replaced
          drawChart();
          status.textContent = "refreshing every " + REFRESH_MS / 1000 + " s";
        })
        .catch(function (error) {
          if (!paused) { status.textContent = "refresh failed (" + error.message + "); retrying"; }
        });
    }
    window.setInterval(refresh, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawChart();
    setUpRefresh();
  });
})();
