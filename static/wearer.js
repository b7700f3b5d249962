// LJWX BigScreen: a watch and its wearer (/devices/:sn). Draws the 24-hour charts with the
// alert rules' thresholds, the steps of the week, the latest sample and the alerts, and
// refreshes them every five seconds from /devices/:sn/vitals.json while the page is open.
(function () {
  "use strict";
  var AXIS = { stroke: "#8ea0bf", grid: { stroke: "#22304f", width: 1 }, ticks: { stroke: "#22304f" } };
  var TIME_AXIS = Object.assign({}, AXIS, { values: function (u, splits) {
    return splits.map(function (v) { var d = new Date(v * 1000);
      return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2); }); } });
  var DAY_AXIS = Object.assign({}, AXIS, { values: function (u, splits) {
    return splits.map(function (v) { var d = new Date(v * 1000);
      return (d.getMonth() + 1) + "-" + d.getDate(); }); } });
  var LEVELS = { minor: "#eab308", major: "#f97316", critical: "#ef4444" };

  function byId(id) { return document.getElementById(id); }
  function read() { try { return JSON.parse(byId("wearer-data").textContent); } catch (e) { return null; } }
  function width(el) { return Math.max(240, el.clientWidth || el.parentNode.clientWidth || 600); }
  function text(el, value) { if (el.textContent !== value) el.textContent = value; }

  // Lines of `values` (name → array) over `t`, and a dashed line per threshold.
  function lineChart(el, t, lines, thresholds, unit) {
    var series = [{}], data = [t];
    lines.forEach(function (l) {
      series.push({ label: l.label, stroke: l.color, width: 2, spanGaps: false, points: { show: false } });
      data.push(l.values);
    });
    (thresholds || []).forEach(function (th) {
      series.push({ label: th.level + (th.side === "above" ? " > " : " < ") + th.value + " " + unit,
                    stroke: LEVELS[th.level] || "#94a3b8", width: 1, dash: [6, 4], points: { show: false } });
      data.push(t.map(function () { return th.value; }));
    });
    var u = new uPlot({ width: width(el), height: 230, legend: { live: false },
      scales: { x: { time: true } }, axes: [TIME_AXIS, Object.assign({ size: 56 }, AXIS)], series: series }, data, el);
    window.addEventListener("resize", function () { u.setSize({ width: width(el), height: 230 }); });
    return { plot: u, thresholds: thresholds || [] };
  }

  function withThresholds(chart, t, values) {
    return [t].concat(values).concat(chart.thresholds.map(function (th) { return t.map(function () { return th.value; }); }));
  }

  function stepsChart(el, steps) {
    var bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.6, 60] }) : undefined;
    var u = new uPlot({ width: width(el), height: 230, legend: { show: false },
      scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(100, (max || 0) * 1.15)]; } } },
      axes: [DAY_AXIS, Object.assign({ size: 64 }, AXIS)],
      series: [{}, { label: "steps", stroke: "#38bdf8", fill: "#38bdf855", paths: bars, points: { show: false } }] },
      [steps.t, steps.steps], el);
    window.addEventListener("resize", function () { u.setSize({ width: width(el), height: 230 }); });
    return u;
  }

  function show(d, charts) {
    text(byId("wearer-who"), d.wearer ? "worn by user " + d.wearer.user_id +
      (d.wearer.customer_id != null ? ", customer " + d.wearer.customer_id : "") +
      (d.wearer.org_id != null ? ", organisation " + d.wearer.org_id : "") : "bound to nobody");
    var l = d.latest, latest = byId("wearer-latest");
    var parts = !l ? ["No sample yet."] : [
      "Latest sample " + l.at,
      "heart rate " + (l.heart_rate != null ? l.heart_rate + " bpm" : "—"),
      "SpO2 " + (l.blood_oxygen != null ? l.blood_oxygen + " %" : "—"),
      "temperature " + (l.temperature != null ? l.temperature + " °C" : "—"),
      "blood pressure " + (l.pressure_high != null ? l.pressure_high + "/" + l.pressure_low + " mmHg" : "—"),
      "steps " + (l.step != null ? l.step : "—")];
    text(latest, parts.join(" · "));
    var s = d.series;
    charts.hr.plot.setData(withThresholds(charts.hr, s.t, [s.heart_rate]));
    charts.spo2.plot.setData(withThresholds(charts.spo2, s.t, [s.blood_oxygen]));
    charts.temp.plot.setData(withThresholds(charts.temp, s.t, [s.temperature]));
    charts.bp.plot.setData(withThresholds(charts.bp, s.t, [s.pressure_high, s.pressure_low]));
    charts.steps.setData([d.steps.t, d.steps.steps]);
    var body = byId("wearer-alerts").tBodies[0];
    var rows = d.alerts.map(function (a) {
      return "<tr id=\"wearer-alert-" + a.id + "\" class=\"level-" + esc(a.level) + "\"><td class=\"num\">" + a.id +
        "</td><td>" + esc(a.alert_type) + "</td><td><span class=\"badge " + esc(a.level) + "\">" + esc(a.level) +
        "</span></td><td class=\"status\">" + esc(a.status) + "</td><td class=\"num\">" + esc(a.value) +
        "</td><td class=\"num\">" + a.occurrences + "</td><td>" + esc(a.first) + "</td><td>" + esc(a.last) +
        "</td><td>" + esc(a.acknowledged) + "</td><td>" + esc(a.resolved) + "</td></tr>";
    }).join("");
    if (body.innerHTML !== rows) body.innerHTML = rows;
    byId("wearer-no-alerts").style.display = d.alerts.length ? "none" : "";
  }

  function esc(v) {
    return String(v).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }[c]; });
  }

  var d = read();
  if (!d || typeof uPlot === "undefined") return;
  var s = d.series, th = d.thresholds;
  var charts = {
    hr: lineChart(byId("chart-heart-rate"), s.t, [{ label: "heart rate", color: "#f472b6", values: s.heart_rate }], th.heart_rate, "bpm"),
    spo2: lineChart(byId("chart-blood-oxygen"), s.t, [{ label: "SpO2", color: "#38bdf8", values: s.blood_oxygen }], th.blood_oxygen, "%"),
    temp: lineChart(byId("chart-temperature"), s.t, [{ label: "temperature", color: "#f59e0b", values: s.temperature }], th.temperature, "°C"),
    bp: lineChart(byId("chart-pressure"), s.t, [{ label: "systolic", color: "#a78bfa", values: s.pressure_high },
      { label: "diastolic", color: "#22c55e", values: s.pressure_low }], th.pressure, "mmHg"),
    steps: stepsChart(byId("chart-steps"), d.steps)
  };
  show(d, charts);
  var feed = byId("wearer-feed");
  setInterval(function () {
    fetch("/devices/" + encodeURIComponent(d.device) + "/vitals.json", { credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401) { window.location = "/login?next=/devices/" + encodeURIComponent(d.device); return null; }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (next) {
        if (!next) return;
        show(next, charts);
        feed.className = "feed ok"; feed.textContent = "LIVE";
      })
      .catch(function () { feed.className = "feed broken"; feed.textContent = "LIVE FEED BROKEN"; });
  }, 5000);
})();
