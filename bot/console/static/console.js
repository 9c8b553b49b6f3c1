// Staff console front end: plain DOM, no framework, no build step.
// Every piece of conversation text is put on the page with textContent, never as HTML.
"use strict";

const API = "/console/api";
const STATUS_LABELS = {
  bot: "智能助手接待中",
  waiting: "等待人工",
  staff: "人工接待中",
  closed: "已关闭",
};
const CHANNEL_LABELS = { socketio: "网页", rest: "网页接口", telegram: "Telegram", wechat: "微信", wecom: "企业微信" };
const PAGE_SIZE = 50;
const KIND_LABELS = { user: "用户", bot: "助手", staff: "工作人员", note: "内部备注", system: "系统通知" };

const state = {
  me: null,
  conversations: new Map(),
  selected: null,
  now: Date.now() / 1000,
  clockSkew: 0,
  offset: 0,
  canned: [],
  colleagues: { staff: [], teams: [] },
};
const TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "Asia/Shanghai";

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value === false || value === null || value === undefined) continue;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function byId(id) {
  return document.getElementById(id);
}

function serverNow() {
  return Date.now() / 1000 + state.clockSkew;
}

function formatTime(at) {
  if (!at) return "";
  const d = new Date(at * 1000);
  return d.toLocaleString("zh-CN", { hour12: false });
}

function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  seconds = Math.max(0, Math.round(seconds));
  if (seconds < 60) return `${seconds} 秒`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} 分 ${seconds % 60} 秒`;
  return `${Math.floor(minutes / 60)} 小时 ${minutes % 60} 分`;
}

// options.background: a timer or live-update refresh, which must not keep an
// unattended session alive (the server's idle timeout counts only staff actions).
async function api(path, options = {}) {
  const { background, ...rest } = options;
  const init = { credentials: "same-origin", headers: background ? { "X-Console-Background": "1" } : {}, ...rest };
  if (init.method && init.method !== "GET") {
    init.headers["X-CSRF-Token"] = state.me ? state.me.csrf_token : "";
    if (init.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(init.body);
    }
  }
  const response = await fetch(API + path, init);
  if (response.status === 401) {
    saveDrafts();
    // Back to this page and this conversation after logging in again.
    const back = window.location.pathname + window.location.search + window.location.hash;
    window.location.assign("/console/login?next=" + encodeURIComponent(back));
    throw new Error("登录已过期");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `请求失败（${response.status}）`);
  return data;
}

// Drafts survive an expired session: kept in this tab until sent.
const DRAFT_FIELDS = ["reply-text", "note-text"];

function saveDrafts() {
  if (!state.selected) return;
  for (const id of DRAFT_FIELDS) {
    const node = byId(id);
    if (node && node.value) sessionStorage.setItem(`draft:${id}:${state.selected}`, node.value);
  }
}

function restoreDrafts() {
  for (const id of DRAFT_FIELDS) {
    const node = byId(id);
    const saved = state.selected && sessionStorage.getItem(`draft:${id}:${state.selected}`);
    if (node && saved && !node.value) node.value = saved;
  }
}

function clearDraft(id) {
  if (state.selected) sessionStorage.removeItem(`draft:${id}:${state.selected}`);
}

function showError(id, error) {
  const node = byId(id);
  if (!node) return;
  node.textContent = error ? String(error.message || error) : "";
  node.hidden = !error;
}

// --- header, login state ---------------------------------------------------------------

async function loadMe() {
  state.me = await api("/me");
  byId("me").textContent = `${state.me.username}（${{ agent: "坐席", supervisor: "主管", admin: "管理员" }[state.me.role] || state.me.role}）`;
  for (const link of document.querySelectorAll('[data-role="supervisor"]')) {
    link.hidden = !["supervisor", "admin"].includes(state.me.role);
  }
  for (const link of document.querySelectorAll('[data-role="admin"]')) link.hidden = state.me.role !== "admin";
  byId("logout").addEventListener("click", async () => {
    await fetch("/console/logout", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": state.me.csrf_token },
    }).catch(() => null);
    window.location.assign("/console/login");
  });
}

// --- conversation list -----------------------------------------------------------------

function waitingSeconds(conversation) {
  if (!conversation.waiting_since || !["waiting", "staff"].includes(conversation.status)) return null;
  return serverNow() - conversation.waiting_since;
}

function who(c) {
  return c.company || c.sender_id.split(":").slice(1).join(":").slice(0, 12) || c.sender_id;
}

function renderList() {
  const rows = [...state.conversations.values()]
    // waiting first, longest waiting on top (the order users are told), then the most recent
    .sort(
      (a, b) =>
        (b.status === "waiting") - (a.status === "waiting") ||
        (a.status === "waiting" ? (a.waiting_since || 0) - (b.waiting_since || 0) : 0) ||
        (b.last_at || 0) - (a.last_at || 0)
    );
  const body = byId("conversation-rows");
  const slaWaiting = state.me ? state.me.sla_waiting_s : 300;
  body.replaceChildren(
    ...rows.map((c) => {
      const waited = waitingSeconds(c);
      const breach = c.status === "waiting" && waited !== null && waited > slaWaiting;
      return el(
        "tr",
        {
          class: `row status-${c.status}` + (c.sender_id === state.selected ? " selected" : "") + (breach ? " sla-breach" : ""),
          dataset: { senderId: c.sender_id, status: c.status },
          tabindex: "0",
          onclick: () => selectConversation(c.sender_id),
          onkeydown: (event) => {
            if (event.key === "Enter") selectConversation(c.sender_id);
          },
        },
        el(
          "td",
          { class: "who" },
          el("div", { class: "name" }, who(c)),
          el(
            "div",
            { class: "tags" },
            el("span", { class: `status status-${c.status}` }, STATUS_LABELS[c.status] || c.status),
            el("span", { class: "channel" }, CHANNEL_LABELS[c.channel] || c.channel || "—"),
            c.assigned_to ? el("span", { class: "holder" }, c.assigned_to) : null,
            c.team ? el("span", { class: "team" }, c.team) : null,
            ...(c.labels || []).map((label) => el("span", { class: "label" }, label))
          )
        ),
        el(
          "td",
          { class: "last" },
          c.unread ? el("span", { class: "unread", title: "未读消息" }, String(c.unread)) : null,
          (c.last_text || "").slice(0, 80)
        ),
        el("td", { class: "waiting" + (breach ? " breach" : "") }, waited === null ? "" : formatDuration(waited))
      );
    })
  );
  byId("empty-list").hidden = rows.length > 0;
}

function listQuery() {
  const params = new URLSearchParams();
  const filters = {
    status: byId("status-filter").value,
    channel: byId("channel-filter").value,
    assignee: byId("assignee-filter").value === "__me" ? state.me.username : byId("assignee-filter").value,
    team: byId("team-filter").value,
    label: byId("label-filter").value,
  };
  for (const [key, value] of Object.entries(filters)) if (value) params.set(key, value);
  if (byId("unanswered-filter").checked) params.set("unanswered", "1");
  return params;
}

async function loadConversations(background = false) {
  const offset = state.offset || 0;
  const params = listQuery();
  const exportParams = new URLSearchParams(params);
  exportParams.set("tz", TIME_ZONE);
  byId("export-list").href = `${API}/conversations.csv?${exportParams}`;
  params.set("limit", PAGE_SIZE);
  params.set("offset", offset);
  const data = await api(`/conversations?${params}`, { background });
  state.clockSkew = data.now - Date.now() / 1000;
  state.conversations = new Map(data.conversations.map((c) => [c.sender_id, c]));
  state.total = data.total;
  const shown = data.conversations.length;
  byId("list-total").textContent = shown
    ? `共 ${data.total} 个对话，显示第 ${offset + 1}–${offset + shown} 个`
    : `共 ${data.total} 个对话`;
  byId("page-prev").disabled = offset === 0;
  byId("page-next").disabled = offset + shown >= data.total;
  renderList();
}

// --- alert for new handoff requests ---------------------------------------------------

function beep() {
  try {
    const AudioContext = window.AudioContext || window.webkitAudioContext;
    const context = new AudioContext();
    const oscillator = context.createOscillator();
    oscillator.frequency.value = 880;
    oscillator.connect(context.destination);
    oscillator.start();
    oscillator.stop(context.currentTime + 0.25);
  } catch (error) {
    // Browsers may refuse sound before the first click; the visual alert stays.
  }
}

function raiseAlert(conversation) {
  const who = conversation.company || conversation.channel || conversation.sender_id;
  byId("alert-text").textContent = `新的转人工请求：${who}：${(conversation.last_text || "").slice(0, 60)}`;
  byId("alert").hidden = false;
  document.title = "【新请求】对话 · 成渝助手工作台";
  beep();
}

function dismissAlert() {
  byId("alert").hidden = true;
  document.title = "对话 · 成渝助手工作台";
}

// --- transcript ------------------------------------------------------------------------

function renderMessage(message) {
  const who = KIND_LABELS[message.kind] || message.kind;
  const author = message.author ? `·${message.author}` : "";
  const meta = [el("span", { class: "who" }, who + author), el("time", {}, formatTime(message.at))];
  if (message.kind === "user" && message.intent) {
    const confidence = message.confidence === null || message.confidence === undefined ? "" : ` ${(message.confidence * 100).toFixed(0)}%`;
    meta.push(el("span", { class: "intent", title: "识别的意图与置信度" }, `意图 ${message.intent}${confidence}`));
  }
  return el(
    "li",
    { class: `message kind-${message.kind}`, dataset: { kind: message.kind } },
    el("div", { class: "meta" }, ...meta),
    el("div", { class: "text" }, message.text)
  );
}

function renderDetail(data) {
  const c = data.conversation;
  byId("no-selection").hidden = true;
  byId("detail").hidden = false;
  byId("detail-title").textContent = c.company || c.sender_id;
  const status = byId("detail-status");
  status.textContent = STATUS_LABELS[c.status] || c.status;
  status.className = `status status-${c.status}`;
  status.dataset.status = c.status;
  const parts = [`对话 ${c.sender_id}`, `渠道 ${CHANNEL_LABELS[c.channel] || c.channel || "未知"}`, `开始于 ${formatTime(c.started_at)}`];
  if (c.assigned_to) parts.push(`接待人 ${c.assigned_to}`);
  if (c.paused) parts.push("助手已暂停");
  byId("detail-meta").textContent = parts.join(" · ");
  // Only the buttons this staff member may use (the server decides: allowed_actions).
  const allowed = new Set(data.allowed_actions || []);
  const mine = allowed.has("reply");
  byId("take-over").hidden = !allowed.has("take_over");
  byId("hand-back").hidden = !allowed.has("hand_back");
  byId("close-conversation").hidden = !allowed.has("close");
  byId("reply-text").disabled = !mine;
  byId("reply-send").disabled = !mine;
  // The user asked the assistant for suppliers or experts: their last list, in one click.
  byId("send-match-list").hidden = !(mine && data.match_list);
  if (!mine) stopTyping(false);
  byId("reply-text").placeholder = mine ? "" : c.assigned_to && c.status === "staff" ? `${c.assigned_to} 正在接待该对话` : "接管对话后才能回复";
  const base = `${API}/conversations/${encodeURIComponent(c.sender_id)}/export`;
  byId("export-json").href = `${base}?format=json`;
  byId("export-txt").href = `${base}?format=txt`;
  const canTransfer = allowed.has("transfer") || allowed.has("transfer_team");
  byId("transfer-box").hidden = !canTransfer;
  if (canTransfer) renderTransferTargets(c, allowed);
  renderSummary(data.summary);
  renderLabels(data.labels || []);
  renderViewers(data.viewers || []);
  const list = byId("transcript");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 20;
  list.replaceChildren(...data.messages.map(renderMessage));
  if (atBottom) list.scrollTop = list.scrollHeight;
}

function renderSummary(summary) {
  const box = byId("summary");
  if (!summary || (!summary.reason && !summary.questions.length)) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  const items = [];
  if (summary.reason) items.push(el("p", {}, el("strong", {}, "转人工原因："), summary.reason + (summary.team ? `（${summary.team}组）` : "")));
  if (summary.questions.length) {
    items.push(
      el("p", {}, el("strong", {}, "用户问了：")),
      el(
        "ul",
        {},
        ...summary.questions.map((q) =>
          el(
            "li",
            { class: q.unanswered ? "unanswered" : "" },
            q.text,
            q.intent ? el("span", { class: "intent" }, ` ${q.intent} ${q.confidence === null ? "" : Math.round(q.confidence * 100) + "%"}`) : null,
            q.unanswered ? el("span", { class: "flag" }, " 未能解答") : null
          )
        )
      )
    );
  }
  if (summary.assistant_did.length) items.push(el("p", {}, el("strong", {}, "助手已做："), summary.assistant_did.join("、")));
  if (summary.slots.length) items.push(el("p", {}, el("strong", {}, "已收集："), summary.slots.map((s) => `${s.name}：${s.value}`).join("；")));
  box.replaceChildren(el("h3", {}, "转人工摘要"), ...items);
}

function renderLabels(labels) {
  byId("labels").replaceChildren(
    ...labels.map((label) =>
      el(
        "span",
        { class: "label" },
        label,
        el(
          "button",
          {
            type: "button",
            class: "remove",
            "aria-label": `删除标签 ${label}`,
            onclick: () => conversationAction("labels/remove", { label }),
          },
          "×"
        )
      )
    )
  );
}

function renderViewers(viewers) {
  const others = viewers.filter((name) => name !== state.me.username);
  byId("viewers").textContent = others.length ? `正在查看：${others.join("、")}` : "";
}

function renderTransferTargets(c, allowed) {
  const select = byId("transfer-target");
  const current = select.value;
  const options = [];
  if (allowed.has("transfer")) {
    for (const s of state.colleagues.staff) {
      if (s.username === c.assigned_to || s.username === state.me.username) continue;
      const name = s.display_name ? `${s.username}（${s.display_name}）` : s.username;
      options.push(el("option", { value: `to:${s.username}` }, `${name} · ${s.online ? "在线" : "离线"} · 接待中 ${s.holding}`));
    }
  }
  for (const team of state.colleagues.teams) options.push(el("option", { value: `team:${team}` }, `${team}组（排队）`));
  select.replaceChildren(el("option", { value: "" }, "选择同事或小组…"), ...options);
  if (current && options.some((option) => option.value === current)) select.value = current;
}

async function loadColleagues() {
  state.colleagues = await api("/colleagues", { background: true });
  const teamFilter = byId("team-filter");
  if (teamFilter && teamFilter.options.length === 1) {
    teamFilter.append(...state.colleagues.teams.map((t) => el("option", { value: t }, t)));
  }
  const assignee = byId("assignee-filter");
  if (assignee && assignee.options.length === 2) {
    assignee.append(...state.colleagues.staff.map((s) => el("option", { value: s.username }, s.username)));
  }
  const labels = await api("/labels", { background: true });
  const labelFilter = byId("label-filter");
  const chosen = labelFilter.value;
  labelFilter.replaceChildren(el("option", { value: "" }, "全部"), ...labels.labels.map((l) => el("option", { value: l.label }, `${l.label}（${l.conversations}）`)));
  labelFilter.value = chosen;
}

async function loadCanned() {
  if (!state.selected) return;
  const data = await api(`/canned?sender_id=${encodeURIComponent(state.selected)}`, { background: true });
  state.canned = data.canned;
  byId("canned-picker").replaceChildren(
    el("option", { value: "" }, "快捷回复…"),
    ...state.canned.map((c) => el("option", { value: c.shortcut }, `/${c.shortcut} ${c.filled.slice(0, 20)}`))
  );
}

function useCanned(shortcut) {
  const item = state.canned.find((c) => c.shortcut === shortcut);
  if (!item) return;
  const box = byId("reply-text");
  box.value = item.filled;
  byId("canned-menu").hidden = true;
  box.focus();
}

function showCannedMenu() {
  const box = byId("reply-text");
  const menu = byId("canned-menu");
  const match = /^\/(\S*)$/.exec(box.value);
  if (!match || box.disabled) {
    menu.hidden = true;
    return;
  }
  const found = state.canned.filter((c) => c.shortcut.startsWith(match[1]));
  menu.replaceChildren(
    ...found.map((c) =>
      el("li", { role: "option", tabindex: "0", dataset: { shortcut: c.shortcut }, onclick: () => useCanned(c.shortcut), onkeydown: (e) => { if (e.key === "Enter") { e.preventDefault(); useCanned(c.shortcut); } } },
        el("strong", {}, `/${c.shortcut}`), " ", c.filled.slice(0, 60))
    )
  );
  menu.hidden = found.length === 0;
}

// --- typing signal to the user -------------------------------------------------------------
// While the holder types a reply the user sees "staff is typing": at most one signal per
// TYPING_SIGNAL_MS (the server throttles too), a stop after TYPING_IDLE_MS without a
// keystroke or when the box is emptied; the reply itself ends it on the user's side.
const TYPING_SIGNAL_MS = 3000;
const TYPING_IDLE_MS = 4000;
// A signal that did not reach the user (a slow or failed call) is tried again this soon.
const TYPING_RETRY_MS = 1000;
const typing = { senderId: null, signalledAt: 0, idleTimer: null };

/** Resolves to whether the user's channel showed the signal. */
function sendTypingSignal(senderId, active) {
  return api(`/conversations/${encodeURIComponent(senderId)}/typing`, { method: "POST", body: { typing: active }, background: true })
    .then((answer) => Boolean(answer && answer.sent))
    .catch(() => false);
}

function stopTyping(tellUser) {
  clearTimeout(typing.idleTimer);
  if (typing.senderId && tellUser) sendTypingSignal(typing.senderId, false);
  typing.senderId = null;
  typing.signalledAt = 0;
}

function onReplyTyped() {
  const box = byId("reply-text");
  if (box.disabled || !state.selected) return;
  if (!box.value.trim() || box.value.startsWith("/")) {  // emptied, or choosing a canned reply
    stopTyping(true);
    return;
  }
  if (typing.senderId !== state.selected) stopTyping(true);
  const now = Date.now();
  if (now - typing.signalledAt >= TYPING_SIGNAL_MS) {
    typing.senderId = state.selected;
    typing.signalledAt = now;
    sendTypingSignal(state.selected, true).then((shown) => {
      if (!shown && typing.signalledAt === now) typing.signalledAt = now - TYPING_SIGNAL_MS + TYPING_RETRY_MS;
    });
  }
  clearTimeout(typing.idleTimer);
  typing.idleTimer = setTimeout(() => stopTyping(true), TYPING_IDLE_MS);
}

async function heartbeat() {
  if (!state.selected || document.hidden) return;
  const data = await api(`/conversations/${encodeURIComponent(state.selected)}/presence`, { background: true }).catch(() => null);
  if (data) renderViewers(data.viewers);
}

async function loadDetail(background = false) {
  if (!state.selected) return;
  const data = await api(`/conversations/${encodeURIComponent(state.selected)}`, { background });
  state.conversations.set(data.conversation.sender_id, data.conversation);
  renderDetail(data);
  renderList();
}

async function selectConversation(senderId) {
  if (state.selected && state.selected !== senderId) {
    saveDrafts();
    for (const id of DRAFT_FIELDS) byId(id).value = "";
    api(`/conversations/${encodeURIComponent(state.selected)}/presence?leaving=1`, { background: true }).catch(() => null);
    stopTyping(true);
  }
  state.selected = senderId;
  if (decodeURIComponent(window.location.hash.slice(1)) !== senderId) {
    history.replaceState(null, "", "#" + encodeURIComponent(senderId));
  }
  showError("action-error", null);
  await loadDetail().catch((error) => showError("action-error", error));
  restoreDrafts();
  // On a phone the conversation is below the list: bring it into view.
  if (window.matchMedia("(max-width: 800px)").matches) byId("detail").scrollIntoView({ block: "start" });
  loadCanned().catch(() => null);
}

async function conversationAction(path, body) {
  showError("action-error", null);
  try {
    await api(`/conversations/${encodeURIComponent(state.selected)}/${path}`, {
      method: "POST",
      body: body === undefined ? {} : body,
    });
    await loadDetail();
    return true;
  } catch (error) {
    showError("action-error", error);
    return false;
  }
}

// --- live updates ----------------------------------------------------------------------

function connectLive(onUpdate, onRemoved) {
  const live = byId("live-state");
  const source = new EventSource(`${API}/events`);
  source.addEventListener("ready", () => {
    if (live) live.textContent = "实时更新中";
    document.body.dataset.live = "ready";
  });
  source.addEventListener("conversation", (event) => onUpdate(JSON.parse(event.data)));
  if (onRemoved) source.addEventListener("conversation_removed", (event) => onRemoved(JSON.parse(event.data)));
  source.addEventListener("alert", (event) => raiseAlert(JSON.parse(event.data).conversation));
  source.addEventListener("logout", () => window.location.assign("/console/login"));
  source.onerror = () => {
    if (live) live.textContent = "连接中断，正在重连…";
    document.body.dataset.live = "reconnecting";
  };
  return source;
}

async function conversationsPage() {
  for (const id of ["status-filter", "channel-filter", "assignee-filter", "team-filter", "label-filter", "unanswered-filter"]) {
    byId(id).addEventListener("change", () => {
      state.offset = 0;
      loadConversations().catch((error) => showError("action-error", error));
    });
  }
  byId("transfer").addEventListener("click", async () => {
    const [kind, target] = byId("transfer-target").value.split(/:(.*)/s);
    if (!target) return;
    await conversationAction("transfer", kind === "to" ? { to: target } : { team: target });
    loadColleagues().catch(() => null);
  });
  byId("label-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const label = byId("label-text").value.trim();
    if (label && (await conversationAction("labels", { label }))) {
      byId("label-text").value = "";
      loadColleagues().catch(() => null);
    }
  });
  byId("reply-text").addEventListener("input", showCannedMenu);
  byId("reply-text").addEventListener("input", onReplyTyped);
  byId("send-match-list").addEventListener("click", async () => {
    const button = byId("send-match-list");
    button.disabled = true;
    try {
      await conversationAction("match-list");
    } finally {
      button.disabled = false;
    }
  });
  byId("knowledge-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = await api(`/knowledge?q=${encodeURIComponent(byId("knowledge-q").value.trim())}`).catch((error) => {
      showError("action-error", error);
      return { entries: [] };
    });
    const canReply = !byId("reply-send").disabled;
    byId("knowledge-results").replaceChildren(
      ...data.entries.map((entry) =>
        el(
          "li",
          { dataset: { entryId: entry.id } },
          el("strong", {}, entry.title),
          " ",
          el("button", { type: "button", disabled: !canReply, title: canReply ? "" : "接管对话后才能发送", onclick: () => conversationAction("reply", { text: entry.text }) }, "发送"),
          " ",
          el("button", { type: "button", class: "secondary", onclick: () => { byId("reply-text").value = entry.text; byId("reply-text").focus(); } }, "填入回复框")
        )
      )
    );
  });
  byId("canned-picker").addEventListener("change", (event) => {
    useCanned(event.target.value);
    event.target.value = "";
  });
  byId("canned-save").addEventListener("click", async () => {
    const text = byId("reply-text").value.trim();
    if (!text) return;
    const shortcut = window.prompt("快捷词（输入 / 加快捷词即可调出；可用 {company} 代表企业名称）");
    if (!shortcut) return;
    try {
      await api("/canned", { method: "POST", body: { shortcut, text } });
      await loadCanned();
    } catch (error) {
      showError("action-error", error);
    }
  });
  await loadColleagues().catch(() => null);
  setInterval(() => heartbeat(), 10000);
  // Who is online (for the transfer list) follows colleagues logging in and out; asking
  // is this console's own heartbeat (within the server's 30 s presence lifetime).
  setInterval(() => loadColleagues().catch(() => null), 20000);
  byId("page-prev").addEventListener("click", () => {
    state.offset = Math.max(0, (state.offset || 0) - PAGE_SIZE);
    loadConversations().catch((error) => showError("action-error", error));
  });
  byId("page-next").addEventListener("click", () => {
    state.offset = (state.offset || 0) + PAGE_SIZE;
    loadConversations().catch((error) => showError("action-error", error));
  });
  // Deep links (/console/#web:…) open the conversation without a reload.
  window.addEventListener("hashchange", () => {
    const target = decodeURIComponent(window.location.hash.slice(1));
    if (target && target !== state.selected) selectConversation(target);
  });
  byId("alert-dismiss").addEventListener("click", dismissAlert);
  byId("take-over").addEventListener("click", () => conversationAction("take-over"));
  byId("hand-back").addEventListener("click", () => conversationAction("hand-back"));
  byId("close-conversation").addEventListener("click", () => conversationAction("close"));
  byId("reply-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = byId("reply-text").value.trim();
    if (!text) return;
    stopTyping(false);  // the reply arriving ends the signal on the user's side
    if (await conversationAction("reply", { text })) {
      byId("reply-text").value = "";
      clearDraft("reply-text");
    }
  });
  byId("note-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = byId("note-text").value.trim();
    if (text && (await conversationAction("notes", { text }))) {
      byId("note-text").value = "";
      clearDraft("note-text");
    }
  });
  await loadConversations();
  if (window.location.hash.length > 1) await selectConversation(decodeURIComponent(window.location.hash.slice(1)));
  connectLive((update) => {
    const c = update.conversation;
    const before = state.conversations.get(c.sender_id);
    state.conversations.set(c.sender_id, c);
    renderList();
    const changed = update.new_message || !before || before.status !== c.status || before.paused !== c.paused ||
      before.message_count !== c.message_count; // a message taken back
    if (c.sender_id === state.selected && changed) {
      loadDetail(true).catch((error) => showError("action-error", error));
    }
  }, (removed) => {
    // Its only message never reached the assistant and was taken back.
    state.conversations.delete(removed.sender_id);
    renderList();
  });
  setInterval(renderList, 1000); // waiting times tick
  // After a reconnect the stream may have missed updates: reload the list now and then.
  setInterval(() => loadConversations(true).catch(() => null), 30000);
}

// --- tasks -----------------------------------------------------------------------------

async function tasksPage() {
  const container = byId("task-kinds");
  async function load() {
    const data = await api("/tasks");
    showError("tasks-error", data.error ? new Error(data.error) : null);
    container.replaceChildren(
      ...data.kinds.map((kind) => {
        const open = kind.items.filter((item) => !item.done).length;
        return el(
          "section",
          { class: "task-kind", dataset: { kind: kind.kind } },
          el("h2", {}, `${kind.label}（待处理 ${open}）`),
          kind.items.length === 0
            ? el("p", { class: "muted" }, "暂无。")
            : el(
                "ul",
                { class: "tasks" },
                ...kind.items.map((item) =>
                  el(
                    "li",
                    { class: item.done ? "task done" : "task", dataset: { taskId: item.id } },
                    el("strong", {}, item.title),
                    el("span", { class: "muted" }, ` ${formatTime(Date.parse(item.created_at + "Z") / 1000)} · ${item.channel || ""}`),
                    el(
                      "dl",
                      {},
                      ...Object.entries(item.details).flatMap(([label, value]) => [el("dt", {}, label), el("dd", {}, value || "—")])
                    ),
                    item.sender_id ? el("a", { href: `/console/#${encodeURIComponent(item.sender_id)}` }, "查看对话") : null,
                    item.done
                      ? el("span", { class: "done-by" }, `已由 ${item.done.done_by} 完成`)
                      : el(
                          "button",
                          {
                            type: "button",
                            onclick: async () => {
                              try {
                                await api(`/tasks/${kind.kind}/${encodeURIComponent(item.id)}/done`, { method: "POST", body: {} });
                                await load();
                              } catch (error) {
                                showError("tasks-error", error);
                              }
                            },
                          },
                          "标记完成"
                        )
                  )
                )
              )
        );
      })
    );
  }
  await load();
}

// --- search ----------------------------------------------------------------------------

async function searchPage() {
  byId("search-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const q = byId("search-q").value.trim();
    if (!q) return;
    const data = await api(`/search?q=${encodeURIComponent(q)}&limit=200`);
    byId("search-summary").textContent =
      data.total > data.results.length ? `找到 ${data.total} 条消息（显示最新 ${data.results.length} 条）` : `找到 ${data.total} 条消息`;
    byId("search-rows").replaceChildren(
      ...data.results.map((r) =>
        el(
          "tr",
          {},
          el("td", {}, formatTime(r.at)),
          el("td", {}, el("a", { href: `/console/#${encodeURIComponent(r.sender_id)}` }, r.company || r.sender_id)),
          el("td", {}, KIND_LABELS[r.kind] || r.kind),
          el("td", {}, r.text)
        )
      )
    );
  });
}

// --- supervisor figures -------------------------------------------------------------

function percent(value) {
  return value === null || value === undefined ? "—" : `${(value * 100).toFixed(1)}%`;
}

function ratingText(summary) {
  return summary.ratings ? `${summary.rating_average} 分（${summary.ratings} 条）` : "—";
}

function summaryCells(summary) {
  return [
    el("td", {}, summary.handoffs),
    el("td", {}, formatDuration(summary.waiting_median_s)),
    el("td", {}, formatDuration(summary.first_reply_median_s)),
    el("td", {}, formatDuration(summary.resolution_median_s)),
    el("td", { class: summary.sla_breaches ? "breach" : "" }, summary.sla_breaches),
    el("td", {}, ratingText(summary)),
  ];
}

const MISSED_LABELS = { waiting: "等待", first_reply: "首次回复" };

async function figuresPage() {
  async function load() {
    try {
      const days = byId("figures-days").value;
      const f = await api(`/figures?days=${days}`);
      const ratings = Object.entries(f.ratings).map(([score, n]) => `${score}分×${n}`).join("  ");
      const items = [
        ["对话数", f.conversations],
        ["转人工请求", f.handoff_requests],
        ["转人工率", percent(f.handoff_rate)],
        ["助手独立解决率（containment）", percent(f.containment)],
        ["等待人工（中位数）", formatDuration(f.overall.waiting_median_s)],
        ["首次人工回复（中位数）", formatDuration(f.first_reply_median_s)],
        ["首次人工回复（P90）", formatDuration(f.first_reply_p90_s)],
        ["解决时长（中位数）", formatDuration(f.overall.resolution_median_s)],
        ["超出服务目标", f.overall.sla_breaches],
        ["服务评价", `${ratingText(f.overall)}  ${ratings}`],
        ["当前等待人工", f.waiting_now],
        ["未能解答的消息", f.unanswered_messages],
        ["服务繁忙提示（动作服务器不可用）", f.service_busy_notices],
      ];
      byId("figures").replaceChildren(...items.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
      byId("per-day").replaceChildren(
        ...f.per_day.map((d) => el("tr", {}, el("td", {}, d.day), el("td", {}, d.conversations), el("td", {}, percent(d.handoff_rate)), ...summaryCells(d)))
      );
      byId("per-agent").replaceChildren(...Object.entries(f.per_agent).map(([name, a]) => el("tr", {}, el("td", {}, name), ...summaryCells(a))));
      byId("per-team").replaceChildren(...Object.entries(f.per_team).map(([name, t]) => el("tr", {}, el("td", {}, name), ...summaryCells(t))));
      byId("sla-targets").textContent = `（目标：等待 ≤ ${formatDuration(f.sla.waiting_s)}，首次人工回复 ≤ ${formatDuration(f.sla.first_reply_s)}）`;
      byId("breaches").replaceChildren(
        ...f.breaches.map((b) =>
          el(
            "tr",
            { class: "breach" },
            el("td", {}, formatTime(b.requested_at)),
            el("td", {}, el("a", { href: `/console/#${encodeURIComponent(b.sender_id)}` }, b.sender_id)),
            el("td", {}, b.agent || "—"),
            el("td", {}, formatDuration(b.waiting_s)),
            el("td", {}, b.first_reply_s === null ? "尚未回复" : formatDuration(b.first_reply_s)),
            el("td", {}, b.missed.map((m) => MISSED_LABELS[m] || m).join("、"))
          )
        )
      );
      const unanswered = await api(`/unanswered?days=${days}`);
      byId("failed").replaceChildren(
        ...unanswered.groups.map((g) =>
          el("tr", {}, el("td", {}, g.question), el("td", {}, g.times), el("td", {}, g.conversations), el("td", { class: "muted" }, g.wordings.slice(1).map((w) => w.text).join(" / ")))
        )
      );
      const audit = await api("/audit");
      byId("audit").replaceChildren(
        ...audit.entries.map((e) =>
          el("tr", {}, el("td", {}, formatTime(e.at)), el("td", {}, e.staff), el("td", {}, e.action), el("td", {}, e.sender_id || ""), el("td", {}, e.detail || ""))
        )
      );
      showError("figures-error", null);
    } catch (error) {
      showError("figures-error", error);
    }
  }
  byId("figures-days").addEventListener("change", load);
  await load();
}

// --- accounts (admins) -------------------------------------------------------------------

const ROLE_LABELS = { agent: "坐席", supervisor: "主管", admin: "管理员" };

async function accountsPage() {
  let choices = { roles: [], teams: [] };
  async function change(path, body, done) {
    try {
      const result = await api(`/staff${path}`, { method: "POST", body });
      showError("accounts-error", null);
      if (done) done(result);
      await load();
    } catch (error) {
      showError("accounts-error", error);
    }
  }
  function row(a) {
    const user = encodeURIComponent(a.username);
    const role = el("select", { onchange: (event) => change(`/${user}`, { role: event.target.value }) },
      ...choices.roles.map((r) => el("option", { value: r, selected: r === a.role }, ROLE_LABELS[r] || r)));
    return el(
      "tr",
      { dataset: { username: a.username } },
      el("td", {}, a.username),
      el("td", {}, a.display_name || "—"),
      el("td", {}, role),
      el("td", {}, a.teams.join("、") || "—"),
      el("td", {}, a.active ? "启用" : "已停用"),
      el(
        "td",
        { class: "actions" },
        el("button", { type: "button", onclick: () => change(`/${user}`, { active: !a.active }) }, a.active ? "停用" : "启用"),
        el("button", {
          type: "button",
          onclick: () => {
            const password = window.prompt(`为 ${a.username} 设置新密码（至少 10 个字符）`);
            if (password) change(`/${user}/password`, { password });
          },
        }, "重置密码"),
        el("button", {
          type: "button",
          onclick: () => {
            const name = window.prompt("用户看到的显示名称", a.display_name || "");
            if (name !== null) change(`/${user}`, { display_name: name });
          },
        }, "显示名称"),
        el("button", {
          type: "button",
          onclick: () => {
            const teams = window.prompt(`小组（用顿号分隔，可选：${choices.teams.join("、")}）`, a.teams.join("、"));
            if (teams !== null) change(`/${user}`, { teams: teams.split(/[、,，\s]+/).filter(Boolean) });
          },
        }, "小组"),
        el("button", { type: "button", onclick: () => change(`/${user}/unlock`, {}) }, "解除登录限制")
      )
    );
  }
  async function load() {
    try {
      const data = await api("/staff");
      choices = data;
      byId("account-rows").replaceChildren(...data.accounts.map(row));
      if (!byId("new-role").options.length) {
        byId("new-role").replaceChildren(...data.roles.map((r) => el("option", { value: r }, ROLE_LABELS[r] || r)));
        byId("new-teams").append(
          ...data.teams.map((t) => el("label", {}, el("input", { type: "checkbox", value: t }), t))
        );
      }
    } catch (error) {
      showError("accounts-error", error);
    }
  }
  byId("account-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const teams = [...byId("new-teams").querySelectorAll("input:checked")].map((box) => box.value);
    await change("", {
      username: byId("new-username").value.trim(),
      display_name: byId("new-display-name").value.trim(),
      password: byId("new-password").value,
      role: byId("new-role").value,
      teams,
    }, () => byId("account-form").reset());
  });
  await load();
}

const PAGES = {
  conversations: conversationsPage,
  tasks: tasksPage,
  search: searchPage,
  figures: figuresPage,
  accounts: accountsPage,
};

document.addEventListener("DOMContentLoaded", async () => {
  try {
    await loadMe();
    await PAGES[document.body.dataset.page]();
    document.body.dataset.ready = "true";
  } catch (error) {
    console.error(error);
  }
});
