// LJWX BigScreen: live overview (server-sent events from /live) and the system page's charts.
// No framework: the server renders the page and the tables; this script updates numbers,
// swaps the server-rendered fragments, and draws charts with uPlot.
(function () {
  "use strict";

  var COLORS = { records: "#38bdf8", requests: "#a78bfa", cpu: "#f59e0b", memory: "#22c55e",
                 disk: "#94a3b8", rx: "#38bdf8", tx: "#f472b6", process: "#a78bfa" };
  var AXIS = { stroke: "#8ea0bf", grid: { stroke: "#22304f", width: 1 }, ticks: { stroke: "#22304f" } };
  // 24-hour clock on time axes, as supervisors read it.
  var TIME_AXIS = Object.assign({}, AXIS, { values: function (u, splits) {
    return splits.map(function (v) { var d = new Date(v * 1000);
      return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2); }); } });

  function byId(id) { return document.getElementById(id); }
  function readJson(id) {
    var el = byId(id);
    try { return el ? JSON.parse(el.textContent) : null; } catch (e) { return null; }
  }
  function fmt(n) { return Math.round(n).toLocaleString("en-US"); }
  function setText(id, text) { var el = byId(id); if (el && el.textContent !== text) el.textContent = text; }
  function width(el) { return Math.max(200, el.clientWidth || el.parentNode.clientWidth || 600); }

  function zeroBased(u, min, max) { return [0, Math.max(1, max * 1.1)]; }

  // A uPlot chart in `el`; with opts.dual the second series has its own scale on the right.
  function chart(el, height, series, data, opts) {
    if (!el || typeof uPlot === "undefined") return null;
    var dual = opts && opts.dual;
    var o = {
      width: width(el), height: height,
      legend: { show: !(opts && opts.sparkline), live: false },
      cursor: { show: !(opts && opts.sparkline) },
      scales: { x: { time: true }, y: { range: (opts && opts.range) || zeroBased }, y2: { range: zeroBased } },
      axes: (opts && opts.sparkline) ? [{ show: false }, { show: false }] :
        [TIME_AXIS, Object.assign({ size: 64 }, AXIS)].concat(dual ?
          [Object.assign({ scale: "y2", side: 1, size: 56 }, AXIS, { grid: { show: false } })] : []),
      series: [{}].concat(series.map(function (s, i) {
        return { label: s.label, stroke: s.color, width: 2, fill: s.fill ? s.color + "22" : undefined,
                 points: { show: false }, scale: dual && i === 1 ? "y2" : "y" };
      }))
    };
    var u = new uPlot(o, data, el);
    window.addEventListener("resize", function () { u.setSize({ width: width(el), height: height }); });
    return u;
  }

  // ---- Overview --------------------------------------------------------------------------
  function overview() {
    var live = readJson("live-initial");
    if (!live) return;
    var throughput = chart(byId("chart-throughput"), 270,
      [{ label: "records/s (left)", color: COLORS.records, fill: true }, { label: "requests/s (right)", color: COLORS.requests }],
      [live.throughput.t, live.throughput.records, live.throughput.requests], { dual: true });
    var pct = { range: function () { return [0, 100]; }, sparkline: true };
    var sparks = {
      cpu: chart(byId("spark-cpu"), 60, [{ color: COLORS.cpu, fill: true }], [[], []], pct),
      memory: chart(byId("spark-memory"), 60, [{ color: COLORS.memory, fill: true }], [[], []], pct),
      disk: chart(byId("spark-disk"), 60, [{ color: COLORS.disk, fill: true }], [[], []], pct),
      network: chart(byId("spark-network"), 60, [{ color: COLORS.rx }, { color: COLORS.tx }], [[], [], []], { sparkline: true })
    };

    function apply(d) {
      setText("live-at", d.at);
      var h = d.health;
      var banner = byId("health");
      banner.className = "banner " + (h.ok ? "ok" : "bad");
      setText("health-text", h.ok ? "All systems normal" :
        (h.database !== "up" ? "Database unreachable: uploads are refused until it is back" :
         "Cache degraded: Redis unreachable, uploads continue"));
      ["database", "cache", "writer"].forEach(function (k) {
        var el = byId("health-" + k); el.textContent = h[k]; el.className = "state-" + h[k];
      });
      setText("health-queue", fmt(h.queued_rows) + " / " + fmt(h.queue_capacity));
      setText("kpi-records-per-second", fmt(d.records_per_second));
      setText("kpi-requests-per-second", fmt(d.requests_per_second));
      setText("kpi-today-records", d.today ? fmt(d.today.records) : "—");
      setText("kpi-today-devices", d.today ? fmt(d.today.devices) : "—");
      setText("kpi-today-users", d.today ? fmt(d.today.users) : "—");
      setText("kpi-active-5m", fmt(d.active_devices_5m));
      var a = d.open_alerts || { critical: 0, major: 0, minor: 0 };
      setText("kpi-alerts-critical", String(a.critical));
      setText("kpi-alerts-major", String(a.major));
      setText("kpi-alerts-minor", String(a.minor));
      ["alerts", "stages", "batches", "events"].forEach(function (k) {
        var el = byId("fragment-" + k);
        if (el && el.innerHTML !== d.fragments[k]) el.innerHTML = d.fragments[k];
      });
      if (throughput) throughput.setData([d.throughput.t, d.throughput.records, d.throughput.requests]);
      var s = d.system;
      if (sparks.cpu) sparks.cpu.setData([s.t, s.cpu]);
      if (sparks.memory) sparks.memory.setData([s.t, s.memory]);
      if (sparks.disk) sparks.disk.setData([s.t, s.disk]);
      if (sparks.network) sparks.network.setData([s.t, s.rx_kib, s.tx_kib]);
    }
    apply(live);

    // The feed is broken when the stream errors or three updates are missed; EventSource
    // reconnects by itself, and the first message after that clears the state.
    var state = byId("feed-state");
    var lastMessage = Date.now();
    function broken(why) {
      state.className = "feed broken"; state.textContent = "LIVE FEED BROKEN"; state.title = why;
      document.body.classList.add("stale");
    }
    function healthy() {
      state.className = "feed ok"; state.textContent = "LIVE"; state.title = "Live updates";
      document.body.classList.remove("stale");
    }
    var source = new EventSource("/live");
    source.onmessage = function (e) {
      lastMessage = Date.now();
      try { apply(JSON.parse(e.data)); healthy(); } catch (err) { broken("Bad update: " + err); }
    };
    source.onerror = function () {
      broken("Connection to the server lost; retrying");
      // A closed stream (e.g. 401 after the session expired) is not retried by the browser.
      if (source.readyState === EventSource.CLOSED) {
        fetch("/live.json", { credentials: "same-origin" }).then(function (r) {
          if (r.status === 401) window.location = "/login?next=/";
          else setTimeout(function () { window.location.reload(); }, 5000);
        }).catch(function () { setTimeout(function () { window.location.reload(); }, 5000); });
      }
    };
    setInterval(function () {
      if (Date.now() - lastMessage > 3 * (live.refresh_ms || 2000) + 1000) broken("No update received recently");
    }, 1000);
  }

  // ---- System ----------------------------------------------------------------------------
  function system() {
    var d = readJson("system-data");
    if (!d) return;
    var pct = { range: function () { return [0, 100]; } };
    chart(byId("chart-cpu"), 260, [{ label: "host CPU %", color: COLORS.cpu, fill: true },
      { label: "service CPU %", color: COLORS.process }], [d.t, d.cpu, d.process_cpu], pct);
    chart(byId("chart-memory"), 260, [{ label: "memory %", color: COLORS.memory, fill: true }], [d.t, d.memory], pct);
    chart(byId("chart-network"), 260, [{ label: "rx KiB/s", color: COLORS.rx }, { label: "tx KiB/s", color: COLORS.tx }],
      [d.t, d.rx_kib, d.tx_kib]);
  }

  overview();
  system();
})();
