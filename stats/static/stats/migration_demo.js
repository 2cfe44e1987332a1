/* /demo/migration/: every second, fetch the live figures (JSON) and draw them: both paths'
 * numbers, three Chart.js charts (p99 latency, requests/s, lag and time-to-visible), the stall
 * and the totals. A file, not an inline script: the page runs under CSP script-src 'self'. */
(function () {
  "use strict";
  var REFRESH_MS = 1000;
  var ASIS = "#b54708", TOBE = "#205493";
  var charts = {};

  function text(id, value, raw) {
    var el = document.getElementById(id);
    if (!el) { return; }
    el.textContent = value;
    el.setAttribute("data-value", raw === null || raw === undefined ? "" : String(raw));
  }
  function ms(v) { return v === null || v === undefined ? "–" : (v >= 1000 ? (v / 1000).toFixed(2) + " s" : v.toFixed(0) + " ms"); }
  function ago(now, t) { return Math.round(t - now) + " s"; }

  function lineChart(id, datasets, yTitle, y2Title) {
    var canvas = document.getElementById(id);
    if (!canvas || typeof Chart === "undefined") { return null; }
    var scales = { x: { ticks: { maxTicksLimit: 7 } }, y: { beginAtZero: true, title: { display: true, text: yTitle } } };
    if (y2Title) { scales.y2 = { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: y2Title } }; }
    return new Chart(canvas, {
      type: "line",
      data: { labels: [], datasets: datasets },
      options: { animation: false, responsive: true, maintainAspectRatio: false, spanGaps: true,
                 interaction: { mode: "index", intersect: false }, scales: scales,
                 plugins: { legend: { position: "bottom" } } }
    });
  }
  function set(label, colour, extra) {
    var d = { label: label, data: [], borderColor: colour, backgroundColor: colour, pointRadius: 0, borderWidth: 2, tension: 0.1 };
    for (var k in extra) { d[k] = extra[k]; }
    return d;
  }

  function drawPaths(data) {
    ["as-is", "to-be"].forEach(function (path) {
      var p = data.paths[path];
      if (!p) { return; }
      text(path + "-rps", p.rps.toFixed(1), p.rps);
      text(path + "-p50", ms(p.p50_ms), p.p50_ms);
      text(path + "-p99", ms(p.p99_ms), p.p99_ms);
      var errors = Object.keys(p.errors).map(function (k) { return k + ": " + p.errors[k]; });
      var count = Object.keys(p.errors).reduce(function (a, k) { return a + p.errors[k]; }, 0);
      text(path + "-errors", errors.length ? errors.join(", ") : "none", count);
      text(path + "-waiting", p.waiting ? p.waiting + " (" + ms(p.longest_wait_ms) + ")" : "none", p.longest_wait_ms || 0);
    });
    var asis = data.paths["as-is"], tobe = data.paths["to-be"];
    if (!asis || !tobe) { return; }
    var labels = asis.series.t.map(function (t) { return ago(data.now, t); });
    if (charts.latency) {
      charts.latency.data.labels = labels;
      charts.latency.data.datasets[0].data = asis.series.p99_ms;
      charts.latency.data.datasets[1].data = tobe.series.p99_ms;
      charts.latency.update("none");
    }
    if (charts.rate) {
      charts.rate.data.labels = labels;
      charts.rate.data.datasets[0].data = asis.series.rps;
      charts.rate.data.datasets[1].data = tobe.series.rps;
      charts.rate.update("none");
    }
  }

  function drawLag(data) {
    var lag = data.lag, vis = data.visibility;
    text("lag-now", lag.now === null ? "? (broker unreachable)" : String(lag.now), lag.now);
    text("lag-peak", lag.peak === null ? "–" : String(lag.peak), lag.peak);
    text("ttv-latest", vis.latest_s === null ? "–" : vis.latest_s.toFixed(2) + " s", vis.latest_s);
    text("ttv-waiting", vis.longest_waiting_s === null ? "" : "; oldest not yet visible: " + vis.longest_waiting_s.toFixed(1) + " s", vis.longest_waiting_s);
    if (!charts.lag) { return; }
    // One time axis for both: whole seconds of the last minute.
    var start = Math.floor(data.now) - 59, lagAt = [], ttvAt = [], labels = [];
    for (var i = 0; i < 60; i++) { labels.push(ago(data.now, start + i)); lagAt.push(null); ttvAt.push(null); }
    lag.series.t.forEach(function (t, j) { var k = Math.floor(t) - start; if (k >= 0 && k < 60) { lagAt[k] = lag.series.lag[j]; } });
    vis.series.t.forEach(function (t, j) { var k = Math.floor(t) - start; if (k >= 0 && k < 60) { ttvAt[k] = vis.series.seconds[j]; } });
    charts.lag.data.labels = labels;
    charts.lag.data.datasets[0].data = lagAt;
    charts.lag.data.datasets[1].data = ttvAt;
    charts.lag.update("none");
  }

  function drawState(data) {
    var t = data.traffic;
    var traffic = document.getElementById("traffic-state");
    traffic.textContent = t.running ? "traffic: " + t.rate + " events/s on each path (run " + t.run_id + ")" : "traffic: stopped";
    traffic.setAttribute("data-running", String(t.running));
    var stall = document.getElementById("stall-state");
    stall.textContent = data.stall.active ? "database: STALLED, " + Math.ceil(data.stall.seconds_left) + " s left" : "database: normal";
    stall.className = data.stall.active ? "stall-on" : "stall-off";
    stall.setAttribute("data-active", String(data.stall.active));
    var totals = data.totals, state = document.getElementById("totals-state");
    if (!totals.shown) { state.textContent = "No traffic run yet."; return; }
    ["as-is", "to-be"].forEach(function (path) {
      text(path + "-accepted", String(totals[path].accepted), totals[path].accepted);
      text(path + "-counted", String(totals[path].counted), totals[path].counted);
    });
    state.setAttribute("data-final", String(totals.final));
    state.setAttribute("data-equal", String(totals.equal));
    if (!totals.final) {
      state.className = ""; state.textContent = "Not final yet: " + totals.why + ".";
    } else {
      state.className = totals.equal ? "equal" : "differ";
      state.textContent = totals.equal ? "Final: each path counted exactly what it accepted." : "Final, and they differ: look at the dead letters and the consumer's log.";
    }
  }

  function refresh(url) {
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) { drawPaths(data); drawLag(data); drawState(data); document.body.setAttribute("data-refreshed", String(data.now)); }
      })
      .catch(function () { /* the next round tries again */ })
      .then(function () { window.setTimeout(function () { refresh(url); }, REFRESH_MS); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var root = document.querySelector(".migration-demo");
    if (!root) { return; }
    charts.latency = lineChart("latency-chart", [set("as-is p99", ASIS), set("to-be p99", TOBE)], "ms");
    charts.rate = lineChart("rate-chart", [set("as-is", ASIS), set("to-be", TOBE)], "requests");
    charts.lag = lineChart("lag-chart", [set("lag", "#6f42c1", { yAxisID: "y" }),
                                         set("time to visible", "#1a7f37", { yAxisID: "y2", borderDash: [5, 3] })], "records", "seconds");
    refresh(root.getAttribute("data-url"));
  });
})();
