/* kazft web chat: the page served at / by `kazft serve`.
 *
 * Plain JavaScript, no framework and no build step: the page must ship inside
 * the Python package and work offline, and every line that handles model text
 * is here to read (see markdown.js for why no HTML is ever parsed). The server
 * stores nothing: conversations live in this browser's localStorage, the API
 * key in sessionStorage (gone when the browser session ends).
 */
(function () {
  "use strict";

  var STORE = "kazft.conversations.v1";
  var CURRENT = "kazft.current";
  var LANG = "kazft.lang";
  var INTRO = "kazft.introSeen";
  var KEY = "kazft.apiKey";
  var MODEL = "kazft.model";
  var DELETED = "kazft.deleted";

  var I18N = window.KazftI18n;
  var $ = function (id) { return document.getElementById(id); };

  var state = {
    lang: "kk",
    config: { notice: {}, languages: ["kk", "ru", "en"] },
    models: [],
    conversations: [],
    currentId: null,
    controller: null,
    views: {},
  };

  // ---- storage (a full or blocked storage never breaks the chat) ----------
  function load(storage, key, fallback) {
    try {
      var raw = storage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (e) { return fallback; }
  }
  function keep(storage, key, value) {
    try { storage.setItem(key, JSON.stringify(value)); return true; } catch (e) { return false; }
  }
  function storedConversations() {
    var list = load(localStorage, STORE, []);
    return Array.isArray(list) ? list.filter(function (c) { return c && c.id && Array.isArray(c.messages); }) : [];
  }
  // Several tabs share one list: merge with what the others saved instead of
  // overwriting it. A conversation known to both keeps the later-updated copy
  // (never replacing the one this tab is streaming into); deletions are kept
  // as tombstones so another tab's save does not bring them back.
  function saveConversations() {
    var gone = load(localStorage, DELETED, []);
    var mine = {};
    state.conversations = state.conversations.filter(function (c) { return gone.indexOf(c.id) < 0; });
    state.conversations.forEach(function (c, i) { mine[c.id] = i; });
    storedConversations().forEach(function (c) {
      if (gone.indexOf(c.id) >= 0) return;
      var i = mine[c.id];
      if (i === undefined) state.conversations.push(c);
      else if ((c.updated || 0) > (state.conversations[i].updated || 0) && !(state.controller && c.id === state.currentId)) state.conversations[i] = c;
    });
    if (!keep(localStorage, STORE, state.conversations)) showAlert(t("errStorage"));
    keep(localStorage, CURRENT, state.currentId);
  }
  function apiKey() { return load(sessionStorage, KEY, ""); }

  // ---- words ----------------------------------------------------------------
  function t(key, vars) {
    var s = (I18N[state.lang] || I18N.kk)[key];
    if (s === undefined) s = I18N.en[key];
    if (vars) Object.keys(vars).forEach(function (k) { s = s.split("{" + k + "}").join(String(vars[k])); });
    return s;
  }
  function notice() { return state.config.notice[state.lang] || state.config.notice.kk || ""; }

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach(function (el) { el.textContent = t(el.getAttribute("data-i18n")); });
    $("question").placeholder = t("placeholder");
    $("lang").value = state.lang;
    renderModels();
    renderList();
    renderConversation();
    fillIntro();
  }

  // ---- HTTP -------------------------------------------------------------------
  function headers(json) {
    var h = {};
    if (json) h["Content-Type"] = "application/json";
    var key = apiKey();
    if (key) h.Authorization = "Bearer " + key;
    return h;
  }

  function errorFrom(response, body) {
    var msg = (body && body.error && body.error.message) || response.statusText || "";
    if (response.status === 401 || response.status === 403) return { key: "errKey", status: response.status };
    if (response.status === 429 || response.status === 503) {
      var after = parseInt(response.headers.get("Retry-After") || "", 10);
      if (isNaN(after)) after = 1;
      return { key: "errBusy", n: after, status: response.status };
    }
    return { key: "errServer", status: response.status, msg: msg };
  }

  function readError(response) {
    return response.text().then(function (text) {
      var body = null;
      try { body = JSON.parse(text); } catch (e) { body = { error: { message: text.slice(0, 300) } }; }
      return errorFrom(response, body);
    });
  }

  function errorText(err) { return t(err.key, { n: err.n, status: err.status, msg: err.msg || "" }); }

  // ---- API key ----------------------------------------------------------------
  var keyWaiters = [];
  function askKey(wrong) {
    var dialog = $("key-dialog");
    $("key-error").hidden = !wrong;
    $("key-error").textContent = wrong ? t("errKey") : "";
    $("key-input").value = "";
    if (!dialog.open) dialog.showModal();
    $("key-input").focus();
    return new Promise(function (resolve) { keyWaiters.push(resolve); });
  }
  function onKeySubmit(ev) {
    ev.preventDefault();
    var value = $("key-input").value.trim();
    if (!value) return;
    keep(sessionStorage, KEY, value);
    $("key-dialog").close();
    var waiters = keyWaiters;
    keyWaiters = [];
    waiters.forEach(function (w) { w(value); });
  }

  // ---- models -----------------------------------------------------------------
  function fetchModels(wrongKey) {
    return fetch("/v1/models", { headers: headers(false) }).then(function (r) {
      if (r.status === 401 || r.status === 403) {
        return askKey(wrongKey || Boolean(apiKey())).then(function () { return fetchModels(true); });
      }
      if (!r.ok) return readError(r).then(function (err) { throw err; });
      return r.json().then(function (body) { return body.data || []; });
    });
  }

  function card(m) {
    var c = m.card || {};
    return {
      description: m.description || c.description || "",
      risk: m.risk_class || c.risk_class || "",
      use: m.intended_use || c.intended_use || "",
      reviewer: m.reviewer || c.reviewer || "",
    };
  }
  function selectedModel() {
    var id = $("model").value;
    for (var i = 0; i < state.models.length; i++) if (state.models[i].id === id) return state.models[i];
    return state.models[0] || null;
  }

  function renderModels() {
    var select = $("model");
    var current = select.value || load(localStorage, MODEL, "");
    select.textContent = "";
    state.models.forEach(function (m) {
      var opt = document.createElement("option");
      opt.value = m.id;
      opt.textContent = m.parent ? m.id : m.id + " (" + t("base") + ")";
      select.appendChild(opt);
    });
    var ids = state.models.map(function (m) { return m.id; });
    if (ids.indexOf(current) < 0) {
      // The first adapter: the model the team trained, rather than the bare base.
      var adapter = state.models.filter(function (m) { return m.parent; })[0];
      current = adapter ? adapter.id : ids[0];
    }
    if (current) select.value = current;
    describeModel();
  }

  function describeModel() {
    var m = selectedModel();
    var out = $("model-description");
    if (!m) { out.textContent = ""; return; }
    var c = card(m);
    var parts = [];
    if (c.description) parts.push(c.description);
    if (c.risk) parts.push(t("riskClass") + ": " + (t("risk")[c.risk] || c.risk));
    out.textContent = parts.join(" · ");
  }

  function fillIntro() {
    var m = selectedModel();
    var c = m ? card(m) : { description: "", risk: "", use: "", reviewer: "" };
    $("intro-model").textContent = m ? m.id : "";
    $("intro-description").textContent = c.description;
    $("intro-use").textContent = c.use || "—";
    $("intro-risk").textContent = c.risk ? (t("risk")[c.risk] || c.risk) : "—";
    $("intro-reviewer").textContent = c.reviewer || "—";
    $("intro-notice").textContent = notice();
  }
  function showIntro() {
    fillIntro();
    var d = $("intro");
    if (!d.open) d.showModal();
    $("intro-ok").focus();
  }

  // ---- conversations ----------------------------------------------------------
  function current() {
    for (var i = 0; i < state.conversations.length; i++) if (state.conversations[i].id === state.currentId) return state.conversations[i];
    return null;
  }
  function newId() { return Date.now().toString(36) + Math.random().toString(36).slice(2, 8); }

  function renderList() {
    var ul = $("conversations");
    ul.textContent = "";
    if (!state.conversations.length) {
      var none = document.createElement("li");
      none.className = "muted";
      none.textContent = t("noChats");
      ul.appendChild(none);
      return;
    }
    state.conversations.slice().sort(function (a, b) { return b.updated - a.updated; }).forEach(function (c) {
      var li = document.createElement("li");
      var open = document.createElement("button");
      open.type = "button";
      open.className = "conv";
      open.textContent = c.title || "…";
      if (c.id === state.currentId) open.setAttribute("aria-current", "true");
      open.addEventListener("click", function () { openConversation(c.id); });
      var del = document.createElement("button");
      del.type = "button";
      del.className = "del";
      del.setAttribute("aria-label", t("deleteChat") + ": " + (c.title || ""));
      del.title = t("deleteChat");
      del.textContent = "×";
      del.addEventListener("click", function () { deleteConversation(c.id); });
      li.appendChild(open);
      li.appendChild(del);
      ul.appendChild(li);
    });
  }

  function openConversation(id) {
    if (state.controller) return;
    state.currentId = id;
    var c = current();
    if (c && c.model && state.models.some(function (m) { return m.id === c.model; })) {
      $("model").value = c.model;
      describeModel();
    }
    saveConversations();
    renderList();
    renderConversation();
    closeMenu();
    $("question").focus();
  }
  function deleteConversation(id) {
    if (state.controller && id === state.currentId) return;
    state.conversations = state.conversations.filter(function (c) { return c.id !== id; });
    keep(localStorage, DELETED, load(localStorage, DELETED, []).concat([id]).slice(-500));
    if (state.currentId === id) state.currentId = null;
    saveConversations();
    renderList();
    renderConversation();
  }
  function newChat() {
    if (state.controller) return;
    state.currentId = null;
    saveConversations();
    renderList();
    renderConversation();
    closeMenu();
    $("question").focus();
  }

  // ---- messages ---------------------------------------------------------------
  function renderConversation() {
    var box = $("messages");
    box.textContent = "";
    state.views = {};
    var c = current();
    var msgs = c ? c.messages : [];
    $("empty").hidden = msgs.length > 0;
    msgs.forEach(function (m, i) { box.appendChild(messageView(m, i)); });
  }

  function messageView(m, index) {
    var el = document.createElement("article");
    el.className = "msg " + m.role;
    el.setAttribute("aria-label", m.role === "user" ? t("you") : t("assistant"));
    var who = document.createElement("p");
    who.className = "who";
    who.textContent = m.role === "user" ? t("you") : t("assistant") + (m.model ? " · " + m.model : "");
    el.appendChild(who);
    var body = document.createElement("div");
    body.className = "body";
    el.appendChild(body);
    if (m.role === "assistant") {
      var foot = document.createElement("div");
      foot.className = "foot";
      el.appendChild(foot);
      state.views[index] = { el: el, body: body, foot: foot };
      fillAnswer(m, index);
    } else {
      body.textContent = m.content; // the lawyer's own words, shown as typed
    }
    return el;
  }

  function fillAnswer(m, index) {
    var v = state.views[index];
    if (!v) return;
    v.body.textContent = "";
    v.body.appendChild(window.KazftMarkdown.render(m.content));
    v.el.setAttribute("aria-busy", m.status === "streaming" ? "true" : "false");
    v.foot.textContent = "";
    if (m.error) {
      var err = document.createElement("p");
      err.className = "error";
      err.setAttribute("role", "alert");
      err.textContent = errorText(m.error);
      v.foot.appendChild(err);
      var cur = current();
      if (cur && index === cur.messages.length - 1) {
        var retry = document.createElement("button");
        retry.type = "button";
        retry.className = "retry";
        retry.textContent = t("retry");
        retry.addEventListener("click", retryLast);
        v.foot.appendChild(retry);
      }
    }
    if (m.status === "stopped" || m.finish === "length") {
      var note = document.createElement("p");
      note.className = "muted note";
      note.textContent = m.status === "stopped" ? t("stopped") : t("truncated");
      v.foot.appendChild(note);
    }
    if (m.status !== "streaming" && !m.content && m.error) return;
    // Kazakhstan's AI law: every answer shown to a person says what it is.
    var n = document.createElement("p");
    n.className = "notice";
    n.textContent = notice();
    v.foot.appendChild(n);
    if (m.stats) {
      var s = document.createElement("p");
      s.className = "stats";
      s.textContent = t("stats", { ttft: m.stats.ttft.toFixed(2), rate: m.stats.rate.toFixed(1), n: m.stats.tokens });
      v.foot.appendChild(s);
    }
    if (m.status !== "streaming" && m.content) {
      var copy = document.createElement("button");
      copy.type = "button";
      copy.className = "copy";
      copy.textContent = t("copy");
      copy.addEventListener("click", function () { copyText(m.content, copy); });
      v.foot.appendChild(copy);
    }
  }

  function copyText(text, button) {
    var done = function () {
      button.textContent = t("copied");
      setTimeout(function () { button.textContent = t("copy"); }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { legacyCopy(text) && done(); });
    } else if (legacyCopy(text)) {
      done();
    }
  }
  // Plain http on an office network is not a secure context: no Clipboard API there.
  function legacyCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  // ---- sending and streaming ------------------------------------------------
  // The history sent to the model: finished turns only, so roles alternate
  // user/assistant as Gemma's chat template requires (a failed turn is left out).
  function history(msgs) {
    var out = [];
    for (var i = 0; i + 1 < msgs.length; i += 2) {
      var q = msgs[i], a = msgs[i + 1];
      if (a.content) out.push({ role: "user", content: q.content }, { role: "assistant", content: a.content });
    }
    return out;
  }

  function send(question) {
    if (state.controller || !question.trim()) return;
    var model = selectedModel();
    if (!model) { showAlert(t("errModels")); return; }
    var c = current();
    if (!c) {
      c = { id: newId(), title: question.trim().slice(0, 60), model: model.id, created: Date.now(), updated: Date.now(), messages: [] };
      state.conversations.push(c);
      state.currentId = c.id;
    }
    c.model = model.id;
    var prior = history(c.messages);
    c.messages.push({ role: "user", content: question });
    c.updated = Date.now();
    $("question").value = "";
    stream(c, prior.concat([{ role: "user", content: question }]), model.id);
  }

  function retryLast() {
    var c = current();
    if (!c || state.controller || c.messages.length < 2) return;
    c.messages.pop();
    var q = c.messages[c.messages.length - 1];
    stream(c, history(c.messages.slice(0, -1)).concat([{ role: "user", content: q.content }]), c.model);
  }

  function stream(c, messages, modelId) {
    var answer = { role: "assistant", content: "", model: modelId, status: "streaming" };
    c.messages.push(answer);
    var index = c.messages.length - 1;
    saveConversations();
    renderList();
    renderConversation();
    hideAlert();
    setBusy(true);
    var controller = new AbortController();
    state.controller = controller;
    var t0 = performance.now(), tFirst = 0, tLast = 0, chunks = 0, usage = null, finish = null, done = false;
    var pending = false;
    var lastSave = performance.now();
    var paint = function () {
      if (pending) return;
      pending = true;
      requestAnimationFrame(function () {
        pending = false;
        fillAnswer(answer, index);
        scrollDown();
        // A closed tab or a crash keeps what had arrived a second ago.
        if (performance.now() - lastSave > 1000) { lastSave = performance.now(); saveConversations(); }
      });
    };
    var body = {
      model: modelId,
      messages: messages,
      stream: true,
      stream_options: { include_usage: true },
      // Greedy: the same question gets the same answer, which a lawyer can check and cite.
      temperature: 0,
    };
    fetch("/v1/chat/completions", { method: "POST", headers: headers(true), body: JSON.stringify(body), signal: controller.signal })
      .then(function (r) {
        if (!r.ok) return readError(r).then(function (err) { throw err; });
        var reader = r.body.getReader();
        var decoder = new TextDecoder();
        var buffer = "";
        var handle = function (event) {
          var data = event.split("\n").filter(function (l) { return l.indexOf("data:") === 0; })
            .map(function (l) { return l.slice(5).replace(/^ /, ""); }).join("\n");
          if (!data) return;
          if (data === "[DONE]") { done = true; return; }
          var obj = JSON.parse(data);
          if (obj.error) throw { key: "errServer", status: obj.error.code || "stream", msg: obj.error.message || "" };
          if (obj.usage) usage = obj.usage;
          var choice = (obj.choices || [])[0];
          if (!choice) return;
          var piece = (choice.delta && choice.delta.content) || "";
          if (piece) {
            var now = performance.now();
            if (!chunks) tFirst = now;
            tLast = now;
            chunks++;
            answer.content += piece;
            paint();
          }
          if (choice.finish_reason) finish = choice.finish_reason;
        };
        var pump = function () {
          return reader.read().then(function (res) {
            if (res.done) return;
            buffer += decoder.decode(res.value, { stream: true }).replace(/\r\n/g, "\n");
            var cut;
            while ((cut = buffer.indexOf("\n\n")) >= 0) {
              handle(buffer.slice(0, cut));
              buffer = buffer.slice(cut + 2);
            }
            return pump();
          });
        };
        return pump();
      })
      .then(function () {
        if (!done && !finish) throw { key: "errConn" };
        answer.status = "done";
        answer.finish = finish;
      })
      .catch(function (err) {
        if (err && err.name === "AbortError") {
          answer.status = "stopped";
        } else {
          answer.status = "error";
          answer.error = err && err.key ? err : { key: "errConn" };
          if (answer.error.key === "errKey") {
            try { sessionStorage.removeItem(KEY); } catch (e) { /* ignore */ }
            askKey(true);
          }
        }
      })
      .then(function () {
        if (chunks) {
          var tokens = usage && usage.completion_tokens ? usage.completion_tokens : chunks;
          var span = (tLast - tFirst) / 1000;
          answer.stats = { ttft: (tFirst - t0) / 1000, rate: span > 0 ? (tokens - 1) / span : 0, tokens: tokens };
        }
        state.controller = null;
        c.updated = Date.now();
        saveConversations();
        setBusy(false);
        $("status").textContent = answer.status === "done" ? t("answerReady") : "";
        fillAnswer(answer, index);
        renderList();
        scrollDown();
      });
  }

  function setBusy(busy) {
    $("send").hidden = busy;
    $("stop").hidden = !busy;
    $("send").disabled = busy;
    if (busy) $("stop").focus(); else if (document.activeElement === $("stop") || document.activeElement === document.body) $("question").focus();
  }
  function scrollDown() { window.scrollTo(0, document.body.scrollHeight); }
  function showAlert(text) { var a = $("alert"); a.textContent = text; a.hidden = false; }
  function hideAlert() { var a = $("alert"); a.textContent = ""; a.hidden = true; }

  // ---- export -----------------------------------------------------------------
  function toMarkdown(c) {
    var lines = ["# " + (c.title || "kazft"), "", "_" + (c.model || "") + " · " + new Date(c.created).toISOString() + "_", ""];
    c.messages.forEach(function (m) {
      if (m.role === "user") {
        lines.push("## " + t("you"), "", m.content, "");
      } else {
        lines.push("## " + t("assistant") + (m.model ? " (" + m.model + ")" : ""), "", m.content || "", "");
        if (m.error) lines.push("_" + errorText(m.error) + "_", "");
        lines.push("> " + notice(), "");
      }
    });
    return lines.join("\n");
  }
  function exportConversation() {
    var c = current();
    if (!c) return;
    var blob = new Blob([toMarkdown(c)], { type: "text/markdown;charset=utf-8" });
    var a = document.createElement("a");
    var stamp = new Date(c.created).toISOString().slice(0, 16).replace(/[-:T]/g, "");
    a.href = URL.createObjectURL(blob);
    a.download = "kazft-chat-" + stamp + ".md";
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 1000);
  }

  // ---- phone menu -------------------------------------------------------------
  function closeMenu() { document.body.classList.remove("menu-open"); $("menu").setAttribute("aria-expanded", "false"); }
  function toggleMenu() {
    var open = !document.body.classList.contains("menu-open");
    document.body.classList.toggle("menu-open", open);
    $("menu").setAttribute("aria-expanded", String(open));
    if (open) $("new-chat").focus();
  }

  // ---- start ------------------------------------------------------------------
  function start() {
    state.lang = load(localStorage, LANG, "kk");
    if (!I18N[state.lang]) state.lang = "kk";
    state.conversations = load(localStorage, STORE, []);
    if (!Array.isArray(state.conversations)) state.conversations = [];
    // An answer that was streaming when the page closed was cut there.
    state.conversations.forEach(function (c) {
      c.messages.forEach(function (m) { if (m.status === "streaming") m.status = "stopped"; });
    });
    state.currentId = load(localStorage, CURRENT, null);
    if (!current()) state.currentId = null;

    $("composer").addEventListener("submit", function (ev) { ev.preventDefault(); send($("question").value); });
    $("question").addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); send($("question").value); }
    });
    $("stop").addEventListener("click", function () { if (state.controller) state.controller.abort(); });
    $("new-chat").addEventListener("click", newChat);
    $("export").addEventListener("click", exportConversation);
    $("about").addEventListener("click", showIntro);
    $("menu").addEventListener("click", toggleMenu);
    $("key-form").addEventListener("submit", onKeySubmit);
    // The key is needed to go on: Escape does not leave the page waiting for it.
    $("key-dialog").addEventListener("cancel", function (ev) { ev.preventDefault(); });
    // Another tab saved: show its conversations (not while this tab streams).
    window.addEventListener("storage", function (ev) {
      if (ev.key !== STORE || state.controller) return;
      state.conversations = storedConversations();
      if (!current()) state.currentId = null;
      renderList();
      renderConversation();
    });
    $("intro").addEventListener("close", function () { keep(localStorage, INTRO, true); $("question").focus(); });
    $("lang").addEventListener("change", function () { state.lang = $("lang").value; keep(localStorage, LANG, state.lang); applyLanguage(); });
    $("model").addEventListener("change", function () { keep(localStorage, MODEL, $("model").value); describeModel(); fillIntro(); });
    document.addEventListener("keydown", function (ev) {
      if (ev.key !== "Escape") return;
      if (document.body.classList.contains("menu-open")) { closeMenu(); $("menu").focus(); }
      else if (state.controller) state.controller.abort();
    });
    // Phone width: a tap outside the open conversation list closes it.
    document.addEventListener("click", function (ev) {
      if (document.body.classList.contains("menu-open") && !$("sidebar").contains(ev.target) && !$("menu").contains(ev.target)) closeMenu();
    });

    applyLanguage();
    fetch("/ui/config.json")
      .then(function (r) { return r.json(); })
      .then(function (cfg) { state.config = cfg; applyLanguage(); })
      .catch(function () { showAlert(t("errConn")); })
      .then(function () { return fetchModels(false); })
      .then(function (models) {
        state.models = models;
        renderModels();
        fillIntro();
        document.body.setAttribute("data-ready", "true");
        if (!load(localStorage, INTRO, false)) showIntro();
        else $("question").focus();
      })
      .catch(function (err) {
        showAlert(t("errModels") + " " + (err && err.key ? errorText(err) : t("errConn")));
        document.body.setAttribute("data-ready", "error");
      });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
