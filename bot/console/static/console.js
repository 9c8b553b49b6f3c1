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
const KIND_LABELS = { user: "用户", bot: "助手", staff: "工作人员", note: "内部备注", system: "系统通知" };

const state = { me: null, conversations: new Map(), selected: null, now: Date.now() / 1000, clockSkew: 0 };

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
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
    window.location.assign("/console/login?next=" + encodeURIComponent(window.location.pathname));
    throw new Error("登录已过期");
  }
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `请求失败（${response.status}）`);
  return data;
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

function renderList() {
  const filter = byId("status-filter").value;
  const rows = [...state.conversations.values()]
    .filter((c) => !filter || c.status === filter)
    .sort((a, b) => (b.status === "waiting") - (a.status === "waiting") || (b.last_at || 0) - (a.last_at || 0));
  const body = byId("conversation-rows");
  body.replaceChildren(
    ...rows.map((c) =>
      el(
        "tr",
        {
          class: `row status-${c.status}` + (c.sender_id === state.selected ? " selected" : ""),
          dataset: { senderId: c.sender_id, status: c.status },
          tabindex: "0",
          onclick: () => selectConversation(c.sender_id),
          onkeydown: (event) => {
            if (event.key === "Enter") selectConversation(c.sender_id);
          },
        },
        el("td", {}, el("span", { class: `status status-${c.status}` }, STATUS_LABELS[c.status] || c.status)),
        el("td", {}, c.channel || "—"),
        el("td", {}, c.company || "—"),
        el("td", { class: "last" }, (c.last_text || "").slice(0, 80)),
        el("td", { class: "waiting" }, waitingSeconds(c) === null ? "" : formatDuration(waitingSeconds(c)))
      )
    )
  );
  byId("empty-list").hidden = rows.length > 0;
}

async function loadConversations(background = false) {
  const data = await api("/conversations", { background });
  state.clockSkew = data.now - Date.now() / 1000;
  state.conversations = new Map(data.conversations.map((c) => [c.sender_id, c]));
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
  const parts = [`对话 ${c.sender_id}`, `渠道 ${c.channel || "未知"}`, `开始于 ${formatTime(c.started_at)}`];
  if (c.assigned_to) parts.push(`接待人 ${c.assigned_to}`);
  if (c.paused) parts.push("助手已暂停");
  byId("detail-meta").textContent = parts.join(" · ");
  const mine = c.status === "staff" && c.assigned_to === state.me.username;
  byId("take-over").disabled = mine;
  byId("hand-back").disabled = !["staff", "waiting"].includes(c.status);
  byId("close-conversation").disabled = c.status === "closed";
  byId("reply-text").disabled = !mine;
  byId("reply-send").disabled = !mine;
  byId("reply-text").placeholder = mine ? "" : "接管对话后才能回复";
  const base = `${API}/conversations/${encodeURIComponent(c.sender_id)}/export`;
  byId("export-json").href = `${base}?format=json`;
  byId("export-txt").href = `${base}?format=txt`;
  const list = byId("transcript");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 20;
  list.replaceChildren(...data.messages.map(renderMessage));
  if (atBottom) list.scrollTop = list.scrollHeight;
}

async function loadDetail(background = false) {
  if (!state.selected) return;
  const data = await api(`/conversations/${encodeURIComponent(state.selected)}`, { background });
  state.conversations.set(data.conversation.sender_id, data.conversation);
  renderDetail(data);
  renderList();
}

async function selectConversation(senderId) {
  state.selected = senderId;
  history.replaceState(null, "", "#" + encodeURIComponent(senderId));
  showError("action-error", null);
  await loadDetail().catch((error) => showError("action-error", error));
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

function connectLive(onUpdate) {
  const live = byId("live-state");
  const source = new EventSource(`${API}/events`);
  source.addEventListener("ready", () => {
    if (live) live.textContent = "实时更新中";
    document.body.dataset.live = "ready";
  });
  source.addEventListener("conversation", (event) => onUpdate(JSON.parse(event.data)));
  source.addEventListener("alert", (event) => raiseAlert(JSON.parse(event.data).conversation));
  source.addEventListener("logout", () => window.location.assign("/console/login"));
  source.onerror = () => {
    if (live) live.textContent = "连接中断，正在重连…";
    document.body.dataset.live = "reconnecting";
  };
  return source;
}

async function conversationsPage() {
  byId("status-filter").addEventListener("change", renderList);
  byId("alert-dismiss").addEventListener("click", dismissAlert);
  byId("take-over").addEventListener("click", () => conversationAction("take-over"));
  byId("hand-back").addEventListener("click", () => conversationAction("hand-back"));
  byId("close-conversation").addEventListener("click", () => conversationAction("close"));
  byId("reply-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = byId("reply-text").value.trim();
    if (text && (await conversationAction("reply", { text }))) byId("reply-text").value = "";
  });
  byId("note-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = byId("note-text").value.trim();
    if (text && (await conversationAction("notes", { text }))) byId("note-text").value = "";
  });
  await loadConversations();
  if (window.location.hash.length > 1) await selectConversation(decodeURIComponent(window.location.hash.slice(1)));
  connectLive((update) => {
    const c = update.conversation;
    const before = state.conversations.get(c.sender_id);
    state.conversations.set(c.sender_id, c);
    renderList();
    const changed = update.new_message || !before || before.status !== c.status || before.paused !== c.paused;
    if (c.sender_id === state.selected && changed) {
      loadDetail(true).catch((error) => showError("action-error", error));
    }
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
    const data = await api(`/search?q=${encodeURIComponent(q)}`);
    byId("search-summary").textContent = `找到 ${data.results.length} 条消息`;
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

async function figuresPage() {
  async function load() {
    try {
      const f = await api(`/figures?days=${byId("figures-days").value}`);
      const items = [
        ["对话数", f.conversations],
        ["转人工请求", f.handoff_requests],
        ["转人工率", percent(f.handoff_rate)],
        ["助手独立解决率（containment）", percent(f.containment)],
        ["首次人工回复（中位数）", formatDuration(f.first_reply_median_s)],
        ["首次人工回复（P90）", formatDuration(f.first_reply_p90_s)],
        ["当前等待人工", f.waiting_now],
        ["服务繁忙提示（动作服务器不可用）", f.service_busy_notices],
      ];
      byId("figures").replaceChildren(...items.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v))]));
      byId("per-day").replaceChildren(...f.conversations_per_day.map(([day, n]) => el("tr", {}, el("td", {}, day), el("td", {}, n))));
      byId("failed").replaceChildren(...f.top_failed_questions.map((q) => el("tr", {}, el("td", {}, q.text), el("td", {}, q.times))));
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

const PAGES = { conversations: conversationsPage, tasks: tasksPage, search: searchPage, figures: figuresPage };

document.addEventListener("DOMContentLoaded", async () => {
  try {
    await loadMe();
    await PAGES[document.body.dataset.page]();
    document.body.dataset.ready = "true";
  } catch (error) {
    console.error(error);
  }
});
