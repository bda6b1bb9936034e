// troupe dashboard. Every value from the server (commands, output, errors) is
// untrusted: the DOM is built with createElement/textContent only, never
// innerHTML. Updates: /api/events (server-sent events) marks the jobs view
// stale; a one-second timer refreshes whatever is stale, so the page polls at
// most once a second per view however busy the cluster is.
//
// Tokens: when the API answers 401 the page shows a token form; the token is
// kept in sessionStorage (this tab only, gone when it closes; never
// localStorage, never a URL) and sent as "Authorization: Bearer" on every API
// call. /api/events is read with fetch() streaming rather than EventSource,
// which cannot send headers.
"use strict";

const state = {
  pageTokens: [""],   // token of each page visited; the last is the current page
  nextToken: "",
  openJob: null,      // id of the job shown in the job view
  staleJobs: true,
  lastSlow: 0,
};

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    if (c instanceof Node) { const td = el("td"); td.appendChild(c); tr.appendChild(td); }
    else tr.appendChild(el("td", c));
  }
  return tr;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

const TOKEN_KEY = "troupe.token";

function authHeaders(headers) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers["Authorization"] = "Bearer " + token;
  return headers;
}

// Shows the token form; `why` is the server's error (unknown token, ...).
function askForToken(why) {
  const section = document.getElementById("login-section");
  const hadToken = sessionStorage.getItem(TOKEN_KEY) !== null;
  // A late 401 of a call made before the form went up must not hide why it did.
  if (hadToken || section.hidden)
    document.getElementById("login-reason").textContent =
      (hadToken ? "The token was refused (" + (why || "HTTP 401") + "). " : "This node requires an API token. ") +
      "It is kept for this tab only.";
  if (hadToken) sessionStorage.removeItem(TOKEN_KEY);
  if (section.hidden) {
    section.hidden = false;
    document.getElementById("token-input").focus();
  }
  setBadge("token required", "warn");
}

function setBadge(text, cls) {
  const badge = document.getElementById("conn");
  badge.textContent = text;
  badge.className = "badge" + (cls ? " " + cls : "");
}

// A 401 counts only for the token it was sent with: a late answer to a call
// made with an old token must not throw away the one entered since.
function refused(sentToken, why) {
  if (sessionStorage.getItem(TOKEN_KEY) === sentToken) askForToken(why);
}

async function api(method, path, body) {
  const sent = sessionStorage.getItem(TOKEN_KEY);
  const opts = { method, headers: authHeaders({}) };
  if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const res = await fetch(path, opts);
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (res.status === 401) refused(sent, data && data.error);
  return { ok: res.ok, status: res.status, data, headers: res.headers };
}

function shortTime(t) {
  if (!t) return "";
  // 2026-01-28T12:45:41.231558433+00:00 -> 12:45:41.231
  const m = /T(\d\d:\d\d:\d\d)(\.\d{3})?/.exec(t);
  return m ? m[1] + (m[2] || "") : t;
}

function statusBadge(s) { return el("span", s, "status status-" + s); }

async function refreshCluster() {
  const r = await api("GET", "/api/cluster");
  if (!r.ok || !r.data) { document.getElementById("cluster-meta").textContent = "cluster unavailable (HTTP " + r.status + ")"; return; }
  const c = r.data;
  const meta = document.getElementById("cluster-meta");
  meta.replaceChildren(
    el("span", "this node " + c.node_id + " (" + c.role + ") · term " + c.current_term +
      " · leader " + (c.leader_id === null ? "none" : c.leader_id) +
      " · commit " + c.commit_index + " · applied " + c.last_applied + " · log " + c.log_length, "mono"));
  fill(document.querySelector("#nodes tbody"), c.nodes.map(n => {
    const role = el("span", n.role || (n.node_id === c.leader_id ? "leader" : "follower"));
    if (n.node_id === c.leader_id) role.className = "role-leader";
    // A learner receives the log but does not vote yet (troupe member add).
    if (n.role === "learner") { role.className = "role-learner"; role.title = "non-voting: catching up, promoted once close to the leader"; }
    return row([String(n.node_id), role, el("span", n.address, "mono"),
      el("span", n.is_alive ? "alive" : "down", n.is_alive ? "ok" : "bad"),
      n.draining ? "draining" : "no",
      el("span", n.executor_ok ? "healthy" : "unhealthy", n.executor_ok ? "ok" : "bad"),
      String(n.running_jobs ?? 0)]);
  }));
  document.getElementById("summary").textContent = "node " + c.node_id + " · " + c.role;
}

async function cancelJob(id, button) {
  button.disabled = true;
  const r = await api("DELETE", "/api/jobs/" + encodeURIComponent(id));
  button.textContent = r.ok ? "cancelling…" : "cancel failed";
  if (!r.ok && r.data) button.title = r.data.error || "";
  state.staleJobs = true;
}

async function refreshJobs() {
  const params = new URLSearchParams();
  const status = document.getElementById("filter-status").value;
  const command = document.getElementById("filter-command").value;
  if (status) params.set("status", status);
  if (command) params.set("command", command);
  params.set("page_size", "20");
  const token = state.pageTokens[state.pageTokens.length - 1];
  if (token) params.set("page_token", token);
  const r = await api("GET", "/api/jobs?" + params.toString());
  if (!r.ok || !Array.isArray(r.data)) {
    document.getElementById("jobs-count").textContent = "(unavailable: " + ((r.data && r.data.error) || r.status) + ")";
    return;
  }
  state.nextToken = r.headers.get("X-Next-Page-Token") || "";
  document.getElementById("page-next").disabled = !state.nextToken;
  document.getElementById("page-first").disabled = state.pageTokens.length <= 1;
  document.getElementById("jobs-count").textContent =
    "(" + r.headers.get("X-Total-Count") + " matching, page " + state.pageTokens.length + ")";
  fill(document.querySelector("#jobs tbody"), r.data.map(j => {
    let action = el("span");
    if (["pending", "assigned", "running"].includes(j.status)) {
      action = el("button", "Cancel", "cancel");
      action.type = "button";
      action.dataset.jobId = j.id;
      action.addEventListener("click", ev => { ev.stopPropagation(); cancelJob(j.id, action); });
    }
    const tr = row([el("span", j.id.slice(0, 8), "mono"), el("span", j.command, "mono"), statusBadge(j.status),
      j.executed_by === null ? "" : String(j.executed_by), shortTime(j.created_at), shortTime(j.completed_at), action]);
    tr.children[1].className = "cmd";
    tr.children[1].title = j.command;
    tr.className = "job-row";
    tr.dataset.jobId = j.id;
    tr.dataset.status = j.status;
    tr.addEventListener("click", () => openJob(j.id));
    return tr;
  }));
}

async function openJob(id) {
  if (state.openJob !== id) {  // never show one job's fields under another's id
    delete document.getElementById("job-view-fields").dataset.status;
    document.getElementById("job-view-fields").replaceChildren();
    document.getElementById("job-view-output").textContent = "";
    document.getElementById("job-view-stderr").textContent = "";
  }
  state.openJob = id;
  document.getElementById("job-view-id").textContent = id;
  document.getElementById("job-view").hidden = false;
  await refreshJobView();
}

async function refreshJobView() {
  const id = state.openJob;
  if (!id) return;
  const r = await api("GET", "/api/jobs/" + encodeURIComponent(id));
  if (id !== state.openJob) return;
  document.getElementById("job-view-id").textContent = id;
  const dl = document.getElementById("job-view-fields");
  if (!r.ok || !r.data) { dl.replaceChildren(el("dt", "error"), el("dd", (r.data && r.data.error) || "HTTP " + r.status)); return; }
  const j = r.data;
  const fields = [["status", statusBadge(j.status)], ["command", el("span", j.command, "mono")], ["image", j.image],
    ["executed by", j.executed_by], ["exit code", j.exit_code], ["attempts", j.attempts], ["error", j.error],
    ["created", j.created_at], ["started", j.started_at], ["completed", j.completed_at]];
  const items = [];
  for (const [k, v] of fields) {
    items.push(el("dt", k));
    const dd = el("dd");
    if (v instanceof Node) dd.appendChild(v); else dd.textContent = v === null || v === undefined ? "—" : String(v);
    items.push(dd);
  }
  dl.replaceChildren(...items);
  dl.dataset.status = j.status;
  document.getElementById("job-view-output").textContent = j.output || "";
  document.getElementById("job-view-stderr").textContent = j.stderr || "";
}

async function refreshRaftLog() {
  const head = await api("GET", "/api/raft/log?limit=1");
  if (!head.ok || !head.data) return;
  const last = head.data.last_log_index;
  const start = Math.max(head.data.first_available_index, last >= 15 ? last - 14 : 1);
  const r = await api("GET", "/api/raft/log?start_index=" + start + "&limit=15");
  if (!r.ok || !r.data) return;
  document.getElementById("raft-meta").textContent =
    "(commit " + r.data.commit_index + ", last " + r.data.last_log_index + ", first " + r.data.first_available_index + ")";
  const entries = r.data.entries.slice().reverse();
  fill(document.querySelector("#raft-log tbody"), entries.map(e => {
    let summary = "";
    if (e.command) {
      const kind = Object.keys(e.command)[0] || "";
      const body = e.command[kind] || {};
      summary = kind + " " + (body.job_id ? body.job_id.slice(0, 8) + " " : "") + (body.command || body.status || "");
    }
    const tr = row([String(e.index), String(e.term), e.kind, e.is_committed ? "yes" : "no", el("span", summary, "mono")]);
    tr.children[4].className = "cmd";
    return tr;
  }));
}

async function refreshTopology() {
  const r = await api("GET", "/api/topology");
  if (!r.ok || !r.data) return;
  document.getElementById("topology-meta").textContent = "(node " + r.data.node_id + ", " + r.data.actors.length + " actors)";
  fill(document.querySelector("#topology tbody"), r.data.actors.map(a =>
    row([el("span", a.name, "mono"), a.actor_id === null ? "" : "#" + a.actor_id, a.parent, a.links, a.detail])));
}

// Server-sent events over fetch(): "event: x\ndata: {...}\n\n" frames.
let eventsAbort = null;

function onEvent(event, data) {
  if (event === "hello") { setBadge("live", "live"); state.staleJobs = true; }
  else if (event === "job") {
    state.staleJobs = true;
    try { if (JSON.parse(data).job.id === state.openJob) state.staleJobView = true; } catch (e) { /* ignore */ }
  }
}

async function connectEvents() {
  if (eventsAbort) eventsAbort.abort();
  const ctrl = new AbortController();
  eventsAbort = ctrl;
  const sent = sessionStorage.getItem(TOKEN_KEY);
  try {
    const res = await fetch("/api/events", { headers: authHeaders({ Accept: "text/event-stream" }), signal: ctrl.signal, cache: "no-store" });
    if (res.status === 401) { refused(sent); return; }  // the token form reconnects
    if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value;
      let end;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const frame = buf.slice(0, end);
        buf = buf.slice(end + 2);
        let event = "message", data = "";
        for (const line of frame.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).replace(/^ /, "");
        }
        onEvent(event, data);
      }
    }
  } catch (e) {
    if (ctrl.signal.aborted) return;
  }
  if (ctrl.signal.aborted) return;
  setBadge("reconnecting…", "warn");
  state.staleJobs = true;
  setTimeout(() => { if (eventsAbort === ctrl) connectEvents(); }, 2000);
}

async function tick() {
  // No polling while the token form is up: every call would be another 401.
  if (!document.getElementById("login-section").hidden) { setTimeout(tick, 1000); return; }
  try {
    if (state.staleJobs) { state.staleJobs = false; await refreshJobs(); }
    if (state.staleJobView) { state.staleJobView = false; await refreshJobView(); }
    const now = Date.now();
    if (now - state.lastSlow >= 2000) {
      state.lastSlow = now;
      await Promise.all([refreshCluster(), refreshRaftLog(), refreshTopology()]);
    }
  } catch (e) {
    setBadge("error: " + e.message, "warn");
  }
  setTimeout(tick, 1000);
}

document.getElementById("submit-form").addEventListener("submit", async ev => {
  ev.preventDefault();
  const out = document.getElementById("submit-result");
  const command = document.getElementById("submit-command").value;
  const image = document.getElementById("submit-image").value.trim();
  const body = { command };
  if (image) body.image = image;
  out.className = "";
  out.textContent = "submitting…";
  const r = await api("POST", "/api/jobs", body);
  if (r.ok && r.data && r.data.success) {
    out.textContent = "submitted " + r.data.job_id;
    out.dataset.jobId = r.data.job_id;
    state.staleJobs = true;
    openJob(r.data.job_id);
  } else {
    out.className = "error";
    out.textContent = "rejected: " + ((r.data && r.data.error) || "HTTP " + r.status);
  }
});
document.getElementById("token-form").addEventListener("submit", ev => {
  ev.preventDefault();
  const input = document.getElementById("token-input");
  const token = input.value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  input.value = "";
  document.getElementById("login-section").hidden = true;
  state.staleJobs = true;
  state.lastSlow = 0;
  connectEvents();
});
document.getElementById("token-forget").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  if (eventsAbort) eventsAbort.abort();
  askForToken();
});
document.getElementById("filter-status").addEventListener("change", () => { state.pageTokens = [""]; state.staleJobs = true; });
document.getElementById("filter-command").addEventListener("input", () => { state.pageTokens = [""]; state.staleJobs = true; });
document.getElementById("page-next").addEventListener("click", () => {
  if (state.nextToken) { state.pageTokens.push(state.nextToken); state.staleJobs = true; }
});
document.getElementById("page-first").addEventListener("click", () => { state.pageTokens = [""]; state.staleJobs = true; });
document.getElementById("job-view-close").addEventListener("click", () => {
  state.openJob = null;
  document.getElementById("job-view").hidden = true;
});
// An open job that is still active is refreshed every second (its output appears on completion).
setInterval(() => {
  const s = document.getElementById("job-view-fields").dataset.status;
  if (state.openJob && (!s || ["pending", "assigned", "running"].includes(s))) state.staleJobView = true;
}, 1000);

connectEvents();
tick();
