/* The chat sidebar: one shim over @wecom/jssdk (ww.register) and classic wx.agentConfig,
   then the customer or group card. Data is written with textContent only. */
(function () {
  "use strict";
  var root = document.getElementById("sidebar");
  var base = root.dataset.base;
  var csrf = root.dataset.csrf;
  var steps = JSON.parse(root.dataset.steps || "{}");
  var JSAPI = ["getContext", "getCurExternalContact", "getCurExternalChat", "sendChatMessage"];

  function $(sel, el) { return (el || document).querySelector(sel); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function yuan(fen) { return fen === null || fen === undefined ? "—" : "¥" + (fen / 100).toFixed(2); }

  function StepError(step, message) { this.step = step; this.message = message; }

  function fail(step, message) {
    $("#sb-loading").hidden = true;
    var box = $("#sb-error");
    box.hidden = false;
    box.dataset.step = step;
    $(".step", box).textContent = steps[step] || step;
    $(".detail", box).textContent = message || "";
  }

  function api(path, body) {
    var opts = { credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (body !== undefined) {
      opts.method = "POST";
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-Sidebar-Token"] = csrf;
      opts.body = JSON.stringify(body);
    }
    return fetch(base + path, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) {
          var err = (data && data.error) || {};
          var step = err.code === "sidebar" ? err.field : (r.status === 403 ? "permission" : "api");
          throw new StepError(step, err.message || ("HTTP " + r.status));
        }
        return data;
      });
    });
  }

  /* --- the JS-SDK shim: the same four calls over either API ------------------------ */
  function classify(errMsg) {
    var m = String(errMsg || "");
    if (/domain|url/i.test(m)) return "domain";
    if (/permission|no auth|denied/i.test(m)) return "permission";
    return "signature";
  }

  function withTimeout(promise, ms) {
    // Outside the WeCom client the SDK waits for a bridge that never comes.
    return Promise.race([promise, new Promise(function (_, reject) {
      setTimeout(function () {
        reject(new StepError("jssdk", "WeCom did not answer within " + ms / 1000 + " s: open this page inside the WeCom client"));
      }, ms);
    })]);
  }

  function connect(cfg) {
    return withTimeout(connectSdk(cfg), 15000);
  }

  function connectSdk(cfg) {
    var sig = { timestamp: cfg.timestamp, nonceStr: cfg.nonceStr, signature: cfg.signature };
    if (window.ww && typeof window.ww.register === "function") {
      var ww = window.ww;
      return new Promise(function (resolve, reject) {
        ww.register({
          corpId: cfg.corpid,
          agentId: cfg.agentid,
          jsApiList: JSAPI,
          getAgentConfigSignature: function () { return sig; },
          onAgentConfigFail: function (res) { reject(new StepError(classify(res && res.errMsg), res && res.errMsg)); }
        });
        // @wecom/jssdk runs agentConfig lazily: trigger it now and wait for it.
        ww.ensureAgentConfigReady().then(function () { resolve(); }, function (res) {
          reject(new StepError(classify(res && (res.errMsg || res.message)), res && (res.errMsg || res.message)));
        });
      }).then(function () {
        return {
          api: "ww",
          context: function () { return ww.getContext(); },
          contact: function () { return ww.getCurExternalContact().then(function (r) { return r.userId; }); },
          chat: function () { return ww.getCurExternalChat().then(function (r) { return r.chatId; }); },
          send: function (text) { return ww.sendChatMessage({ msgtype: "text", text: { content: text } }); }
        };
      });
    }
    if (window.wx && typeof window.wx.agentConfig === "function") {
      var wx = window.wx;
      var invoke = function (name, args, pick) {
        return new Promise(function (resolve, reject) {
          wx.invoke(name, args || {}, function (res) {
            var msg = (res && (res.err_msg || res.errMsg)) || "";
            if (msg === name + ":ok") resolve(pick ? pick(res) : res);
            else reject(new StepError(name === "sendChatMessage" ? "permission" : "context", msg));
          });
        });
      };
      return new Promise(function (resolve, reject) {
        wx.agentConfig({
          corpid: cfg.corpid, agentid: cfg.agentid, timestamp: sig.timestamp, nonceStr: sig.nonceStr,
          signature: sig.signature, jsApiList: JSAPI,
          success: function () { resolve(); },
          fail: function (res) { reject(new StepError(classify(res && res.errMsg), res && res.errMsg)); }
        });
      }).then(function () {
        return {
          api: "wx",
          context: function () { return invoke("getContext", {}); },
          contact: function () { return invoke("getCurExternalContact", {}, function (r) { return r.userId; }); },
          chat: function () { return invoke("getCurExternalChat", {}, function (r) { return r.chatId; }); },
          send: function (text) { return invoke("sendChatMessage", { msgtype: "text", text: { content: text } }); }
        };
      });
    }
    return Promise.reject(new StepError("jssdk", "the WeCom JS-SDK is not loaded (open this page inside WeCom)"));
  }

  /* --- rendering ------------------------------------------------------------------- */
  function taskList(ul, tasks) {
    ul.textContent = "";
    if (!tasks.length) { ul.appendChild(el("li", "没有待办")); return; }
    tasks.forEach(function (t) {
      var li = el("li");
      var txt = el("div", null, "text");
      txt.appendChild(el("span", t.title));
      txt.appendChild(el("small", "截止 " + t.due_at.slice(0, 16).replace("T", " ")));
      li.appendChild(txt);
      var b = el("button", "完成");
      b.dataset.task = t.id;
      b.addEventListener("click", function () {
        b.disabled = true;
        api("api/tasks/" + t.id + "/done", {}).then(function () { li.remove(); }, function (e) { b.disabled = false; alert(e.message); });
      });
      li.appendChild(b);
      ul.appendChild(li);
    });
  }

  function sopList(section, rows) {
    if (!rows || !rows.length) { section.hidden = true; return; }
    section.hidden = false;
    var ul = $(".sop-list", section);
    ul.textContent = "";
    rows.forEach(function (r) {
      var text = (r.subject === "group" ? "本群：" : "") + (r.plan || r.name || "") + (r.step ? " · " + r.step : "");
      if (r.members) { text += "（" + r.members + " 位新人）"; }
      if (r.next_due_local) { text += " · " + r.next_due_local; }
      ul.appendChild(el("li", text));
    });
  }

  function tagChips(ul, tags, customerId) {
    ul.textContent = "";
    tags.forEach(function (t) {
      var li = el("li", t.name);
      var x = el("button", "×");
      x.title = "移除";
      x.addEventListener("click", function () {
        api("api/customers/" + customerId + "/tags", { remove: [t.id] }).then(function (now) { tagChips(ul, now, customerId); });
      });
      li.appendChild(x);
      ul.appendChild(li);
    });
  }

  function fieldForm(form, fields, customerId) {
    form.textContent = "";
    if (!fields.length) { form.appendChild(el("p", "管理员还没有定义客户资料字段", "sub")); return; }
    fields.forEach(function (f) {
      var label = el("label", f.label);
      var input;
      if (f.kind === "choice") {
        input = el("select");
        input.appendChild(el("option", "—"));
        input.options[0].value = "";
        f.options.forEach(function (o) { var op = el("option", o); op.value = o; input.appendChild(op); });
      } else {
        input = el("input");
        input.type = f.kind === "date" ? "date" : (f.kind === "number" ? "number" : "text");
      }
      input.name = f.key;
      input.value = f.value || "";
      label.appendChild(input);
      form.appendChild(label);
    });
    var save = el("button", "保存资料");
    form.appendChild(save);
    form.onsubmit = function (ev) {
      ev.preventDefault();
      var values = {};
      fields.forEach(function (f) { values[f.key] = form.elements[f.key].value; });
      api("api/customers/" + customerId + "/fields", { values: values }).then(
        function () { save.textContent = "已保存"; }, function (e) { alert(e.message); });
    };
  }

  function notesList(ul, notes) {
    ul.textContent = "";
    notes.forEach(function (n) {
      var li = el("li");
      var t = el("div", null, "text");
      t.appendChild(el("span", n.text));
      t.appendChild(el("small", n.created_at.slice(0, 16).replace("T", " ")));
      li.appendChild(t);
      ul.appendChild(li);
    });
  }

  function showCustomer(c) {
    var box = $("#sb-customer");
    var cid = c.customer.id;
    $(".name", box).textContent = c.customer.remark || c.customer.name || "客户";
    $(".sub", box).textContent = (c.customer.name || "") + (c.customer.phone ? " · " + c.customer.phone : "");
    $(".layer", box).textContent = c.layer ? c.layer.name : "—";
    $(".rfm", box).textContent = c.rfm ? c.rfm.name : "—";
    $(".clv", box).textContent = yuan(c.clv_fen);
    $(".orders-count", box).textContent = c.stats.orders + " 单 / " + yuan(c.stats.paid_fen);
    tagChips($(".tags", box), c.tags, cid);
    $(".add-tag", box).onsubmit = function (ev) {
      ev.preventDefault();
      var input = this.elements.tag;
      if (!input.value.trim()) return;
      api("api/customers/" + cid + "/tags", { add: [input.value.trim()] }).then(function (now) {
        input.value = ""; tagChips($(".tags", box), now, cid);
      }, function (e) { alert(e.message); });
    };
    taskList($(".tasks", box), c.tasks);
    sopList($(".sop", box), c.sop);
    fieldForm($(".fields", box), c.fields, cid);
    var orders = $(".orders", box);
    orders.textContent = "";
    c.orders.forEach(function (o) { orders.appendChild(el("li", (o.title || o.external_id) + " · " + yuan(o.paid_fen))); });
    c.bound_orders.forEach(function (b) { orders.appendChild(el("li", "已绑定 " + b.order_no)); });
    $(".bind-order", box).onsubmit = function (ev) {
      ev.preventDefault();
      var input = this.elements.order_no;
      api("api/customers/" + cid + "/orders", { order_no: input.value }).then(function (b) {
        orders.appendChild(el("li", "已绑定 " + b.order_no)); input.value = "";
      }, function (e) { alert(e.message); });
    };
    notesList($(".notes", box), c.notes);
    $(".note", box).onsubmit = function (ev) {
      ev.preventDefault();
      var input = this.elements.text;
      api("api/customers/" + cid + "/notes", { text: input.value }).then(function (n) {
        input.value = ""; c.notes.unshift(n); notesList($(".notes", box), c.notes);
      }, function (e) { alert(e.message); });
    };
    box.hidden = false;
  }

  function showGroup(g) {
    var box = $("#sb-group");
    $(".name", box).textContent = g.group.name || "客户群";
    $(".sub", box).textContent = (g.group.type || "客户群") + " · " + g.group.member_count + " 人";
    var ul = $(".members", box);
    ul.textContent = "";
    g.customers.forEach(function (m) { ul.appendChild(el("li", m.name + (m.my_friend ? "（我的好友）" : ""))); });
    if (!g.customers.length) ul.appendChild(el("li", "群里还没有识别出的客户"));
    taskList($(".tasks", box), g.tasks);
    sopList($(".sop", box), g.sop);
    box.hidden = false;
  }

  function loadScripts(sdk, q) {
    var box = $("#sb-scripts");
    return api("api/scripts?q=" + encodeURIComponent(q || "")).then(function (rows) {
      var ul = $(".scripts", box);
      ul.textContent = "";
      if (!rows.length) ul.appendChild(el("li", "没有话术"));
      rows.forEach(function (s) {
        var li = el("li");
        var t = el("div", null, "text");
        t.appendChild(el("span", s.title));
        t.appendChild(el("small", s.text));
        li.appendChild(t);
        var b = el("button", "发送");
        b.dataset.script = s.id;
        b.addEventListener("click", function () {
          sdk.send(s.text).then(function () { $(".sent-note", box).hidden = false; }, function (e) { alert(e.message || "发送失败"); });
        });
        li.appendChild(b);
        ul.appendChild(li);
      });
      box.hidden = false;
    });
  }

  function start() {
    var url = location.href.split("#")[0];
    var sdk;
    api("api/config?url=" + encodeURIComponent(url))
      .then(function (cfg) { return connect(cfg); })
      .then(function (s) { sdk = s; root.dataset.api = s.api; return sdk.context(); })
      .then(function (ctx) {
        var entry = ctx && ctx.entry;
        if (entry === "single_chat_tools" || entry === "contact_profile") {
          return sdk.contact().then(function (ext) { return api("api/customer?external_userid=" + encodeURIComponent(ext)); })
            .then(showCustomer);
        }
        if (entry === "group_chat_tools") {
          return sdk.chat().then(function (chat) { return api("api/group?chat_id=" + encodeURIComponent(chat)); })
            .then(showGroup);
        }
        throw new StepError("context", "open the sidebar from a chat with a customer or a customer group (entry: " + entry + ")");
      })
      .then(function () { return loadScripts(sdk, ""); })
      .then(function () {
        $("#sb-loading").hidden = true;
        root.dataset.ready = "1";
        $("#sb-scripts .search").onsubmit = function (ev) { ev.preventDefault(); loadScripts(sdk, this.elements.q.value); };
      })
      .catch(function (e) {
        if (e instanceof StepError) fail(e.step, e.message);
        else fail("jssdk", (e && (e.errMsg || e.message)) || String(e));
      });
  }

  start();
})();
