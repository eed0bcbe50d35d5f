// The afterlog web page: a small client of the JSON API (no build step, no
// library). The whole view lives in the URL's fragment (#tool=…&job=…&grep=…
// &line=…), so a link reproduces it and back/forward walk through views.
// Log text is only ever set as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
// Relative to the page, so a gateway may serve it under a path prefix.
const base = new URL(".", location.href);
const TOKEN_KEY = "afterlog-token";
// The filters of the job view, each a control of the same id.
const FILTERS = ["run", "container", "stream", "events", "since", "until", "tail"];
// The pseudo-container Kubernetes events are stored under (docs/design.md §13).
const EVENTS = "@events";
const SEARCH = ["grep", "regex", "ignore_case", "context"];
// Every key of the view, in the order a link shows them.
const KEYS = ["tool", "job", "view", ...FILTERS, "follow", ...SEARCH, "line"];
const MINUTE_NS = 60000000000n;

let current = null; // AbortController of the log being read
let loadedKey = null; // what the lines on the page were read for
let matches = []; // the elements n/N walk through
let matchAt = -1;

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
  for (const k of KEYS) v[k] = p.get(k) || "";
  return v;
}

function viewHash(v) {
  const p = new URLSearchParams();
  for (const k of KEYS) if (v[k]) p.set(k, v[k]);
  return "#" + p.toString();
}

function setView(v, push) {
  const h = viewHash(v);
  if (h === location.hash || (h === "#" && !location.hash)) return render();
  if (push) location.hash = h; // hashchange renders
  else { history.replaceState(null, "", h); render(); }
}

const searching = (v) => Boolean(v.grep || v.regex);

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
  const e = new Error(text);
  e.status = resp.status;
  return e;
}

async function getJson(url, signal) {
  const resp = await fetch(url, { headers: headers(), signal });
  if (!resp.ok) throw await failure(resp);
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

// RFC 3339 (UTC, any fraction) → ns since the epoch, exactly (JSON numbers
// of ns lose their last digits in a double).
function nsOf(t) {
  const m = t.match(/^(.*?)(?:\.(\d+))?Z$/);
  const secs = BigInt(Date.parse(m[1] + "Z")) / 1000n;
  return secs * 1000000000n + BigInt((m[2] || "").padEnd(9, "0").slice(0, 9));
}

// RFC 3339 (any fraction) → ms since the epoch.
function ms(t) { return Date.parse(t.replace(/(\.\d{3})\d+/, "$1")); }

function isoMs(m) { return new Date(m).toISOString().replace(".000Z", "Z"); }

function short(m, withDay) {
  const s = new Date(m).toISOString();
  return (withDay ? s.slice(5, 10) + " " : "") + s.slice(11, 16);
}

// ------------------------------------------------------------- the matcher

function escapeRe(s) { return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"); }

// The page's own copy of the server's filter, to mark what matched. A regex
// in Rust's syntax that JavaScript does not take is not marked, only shown.
function matcher(v) {
  if (!searching(v)) return null;
  let flags = "g" + (v.ignore_case === "1" ? "i" : "");
  let source = v.regex ? v.regex : escapeRe(v.grep);
  const inline = source.match(/^\(\?([a-z]+)\)/);
  if (inline) {
    source = source.slice(inline[0].length);
    if (inline[1].includes("i") && !flags.includes("i")) flags += "i";
  }
  for (const f of [flags + "u", flags]) {
    try { return new RegExp(source, f); } catch (_) { /* try without u */ }
  }
  return undefined;
}

function ranges(re, text) {
  const out = [];
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m[0].length === 0) { re.lastIndex++; continue; }
    out.push([m.index, m.index + m[0].length]);
  }
  return out;
}

// `text` into `into`, the parts `re` matches in <mark>s. Returns how many.
function marked(into, text, re) {
  if (!re) { into.textContent = text; return 0; }
  const rs = ranges(re, text);
  let at = 0;
  for (const [a, b] of rs) {
    if (a > at) into.append(text.slice(at, a));
    const m = document.createElement("mark");
    m.textContent = text.slice(a, b);
    into.append(m);
    at = b;
  }
  if (at < text.length) into.append(text.slice(at));
  return rs.length;
}

const ERROR_WORDS = /\b(error|fatal|panic|critical|traceback)\b/i;
const WARN_WORDS = /\b(warn|warning)\b/i;

// A Kubernetes event's classes: its own colour, a warning's apart.
function k8sClass(ev) {
  return "k8s-event " + (ev && ev.type === "Warning" ? "k8s-warning" : "k8s-normal");
}

function level(text) {
  if (ERROR_WORDS.test(text)) return " lvl-error";
  if (WARN_WORDS.test(text)) return " lvl-warn";
  return "";
}

// ------------------------------------------------------------------- render

async function render() {
  const v = readView();
  $("tool").value = v.tool;
  banner("");
  toControls(v);
  if (!v.tool) {
    $("jobs").replaceChildren(li("Pick a tool.", "empty"));
    $("job").hidden = true;
    $("results").hidden = true;
    $("search").hidden = true;
    stopLog();
    return;
  }
  $("search").hidden = false;
  $("find").hidden = !v.job || v.view === "search";
  // The tool-wide search shows matches without their neighbours.
  $("context-label").hidden = v.view === "search";
  await renderJobs(v);
  if (v.view === "search") {
    $("job").hidden = true;
    stopLog();
    await renderResults(v);
  } else if (v.job) {
    $("results").hidden = true;
    await renderJob(v);
  } else {
    $("job").hidden = true;
    $("results").hidden = true;
    stopLog();
  }
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
  for (const e of $("jobs").children) {
    const on = e.dataset.job === job;
    e.classList.toggle("selected", on);
    const a = e.querySelector("a");
    if (a) { if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current"); }
  }
}

function options(select, values, all) {
  const keep = select.value;
  const opts = [new Option(all, "")];
  for (const [value, label] of values) opts.push(new Option(label, value));
  select.replaceChildren(...opts);
  select.value = keep;
}

// The job's runs as the API pages them: oldest first, older pages prepended.
let runsOf = null; // {key, detail, runs, next}

async function loadRuns(v) {
  const key = v.tool + "/" + v.job;
  if (runsOf && runsOf.key === key) return runsOf;
  const body = await getJson(apiUrl([v.tool, "jobs", v.job]));
  runsOf = { key, detail: body.job, runs: body.job.runs, next: body.next_cursor || null };
  return runsOf;
}

async function olderRuns() {
  const v = readView();
  if (!runsOf || !runsOf.next) return;
  try {
    const body = await getJson(apiUrl([v.tool, "jobs", v.job], { cursor: runsOf.next }));
    runsOf.runs = [...body.job.runs, ...runsOf.runs];
    runsOf.next = body.next_cursor || null;
  } catch (e) { banner(e.message); return; }
  renderTimeline(v);
  const first = $("timeline").querySelector(".run");
  if (first) first.focus();
}

async function renderJob(v) {
  $("job").hidden = false;
  $("job-title").textContent = v.job;
  let runs;
  try {
    runs = await loadRuns(v);
  } catch (e) {
    runsOf = null;
    $("job-meta").textContent = "";
    $("timeline-box").hidden = true;
    $("volume-box").hidden = true;
    stopLog();
    loadedKey = null;
    $("log").replaceChildren();
    banner(e.message);
    return;
  }
  const d = runs.detail;
  const n = runs.runs.length;
  $("job-meta").textContent = [d.kind, d.status,
    n + (runs.next ? "+" : "") + (n === 1 ? " run" : " runs")].filter(Boolean).join(" · ");
  const opts = [["latest", "latest run"]];
  const containers = new Set();
  for (const r of runs.runs) {
    opts.push([r.pod, r.pod + (r.first_time ? " (" + r.first_time.slice(0, 19).replace("T", " ") + ")" : "")]);
    for (const c of r.containers) containers.add(c.name);
  }
  if (v.run && v.run !== "latest" && !runs.runs.some((r) => r.pod === v.run)) opts.push([v.run, v.run]);
  options($("run"), opts, "all runs");
  options($("container"), [...containers].sort().map((c) => [c, c]), "all containers");
  toControls(v);
  renderTimeline(v);
  renderVolume(v);
  const share = { ...v, line: "" };
  $("share").href = viewHash(share);
  const key = logKey(v);
  if (key === loadedKey && !(v.follow === "1" && !current)) markLine(v.line, true);
  else readLog(v);
}

// ---------------------------------------------------------------- timeline

// Pods named `@…` (pushed lines, a job's own Kubernetes events) hold lines
// of the job but are no run of it (docs/design.md §11, §13).
function isRun(r) { return !r.pod.startsWith("@"); }

function selectedRun(v) {
  if (!runsOf || !v.run) return null;
  if (v.run === "latest") return runsOf.runs.filter(isRun).pop() || null;
  return runsOf.runs.find((r) => r.pod === v.run) || null;
}

function pickRun(pod) {
  const v = readView();
  setView({ ...v, run: pod, since: "", until: "", line: "" }, true);
}

// The runs along a time axis: each a button where it started, as wide as it
// lasted, never narrower than its label nor on top of the one before.
function renderTimeline(v) {
  const box = $("timeline-box");
  const runs = (runsOf ? runsOf.runs : []).filter((r) => r.first_time && isRun(r));
  box.hidden = runs.length === 0;
  if (!runs.length) return;
  const track = $("timeline");
  const t0 = ms(runs[0].first_time);
  const t1 = Math.max(...runs.map((r) => ms(r.last_time || r.first_time)), t0 + 1);
  const sel = selectedRun(v);
  const manyDays = new Date(t0).toISOString().slice(0, 10) !== new Date(t1).toISOString().slice(0, 10);
  const items = [];
  if (runsOf.next) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "older";
    b.textContent = "← older";
    b.title = "Load older runs";
    b.addEventListener("click", olderRuns);
    items.push(b);
  }
  const all = document.createElement("button");
  all.type = "button";
  all.className = "all";
  all.textContent = "all runs";
  all.setAttribute("aria-pressed", String(!v.run));
  all.addEventListener("click", () => pickRun(""));
  items.push(all);
  const lane = document.createElement("div");
  lane.className = "lane";
  items.push(lane);
  track.replaceChildren(...items);
  // The room the buttons before it leave.
  const width = Math.max(lane.clientWidth - 2, 200);
  // Labelled bars while they fit in two rows' worth, else thin ones.
  const minw = runs.length * 96 <= width * 2 ? 92 : Math.max(8, width / runs.length - 2);
  const scale = (width - minw) / (t1 - t0);
  // Runs at the same time (replicas, overlapping cron runs) go on separate
  // rows: each row's right end in px.
  const rows = [];
  for (const r of runs) {
    const a = ms(r.first_time);
    const b = ms(r.last_time || r.first_time);
    const left = (a - t0) * scale;
    const w = Math.min(Math.max((b - a) * scale, minw), width - left);
    let row = rows.findIndex((end) => end + 3 <= left);
    if (row < 0) { row = rows.length; rows.push(0); }
    rows[row] = left + w;
    const e = document.createElement("button");
    e.type = "button";
    e.className = "run " + (r.status || "");
    e.dataset.run = r.pod;
    e.style.left = left + "px";
    e.style.width = w + "px";
    e.style.top = row * 26 + "px";
    // Replicas start together: the pod's suffix tells them apart.
    if (minw >= 60) e.textContent = short(a, manyDays) + (w >= 160 ? " · " + r.pod.split("-").pop() : "");
    const secs = Math.round((b - a) / 1000);
    e.title = r.pod + "\n" + r.first_time + " – " + (r.last_time || "") + " (" + secs + " s)";
    e.setAttribute("aria-label", "Run " + r.pod + ", started " + r.first_time + ", " + secs + " s");
    e.setAttribute("aria-pressed", String(sel !== null && sel.pod === r.pod));
    e.addEventListener("click", () => pickRun(r.pod));
    lane.append(e);
  }
  lane.style.height = rows.length * 26 + 2 + "px";
  const pressed = lane.querySelector('[aria-pressed="true"]');
  if (pressed) pressed.scrollIntoView({ block: "nearest", inline: "nearest" });
}

// ← and → walk the runs: the timeline is one stop in the tab order.
function timelineKeys(ev) {
  if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
  const all = [...$("timeline").querySelectorAll("button")];
  const i = all.indexOf(document.activeElement);
  if (i < 0) return;
  const j = Math.min(all.length - 1, Math.max(0, i + (ev.key === "ArrowRight" ? 1 : -1)));
  all[j].focus();
  ev.preventDefault();
}

// ------------------------------------------------------------------ volume

let volume = null; // {key, body, sel: [a, b] bucket indexes or null}
let volumeAbort = null;

function volumeWindow(v) {
  if (v.since || v.until) return { since: v.since, until: v.until };
  const r = selectedRun(v);
  if (r && r.first_time) {
    // One step past the run's last line, so its last bucket is whole.
    return { since: r.first_time, until: isoMs(ms(r.last_time || r.first_time) + 60000) };
  }
  return {};
}

async function renderVolume(v) {
  const w = volumeWindow(v);
  w.events = v.events;
  const key = [v.tool, v.job, w.since, w.until, w.events].join("\u0000");
  if (volume && volume.key === key) { drawVolume(); return; }
  if (volumeAbort) volumeAbort.abort();
  const ctl = new AbortController();
  volumeAbort = ctl;
  $("zoom-out").hidden = !(v.since || v.until);
  let body;
  try {
    body = await getJson(apiUrl([v.tool, "jobs", v.job, "volume"], w), ctl.signal);
  } catch (e) {
    if (ctl.signal.aborted) return;
    // A server without /volume (or a window it cannot bucket): the page
    // does without the histogram; the lines do not depend on it.
    volume = null;
    $("volume-box").hidden = true;
    return;
  }
  if (volumeAbort !== ctl) return;
  volume = { key, body, sel: null };
  $("volume-box").hidden = !body.buckets || body.buckets.length === 0;
  drawVolume();
}

function colors() {
  const s = getComputedStyle(document.documentElement);
  const c = (n) => s.getPropertyValue(n).trim();
  return { out: c("--bar-out"), err: c("--bar-err"), k8s: c("--bar-k8s"), quota: c("--event"), sel: c("--sel"),
    fg: c("--muted") };
}

function drawVolume() {
  if (!volume) return;
  const cv = $("volume");
  const { body, sel } = volume;
  const bs = body.buckets;
  const dpr = window.devicePixelRatio || 1;
  const cssW = cv.clientWidth || 600;
  const cssH = 90;
  cv.width = Math.round(cssW * dpr);
  cv.height = Math.round(cssH * dpr);
  const g = cv.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, cssW, cssH);
  const col = colors();
  const top = 12;
  const h = cssH - top - 2;
  const bw = cssW / bs.length;
  // Servers before Kubernetes events send no event counts.
  const evs = (b) => b.event_lines || 0;
  const max = Math.max(1, ...bs.map((b) => b.stdout_lines + b.stderr_lines + evs(b)));
  let outs = 0, errs = 0, k8s = 0;
  bs.forEach((b, i) => {
    outs += b.stdout_lines; errs += b.stderr_lines; k8s += evs(b);
    const x = i * bw;
    const w = Math.max(bw - (bw > 3 ? 1 : 0), 0.5);
    const ho = (b.stdout_lines / max) * h;
    const he = (b.stderr_lines / max) * h;
    const hk = (evs(b) / max) * h;
    g.fillStyle = col.out;
    g.fillRect(x, top + h - ho, w, ho);
    g.fillStyle = col.err;
    g.fillRect(x, top + h - ho - he, w, he);
    g.fillStyle = col.k8s;
    g.fillRect(x, top + h - ho - he - hk, w, hk);
  });
  const t0 = ms(bs[0].start);
  const span = bs.length * body.step_seconds * 1000;
  g.fillStyle = col.quota;
  g.strokeStyle = col.quota;
  g.lineWidth = 2;
  for (const q of body.quota_events || []) {
    const x = ((ms(q.time) - t0) / span) * cssW;
    g.beginPath(); g.moveTo(x, top); g.lineTo(x, cssH); g.stroke();
    g.beginPath(); g.moveTo(x - 5, 0); g.lineTo(x + 5, 0); g.lineTo(x, 9); g.closePath(); g.fill();
  }
  if (sel) {
    const [a, b] = [Math.min(...sel), Math.max(...sel)];
    g.fillStyle = col.sel;
    g.fillRect(a * bw, 0, (b - a + 1) * bw, cssH);
  }
  g.fillStyle = col.fg;
  g.font = "10px system-ui, sans-serif";
  g.fillText(max + " lines", 2, 9);
  const quotas = (body.quota_events || []).length;
  const step = body.step_seconds % 3600 === 0 ? body.step_seconds / 3600 + " h" : body.step_seconds / 60 + " min";
  $("volume-range").textContent = short(ms(body.since), true) + " – " + short(ms(body.until), true) +
    " UTC · bars of " + step;
  cv.setAttribute("aria-label", "Lines per " + step + " from " + body.since + " to " + body.until + ": " +
    outs + " stdout, " + errs + " stderr, " + k8s + " Kubernetes event" + (k8s === 1 ? "" : "s") + ", " +
    quotas + " quota event" + (quotas === 1 ? "" : "s"));
  cv.dataset.buckets = String(bs.length);
}

function bucketAt(ev) {
  const cv = $("volume");
  const r = cv.getBoundingClientRect();
  const n = volume.body.buckets.length;
  return Math.min(n - 1, Math.max(0, Math.floor(((ev.clientX - r.left) / r.width) * n)));
}

// The selected buckets become since/until: a new view, so back undoes it.
function applySelection() {
  if (!volume || !volume.sel) return;
  const bs = volume.body.buckets;
  const [a, b] = [Math.min(...volume.sel), Math.max(...volume.sel)];
  const since = isoMs(ms(bs[a].start));
  const until = isoMs(ms(bs[b].start) + volume.body.step_seconds * 1000);
  volume.sel = null;
  setView({ ...readView(), since, until, line: "" }, true);
}

function volumeControls() {
  const cv = $("volume");
  let dragging = false;
  cv.addEventListener("pointerdown", (ev) => {
    if (!volume || ev.button !== 0) return;
    dragging = true;
    cv.setPointerCapture(ev.pointerId);
    const i = bucketAt(ev);
    volume.sel = [i, i];
    drawVolume();
  });
  cv.addEventListener("pointermove", (ev) => {
    if (!dragging || !volume) return;
    volume.sel[1] = bucketAt(ev);
    drawVolume();
  });
  cv.addEventListener("pointerup", (ev) => {
    if (!dragging) return;
    dragging = false;
    volume.sel[1] = bucketAt(ev);
    applySelection();
  });
  cv.addEventListener("keydown", (ev) => {
    if (!volume) return;
    const n = volume.body.buckets.length;
    if (ev.key === "ArrowLeft" || ev.key === "ArrowRight") {
      const d = ev.key === "ArrowRight" ? 1 : -1;
      const s = volume.sel || [0, 0];
      const clamp = (i) => Math.min(n - 1, Math.max(0, i));
      volume.sel = ev.shiftKey ? [s[0], clamp(s[1] + d)] : [clamp(s[1] + d), clamp(s[1] + d)];
      drawVolume();
      ev.preventDefault();
    } else if (ev.key === "Enter" && volume.sel) {
      applySelection();
      ev.preventDefault();
    } else if (ev.key === "Escape" && volume.sel) {
      volume.sel = null;
      drawVolume();
      ev.stopPropagation();
    }
  });
  $("zoom-out").addEventListener("click", () => setView({ ...readView(), since: "", until: "" }, true));
  window.addEventListener("resize", () => { drawVolume(); renderTimeline(readView()); });
}

// --------------------------------------------------------------------- log

function stopLog() {
  if (current) current.abort();
  current = null;
}

// What the lines depend on: the view without the marked line.
function logKey(v) {
  return JSON.stringify(KEYS.filter((k) => k !== "line" && k !== "view").map((k) => v[k]));
}

// A line's anchor: its time and container, the same for the line wherever
// it is shown (job view or search).
function lineKey(ts, container) { return ts + "-" + container; }

function permalink(v, key) {
  return viewHash({ ...v, follow: "", view: "", line: key });
}

function lineOf(raw, v, re) {
  let r;
  try { r = JSON.parse(raw); } catch (_) { return null; }
  if (r.messages) { showMessages(r.messages); return null; }
  if (r.context_break) {
    const e = document.createElement("div");
    e.className = "break";
    e.setAttribute("aria-label", "lines left out");
    e.textContent = "…";
    return e;
  }
  const a = r.afterlog || {};
  const ts = (raw.match(/"ts":(\d+)/) || [])[1] || "0";
  const e = document.createElement("div");
  const text = typeof r.log === "string" ? r.log : "";
  // A quota notice first: one may replace a Kubernetes event.
  e.className = "line " + (a.event ? (r.stream || "stdout") + " event"
    : a.container === EVENTS ? k8sClass(r.k8s_event)
    : (r.stream || "stdout") + level(text));
  e.dataset.ts = ts;
  const key = lineKey(ts, a.container || "");
  e.id = "L" + key;
  e.tabIndex = -1;
  const t = document.createElement("a");
  t.className = "ts";
  t.textContent = rfc3339(ts);
  t.href = permalink(v, key);
  t.title = "Link to this line";
  const s = document.createElement("span");
  s.className = "src";
  s.textContent = (a.pod || "") + "/" + (a.container || "");
  s.title = a.container_id || "";
  const m = document.createElement("span");
  m.className = "msg";
  const hits = marked(m, text, re);
  if (hits) e.classList.add("match");
  else if (re === undefined && searching(v)) e.classList.add("match");
  e.append(t, s, m);
  return e;
}

function setMatches(list, what) {
  matches = list;
  matchAt = -1;
  countText(what);
}

let matchWhat = ["match", "matches"];

function countText(what) {
  if (what !== undefined) matchWhat = what;
  const n = matches.length;
  const v = readView();
  if (!searching(v)) { $("count").textContent = ""; return; }
  $("count").textContent = (matchAt >= 0 ? (matchAt + 1) + " of " : "") + n + " " +
    (n === 1 ? matchWhat[0] : matchWhat[1]);
  $("prev").disabled = $("next").disabled = n === 0;
}

function gotoMatch(d) {
  if (!matches.length) return;
  const old = matches[matchAt];
  if (old) old.classList.remove("current");
  matchAt = matchAt < 0 ? (d > 0 ? 0 : matches.length - 1) : (matchAt + d + matches.length) % matches.length;
  const e = matches[matchAt];
  e.classList.add("current");
  e.scrollIntoView({ block: "center" });
  countText();
}

// The line of the URL's `line=`, scrolled to and marked.
function markLine(key, complain) {
  for (const e of document.querySelectorAll(".target")) e.classList.remove("target");
  if (!key) return true;
  const e = document.getElementById("L" + key);
  if (!e) {
    if (complain) banner("The linked line (" + key + ") is not among the lines shown: widen since/until or raise Last.", "warning");
    return false;
  }
  e.classList.add("target");
  e.scrollIntoView({ block: "center" });
  e.focus({ preventScroll: true });
  return true;
}

async function readLog(v, clientSide) {
  stopLog();
  const ctl = new AbortController();
  current = ctl;
  loadedKey = logKey(v);
  const log = $("log");
  log.replaceChildren();
  log.classList.toggle("wrap", $("wrap").checked);
  const re = matcher(v);
  setMatches([], ["matching line", "matching lines"]);
  const query = { format: "ndjson" };
  for (const k of FILTERS) query[k] = v[k];
  if (!query.tail) query.tail = "1000";
  if (v.follow === "1") query.follow = "true";
  if (!clientSide) {
    query.grep = v.grep;
    query.regex = v.regex;
    if (searching(v)) {
      query.ignore_case = v.ignore_case === "1" ? "true" : "";
      query.context = v.context;
    }
  }
  $("status").textContent = v.follow === "1" ? "Following…" : "Loading…";
  let count = 0;
  let lineFound = !v.line;
  const status = (tail) => {
    $("status").textContent = count + (count === 1 ? " line" : " lines") +
      (clientSide ? " (searched by the page)" : "") + tail;
  };
  try {
    const resp = await fetch(apiUrl([v.tool, "jobs", v.job, "logs"], query),
      { headers: headers(), signal: ctl.signal });
    if (!resp.ok) {
      const e = await failure(resp);
      // A server without line filters refuses the parameters: the page
      // searches the lines it reads itself.
      if (resp.status === 400 && searching(v) && !clientSide
        && /unknown field `(grep|regex|ignore_case|context)`/.test(e.message)) {
        if (current === ctl) return readLog(v, true);
      }
      throw e;
    }
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
        const e = lineOf(raw, v, re);
        if (!e) continue;
        if (clientSide && re && !e.classList.contains("match")) continue;
        frag.append(e);
        if (e.classList.contains("line")) count++;
      }
      const atEnd = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
      log.append(frag);
      if (searching(v)) {
        matches = [...log.querySelectorAll(".line.match")];
        countText();
      }
      if (!lineFound) lineFound = markLine(v.line, false);
      else if (v.follow === "1" && atEnd && !v.line) window.scrollTo(0, document.body.scrollHeight);
      status(v.follow === "1" ? ", following" : "");
    }
    if (current === ctl) {
      status(v.follow === "1" ? "; the server ended the stream, reload to follow again" : "");
      if (!lineFound) markLine(v.line, true);
    }
  } catch (e) {
    if (ctl.signal.aborted) return;
    status("");
    banner(e.message);
  }
}

// ------------------------------------------------------------------ search

let resultsCursor = null;

async function renderResults(v, more) {
  $("results").hidden = false;
  const what = v.grep ? "“" + v.grep + "”" : "/" + v.regex + "/";
  $("results-title").textContent = searching(v) ? "Search all jobs of " + v.tool + " for " + what : "Search all jobs";
  if (!more) { $("matches").replaceChildren(); resultsCursor = null; setMatches([], ["match", "matches"]); }
  $("more").hidden = true;
  if (!searching(v)) {
    $("results-status").textContent = "Type what to look for above.";
    return;
  }
  $("results-status").textContent = "Searching…";
  const query = {
    grep: v.grep, regex: v.regex, ignore_case: v.ignore_case === "1" ? "true" : "",
    since: v.since, until: v.until, job: v.job, events: v.events, limit: "100",
    cursor: more ? resultsCursor : "",
  };
  let body;
  try {
    body = await getJson(apiUrl([v.tool, "search"], query));
  } catch (e) {
    $("results-status").textContent = e.status === 404
      ? "This server has no tool-wide search yet (404)." : "Search failed.";
    if (e.status !== 404) banner(e.message);
    return;
  }
  const re = matcher(v);
  const items = body.matches.map((m) => {
    const e = document.createElement("li");
    e.className = "hit line " + (m.container === EVENTS ? k8sClass(m.k8s_event)
      : (m.stream || "stdout") + level(m.log)) + " match";
    e.tabIndex = -1;
    const ts = nsOf(m.time);
    const target = {
      tool: v.tool, job: m.job, run: m.run,
      since: rfc3339(ts - 10n * MINUTE_NS), until: rfc3339(ts + 10n * MINUTE_NS),
      line: lineKey(String(ts), m.container),
    };
    const a = document.createElement("a");
    a.className = "ts";
    a.href = viewHash(target);
    a.textContent = m.time;
    a.title = "Show this line among its neighbours";
    const s = document.createElement("span");
    s.className = "src";
    s.textContent = m.job + " · " + m.run + "/" + m.container;
    const msg = document.createElement("span");
    msg.className = "msg";
    marked(msg, m.log, re);
    e.append(a, s, msg);
    return e;
  });
  $("matches").append(...items);
  resultsCursor = body.next_cursor || null;
  $("more").hidden = !resultsCursor;
  const n = $("matches").children.length;
  $("results-status").textContent = n + (n === 1 ? " match" : " matches") +
    (resultsCursor ? " so far, newest first" : ", newest first");
  matches = [...$("matches").children];
  countText(["match", "matches"]);
}

// ---------------------------------------------------------------- controls

function toControls(v) {
  for (const k of FILTERS) if (k !== "tail" || v[k]) $(k).value = v[k];
  if (!v.tail) $("tail").value = "1000";
  $("follow").checked = v.follow === "1";
  $("q").value = v.regex || v.grep;
  $("regex").checked = Boolean(v.regex);
  $("ignore_case").checked = v.ignore_case === "1";
  $("context").value = v.context;
}

function fromControls() {
  const v = readView();
  for (const k of FILTERS) v[k] = $(k).value.trim();
  if (v.tail === "1000") v.tail = "";
  v.follow = $("follow").checked ? "1" : "";
  const q = $("q").value;
  v.grep = $("regex").checked ? "" : q;
  v.regex = $("regex").checked ? q : "";
  v.ignore_case = $("ignore_case").checked ? "1" : "";
  v.context = $("context").value.trim() === "0" ? "" : $("context").value.trim();
  v.line = "";
  return v;
}

function clearSearch() {
  const v = readView();
  $("q").value = "";
  setView({ ...v, grep: "", regex: "", context: "", line: "" }, true);
}

const typing = (e) => e && (e.isContentEditable || /^(INPUT|SELECT|TEXTAREA)$/.test(e.tagName)) &&
  !["checkbox", "radio", "button", "submit"].includes(e.type);

function keys(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const inField = typing(ev.target);
  if (ev.key === "Escape") {
    if (ev.target === $("q") || searching(readView())) { clearSearch(); ev.target.blur && ev.target.blur(); }
    else markLine("");
    return;
  }
  if (inField) return;
  if (ev.key === "/") { ev.preventDefault(); $("q").focus(); $("q").select(); }
  else if (ev.key === "n") { ev.preventDefault(); gotoMatch(1); }
  else if (ev.key === "N") { ev.preventDefault(); gotoMatch(-1); }
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
    runsOf = null;
    volume = null;
    loadedKey = null;
    render();
  });
  for (const k of [...FILTERS, "follow"]) {
    $(k).addEventListener("change", () => setView(fromControls(), false));
  }
  $("filters").addEventListener("submit", (ev) => { ev.preventDefault(); setView(fromControls(), false); });
  $("wrap").addEventListener("change", () => $("log").classList.toggle("wrap", $("wrap").checked));
  $("search").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = fromControls();
    // Out of the box, so that n/N step through the matches.
    $(v.job ? "log" : "matches").focus({ preventScroll: true });
    setView({ ...v, view: v.job ? "" : "search" }, true);
  });
  $("search-all").addEventListener("click", () => {
    const v = fromControls();
    setView({ tool: v.tool, view: "search", grep: v.grep, regex: v.regex, ignore_case: v.ignore_case,
      since: v.since, until: v.until, events: v.events }, true);
  });
  $("prev").addEventListener("click", () => gotoMatch(-1));
  $("next").addEventListener("click", () => gotoMatch(1));
  $("more").addEventListener("click", () => renderResults(readView(), true));
  $("timeline").addEventListener("keydown", timelineKeys);
  document.addEventListener("keydown", keys);
  volumeControls();
  render();
});
