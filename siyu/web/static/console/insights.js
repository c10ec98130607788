/* 经营指标 charts: metric trends and cohort heat maps (ECharts from /static/vendor). */
(function () {
  "use strict";
  var dataEl = document.getElementById("insights-data");
  if (!dataEl) return;
  if (!window.echarts) {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      el.classList.add("unavailable");
      el.textContent = "图表暂不可用";
    });
    return;
  }
  var d = JSON.parse(dataEl.textContent);
  var palette = ["#07c160", "#1677ff", "#fa8c16", "#eb2f96", "#722ed1", "#13c2c2", "#8c8c8c"];
  var charts = [];
  function make(id, option) {
    var el = document.getElementById(id);
    if (!el) return;
    var chart = echarts.init(el, null, { renderer: "canvas" });
    option.color = palette;
    option.animation = false;
    chart.setOption(option);
    charts.push(chart);
  }
  function pct(v) { return v === null || v === undefined ? null : Math.round(v * 1000) / 10; }
  if (d.series) {
    var names = { pass_rate: "通过率", reply_rate: "回复率", interaction_rate: "互动率", conversion_rate: "转化率",
                  wecom_pass_rate: "企微通过率", wecom_reply_rate: "企微回复率" };
    make("chart-trend", {
      tooltip: { trigger: "axis", valueFormatter: function (v) { return v === null ? "—" : v + "%"; } },
      legend: { top: 0, type: "scroll" }, grid: { left: 40, right: 16, top: 40, bottom: 28 },
      xAxis: { type: "category", data: d.periods }, yAxis: { type: "value", max: 100, axisLabel: { formatter: "{value}%" } },
      series: Object.keys(names).map(function (k) {
        return { name: names[k], type: "line", connectNulls: true, lineStyle: k.indexOf("wecom") === 0 ? { type: "dashed" } : {},
                 data: d.series[k].map(pct) };
      })
    });
  }
  (d.heatmaps || []).forEach(function (h) {
    var cells = [];
    h.rows.forEach(function (row, y) {
      row.values.forEach(function (v, x) { if (v !== null) cells.push([x, y, h.percent ? pct(v) : v]); });
    });
    make(h.id, {
      tooltip: { position: "top" }, grid: { left: 70, right: 12, top: 12, bottom: 56 },
      xAxis: { type: "category", data: h.columns, splitArea: { show: true } },
      yAxis: { type: "category", data: h.rows.map(function (r) { return r.label; }), inverse: true, splitArea: { show: true } },
      visualMap: { min: 0, max: h.max || 100, calculable: true, orient: "horizontal", left: "center", bottom: 0, itemHeight: 80,
                   inRange: { color: ["#f0f9f3", "#07c160"] } },
      series: [{ type: "heatmap", data: cells, label: { show: true, fontSize: 10 } }]
    });
  });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
