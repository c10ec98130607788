/* The SOP plan's form editor: steps as rows, kept in sync both ways with the JSON
   textarea (高级). The form only writes the JSON the server checks; the server's error
   names the step and field, and the form marks that field. */
(function () {
  "use strict";
  var dataEl = document.getElementById("sop-editor-data");
  var root = document.getElementById("step-editor");
  var form = document.getElementById("plan-form");
  if (!dataEl || !root || !form) return;
  var D = JSON.parse(dataEl.textContent);
  var O = D.options;
  var area = form.elements.plan;
  var jsonState = document.getElementById("json-state");
  var CONTENT_ACTIONS = ["task", "send", "group_message", "moment"];
  var SCORE_FIELDS = ["layer_value", "layer_tier", "layer_age", "lifecycle", "rfm_segment", "rfm8"];
  // Each trigger's settings: [key, label, kind, required]
  var TRIGGER_FIELDS = {
    friend_added: [["channel", "渠道（留空为全部）", "text"]],
    tag_added: [["tag", "标签", "tag"]],
    tag_removed: [["tag", "标签", "tag"]],
    joined_group: [["group", "群（留空为全部）", "text"]],
    category_order: [["category", "品类", "text"]],
    layer_changed: [["field", "字段", "score"], ["to", "变为", "text"]],
    inactive: [["what", "没有", "what"], ["days", "天数", "int"]],
    date_field: [["field", "日期字段（birthday 或自定义字段）", "text"], ["days_before", "提前天数", "int"],
                 ["days_after", "延后天数", "int"], ["repeat", "重复", "repeat"]],
    segment: [["segment", "人群名称", "text"]],
    group_created: [["group_type", "群类型（可空）", "text"], ["owner", "群主 userid（可空）", "text"]],
    group_type: [["group_type", "群类型", "text"], ["owner", "群主 userid（可空）", "text"]],
    group_age: [["days", "建群天数", "int"], ["group_type", "群类型（可空）", "text"], ["owner", "群主 userid（可空）", "text"]]
  };
  var plan = null;

  function el(tag, attrs, kids) {
    var n = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") n.textContent = attrs[k];
      else if (k === "on") Object.keys(attrs.on).forEach(function (e) { n.addEventListener(e, attrs.on[e]); });
      else if (k in n && k !== "list") n[k] = attrs[k];
      else n.setAttribute(k, attrs[k]);
    });
    (kids || []).forEach(function (c) { if (c) n.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return n;
  }
  function hide(obj, key, value) {
    Object.defineProperty(obj, key, { value: value, writable: true, enumerable: false, configurable: true });
  }
  // A whole number stays a number; anything else is sent as typed, for the server to name.
  function num(v) { return /^\s*\d+\s*$/.test(v) ? parseInt(v, 10) : v; }
  function subj() { return O.subjects[plan.subject || "customer"] ? (plan.subject || "customer") : "customer"; }
  function allowed(list, value, labels) {
    var opts = list.map(function (k) { return [k, labels[k] || k]; });
    if (value && list.indexOf(value) < 0) opts.push([value, (labels[value] || value) + "（此对象不可用）"]);
    return opts;
  }
  function select(opts, value, onchange, attrs) {
    var s = el("select", attrs || {});
    opts.forEach(function (o) { s.appendChild(el("option", { value: o[0], text: o[1], selected: String(o[0]) === String(value) })); });
    s.addEventListener("change", function () { onchange(s.value); });
    return s;
  }
  function field(label, input, key) {
    var l = el("label", { className: "sop-field" }, [el("span", { className: "small muted", text: label }), input]);
    if (key) l.setAttribute("data-f", key);
    return l;
  }

  function write() {
    // "after the previous step" rows take their day from the row above.
    (plan.steps || []).forEach(function (s, i) {
      if (s._mode === "after" && i > 0) s.day = (parseInt(plan.steps[i - 1].day, 10) || 0) + (s._gap || 0);
    });
    area.value = JSON.stringify(plan, null, 2);
    jsonState.textContent = "";
  }
  function changed(rerender) { write(); if (rerender) render(); }

  function load() {
    var parsed;
    try { parsed = JSON.parse(area.value); } catch (e) {
      jsonState.textContent = "JSON 有误，表单未更新：" + e.message;
      return false;
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      jsonState.textContent = "计划应是一个对象，表单未更新";
      return false;
    }
    if (!Array.isArray(parsed.steps)) parsed.steps = [];
    // A row's reach now is that of the saved step it is (same day, time, action, title).
    var used = {};
    parsed.steps.forEach(function (s) {
      if (!s || typeof s !== "object") return;
      var orig = null;
      (D.saved_keys || []).forEach(function (k, j) {
        if (orig === null && !used[j] && k[0] === s.day && (k[1] || null) === (s.at || null) &&
            k[2] === (s.action || "task") && k[3] === s.title) { orig = j; used[j] = true; }
      });
      hide(s, "_orig", orig);
      hide(s, "_mode", s.at ? "abs" : "delay");
    });
    if (!parsed.trigger || typeof parsed.trigger !== "object") parsed.trigger = { kind: "" };
    if (!Array.isArray(parsed.exits)) parsed.exits = [];
    plan = parsed;
    jsonState.textContent = "";
    return true;
  }

  function renderHead() {
    var s = subj(), cfg = O.subjects[s];
    var box = el("fieldset", { className: "sop-head" }, [el("legend", { text: "计划" })]);
    box.appendChild(field("名称", el("input", { type: "text", value: plan.name || "", name: "f-name",
      on: { input: function (e) { plan.name = e.target.value; changed(false); } } }), "name"));
    box.appendChild(field("计划对象", select(Object.keys(O.subjects).map(function (k) { return [k, O.subjects[k].label]; }), s,
      function (v) {
        plan.subject = v;
        var c = O.subjects[v];
        if (c.triggers.indexOf(plan.trigger.kind) < 0) plan.trigger = { kind: c.triggers[0] };
        plan.exits = (plan.exits || []).filter(function (e) { return c.exits.indexOf(e.kind || e) >= 0; });
        if (v === "group") delete plan.audience;
        changed(true);
      }, { name: "f-subject" }), "subject"));
    box.appendChild(field("触发", select(allowed(cfg.triggers, plan.trigger.kind, O.trigger_labels), plan.trigger.kind,
      function (v) { plan.trigger = { kind: v }; changed(true); }, { name: "f-trigger" }), "trigger.kind"));
    (TRIGGER_FIELDS[plan.trigger.kind] || []).forEach(function (f) {
      var key = f[0], kind = f[2], cur = plan.trigger[key], input;
      var set = function (v) { if (v === "" || v === null) delete plan.trigger[key]; else plan.trigger[key] = v; changed(false); };
      if (kind === "tag") {
        input = select([["", "选择标签"]].concat(O.tags.map(function (t) { return [t, t]; })), cur || "", set);
      } else if (kind === "score") {
        input = select(SCORE_FIELDS.map(function (k) { return [k, k]; }), cur || "layer_value", set);
        if (!cur) plan.trigger[key] = "layer_value";
      } else if (kind === "what") {
        input = select([["order", "下单"], ["interaction", "互动"]], cur || "order", set);
      } else if (kind === "repeat") {
        input = select([["yearly", "每年"], ["once", "一次"]], cur || "yearly", set);
      } else {
        input = el("input", { type: kind === "int" ? "number" : "text", value: cur === undefined ? "" : cur,
          on: { input: function (e) { set(kind === "int" && e.target.value !== "" ? num(e.target.value) : e.target.value); } } });
      }
      box.appendChild(field(f[1], input, "trigger." + key));
    });
    if (s === "customer") {
      box.appendChild(field("人群条件（可空，人群表达式）", el("input", { type: "text", value: plan.audience || "",
        on: { input: function (e) { if (e.target.value) plan.audience = e.target.value; else delete plan.audience; changed(false); } } }), "audience"));
    }
    var exits = el("div", { className: "sop-exits" });
    cfg.exits.forEach(function (k) {
      var have = (plan.exits || []).filter(function (e) { return (e.kind || e) === k; })[0];
      var cb = el("input", { type: "checkbox", checked: !!have, on: { change: function (e) {
        plan.exits = (plan.exits || []).filter(function (x) { return (x.kind || x) !== k; });
        if (e.target.checked) plan.exits.push(k === "tag_added" ? { kind: k, tag: O.tags[0] || "" } : { kind: k });
        changed(true);
      } } });
      exits.appendChild(el("label", { className: "check" }, [cb, " " + (O.exit_labels[k] || k)]));
      if (k === "tag_added" && have) {
        exits.appendChild(select(O.tags.map(function (t) { return [t, t]; }), have.tag || "",
          function (v) { have.tag = v; changed(false); }));
      }
    });
    box.appendChild(field("退出条件", exits, "exits"));
    return box;
  }

  function tagPicker(step) {
    var wrap = el("div", { className: "sop-tags" });
    ["add_tags", "remove_tags"].forEach(function (key) {
      var chips = el("div", { className: "chips", "data-f": key }, [el("span", { className: "small muted", text: key === "add_tags" ? "打上：" : "移除：" })]);
      (step[key] || []).forEach(function (t, i) {
        chips.appendChild(el("span", { className: "badge" }, [t + " ", el("button", { type: "button", className: "link", text: "×",
          title: "去掉", on: { click: function () { step[key].splice(i, 1); changed(true); } } })]));
      });
      wrap.appendChild(chips);
    });
    var pick = select([["", "选择标签"]].concat(O.tags.map(function (t) { return [t, t]; })), "", function () {}, { className: "tag-pick" });
    function add(key) {
      if (!pick.value) return;
      step[key] = (step[key] || []).filter(function (t) { return t !== pick.value; }).concat([pick.value]);
      changed(true);
    }
    wrap.appendChild(el("div", { className: "row" }, [pick,
      el("button", { type: "button", text: "打上", on: { click: function () { add("add_tags"); } } }),
      el("button", { type: "button", text: "移除", on: { click: function () { add("remove_tags"); } } })]));
    if (!O.tags.length) wrap.appendChild(el("p", { className: "small muted", text: "工作区还没有标签，先在「标签」页创建。" }));
    return wrap;
  }

  function stepRow(step, i) {
    var cfg = O.subjects[subj()], steps = plan.steps;
    if (i === 0 && step._mode === "after") step._mode = step.at ? "abs" : "delay";
    var row = el("li", { className: "sop-step", "data-step": i });
    var head = el("div", { className: "row" }, [el("strong", { text: "第 " + (i + 1) + " 步" })]);
    var reach = step._orig !== null && step._orig !== undefined && D.reach[step._orig] !== undefined
      ? "此刻触达 " + D.reach[step._orig].toLocaleString("zh-CN") + " 位（按已保存的计划）" : "保存后计算触达人数";
    head.appendChild(el("span", { className: "small muted reach", text: reach }));
    head.appendChild(el("span", { className: "spacer" }));
    head.appendChild(el("button", { type: "button", text: "↑", title: "上移", disabled: i === 0,
      on: { click: function () { steps.splice(i - 1, 0, steps.splice(i, 1)[0]); changed(true); } } }));
    head.appendChild(el("button", { type: "button", text: "↓", title: "下移", disabled: i === steps.length - 1,
      on: { click: function () { steps.splice(i + 1, 0, steps.splice(i, 1)[0]); changed(true); } } }));
    head.appendChild(el("button", { type: "button", text: "删除", className: "secondary",
      on: { click: function () { steps.splice(i, 1); changed(true); } } }));
    row.appendChild(head);
    var when = el("div", { className: "row sop-when" });
    var modes = [["abs", "第 N 天的某个时间"], ["delay", "加入后 N 天 + M 分钟"]];
    if (i > 0) modes.push(["after", "上一步之后 N 天"]);
    when.appendChild(field("何时", select(modes, step._mode, function (v) {
      step._mode = v;
      if (v === "delay") { delete step.at; } else { step.at = step.at || "20:00"; delete step.delay_minutes; }
      if (v === "after") step._gap = Math.max(0, (parseInt(step.day, 10) || 0) - (parseInt(steps[i - 1].day, 10) || 0));
      changed(true);
    }, { name: "f-when" }), "when"));
    if (step._mode === "after") {
      when.appendChild(field("间隔天数", el("input", { type: "number", min: 0, value: step._gap || 0, name: "f-gap",
        on: { input: function (e) { step._gap = parseInt(e.target.value, 10) || 0; changed(false); } } }), "day"));
    } else {
      when.appendChild(field("第几天", el("input", { type: "number", min: 0, value: step.day === undefined ? 0 : step.day, name: "f-day",
        on: { input: function (e) { step.day = num(e.target.value); changed(false); } } }), "day"));
    }
    if (step._mode === "delay") {
      when.appendChild(field("延迟分钟", el("input", { type: "number", min: 0, value: step.delay_minutes || 0, name: "f-delay",
        on: { input: function (e) { var v = num(e.target.value); if (v === 0 || v === "") delete step.delay_minutes; else step.delay_minutes = v; changed(false); } } }), "delay_minutes"));
    } else {
      when.appendChild(field("时间", el("input", { type: "time", value: step.at || "20:00", name: "f-at",
        on: { input: function (e) { step.at = e.target.value; changed(false); } } }), "at"));
    }
    row.appendChild(when);
    var what = el("div", { className: "row" });
    what.appendChild(field("动作", select(allowed(cfg.actions, step.action || "task", O.action_labels), step.action || "task",
      function (v) {
        step.action = v;
        if (v === "tag") { step.add_tags = step.add_tags || []; step.remove_tags = step.remove_tags || []; }
        else { delete step.add_tags; delete step.remove_tags; }
        changed(true);
      }, { name: "f-action" }), "action"));
    what.appendChild(field("标题", el("input", { type: "text", value: step.title || "", name: "f-title",
      on: { input: function (e) { step.title = e.target.value; changed(false); } } }), "title"));
    row.appendChild(what);
    var action = step.action || "task";
    if (action === "tag") {
      row.appendChild(tagPicker(step));
    } else if (CONTENT_ACTIONS.indexOf(action) >= 0) {
      var opts = [["", "不用素材库"]].concat(O.contents.map(function (c) { return [c.id, "#" + c.id + " " + c.title + "（" + c.kind + "）"]; }));
      if (step.content_id && !O.contents.some(function (c) { return c.id === step.content_id; })) opts.push([step.content_id, "#" + step.content_id + "（已删除或不存在）"]);
      row.appendChild(field("素材库内容", select(opts, step.content_id || "", function (v) {
        if (v) step.content_id = parseInt(v, 10); else delete step.content_id; changed(false);
      }, { name: "f-content" }), "content_id"));
      row.appendChild(field(action === "task" ? "建议话术（可空）" : "文案（不用素材库时必填）", el("textarea", { rows: 2, value: step.body || "", name: "f-body",
        on: { input: function (e) { if (e.target.value) step.body = e.target.value; else delete step.body; changed(false); } } }), "body"));
    }
    return row;
  }

  function render() {
    root.textContent = "";
    root.appendChild(renderHead());
    var list = el("ol", { className: "sop-steps", id: "sop-steps" });
    plan.steps.forEach(function (s, i) { if (s && typeof s === "object") list.appendChild(stepRow(s, i)); });
    root.appendChild(el("fieldset", {}, [el("legend", { text: "步骤（按时间先后）" }), list,
      el("button", { type: "button", id: "add-step", text: "＋ 添加步骤", on: { click: function () {
        var last = plan.steps[plan.steps.length - 1];
        var s = { day: last ? (parseInt(last.day, 10) || 0) + 1 : 0, at: "20:00", action: "task", title: "" };
        hide(s, "_orig", null); hide(s, "_mode", "abs");
        plan.steps.push(s);
        changed(true);
      } } })]));
    markError();
  }

  // The server's error names a field such as steps[2].content_id: mark it in the form.
  function markError() {
    var f = D.error_field, msg = document.getElementById("plan-error");
    if (!f || !msg) return;
    var m = /^steps\[(\d+)\](?:\.(\w+))?$/.exec(f), target = null;
    if (m) {
      var row = root.querySelector('[data-step="' + m[1] + '"]');
      if (row) target = (m[2] && row.querySelector('[data-f="' + m[2] + '"]')) || row;
    } else if (f === "plan") {
      document.getElementById("plan-advanced").open = true;
    } else {
      target = root.querySelector('[data-f="' + f + '"]') || root.querySelector('[data-f="' + f.split(/[.[]/)[0] + '"]');
    }
    if (!target) return;
    target.classList.add("field-error");
    target.appendChild(el("div", { className: "expr-error step-error", text: msg.textContent }));
  }

  area.addEventListener("input", function () { if (load()) render(); });
  form.addEventListener("submit", function () { if (plan && !jsonState.textContent) write(); });
  if (load()) {
    root.hidden = false;
    render();
  } else {
    document.getElementById("plan-advanced").open = true;
  }
})();
