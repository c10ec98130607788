/* 渠道漏斗 charts (ECharts, installed at set-up into /static/vendor). */
(function () {
  "use strict";
  var dataEl = document.getElementById("funnel-data");
  if (!dataEl) return;
  if (!window.echarts) {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      el.classList.add("unavailable");
      el.textContent = "图表暂不可用";
    });
    return;
  }
  var d = JSON.parse(dataEl.textContent);
  var palette = ["#07c160", "#1677ff", "#fa8c16", "#eb2f96", "#722ed1", "#13c2c2", "#a0d911", "#f5222d", "#2f54eb", "#8c8c8c"];
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
  var grid = { left: 56, right: 56, top: 40, bottom: 48 };
  make("chart-funnel", {
    tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: grid,
    xAxis: { type: "category", data: d.channels, axisLabel: { interval: 0, rotate: d.channels.length > 4 ? 30 : 0 } },
    yAxis: [{ type: "value", name: "人", minInterval: 1 }, { type: "value", name: "¥", splitLine: { show: false } }],
    series: [
      { name: "新增", type: "bar", data: d.adds },
      { name: "现存", type: "bar", data: d.kept },
      { name: "下单客户", type: "bar", data: d.buyers },
      { name: "毛利(元)", type: "line", yAxisIndex: 1, data: d.gross_yuan }
    ]
  });
  make("chart-gross", {
    tooltip: { trigger: "axis" }, legend: { top: 0, type: "scroll" }, grid: grid,
    xAxis: { type: "category", data: d.periods },
    yAxis: { type: "value", name: "¥" },
    series: d.series.map(function (s) { return { name: s.name, type: "bar", stack: "gross", data: s.gross_yuan }; })
  });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
