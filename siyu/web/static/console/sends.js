/* The lift chart of a send: net revenue per customer, targeted vs holdout. */
(function () {
  "use strict";
  var dataEl = document.getElementById("lift-data");
  var el = document.getElementById("chart-lift");
  if (!dataEl || !el || !window.echarts) return;
  var d = JSON.parse(dataEl.textContent);
  var chart = echarts.init(el, null, { renderer: "canvas" });
  chart.setOption({
    animation: false,
    color: ["#07c160", "#8c8c8c"],
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    grid: { left: 48, right: 16, top: 36, bottom: 28 },
    xAxis: { type: "category", data: d.windows },
    yAxis: { type: "value", name: "人均净收入(元)" },
    series: [
      { name: "发送组", type: "bar", data: d.target },
      { name: "对照组", type: "bar", data: d.holdout }
    ]
  });
  window.addEventListener("resize", function () { chart.resize(); });
})();
