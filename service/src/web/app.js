// The afterlog web page: a small client of the JSON API (no build step).
// The view lives in the URL's fragment (#tool=…&job=…&run=…), so a link
// reproduces it. Log text is only ever set as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
// Relative to the page, so a gateway may serve it under a path prefix.
const base = new URL(".", location.href);
const TOKEN_KEY = "afterlog-token";
const FILTERS = ["run", "container", "stream", "since", "until", "tail"];
let current = null; // AbortController of the log being read

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function headers() {
  const t = token();
  return t ? { Authorization: "Bearer " + t } : {};
}

function apiUrl(parts, query) {
  const u = new URL("v1/tool/" + parts.map(encodeURIComponent).join("/"), base);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== "" && v !== null && v !== undefined) u.searchParams.set(k, v);
  }
  return u;
}

// ---------------------------------------------------------------- the view

function readView() {
  const p = new URLSearchParams(location.hash.slice(1));
  const v = {};
  for (const k of ["tool", "job", ...FILTERS, "follow"]) v[k] = p.get(k) || "";
  return v;
}

function viewHash(v) {
  const p = new URLSearchParams();
  for (const [k, val] of Object.entries(v)) if (val) p.set(k, val);
  return "#" + p.toString();
}

function setView(v, push) {
  const h = viewHash(v);
  if (h === location.hash) return render();
  if (push) location.hash = h; // hashchange renders
  else { history.replaceState(null, "", h); render(); }
}

// ----------------------------------------------------------------- banners

function banner(text, level) {
  const b = $("banner");
  if (!text) { b.hidden = true; b.textContent = ""; return; }
  b.hidden = false;
  b.className = level || "error";
  b.textContent = text;
}

function showMessages(m) {
  if (!m) return;
  const warn = [...(m.warning || []), ...(m.info || [])];
  if (m.error && m.error.length) banner(m.error.join("\n"), "error");
  else if (warn.length) banner(warn.join("\n"), "warning");
}

async function failure(resp) {
  let text = resp.status + " " + resp.statusText;
  try {
    const body = await resp.json();
    if (body.messages && body.messages.error && body.messages.error.length) {
      text = body.messages.error.join("\n") + " (" + resp.status + ")";
    }
  } catch (_) { /* not JSON */ }
  if (resp.status === 401) {
    $("token-form").hidden = false;
    text += "\nThis server wants an API token: enter it above.";
  }
  return text;
}

async function getJson(url) {
  const resp = await fetch(url, { headers: headers() });
  if (!resp.ok) throw new Error(await failure(resp));
  const body = await resp.json();
  showMessages(body.messages);
  return body;
}

// ------------------------------------------------------------------- times

// ns since the epoch (a decimal string, beyond a double's precision) → RFC 3339.
function rfc3339(ns) {
  const n = BigInt(ns);
  const secs = n / 1000000000n;
  const frac = (n % 1000000000n).toString().padStart(9, "0");
  return new Date(Number(secs) * 1000).toISOString().replace(/\.\d{3}Z$/, "." + frac + "Z");
}

// ------------------------------------------------------------------- render

async function render() {
  const v = readView();
  $("tool").value = v.tool;
  banner("");
  if (!v.tool) {
    $("jobs").replaceChildren(li("Pick a tool.", "empty"));
    $("job").hidden = true;
    stopLog();
    return;
  }
  await renderJobs(v);
  if (v.job) await renderJob(v);
  else { $("job").hidden = true; stopLog(); }
}

function li(text, cls) {
  const e = document.createElement("li");
  e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

let jobsOf = null;

async function renderJobs(v) {
  if (jobsOf === v.tool && $("jobs").children.length) {
    markSelected(v.job);
    return;
  }
  $("jobs").replaceChildren(li("Loading…", "empty"));
  let body;
  try {
    body = await getJson(apiUrl([v.tool, "jobs"]));
  } catch (e) {
    jobsOf = null;
    $("jobs").replaceChildren(li("No jobs.", "empty"));
    banner(e.message);
    return;
  }
  jobsOf = v.tool;
  const items = body.jobs.map((j) => {
    const e = document.createElement("li");
    e.dataset.job = j.job;
    const a = document.createElement("a");
    a.href = viewHash({ tool: v.tool, job: j.job });
    a.textContent = j.job;
    const sub = document.createElement("div");
    sub.className = "sub";
    sub.textContent = [j.kind || "", j.status, j.runs + (j.runs === 1 ? " run" : " runs")]
      .filter(Boolean).join(" · ");
    a.append(sub);
    e.append(a);
    return e;
  });
  $("jobs").replaceChildren(...(items.length ? items : [li("No jobs.", "empty")]));
  markSelected(v.job);
}

function markSelected(job) {
  for (const e of $("jobs").children) e.classList.toggle("selected", e.dataset.job === job);
}

function options(select, values, all) {
  const keep = select.value;
  const opts = [new Option(all, "")];
  for (const [value, label] of values) opts.push(new Option(label, value));
  select.replaceChildren(...opts);
  select.value = keep;
}

async function renderJob(v) {
  $("job").hidden = false;
  $("job-title").textContent = v.job;
  let detail;
  try {
    detail = (await getJson(apiUrl([v.tool, "jobs", v.job]))).job;
  } catch (e) {
    $("job-meta").textContent = "";
    stopLog();
    $("log").replaceChildren();
    banner(e.message);
    return;
  }
  $("job-meta").textContent = [detail.kind, detail.status,
    detail.runs.length + (detail.runs.length === 1 ? " run" : " runs")].filter(Boolean).join(" · ");
  const runs = [["latest", "latest run"]];
  const containers = new Set();
  for (const r of detail.runs) {
    runs.push([r.pod, r.pod + (r.first_time ? " (" + r.first_time.slice(0, 19).replace("T", " ") + ")" : "")]);
    for (const c of r.containers) containers.add(c.name);
  }
  options($("run"), runs, "all runs");
  options($("container"), [...containers].sort().map((c) => [c, c]), "all containers");
  for (const k of FILTERS) if (k !== "tail" || v[k]) $(k).value = v[k];
  $("follow").checked = v.follow === "1";
  $("share").href = location.href;
  readLog(v);
}

// --------------------------------------------------------------------- log

function stopLog() {
  if (current) current.abort();
  current = null;
}

function lineOf(raw) {
  let r;
  try { r = JSON.parse(raw); } catch (_) { return null; }
  if (r.messages) { showMessages(r.messages); return null; }
  const a = r.afterlog || {};
  const ts = (raw.match(/"ts":(\d+)/) || [])[1] || "0";
  const e = document.createElement("div");
  e.className = "line " + (r.stream || "stdout") + (a.event ? " event" : "");
  e.dataset.ts = ts;
  const t = document.createElement("span");
  t.className = "ts";
  t.textContent = rfc3339(ts);
  const s = document.createElement("span");
  s.className = "src";
  s.textContent = (a.pod || "") + "/" + (a.container || "");
  s.title = a.container_id || "";
  const m = document.createElement("span");
  m.className = "msg";
  m.textContent = r.log;
  e.append(t, s, m);
  return e;
}

async function readLog(v) {
  stopLog();
  const ctl = new AbortController();
  current = ctl;
  const log = $("log");
  log.replaceChildren();
  log.classList.toggle("wrap", $("wrap").checked);
  const query = { format: "ndjson" };
  for (const k of FILTERS) query[k] = v[k];
  if (!query.tail) query.tail = "1000";
  if (v.follow === "1") query.follow = "true";
  $("status").textContent = v.follow === "1" ? "Following…" : "Loading…";
  let count = 0;
  try {
    const resp = await fetch(apiUrl([v.tool, "jobs", v.job, "logs"], query),
      { headers: headers(), signal: ctl.signal });
    if (!resp.ok) throw new Error(await failure(resp));
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += decoder.decode(value, { stream: true });
      const parts = pending.split("\n");
      pending = parts.pop();
      const frag = document.createDocumentFragment();
      for (const raw of parts) {
        if (!raw.trim()) continue; // heartbeat
        const e = lineOf(raw);
        if (e) { frag.append(e); count++; }
      }
      const atEnd = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
      log.append(frag);
      if (v.follow === "1" && atEnd) window.scrollTo(0, document.body.scrollHeight);
      $("status").textContent = count + (count === 1 ? " line" : " lines") +
        (v.follow === "1" ? ", following" : "");
    }
    if (current === ctl) {
      $("status").textContent = count + (count === 1 ? " line" : " lines") +
        (v.follow === "1" ? "; the server ended the stream, reload to follow again" : "");
    }
  } catch (e) {
    if (ctl.signal.aborted) return;
    $("status").textContent = count + " lines";
    banner(e.message);
  }
}

// ---------------------------------------------------------------- controls

function fromControls() {
  const v = readView();
  for (const k of FILTERS) v[k] = $(k).value.trim();
  if (v.tail === "1000") v.tail = "";
  v.follow = $("follow").checked ? "1" : "";
  return v;
}

window.addEventListener("hashchange", render);
window.addEventListener("DOMContentLoaded", () => {
  $("tool-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    jobsOf = null;
    setView({ tool: $("tool").value.trim() }, true);
  });
  $("token-button").addEventListener("click", () => {
    $("token-form").hidden = !$("token-form").hidden;
  });
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    $("token").value = "";
    $("token-form").hidden = true;
    jobsOf = null;
    render();
  });
  for (const k of [...FILTERS, "follow"]) {
    $(k).addEventListener("change", () => setView(fromControls(), false));
  }
  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); setView(fromControls(), false); });
  $("wrap").addEventListener("change", () => $("log").classList.toggle("wrap", $("wrap").checked));
  render();
});
