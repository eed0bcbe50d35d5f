-- afterlog's labelling and per-tool byte quota written as a Fluent Bit Lua
-- filter, to compare the wasm filter against what one would write without
-- it. It follows the filter's *default* rules (contract/src/rules.rs):
--
--   tool: label afterlog.io/tool, else namespace ^tool-(.+)$, else a build
--         pod's tekton.dev/pipelineRun ^(.+)-buildpacks-pipelinerun-<id>$
--   job:  afterlog.io/job; "build" for tekton pods; app.kubernetes.io/name;
--         job-name (or batch.kubernetes.io/job-name) minus a -<8+ digits>
--         cron suffix; else the pod name minus CronJob / ReplicaSet / Job
--         generated suffixes; else the pod name
--   kind: afterlog.io/kind; app.kubernetes.io/component mapped; webservice;
--         build; cronjob; job; continuous (pod-template-hash); other
--
-- and writes the filter's output shape: stream, log (cut at 16 KiB on a
-- UTF-8 boundary with the "…[truncated N bytes]" marker), off, ts and
-- afterlog{tool, job, kind, namespace, pod, container, container_id, node,
-- route}. Each tool has a byte budget per aligned window; the first record
-- over it becomes a quota_exceeded marker, the rest are dropped, and the
-- first admitted record of a later window carries a drop summary.
--
-- Differences, all in Lua's favour: `ts` is a double (Lua numbers), so it is
-- exact only to ~256 ns; the budget charges an estimate of the output size;
-- the state is not checkpointed to disk.
--
-- Use with `time_as_table: on` and `call: afterlog`.

local QUOTA_BYTES = tonumber(os.getenv("AFTERLOG_LUA_QUOTA_BYTES") or "") or 100 * 1024 * 1024
local WINDOW_SECONDS = tonumber(os.getenv("AFTERLOG_LUA_WINDOW_SECONDS") or "") or 3600
local LINE_LIMIT = 16 * 1024
local LABELS_OVERHEAD = 160 -- bytes of the output record besides log and labels

-- Kubernetes' generated-name alphabet (no vowels, no 0/1/3).
local GEN = "[bcdfghjklmnpqrstvwxz2456789]"
local GEN5 = string.rep(GEN, 5)
local DIGITS8 = string.rep("%d", 8) .. "%d*"
local CRON_RUN = "^(.+)%-" .. DIGITS8 .. "$"
local POD_PATTERNS = { "^(.+)%-" .. DIGITS8 .. "%-" .. GEN5 .. "$" }
for n = 6, 10 do
  POD_PATTERNS[#POD_PATTERNS + 1] = "^(.+)%-" .. string.rep(GEN, n) .. "%-" .. GEN5 .. "$"
end
POD_PATTERNS[#POD_PATTERNS + 1] = "^(.+)%-" .. GEN5 .. "$"
POD_PATTERNS[#POD_PATTERNS + 1] = "^(.+)%-%d+$"

local COMPONENT_KIND = {
  jobs = "job", cronjobs = "cronjob", deployments = "continuous",
  web = "webservice", webservice = "webservice",
}

local function encode(part)
  return (string.gsub(part, "[^a-z0-9%-]", function(c)
    return string.format("_%02x", string.byte(c))
  end))
end

local function derive_tool(ns, labels)
  local t = labels["afterlog.io/tool"]
  if t then return t end
  t = string.match(ns, "^tool%-(.+)$")
  if t then return t end
  local run = labels["tekton.dev/pipelineRun"]
  if run then
    return string.match(run, "^(.+)%-buildpacks%-pipelinerun%-[a-z0-9]+$")
  end
  return nil
end

local function derive_job(pod, labels)
  local j = labels["afterlog.io/job"]
  if j then return j end
  if labels["tekton.dev/pipelineRun"] then return "build" end
  j = labels["app.kubernetes.io/name"]
  if j then return j end
  for _, key in ipairs({ "job-name", "batch.kubernetes.io/job-name" }) do
    local v = labels[key]
    if v then return string.match(v, CRON_RUN) or v end
  end
  for _, p in ipairs(POD_PATTERNS) do
    j = string.match(pod, p)
    if j then return j end
  end
  return pod
end

local function derive_kind(labels)
  local k = labels["afterlog.io/kind"]
  if k then return k end
  k = COMPONENT_KIND[labels["app.kubernetes.io/component"] or ""]
  if k then return k end
  if labels["app.kubernetes.io/managed-by"] == "webservice" then return "webservice" end
  if labels["tekton.dev/pipelineRun"] then return "build" end
  for _, key in ipairs({ "job-name", "batch.kubernetes.io/job-name" }) do
    local v = labels[key]
    if v and string.match(v, CRON_RUN) then return "cronjob" end
  end
  if labels["job-name"] or labels["batch.kubernetes.io/job-name"] then return "job" end
  if labels["pod-template-hash"] then return "continuous" end
  return "other"
end

-- Derived labels per container, keyed by docker_id (the wasm filter caches
-- by the kubernetes map too). false = not a tool.
local cache = {}

local function labels_of(k8s)
  local key = k8s["docker_id"] or ((k8s["pod_name"] or "") .. "/" .. (k8s["container_name"] or ""))
  local d = cache[key]
  if d ~= nil then return d end
  local labels = k8s["labels"] or {}
  local ns = k8s["namespace_name"] or ""
  local pod = k8s["pod_name"] or ""
  local container = k8s["container_name"] or ""
  local tool = derive_tool(ns, labels)
  if not tool then
    cache[key] = false
    return false
  end
  local job = derive_job(pod, labels)
  d = {
    tool = tool,
    job = job,
    kind = derive_kind(labels),
    namespace = ns,
    pod = pod,
    container = container,
    container_id = k8s["docker_id"] or "",
    node = k8s["host"] or "",
    route = encode(tool) .. "." .. encode(job) .. "." .. encode(pod) .. "." .. encode(container),
  }
  d.size = #d.tool + #d.job + #d.kind + #d.namespace + #d.pod + #d.container
      + #d.container_id + #d.node + #d.route + LABELS_OVERHEAD
  cache[key] = d
  return d
end

local function copy_labels(d)
  return {
    tool = d.tool, job = d.job, kind = d.kind, namespace = d.namespace, pod = d.pod,
    container = d.container, container_id = d.container_id, node = d.node, route = d.route,
  }
end

local function cut(log)
  if #log <= LINE_LIMIT then return log end
  local n = LINE_LIMIT
  -- Step back over UTF-8 continuation bytes so a character is never split.
  while n > 0 do
    local b = string.byte(log, n + 1)
    if b == nil or b < 0x80 or b >= 0xC0 then break end
    n = n - 1
  end
  return string.sub(log, 1, n) .. "\226\128\166[truncated " .. (#log - n) .. " bytes]"
end

-- tool -> { window = start second, used = bytes, marked = bool,
--           dropped = records, dropped_bytes, from, till }
local quotas = {}

function afterlog(tag, timestamp, record)
  local k8s = record["kubernetes"]
  if type(k8s) ~= "table" then return 0, timestamp, record end
  local d = labels_of(k8s)
  if not d then return 0, timestamp, record end

  local sec, nsec = timestamp["sec"], timestamp["nsec"]
  local ts = sec * 1e9 + nsec
  local log = cut(record["log"] or "")
  local size = #log + d.size

  local window = sec - sec % WINDOW_SECONDS
  local q = quotas[d.tool]
  if q == nil or q.window ~= window then
    local old = q
    q = { window = window, used = 0, marked = false, dropped = 0, dropped_bytes = 0 }
    if old and old.dropped > 0 then
      q.summary = old
    end
    quotas[d.tool] = q
  end

  local a = copy_labels(d)
  local out = { stream = record["stream"], off = record["off"], ts = ts, afterlog = a }
  if q.used + size > QUOTA_BYTES then
    q.dropped = q.dropped + 1
    q.dropped_bytes = q.dropped_bytes + size
    q.from = q.from or ts
    q.till = ts
    if q.marked then return -1, timestamp, record end
    q.marked = true
    out.log = "[afterlog] tool " .. d.tool .. " reached its log quota of " .. QUOTA_BYTES
        .. " bytes per " .. WINDOW_SECONDS .. " s"
    a.event = "quota_exceeded"
    a.limit_bytes = QUOTA_BYTES
    a.window_seconds = WINDOW_SECONDS
    a.resets_at = (window + WINDOW_SECONDS) * 1e9
    return 2, timestamp, out
  end
  q.used = q.used + size
  out.log = log
  if q.summary then
    local s = q.summary
    q.summary = nil
    a.event = "quota_dropped"
    a.dropped_records = s.dropped
    a.dropped_bytes = s.dropped_bytes
    a.dropped_from = s.from
    a.dropped_until = s.till
  end
  return 2, timestamp, out
end
