// huddle's page. Everything a message holds is put on the page as text
// (textContent), never as HTML; links become <a> elements built here.
"use strict";

const token = new URL(document.currentScript.src).searchParams.get("token");
const $ = (id) => document.getElementById(id);
const state = {
  user: "",
  groups: [],
  directoryAnswers: true,
  open: null,
  messages: new Map(), // seq -> message, for the open group
  more: false,
  loadingOlder: false,
  connected: false,
  retry: null, // {group, text, msg_id} of a message that did not go
};
let ws = null;

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  ws.onopen = () => {
    state.connected = true;
    if (state.open) openGroup(state.open);
    renderBanner();
  };
  ws.onclose = () => {
    state.connected = false;
    renderBanner();
    setTimeout(connect, 1000);
  };
  ws.onmessage = (event) => receive(JSON.parse(event.data));
}

function send(request) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(request));
}

function receive(event) {
  switch (event.type) {
    case "hello":
      state.user = event.user;
      $("me").textContent = event.user;
      break;
    case "groups":
      state.groups = event.groups;
      state.directoryAnswers = event.directory_answers;
      renderGroups();
      renderBanner();
      break;
    case "joined":
      openGroup(event.group);
      break;
    case "messages":
      if (event.group === state.open) {
        const bottom = nearBottom();
        for (const message of event.messages) state.messages.set(message.seq, message);
        renderMessages(bottom ? "bottom" : "keep");
        markSeen();
      }
      break;
    case "history":
      if (event.group === state.open) receiveHistory(event);
      break;
    case "answering": {
      const group = state.groups.find((g) => g.name === event.group);
      if (group) group.answering = event.answering;
      renderGroups();
      renderBanner(event.answering && event.group === state.open ? `${event.group} answers again` : null);
      break;
    }
    case "not_sent":
      state.retry = { group: event.group, text: event.text, msg_id: event.msg_id };
      if (!$("composer").value) $("composer").value = event.text;
      renderBanner(null, `Not sent to ${event.group}: ${event.error}. Press Enter to try again.`);
      break;
    case "error":
      renderBanner(null, event.text);
      break;
  }
}

function receiveHistory(event) {
  const list = $("messages");
  const before = list.scrollHeight - list.scrollTop;
  for (const message of event.messages) if (message.seq != null) state.messages.set(message.seq, message);
  state.more = event.more;
  state.loadingOlder = false;
  if (event.before_seq == null) {
    renderMessages("bottom");
    markSeen();
  } else {
    renderMessages("none");
    list.scrollTop = list.scrollHeight - before; // the same message stays in view
  }
  fillIfShort();
}

function openGroup(name) {
  state.open = name;
  state.messages = new Map();
  state.more = false;
  state.loadingOlder = true;
  $("group-name").textContent = name;
  $("leave").hidden = false;
  $("composer").disabled = false;
  $("composer").focus();
  renderMessages("bottom");
  renderGroups();
  renderBanner();
  send({ type: "history", group: name, before_seq: null });
}

function markSeen() {
  const seqs = [...state.messages.keys()];
  if (state.open && seqs.length) send({ type: "seen", group: state.open, seq: Math.max(...seqs) });
}

function nearBottom() {
  const list = $("messages");
  return list.scrollHeight - list.scrollTop - list.clientHeight < 40;
}

function loadOlder() {
  if (!state.open || !state.more || state.loadingOlder) return;
  const first = Math.min(...state.messages.keys());
  state.loadingOlder = true;
  send({ type: "history", group: state.open, before_seq: first });
}

// A page that does not fill the pane cannot be scrolled up: read on.
function fillIfShort() {
  const list = $("messages");
  if (list.scrollHeight <= list.clientHeight) loadOlder();
}

function renderGroups() {
  const unread = state.groups.reduce((sum, g) => sum + (g.joined && g.name !== state.open ? g.unread : 0), 0);
  document.title = unread > 0 ? `(${unread}) huddle` : "huddle";
  const joined = $("joined");
  const others = $("others");
  joined.replaceChildren();
  others.replaceChildren();
  for (const group of state.groups) {
    const item = document.createElement("li");
    item.className = "group";
    item.dataset.name = group.name;
    item.title = group.address;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = group.name;
    item.append(name);
    if (group.joined) {
      if (group.name === state.open) item.classList.add("open");
      if (group.unread > 0 && group.name !== state.open) {
        item.classList.add("unread");
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = group.unread > 999 ? "999+" : String(group.unread);
        item.append(badge);
      }
      if (!group.answering) {
        const down = document.createElement("span");
        down.className = "down";
        down.textContent = "not answering";
        item.append(down);
      }
      item.addEventListener("click", () => openGroup(group.name));
      joined.append(item);
    } else {
      const join = document.createElement("button");
      join.className = "join";
      join.textContent = "Join";
      join.addEventListener("click", () => send({ type: "join", group: group.name }));
      item.append(join);
      others.append(item);
    }
  }
}

function renderBanner(good, error) {
  const banner = $("banner");
  const open = state.groups.find((g) => g.name === state.open);
  let text = null;
  let ok = false;
  if (!state.connected) text = "huddle web does not answer: reconnecting…";
  else if (open && !open.answering) text = `${open.name} does not answer: new messages show when it is back`;
  else if (!state.directoryAnswers) text = "The directory does not answer: the list of groups may be out of date";
  else if (error) text = error;
  else if (good) {
    text = good;
    ok = true;
    setTimeout(() => renderBanner(), 3000);
  }
  banner.hidden = text == null;
  banner.classList.toggle("ok", ok);
  banner.textContent = text || "";
}

function newMessageId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function senderName(message) {
  const id = message.user_uuid;
  return message.nick ? `${message.nick} (${id.slice(0, 8)})` : id;
}

function localTime(message) {
  const when = new Date(message.utc || message.timestamp.replace(" ", "T"));
  if (isNaN(when)) return message.timestamp;
  const today = new Date().toDateString() === when.toDateString();
  return today ? when.toLocaleTimeString() : when.toLocaleString();
}

// Text with its http(s) links as links; all of it as text nodes.
function withLinks(element, text) {
  const link = /https?:\/\/[^\s<>"']+/g;
  let at = 0;
  for (const found of text.matchAll(link)) {
    element.append(document.createTextNode(text.slice(at, found.index)));
    const a = document.createElement("a");
    a.href = found[0];
    a.textContent = found[0];
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    element.append(a);
    at = found.index + found[0].length;
  }
  element.append(document.createTextNode(text.slice(at)));
}

function renderMessages(scroll) {
  const list = $("messages");
  const before = list.scrollTop;
  list.replaceChildren();
  if (state.more) {
    const older = document.createElement("div");
    older.className = "older";
    older.textContent = "Scroll up for older messages";
    list.append(older);
  }
  const seqs = [...state.messages.keys()].sort((a, b) => a - b);
  for (const seq of seqs) {
    const message = state.messages.get(seq);
    const item = document.createElement("div");
    item.className = "message";
    item.dataset.seq = String(seq);
    const sender = document.createElement("span");
    sender.className = "sender";
    if (message.user_uuid === state.user) sender.classList.add("me");
    sender.textContent = senderName(message);
    const time = document.createElement("time");
    time.dateTime = message.utc || "";
    time.textContent = localTime(message);
    const text = document.createElement("div");
    text.className = "text";
    withLinks(text, message.message);
    item.append(sender, time, text);
    list.append(item);
  }
  if (scroll === "bottom") list.scrollTop = list.scrollHeight;
  else if (scroll === "keep") list.scrollTop = before;
}

$("messages").addEventListener("scroll", () => {
  if ($("messages").scrollTop < 60) loadOlder();
});

$("composer").addEventListener("keydown", (event) => {
  if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
  event.preventDefault();
  const text = $("composer").value;
  if (!text.trim() || !state.open) return;
  // The same text again after a failure goes under the same id: stored once.
  const retry = state.retry;
  const again = retry && retry.group === state.open && retry.text === text;
  const msgId = again ? retry.msg_id : newMessageId();
  state.retry = null;
  send({ type: "send", group: state.open, text, msg_id: msgId });
  $("composer").value = "";
});

$("create").addEventListener("submit", (event) => {
  event.preventDefault();
  const name = $("create-name").value.trim();
  if (name) send({ type: "create", name });
  $("create-name").value = "";
});

$("leave").addEventListener("click", () => {
  if (!state.open) return;
  send({ type: "leave", group: state.open });
  state.open = null;
  state.messages = new Map();
  $("group-name").textContent = "Pick a group";
  $("leave").hidden = true;
  $("composer").disabled = true;
  renderMessages("none");
});

connect();
