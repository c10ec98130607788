/* Dashboard charts (ECharts, installed at set-up into /static/vendor). */
(function () {
  "use strict";
  var dataEl = document.getElementById("dashboard-data");
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
    option.animation = false;  // screenshots and slow machines: draw at once
    chart.setOption(option);
    charts.push(chart);
  }
  var grid = { left: 48, right: 48, top: 36, bottom: 28 };
  make("chart-friends", {
    tooltip: { trigger: "axis" }, grid: grid,
    xAxis: { type: "category", data: d.days }, yAxis: { type: "value", minInterval: 1 },
    series: [{ name: "新增好友", type: "bar", data: d.new_friends }]
  });
  make("chart-orders", {
    tooltip: { trigger: "axis" }, legend: { top: 0 }, grid: grid,
    xAxis: { type: "category", data: d.days },
    yAxis: [{ type: "value", name: "订单", minInterval: 1 }, { type: "value", name: "¥", splitLine: { show: false } }],
    series: [
      { name: "订单数", type: "bar", data: d.orders },
      { name: "净收入(元)", type: "line", yAxisIndex: 1, smooth: true, data: d.net_yuan }
    ]
  });
  var pieLabel = { formatter: "{b}\n{d}%", overflow: "none" };
  function pie(rows) { return rows.map(function (r) { return { name: r[0], value: r[1] }; }); }
  make("chart-layers", {
    tooltip: { trigger: "item" }, legend: { bottom: 0 },
    series: [
      { name: "价值分层", type: "pie", radius: ["30%", "52%"], center: ["31%", "45%"], label: pieLabel, data: pie(d.layers.value) },
      { name: "会员等级", type: "pie", radius: ["30%", "52%"], center: ["73%", "45%"], label: pieLabel, data: pie(d.layers.tier) }
    ]
  });
  make("chart-rfm", {
    tooltip: { trigger: "axis" }, grid: { left: 90, right: 24, top: 12, bottom: 24 },
    xAxis: { type: "value", minInterval: 1 },
    yAxis: { type: "category", data: d.rfm.map(function (r) { return r[0]; }).reverse() },
    series: [{ name: "客户", type: "bar", data: d.rfm.map(function (r) { return r[1]; }).reverse() }]
  });
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
})();
