/* The simulator's stand-in for WeCom's JS-SDK (tests only): both the current
   @wecom/jssdk surface (window.ww) and the classic one (window.wx.agentConfig/invoke).
   agentConfig posts the signature to the simulator, which checks it against the agent
   jsapi tickets it issued and the trusted domain, and answers the chat the test set.
   Set window.__SIM_BASE__ (the simulator's URL) first; window.__SIM_MODE__ = "wx" hides ww. */
(function () {
  "use strict";
  var BASE = window.__SIM_BASE__ || "";
  var ctx = null;

  function post(path, body) {
    return fetch(BASE + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) { return r.json(); });
  }

  function check(corpid, sig) {
    return post("/_sim/jssdk/check", {
      corpid: corpid, url: location.href.split("#")[0],
      timestamp: sig.timestamp, nonceStr: sig.nonceStr, signature: sig.signature
    }).then(function (res) {
      if (!res.ok) throw { errMsg: res.errMsg };
      ctx = res.context || {};
      return ctx;
    });
  }

  function need(name) {
    if (!ctx) return { errMsg: name + ":fail agentConfig not called" };
    return null;
  }

  function call(name, args) {
    var missing = need(name);
    if (missing) return Promise.reject(missing);
    if (name === "getContext") return Promise.resolve({ entry: ctx.entry, errMsg: "getContext:ok" });
    if (name === "getCurExternalContact") {
      if (!ctx.external_userid) return Promise.reject({ errMsg: name + ":fail not in a 1:1 chat with a customer" });
      return Promise.resolve({ userId: ctx.external_userid, errMsg: name + ":ok" });
    }
    if (name === "getCurExternalChat") {
      if (!ctx.chat_id) return Promise.reject({ errMsg: name + ":fail not in a group chat" });
      return Promise.resolve({ chatId: ctx.chat_id, errMsg: name + ":ok" });
    }
    if (name === "sendChatMessage") {
      return post("/_sim/jssdk/sent", args).then(function () { return { errMsg: name + ":ok" }; });
    }
    return Promise.reject({ errMsg: name + ":fail unknown api" });
  }

  if (window.__SIM_MODE__ !== "wx") {
    var registered = null;
    var agentConfig = null;
    window.ww = {
      // Like @wecom/jssdk: register() only stores the options; agentConfig runs when
      // ensureAgentConfigReady() (or an API that needs it) asks for it.
      register: function (opts) { registered = opts; agentConfig = null; },
      ensureAgentConfigReady: function () {
        if (!registered) return Promise.reject({ errMsg: "agentConfig:fail register() not called" });
        var opts = registered;
        if (!agentConfig) {
          agentConfig = Promise.resolve(opts.getAgentConfigSignature(location.href.split("#")[0]))
            .then(function (sig) { return check(opts.corpId, sig); })
            .then(function () {
              var res = { errMsg: "agentConfig:ok" };
              if (opts.onAgentConfigSuccess) opts.onAgentConfigSuccess(res);
              return { result: res };
            }, function (e) { if (opts.onAgentConfigFail) opts.onAgentConfigFail(e); throw e; });
        }
        return agentConfig;
      },
      getContext: function () { return call("getContext"); },
      getCurExternalContact: function () { return call("getCurExternalContact"); },
      getCurExternalChat: function () { return call("getCurExternalChat"); },
      sendChatMessage: function (args) { return call("sendChatMessage", args); }
    };
  }

  window.wx = {
    agentConfig: function (opts) {
      check(opts.corpid, opts).then(function () { if (opts.success) opts.success({ errMsg: "agentConfig:ok" }); },
                                    function (e) { if (opts.fail) opts.fail(e); });
    },
    invoke: function (name, args, cb) {
      call(name, args).then(function (res) { res.err_msg = name + ":ok"; cb(res); },
                            function (e) { cb({ err_msg: e.errMsg }); });
    }
  };
})();
