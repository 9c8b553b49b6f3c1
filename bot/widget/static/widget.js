/*!
 * 成渝产业合作助手 · web chat widget (no build step, no dependencies but the
 * vendored Socket.IO client served next to this file).
 *
 * Embed with one tag:
 *   <script src="https://portal.example/widget/widget.js" defer
 *           data-title="成渝产业合作助手" data-primary-color="#0b4f9c"></script>
 * or configure before the tag with
 *   window.CyBotWidgetConfig = {serverUrl, socketPath, title, subtitle, primaryColor,
 *     primaryTextColor, language ("zh-CN" | "en"), welcome, initPayload, open, maxLength};
 * The data-* attributes use the same names (data-server-url, data-init-payload, ...).
 * Without a language option the widget speaks the page's language (<html lang="en…">
 * → English, anything else → Chinese), then follows the language the visitor writes in.
 *
 * Rules kept throughout: user and bot text is only ever set with textContent (or
 * text nodes), never as HTML; links are built as elements with http(s) hrefs only.
 */
(function () {
  "use strict";

  if (window.CyBotWidget && window.CyBotWidget.version) {
    return; // embedded twice on one page: keep the first
  }

  var STRINGS = {
    "zh-CN": {
      launcher: "在线咨询",
      launcherUnread: "在线咨询（{n} 条新消息）",
      title: "成渝产业合作助手",
      subtitle: "政策查询 · 供需对接 · 专家匹配",
      close: "关闭对话窗口",
      newConversation: "新对话",
      newConversationLabel: "清空记录，开始新对话",
      log: "对话记录",
      inputLabel: "输入您的问题",
      placeholder: "请输入您的问题…",
      send: "发送",
      hint: "Enter 发送，Shift+Enter 换行",
      you: "我",
      bot: "助手",
      staffBadge: "人工客服",
      notice: "系统提示",
      typing: "助手正在输入…",
      staffTyping: "工作人员正在输入…",
      connecting: "正在连接…",
      online: "在线",
      reconnecting: "连接中断，正在重新连接…（消息会在恢复后自动发送）",
      sending: "发送中",
      failed: "未发送",
      tooLong: "消息过长（{n} 字），请精简到 {max} 字以内后再发送。",
      choices: "可选操作",
      welcome: "您好！我可以解答成渝地区双城经济圈产业合作政策，帮您找供应商、找专家，也可以为您转接工作人员。",
      supplierHeading: "为您匹配到 {n} 家供应商",
      expertHeading: "为您匹配到 {n} 位专家",
      region: "地区",
      product: "产品编号",
      company: "企业编号",
      organization: "单位",
      expertId: "专家编号",
      reasons: "推荐理由",
      details: "详情",
      contact: "联系",
      alternative: "备选",
      capacity: "年产能{n}{unit}",
      image: "图片",
      confirmNew: "确定清空当前对话并开始新对话吗？"
    },
    en: {
      launcher: "Chat with us",
      launcherUnread: "Chat with us ({n} new)",
      title: "Chengdu–Chongqing Industry Assistant",
      subtitle: "Policies · suppliers · experts",
      close: "Close chat",
      newConversation: "New chat",
      newConversationLabel: "Clear the history and start a new chat",
      log: "Conversation",
      inputLabel: "Type your question",
      placeholder: "Type your question…",
      send: "Send",
      hint: "Enter to send, Shift+Enter for a new line",
      you: "You",
      bot: "Assistant",
      staffBadge: "Staff",
      notice: "Notice",
      typing: "The assistant is typing…",
      staffTyping: "Staff is typing…",
      connecting: "Connecting…",
      online: "Online",
      reconnecting: "Connection lost, reconnecting… (messages are sent once it is back)",
      sending: "sending",
      failed: "not sent",
      tooLong: "Your message is too long ({n} characters); please keep it under {max}.",
      choices: "Options",
      welcome: "Hello! I answer questions on Chengdu–Chongqing cooperation policies and find suppliers and experts.",
      supplierHeading: "{n} matching suppliers",
      expertHeading: "{n} matching experts",
      region: "Region",
      product: "Product",
      company: "Company",
      organization: "Organisation",
      expertId: "Expert",
      reasons: "Why",
      details: "Details",
      contact: "Contact",
      alternative: "Alternative",
      capacity: "{n} {unit}/year",
      image: "Image",
      confirmNew: "Clear this conversation and start a new one?"
    }
  };

  var HISTORY_LIMIT = 200;
  var ACK_TIMEOUT_MS = 15000;
  var TYPING_TIMEOUT_MS = 60000;
  // The console renews "staff typing" every 3 s while a person types and says when they
  // stop; should that last word be lost (console closed), the line goes after this long.
  var STAFF_TYPING_SHOWN_MS = 6000;

  // ---------------------------------------------------------------- configuration

  var script = document.currentScript || (function () {
    var tags = document.querySelectorAll("script[src*='widget.js']");
    return tags[tags.length - 1];
  })();
  var scriptUrl = new URL(script.src, window.location.href);
  var assetBase = scriptUrl.href.replace(/[^/]*(\?.*)?$/, "");
  var data = script.dataset || {};
  var given = window.CyBotWidgetConfig || {};

  function option(name, fallback) {
    if (given[name] !== undefined && given[name] !== null) return given[name];
    if (data[name] !== undefined) return data[name];
    return fallback;
  }

  function pageLanguage() {
    var lang = (document.documentElement.getAttribute("lang") || "").toLowerCase();
    return lang.indexOf("en") === 0 ? "en" : "zh-CN";
  }

  var language = STRINGS[option("language", pageLanguage())] ? option("language", pageLanguage()) : "zh-CN";
  var t = STRINGS[language];
  var config = {
    serverUrl: String(option("serverUrl", scriptUrl.origin)).replace(/\/+$/, ""),
    socketPath: option("socketPath", "/socket.io/"),
    title: option("title", t.title),
    subtitle: option("subtitle", t.subtitle),
    primaryColor: option("primaryColor", "#0b4f9c"),
    primaryTextColor: option("primaryTextColor", "#ffffff"),
    welcome: option("welcome", null), // null: the language's own welcome
    initPayload: option("initPayload", ""),
    open: String(option("open", "false")) === "true",
    maxLength: parseInt(option("maxLength", "2000"), 10) || 2000
  };

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, key) {
      return values[key] !== undefined ? String(values[key]) : "";
    });
  }

  // ---------------------------------------------------------------- storage

  var storagePrefix = "cybot-widget:" + config.serverUrl + ":";

  function load(store, key, fallback) {
    try {
      var raw = store.getItem(storagePrefix + key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (error) {
      return fallback; // storage disabled (private mode) or corrupt: start empty
    }
  }

  function save(store, key, value) {
    try {
      if (value === null) store.removeItem(storagePrefix + key);
      else store.setItem(storagePrefix + key, JSON.stringify(value));
    } catch (error) {
      /* storage full or disabled: the server keeps the conversation anyway */
    }
  }

  var state = {
    sessionId: load(localStorage, "session", null),
    messages: load(localStorage, "history", []),
    outbox: load(localStorage, "outbox", []), // sent but not yet acknowledged
    open: load(sessionStorage, "open", config.open),
    awaitingTurns: {}, // message id -> timer, while the assistant is answering
    staffTyping: null, // timer while a staff member is typing a reply
    unread: 0,
    connected: false,
    historySynced: false
  };

  /** The language a visitor's message is written in: "en", "zh-CN", or null when it shows
   *  none (a number, an acronym). Mirrors the assistant's own detection (bot/language.py). */
  function detectLanguage(text) {
    var han = (String(text).match(/[\u3400-\u9fff\uf900-\ufaff]/g) || []).length;
    var words = (String(text).match(/[A-Za-z]+(?:'[A-Za-z]+)?/g) || []).filter(function (w) {
      return !(w.length > 1 && w === w.toUpperCase());
    });
    var english = words.filter(function (w) { return w.length > 1 && !/^(ok|okay)$/i.test(w); });
    var letters = words.join("").length;
    if (han === 0) return english.length ? "en" : null;
    return english.length >= 2 && letters >= 2 * han ? "en" : "zh-CN";
  }

  function persist() {
    save(localStorage, "session", state.sessionId);
    save(localStorage, "history", state.messages.slice(-HISTORY_LIMIT));
    save(localStorage, "outbox", state.outbox);
  }

  function newMessageId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // ---------------------------------------------------------------- DOM helpers

  function el(tag, attributes, children) {
    var node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === null || value === undefined || value === false) return;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else node.setAttribute(name, value === true ? "" : value);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  var URL_PATTERN = /https?:\/\/[^\s<>"'，。；）》]+/g;

  /** Text with its http(s) URLs as links; everything else stays plain text nodes. */
  function richText(text) {
    var fragment = document.createDocumentFragment();
    var last = 0;
    String(text).replace(URL_PATTERN, function (url, offset) {
      fragment.appendChild(document.createTextNode(text.slice(last, offset)));
      fragment.appendChild(el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: url }));
      last = offset + url.length;
      return url;
    });
    fragment.appendChild(document.createTextNode(String(text).slice(last)));
    return fragment;
  }

  /** A speech-bubble icon drawn as SVG (an emoji would depend on the visitor's fonts). */
  function chatIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "22");
    svg.setAttribute("height", "22");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", "cyw-launcher-icon");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("fill", "currentColor");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6.5a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01zm5 0a1.5 1.5 0 1 0 0 .01z");
    svg.appendChild(path);
    return svg;
  }

  // ---------------------------------------------------------------- build the UI

  var host = el("div", { id: "cybot-widget", lang: language });
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  host.style.setProperty("--cyw-primary", config.primaryColor);
  host.style.setProperty("--cyw-primary-text", config.primaryTextColor);

  var stylesheet = el("link", { rel: "stylesheet", href: assetBase + "widget.css" });
  // a landmark of its own, so screen-reader users can jump to the chat
  var frame = el("aside", { className: "cyw", "data-ready": "false", "aria-label": config.title });
  stylesheet.addEventListener("load", function () { frame.setAttribute("data-ready", "true"); });
  stylesheet.addEventListener("error", function () { frame.setAttribute("data-ready", "true"); });

  var launcherLabel = el("span", { text: t.launcher });
  var unreadBadge = el("span", { className: "cyw-unread", "aria-hidden": "true", hidden: true });
  var launcher = el("button", {
    type: "button", className: "cyw-launcher", "aria-expanded": "false", "aria-controls": "cyw-panel"
  }, [chatIcon(), launcherLabel, unreadBadge]);

  var statusLine = el("p", { className: "cyw-status", role: "status", text: t.connecting });
  var newButton = el("button", {
    type: "button", className: "cyw-header-button", "aria-label": t.newConversationLabel, text: t.newConversation
  });
  var closeButton = el("button", {
    type: "button", className: "cyw-header-button cyw-close", "aria-label": t.close
  }, [el("span", { "aria-hidden": "true", text: "×" })]);
  var header = el("header", { className: "cyw-header" }, [
    el("div", { className: "cyw-heading" }, [
      el("h2", { id: "cyw-title", className: "cyw-title", text: config.title }),
      el("p", { className: "cyw-subtitle", text: config.subtitle }),
      statusLine
    ]),
    newButton,
    closeButton
  ]);

  var log = el("div", {
    className: "cyw-log", role: "log", "aria-live": "polite", "aria-relevant": "additions",
    "aria-label": t.log, tabindex: "0"
  });
  var welcome = el("div", { className: "cyw-welcome" }, [richText(config.welcome || t.welcome)]);
  var messageList = el("div", { className: "cyw-messages" });
  log.appendChild(welcome);
  log.appendChild(messageList);

  var typing = el("div", { className: "cyw-typing", hidden: true }, [
    el("span", { className: "cyw-dots", "aria-hidden": "true" }, [el("span"), el("span"), el("span")]),
    el("span", { className: "cyw-typing-text", text: t.typing })
  ]);
  var typingText = typing.querySelector(".cyw-typing-text");

  var input = el("textarea", {
    id: "cyw-input", className: "cyw-input", rows: "1", placeholder: t.placeholder,
    "aria-describedby": "cyw-hint", autocomplete: "off"
  });
  var hint = el("p", { id: "cyw-hint", className: "cyw-hint", text: t.hint });
  var composerError = el("p", { className: "cyw-error", role: "alert" });
  var sendButton = el("button", { type: "submit", className: "cyw-send", text: t.send });
  var inputLabel = el("label", { "for": "cyw-input", className: "cyw-sr-only", text: t.inputLabel });
  var composer = el("form", { className: "cyw-composer", novalidate: true }, [
    inputLabel,
    el("div", { className: "cyw-composer-row" }, [input, sendButton]),
    composerError,
    hint
  ]);

  var panel = el("section", {
    id: "cyw-panel", className: "cyw-panel", role: "dialog", "aria-labelledby": "cyw-title", hidden: true
  }, [header, log, typing, composer]);

  frame.appendChild(panel);
  frame.appendChild(launcher);
  root.appendChild(stylesheet);
  root.appendChild(frame);

  // ---------------------------------------------------------------- rendering

  function renderButtons(buttons) {
    var group = el("div", { className: "cyw-choices", role: "group", "aria-label": t.choices });
    buttons.forEach(function (button) {
      var chip = el("button", { type: "button", className: "cyw-choice", text: button.title || button.payload });
      chip.addEventListener("click", function () {
        sendUserMessage(button.payload || button.title, button.title);
        input.focus(); // the next thing a visitor does is usually typing
      });
      group.appendChild(chip);
    });
    return group;
  }

  function reasonsList(reasons) {
    if (!Array.isArray(reasons) || reasons.length === 0) return null;
    var list = el("ul", { className: "cyw-reasons", "aria-label": t.reasons });
    reasons.forEach(function (reason) { list.appendChild(el("li", { text: String(reason) })); });
    return list;
  }

  /** A short line of the facts a buyer compares: product · place · capacity · certificates. */
  function supplierSummary(item) {
    var place = [item.city || item.region, item.district].filter(Boolean).join(" ");
    var capacity = item.annual_capacity ? format(t.capacity, { n: formatQuantity(item.annual_capacity), unit: item.unit || "" }) : "";
    var certs = Array.isArray(item.certifications) ? item.certifications.slice(0, 2).join("、") : "";
    return [item.product_name, place, capacity, certs].filter(Boolean).join(" · ");
  }

  function formatQuantity(value) {
    if (value >= 10000 && value % 1000 === 0) return String(value / 10000) + (language === "en" ? "0k" : "万");
    return String(value);
  }

  function cardButton(title, payload) {
    var button = el("button", { type: "button", className: "cyw-card-action", text: title });
    button.addEventListener("click", function () { sendUserMessage(payload, title); });
    return button;
  }

  /**
   * Match cards: compact (number, name, one summary line), the reasons folded under
   * 详情, a 联系 action; items that do not meet the request carry their label.
   */
  function renderCards(payload) {
    var items = Array.isArray(payload.items) ? payload.items : [];
    var isSupplier = payload.type === "supplier_matches";
    var heading = payload.title || format(isSupplier ? t.supplierHeading : t.expertHeading, { n: items.length });
    var list = el("ol", { className: "cyw-cards", "aria-label": heading });
    items.forEach(function (item, position) {
      var number = item.number || position + 1;
      var summary = isSupplier ? supplierSummary(item) : [item.title, item.organization].filter(Boolean).join(" · ");
      var contact = isSupplier
        ? cardButton(t.contact, "/find_suppliers" + JSON.stringify({ match_text: "联系方式" }))
        : cardButton(t.contact, "/contact_expert" + JSON.stringify({ expert_id: item.expert_id }));
      var reasons = reasonsList(item.reasons);
      list.appendChild(el("li", {
        className: "cyw-card" + (item.alternative ? " cyw-card-alternative" : ""),
        "data-card-type": payload.type, value: String(number)
      }, [
        el("h3", { className: "cyw-card-title", text: number + ". " + (item.name || "—") }),
        item.alternative ? el("p", { className: "cyw-card-alternative-label", text: t.alternative + "：" + (item.reason || "") }) : null,
        summary ? el("p", { className: "cyw-card-subtitle", text: summary }) : null,
        reasons ? el("details", { className: "cyw-card-details" }, [el("summary", { text: t.details }), reasons]) : null,
        el("div", { className: "cyw-card-actions" }, [contact])
      ]));
    });
    return el("div", { className: "cyw-match" }, [list]);
  }

  function renderCustom(custom) {
    if (!custom || typeof custom !== "object") return null;
    if (custom.type === "supplier_matches" || custom.type === "expert_matches") return renderCards(custom);
    if (typeof custom.text === "string") return el("p", { className: "cyw-text" }, [richText(custom.text)]);
    return null; // payloads meant for other clients
  }

  function speakerLabel(message) {
    if (message.role === "user") return t.you;
    if (message.role === "staff") return t.staffBadge + " " + (message.staff_name || "");
    if (message.role === "notice") return t.notice;
    return t.bot;
  }

  function renderMessage(message) {
    var node = el("div", {
      className: "cyw-msg cyw-msg--" + message.role + (message.status ? " cyw-msg--" + message.status : ""),
      "data-id": message.id,
      "data-role": message.role
    });
    var bubble = el("div", { className: "cyw-bubble" });
    if (message.role === "staff") {
      bubble.appendChild(el("p", { className: "cyw-staff-badge" }, [
        el("span", { className: "cyw-staff-tag", text: t.staffBadge }),
        " " + (message.staff_name || "")
      ]));
    } else {
      bubble.appendChild(el("span", { className: "cyw-sr-only", text: speakerLabel(message) + "：" }));
    }
    if (message.text) bubble.appendChild(el("p", { className: "cyw-text" }, [richText(message.text)]));
    var custom = renderCustom(message.custom);
    if (custom) bubble.appendChild(custom);
    if (message.image && /^https?:\/\//.test(message.image)) {
      bubble.appendChild(el("img", { className: "cyw-image", src: message.image, alt: t.image }));
    }
    if (!bubble.textContent && !bubble.querySelector("img")) return null; // nothing to show
    node.appendChild(bubble);
    if (message.buttons && message.buttons.length) node.appendChild(renderButtons(message.buttons));
    if (message.role === "user" && message.status) {
      node.appendChild(el("span", { className: "cyw-msg-status", text: message.status === "failed" ? t.failed : t.sending }));
    }
    return node;
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function renderedIds() {
    return Array.prototype.map.call(messageList.children, function (node) { return node.getAttribute("data-id"); });
  }

  /** Show state.messages, appending only what is new so screen readers hear only that. */
  function render() {
    var shown = renderedIds();
    var wanted = state.messages.map(function (m) { return m.id; });
    var isPrefix = shown.length <= wanted.length && shown.every(function (id, i) { return id === wanted[i]; });
    if (!isPrefix) {
      log.setAttribute("aria-busy", "true");
      messageList.textContent = "";
      shown = [];
    }
    state.messages.slice(shown.length).forEach(function (message) {
      var node = renderMessage(message);
      messageList.appendChild(node || el("div", { hidden: true, "data-id": message.id }));
    });
    log.removeAttribute("aria-busy");
    updateWelcome();
    scrollToEnd();
  }

  /** Exactly one welcome: the assistant's own greeting when the widget asks for one
   *  (initPayload) and can reach the server, else this static text until a message comes. */
  function updateWelcome() {
    welcome.hidden = state.messages.length > 0 || (Boolean(config.initPayload) && state.connected);
  }

  function replaceRendered(message) {
    var nodes = messageList.querySelectorAll("[data-id]");
    for (var i = 0; i < nodes.length; i++) {
      if (nodes[i].getAttribute("data-id") === message.id) {
        var node = renderMessage(message) || el("div", { hidden: true, "data-id": message.id });
        messageList.replaceChild(node, nodes[i]);
        return;
      }
    }
  }

  function findMessage(id) {
    for (var i = 0; i < state.messages.length; i++) {
      if (state.messages[i].id === id) return state.messages[i];
    }
    return null;
  }

  function addMessage(message) {
    if (!message || !message.id || findMessage(message.id)) return false;
    state.messages.push(message);
    persist();
    render();
    if (message.role !== "user" && !state.open) {
      state.unread += 1;
      updateLauncher();
    }
    return true;
  }

  function setMessageStatus(id, status) {
    var message = findMessage(id);
    if (!message) return;
    if (status) message.status = status;
    else delete message.status;
    persist();
    replaceRendered(message);
  }

  /**
   * Merge the server's history (authoritative) with what only this page has: the
   * messages after the last one the server knows (still being sent or answered).
   */
  function applyHistory(serverMessages) {
    var known = {};
    serverMessages.forEach(function (m) { known[m.id] = true; });
    var lastKnown = -1;
    state.messages.forEach(function (m, i) { if (known[m.id]) lastKnown = i; });
    var localTail = state.messages.slice(lastKnown + 1).filter(function (m) { return !known[m.id]; });
    state.messages = serverMessages.concat(localTail).slice(-HISTORY_LIMIT);
    persist();
    render();
  }

  // ---------------------------------------------------------------- typing indicator

  function updateTyping() {
    var waiting = Object.keys(state.awaitingTurns).length > 0;
    var staff = state.staffTyping !== null && !waiting;
    typingText.textContent = staff ? t.staffTyping : t.typing;
    typing.setAttribute("data-who", staff ? "staff" : "assistant");
    typing.hidden = !(waiting || staff) || !state.connected; // offline, nobody is typing
    if (!typing.hidden) scrollToEnd();
  }

  /** A staff member started (``active``) or stopped typing a reply. */
  function staffTyping(active) {
    clearTimeout(state.staffTyping);
    state.staffTyping = active ? setTimeout(function () { staffTyping(false); }, STAFF_TYPING_SHOWN_MS) : null;
    updateTyping();
  }

  function awaitTurn(id) {
    clearTimeout(state.awaitingTurns[id]);
    state.awaitingTurns[id] = setTimeout(function () { finishTurn(id); }, TYPING_TIMEOUT_MS);
    updateTyping();
  }

  function finishTurn(id) {
    clearTimeout(state.awaitingTurns[id]);
    delete state.awaitingTurns[id];
    updateTyping();
  }

  // ---------------------------------------------------------------- socket

  var socket = null;

  function setStatus(text, online) {
    statusLine.textContent = text;
    frame.setAttribute("data-connection", online ? "online" : "offline");
    updateTyping();
    updateWelcome();
  }

  /** Switch every string of the widget to ``lang`` (the visitor wrote in it). */
  function setLanguage(lang) {
    if (!STRINGS[lang] || lang === language) return;
    language = lang;
    t = STRINGS[lang];
    save(sessionStorage, "language", lang);
    host.setAttribute("lang", lang);
    launcherLabel.textContent = t.launcher;
    updateLauncher();
    newButton.textContent = t.newConversation;
    newButton.setAttribute("aria-label", t.newConversationLabel);
    closeButton.setAttribute("aria-label", t.close);
    log.setAttribute("aria-label", t.log);
    if (!config.welcome) {
      welcome.textContent = "";
      welcome.appendChild(richText(t.welcome));
    }
    updateTyping();
    inputLabel.textContent = t.inputLabel;
    input.setAttribute("placeholder", t.placeholder);
    hint.textContent = t.hint;
    sendButton.textContent = t.send;
    statusLine.textContent = state.connected ? t.online : (state.sessionId ? t.reconnecting : t.connecting);
  }

  /** The opening payload, asking for the greeting in the widget's language. */
  function openingPayload() {
    var payload = String(config.initPayload);
    if (language !== "en" || payload.charAt(0) !== "/" || payload.indexOf("{") !== -1) return payload;
    return payload + '{"language":"en"}';
  }

  function transmit(entry) {
    if (!socket || !state.connected) return; // stays in the outbox until we are back
    socket.timeout(ACK_TIMEOUT_MS).emit("user_uttered", {
      message: entry.message,
      session_id: state.sessionId,
      message_id: entry.id,
      metadata: entry.metadata
    }, function (error, reply) {
      if (error) return; // no ack in time: re-sent on reconnect, the server drops repeats
      state.outbox = state.outbox.filter(function (item) { return item.id !== entry.id; });
      if (reply && reply.ok) {
        setMessageStatus(entry.id, null);
      } else {
        rejectMessage(entry, (reply && reply.error) || "");
      }
      persist();
    });
  }

  function rejectMessage(entry, reason) {
    finishTurn(entry.id);
    setMessageStatus(entry.id, "failed");
    if (!input.value && entry.visible) input.value = entry.message; // lose nothing
    if (reason) addMessage({ id: "n-rej-" + entry.id, role: "notice", text: reason, timestamp: Date.now() / 1000 });
  }

  function flushOutbox() {
    state.outbox.forEach(transmit);
  }

  function sendUserMessage(text, displayText, hidden) {
    var id = newMessageId();
    var metadata = { page_url: window.location.href, page_title: document.title };
    if (displayText) metadata.display_text = displayText;
    var entry = { id: id, message: text, metadata: metadata, visible: !hidden && !displayText };
    if (entry.visible) setLanguage(detectLanguage(text));
    if (!hidden) {
      addMessage({ id: id, role: "user", text: displayText || text, timestamp: Date.now() / 1000, status: "sending" });
    }
    state.outbox.push(entry);
    persist();
    awaitTurn(id);
    transmit(entry);
  }

  function onServerMessage(message) {
    if (!message || typeof message !== "object") return;
    if (message.rejected_message_id) {
      message = Object.assign({}, message, { id: "n-rej-" + message.rejected_message_id });
      finishTurn(message.rejected_message_id);
    }
    if (!message.id) message.id = "m-" + newMessageId();
    if (message.role === "staff") staffTyping(false); // what they typed has arrived
    addMessage(message);
  }

  function connect(io) {
    // On another site's page, start with a websocket: it needs no CORS headers, while
    // long-polling only works cross-origin for origins the channel lists
    // (credentials.yml: cors_allowed_origins).
    var crossOrigin = new URL(config.serverUrl).origin !== window.location.origin;
    socket = io(config.serverUrl, {
      path: config.socketPath,
      transports: crossOrigin ? ["websocket", "polling"] : ["polling", "websocket"],
      tryAllTransports: true,
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000
    });
    socket.on("connect", function () {
      socket.emit("session_request", { session_id: state.sessionId });
    });
    socket.on("session_confirm", function (sessionId) {
      if (state.sessionId && sessionId !== state.sessionId) {
        // the server did not accept the stored session: what we kept belongs to no one
        state.messages = [];
        state.outbox = [];
      }
      state.sessionId = sessionId;
      state.connected = true;
      persist();
      setStatus(t.online, true);
      flushOutbox();
      socket.emit("history_request", { session_id: sessionId }, function (reply) {
        if (reply && reply.ok) applyHistory(reply.messages || []);
        state.historySynced = true;
        maybeGreet();
      });
    });
    socket.on("bot_uttered", onServerMessage);
    socket.on("user_echo", function (message) { addMessage(message); });
    socket.on("turn_done", function (done) { if (done) finishTurn(done.message_id); });
    socket.on("staff_typing", function (signal) { staffTyping(Boolean(signal && signal.typing)); });
    socket.on("disconnect", function () {
      state.connected = false;
      setStatus(t.reconnecting, false);
    });
  }

  /** Send the opening payload once per session, when the user first opens the chat
   *  (not on page load: visitors who never open it start no conversation). */
  function maybeGreet() {
    if (!config.initPayload || !state.open || !state.historySynced || state.messages.length > 0) return;
    var flag = "greeted:" + state.sessionId;
    if (load(localStorage, flag, false)) return;
    save(localStorage, flag, true);
    sendUserMessage(openingPayload(), null, true);
  }

  function loadSocketIo(callback) {
    var previous = window.io;
    var tag = document.createElement("script");
    tag.src = assetBase + "vendor/socket.io.min.js";
    tag.async = true;
    tag.onload = function () {
      var ours = window.io;
      if (previous) window.io = previous; // leave the portal's own copy in place
      callback(ours);
    };
    tag.onerror = function () { setStatus(t.reconnecting, false); };
    document.head.appendChild(tag);
  }

  // ---------------------------------------------------------------- interaction

  function updateLauncher() {
    var label = state.unread > 0 ? format(t.launcherUnread, { n: state.unread }) : t.launcher;
    launcher.setAttribute("aria-label", label);
    unreadBadge.textContent = state.unread > 0 ? String(state.unread) : "";
    unreadBadge.hidden = state.unread === 0;
  }

  function setOpen(open, moveFocus) {
    state.open = open;
    save(sessionStorage, "open", open);
    panel.hidden = !open;
    frame.setAttribute("data-open", open ? "true" : "false");
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) {
      state.unread = 0;
      updateLauncher();
      scrollToEnd();
      if (moveFocus) input.focus();
      maybeGreet();
    } else if (moveFocus) {
      launcher.focus();
    }
  }

  function submitComposer() {
    var text = input.value;
    composerError.textContent = "";
    if (!text.trim()) {
      input.focus();
      return;
    }
    if (text.length > config.maxLength) {
      composerError.textContent = format(t.tooLong, { n: text.length, max: config.maxLength });
      return; // the text stays in the box
    }
    input.value = "";
    autoGrow();
    sendUserMessage(text, null, false);
    input.focus();
  }

  function autoGrow() {
    var atEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    input.style.setProperty("height", "auto");
    input.style.setProperty("height", Math.min(input.scrollHeight, 140) + "px");
    if (atEnd) scrollToEnd(); // a taller box must not hide the latest reply
  }

  launcher.addEventListener("click", function () { setOpen(!state.open, true); });
  closeButton.addEventListener("click", function () { setOpen(false, true); });
  panel.addEventListener("keydown", function (event) {
    if (event.key === "Escape") {
      event.preventDefault();
      setOpen(false, true);
    }
  });
  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    submitComposer();
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault(); // Enter while composing Chinese (IME) only picks characters
      submitComposer();
    }
  });
  input.addEventListener("input", function () {
    autoGrow();
    if (input.value.length <= config.maxLength) composerError.textContent = "";
  });
  newButton.addEventListener("click", function () {
    if (!window.confirm(t.confirmNew)) return;
    state.messages = [];
    state.outbox = [];
    state.sessionId = null;
    Object.keys(state.awaitingTurns).forEach(finishTurn);
    persist();
    render();
    if (socket && state.connected) socket.emit("session_request", { session_id: null });
    input.focus();
  });

  // ---------------------------------------------------------------- start

  function start() {
    if (!given.language && !data.language) setLanguage(load(sessionStorage, "language", language));
    document.body.appendChild(host);
    updateLauncher();
    render();
    setOpen(state.open, false);
    loadSocketIo(connect);
  }

  window.CyBotWidget = {
    version: "1.0.0",
    open: function () { setOpen(true, true); },
    close: function () { setOpen(false, true); },
    /** Ask a question on the user's behalf (e.g. from a "咨询" link on the portal). */
    ask: function (text) { setOpen(true, true); sendUserMessage(String(text), null, false); }
  };

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
