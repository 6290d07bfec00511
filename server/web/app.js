// The cluster page: polls /cluster and renders it with DOM text nodes
// only (never parsed as HTML), so lock names, values and owners, which clients
// choose, are shown as text and cannot inject markup or script.
"use strict";

const refreshMillis = 2000;

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    tr.appendChild(c instanceof Node ? wrapCell(c) : el("td", c));
  }
  return tr;
}

function wrapCell(node) {
  if (node.tagName === "TD") return node;
  const td = document.createElement("td");
  td.appendChild(node);
  return td;
}

function fill(id, rows) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren(...rows);
}

function dur(ns) {
  if (ns <= 0) return "0s";
  const s = ns / 1e9;
  if (s < 1) return (ns / 1e6).toFixed(0) + "ms";
  if (s < 120) return s.toFixed(1) + "s";
  return (s / 60).toFixed(1) + "m";
}

function members(v) {
  fill("members", v.members.map(m => {
    const health = el("td", m.health + (m.error ? ": " + m.error : ""), m.health === "ok" ? "ok" : "bad");
    return row([m.id, m.client_addr, m.role + (m.learner ? " (learner)" : ""), m.term, m.commit, m.applied, m.lag, health]);
  }));
}

function sessions(v) {
  const s = v.sessions;
  document.getElementById("session-counts").textContent =
    s.total + " open: " + s.holding + " holding, " + s.waiting + " waiting, " + s.idle + " idle" +
    (s.truncated ? " (first " + s.list.length + " listed)" : "");
  const owners = s.by_owner || null;
  const hasOwner = owners !== null || s.list.some(x => x.owner);
  document.getElementById("owners").hidden = owners === null;
  if (owners !== null) {
    fill("owners", Object.keys(owners).sort().map(o => row([o, owners[o]])));
  }
  for (const th of document.querySelectorAll(".owner-col")) th.hidden = !hasOwner;
  fill("sessions", s.list.map(x => {
    const cells = [x.id];
    if (hasOwner) cells.push(x.owner || "");
    cells.push(dur(x.ttl_ns), el("td", x.held.join(", "), "mono"), el("td", x.waiting.join(", "), "mono"));
    return row(cells);
  }));
}

function locks(v) {
  document.getElementById("lock-counts").textContent =
    v.locks_total + " locks, " + v.locks_held + " held, " + v.waiters_total + " waiting requests" +
    (v.locks_truncated ? " (first " + v.locks.length + " listed)" : "");
  fill("locks", v.locks.map(l => {
    const holders = el("ol");
    for (const h of l.holders) {
      const val = h.value_hex ? "0x" + h.value : JSON.stringify(h.value);
      holders.appendChild(el("li", "session " + h.session + " · " + h.mode + " · token " + h.token +
        " · " + val + (h.value_truncated ? "…" : ""), "mono"));
    }
    const waiters = el("ol");
    for (const w of l.waiters) {
      waiters.appendChild(el("li", "session " + w.session + " · " + w.mode + " · waiting " + dur(v.time - w.queued_at)));
    }
    const delay = l.delayed ? dur(l.delay_until - v.time) + " left" : "";
    return row([el("td", l.name, "mono lock-name"), holders, waiters, delay, l.revision]);
  }));
}

function events(v) {
  fill("events", v.events.slice().reverse().map(e =>
    row([e.index || "", e.kind, el("td", e.lock || "", "mono"), e.session || "", e.token || "", e.detail || ""])));
}

function render(v) {
  document.getElementById("cluster-id").textContent = v.cluster_id ? "(" + v.cluster_id + ")" : "";
  document.getElementById("summary").textContent =
    "seen from " + v.node + " · leader " + (v.leader || "none known") + " · term " + v.term +
    " · locks and sessions as applied here at index " + v.applied;
  const err = document.getElementById("error");
  err.hidden = !v.members_error;
  err.textContent = v.members_error ? "members unavailable: " + v.members_error : "";
  members(v);
  sessions(v);
  locks(v);
  events(v);
  document.getElementById("refreshed").textContent = "refreshed " + new Date().toISOString();
  document.body.dataset.loaded = "true";
}

async function refresh() {
  try {
    const resp = await fetch("/cluster", {cache: "no-store"});
    if (!resp.ok) throw new Error("GET /cluster: " + resp.status + " " + (await resp.text()));
    render(await resp.json());
  } catch (e) {
    const err = document.getElementById("error");
    err.hidden = false;
    err.textContent = String(e);
  } finally {
    setTimeout(refresh, refreshMillis);
  }
}

refresh();
