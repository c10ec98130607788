/* siyu console: live audience counts, segment preview, import progress, confirmations.
   Plain JavaScript, no framework: every page also works as a server-rendered form. */
(function () {
  "use strict";

  function debounce(fn, ms) {
    var t = null;
    return function () {
      var args = arguments, self = this;
      clearTimeout(t);
      t = setTimeout(function () { fn.apply(self, args); }, ms);
    };
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, status: r.status, body: body }; }); });
  }

  function showError(el, err) {
    if (!el) return;
    if (!err) { el.hidden = true; el.textContent = ""; return; }
    el.hidden = false;
    el.textContent = "";
    var head = "表达式有误" + (err.column ? "（第 " + err.column + " 列）" : "") + "：";
    el.appendChild(document.createTextNode(head + (err.message || "")));
    if (err.expected) {
      el.appendChild(document.createElement("br"));
      var hint = document.createElement("span");
      hint.className = "muted";
      hint.textContent = "此处可以写：" + err.expected;
      el.appendChild(hint);
    }
  }

  function fmt(n) { return Number(n).toLocaleString("zh-CN"); }

  // Filter box on /customers: count as you type.
  document.querySelectorAll("[data-live-count]").forEach(function (input) {
    var target = document.querySelector(input.dataset.countTarget);
    var errEl = document.querySelector(input.dataset.errorTarget);
    var seq = 0;
    // The table below shows the applied filter's customers: while the box holds another
    // expression, the table is marked as not (yet) matching it.
    var table = input.dataset.tableTarget ? document.querySelector(input.dataset.tableTarget) : null;
    function markStale() {
      if (table) table.classList.toggle("stale", input.value.trim() !== input.defaultValue.trim());
    }
    var update = debounce(function () {
      var mine = ++seq;
      markStale();
      target.textContent = "计算中…";
      getJSON(input.dataset.liveCount + "?q=" + encodeURIComponent(input.value)).then(function (res) {
        if (mine !== seq) return;  // a newer keystroke already asked again
        if (res.ok) {
          showError(errEl, null);
          target.innerHTML = "共 <strong>" + fmt(res.body.count) + "</strong> 位客户";
          target.dataset.count = res.body.count;
        } else {
          target.textContent = "";
          showError(errEl, res.body.error || { message: "无法计算" });
        }
      }).catch(function () { if (mine === seq) target.textContent = "网络错误，稍后重试"; });
    }, 300);
    input.addEventListener("input", update);
    if ("countNow" in input.dataset && input.value.trim()) update();
  });

  // Segment editor: count + preview table.
  document.querySelectorAll("[data-preview]").forEach(function (input) {
    var countEl = document.querySelector(input.dataset.countTarget);
    var errEl = document.querySelector(input.dataset.errorTarget);
    var rowsEl = document.querySelector(input.dataset.rowsTarget);
    var seq = 0;
    function cell(tr, text, cls) {
      var td = document.createElement("td");
      if (cls) td.className = cls;
      td.textContent = text;
      tr.appendChild(td);
      return td;
    }
    // No rows of an earlier expression may stay on screen as if they were this one's.
    function placeholder(text) {
      rowsEl.textContent = "";
      var tr = document.createElement("tr"); var td = cell(tr, text); td.colSpan = 6; td.className = "empty";
      rowsEl.appendChild(tr);
    }
    var update = debounce(function () {
      var mine = ++seq;
      if (!input.value.trim()) {
        countEl.textContent = ""; showError(errEl, null); placeholder("输入表达式后显示"); return;
      }
      countEl.textContent = "计算中…";
      rowsEl.classList.add("stale");
      getJSON(input.dataset.preview + "?q=" + encodeURIComponent(input.value)).then(function (res) {
        if (mine !== seq) return;
        rowsEl.classList.remove("stale");
        if (!res.ok) {
          countEl.textContent = "";
          showError(errEl, res.body.error || { message: "无法计算" });
          placeholder("表达式有误，暂无预览");
          return;
        }
        showError(errEl, null);
        countEl.innerHTML = "共 <strong>" + fmt(res.body.count) + "</strong> 位客户";
        (res.body.warnings || []).forEach(function (w) {
          var s = document.createElement("div"); s.className = "flash warn"; s.textContent = w; countEl.appendChild(s);
        });
        rowsEl.textContent = "";
        res.body.rows.forEach(function (r) {
          var tr = document.createElement("tr");
          var a = document.createElement("a"); a.href = "/customers/" + r.id; a.textContent = r.name;
          var td = document.createElement("td"); td.appendChild(a); tr.appendChild(td);
          cell(tr, r.phone, "mono"); cell(tr, r.city); cell(tr, r.orders, "num"); cell(tr, r.net, "num");
          var tags = cell(tr, "");
          r.tags.forEach(function (t) { var s = document.createElement("span"); s.className = "tag"; s.textContent = t; tags.appendChild(s); });
          rowsEl.appendChild(tr);
        });
        if (!res.body.rows.length) placeholder("没有符合条件的客户");
      }).catch(function () {
        if (mine !== seq) return;
        rowsEl.classList.remove("stale");
        countEl.textContent = "网络错误，稍后重试";
        placeholder("暂无预览");
      });
    }, 300);
    input.addEventListener("input", update);
    if (input.value.trim()) update();
  });

  // Import progress: poll while running, reload when the run ends.
  var run = document.getElementById("import-run");
  if (run && run.dataset.status === "running") {
    var bar = document.getElementById("import-bar");
    var state = document.getElementById("import-state");
    var width = 30;
    var poll = function () {
      getJSON(run.dataset.statusUrl).then(function (res) {
        if (!res.ok) return;
        var d = res.body;
        run.querySelectorAll("[data-k]").forEach(function (el) { el.textContent = fmt(d[el.dataset.k] || 0); });
        if (d.status !== "running") { window.location.reload(); return; }
        width = Math.min(95, width + (95 - width) * 0.1);
        bar.style.width = width + "%";
        state.textContent = "正在导入… 已处理 " + fmt(d.rows_ok + d.rows_failed) + " 行";
        setTimeout(poll, 1000);
      }).catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 500);
  }

  // Full phone number for owners and admins, through the API (audited there).
  var reveal = document.getElementById("reveal-phone");
  if (reveal) {
    reveal.addEventListener("click", function () {
      var out = document.getElementById("revealed");
      var token = document.querySelector("meta[name=csrf-token]").content;
      fetch(reveal.dataset.url, {
        method: "POST", credentials: "same-origin",
        headers: { "X-CSRF-Token": token, Accept: "application/json" }
      }).then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
        .then(function (res) {
          out.hidden = false;
          out.textContent = res.ok ? res.body.phones.join("、") : (res.body.error && res.body.error.message) || "无法查看";
          reveal.hidden = res.ok;
        });
    });
  }

  // Import list: refresh while a run is still going.
  var runs = document.getElementById("import-runs");
  if (runs && runs.dataset.running) setTimeout(function () { window.location.reload(); }, 2000);

  // Customer list bulk actions: tick rows (or the whole page), or pick the whole result.
  var bulk = document.getElementById("bulk-form");
  if (bulk) {
    var boxes = function () { return document.querySelectorAll("input[name=customer_id][form=bulk-form]"); };
    var counter = document.getElementById("bulk-count");
    var pageBox = document.getElementById("select-page");
    var refresh = function () {
      var n = 0; boxes().forEach(function (b) { if (b.checked) n++; });
      counter.textContent = n;
      if (n) document.getElementById("bulk-selected").checked = true;
    };
    boxes().forEach(function (b) { b.addEventListener("change", refresh); });
    if (pageBox) pageBox.addEventListener("change", function () {
      boxes().forEach(function (b) { b.checked = pageBox.checked; });
      refresh();
    });
    bulk.addEventListener("submit", function (ev) {
      var all = document.getElementById("bulk-all").checked;
      var button = ev.submitter;
      var exporting = button && button.id === "bulk-export";
      var what = all ? document.getElementById("bulk-all").parentNode.textContent.trim() : "已勾选的 " + counter.textContent + " 位客户";
      if (!all && counter.textContent === "0") { ev.preventDefault(); window.alert("请先勾选客户，或选择全部。"); return; }
      var verb = exporting ? "导出" : (button && button.value === "untag" ? "移除标签：" : "打标签：");
      if (all && !window.confirm(verb + what + "？")) ev.preventDefault();
    });
  }

  // Small behaviours kept out of the HTML, so that the page needs no inline script (CSP).
  var menu = document.getElementById("menu-toggle");
  if (menu) menu.addEventListener("click", function () {
    document.getElementById("sidebar").classList.toggle("open");
  });
  document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });

  // Forms that ask before they act (data-confirm="…").
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
    });
  });
})();
