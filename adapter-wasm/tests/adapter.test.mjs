// The JavaScript adapter in Node, against the real service: every job of
// the fixture store (written by the real Fluent Bit and `afterlog compact`,
// see fixtures/README.md) is read through the adapter and compared line for
// line with what `afterlog serve` returns for the same job, selection and
// store — and bad input must come back as thrown Errors, never a crash.
//
// Run by scripts/test-adapter, which builds what this needs:
//   AFTERLOG_ADAPTER_PKG  the Node package (default target/adapter-pkg/node)
//   AFTERLOG_BIN          the afterlog binary (default target/ci/afterlog)

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const PKG = process.env.AFTERLOG_ADAPTER_PKG ?? path.join(root, "target/adapter-pkg/node");
const BIN = process.env.AFTERLOG_BIN ?? path.join(root, "target/ci/afterlog");
const FIXTURES = path.join(here, "fixtures/store");
const TOOL = "foo";
const JOBS = ["web", "my.job", "mycron"];

const a = createRequire(import.meta.url)(PKG);

// ------------------------------------------------------------ the store

/** Every file under `dir`, as store keys (relative, with `/`). */
function keysUnder(dir, prefix = "") {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const key = prefix + e.name;
    if (e.isDirectory()) out.push(...keysUnder(path.join(dir, e.name), key + "/"));
    else out.push(key);
  }
  return out.sort();
}

/** A job's objects in `store` as a client would list them. */
function jobObjects(store, job) {
  const all = keysUnder(store);
  const under = (top) => all.filter((k) => k.startsWith(a.jobPrefix(top, TOOL, job)));
  const read = (k) => new Uint8Array(fs.readFileSync(path.join(store, k)));
  return {
    raw: under("raw").map((key) => ({ key, bytes: read(key) })),
    data: under("data").map((key) => ({ key, bytes: read(key) })),
    metas: under("meta").map((key) => a.parseMeta(read(key))),
  };
}

/** The raw objects the service reads: those no meta lists as consumed. */
function unconsumed(objs) {
  const consumed = new Set(objs.metas.flatMap((m) => m.consumed));
  return objs.raw.filter((o) => !consumed.has(o.key));
}

/** Merges objects (whole) with `options`, pushed in the given order. */
function mergeWhole(objects, options) {
  const m = new a.Merger(options);
  for (const o of objects) m.pushObject(o.key, o.bytes);
  m.finish();
  const out = m.pullNdjson();
  assert.ok(m.done);
  assert.deepEqual(m.takeWarnings(), []);
  return out;
}

/** A seeded shuffle (xorshift), so a failure can be replayed. */
function shuffled(items, seed) {
  const v = [...items];
  let s = seed >>> 0 || 1;
  for (let i = v.length - 1; i > 0; i--) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const j = s % (i + 1);
    [v[i], v[j]] = [v[j], v[i]];
  }
  return v;
}

// ---------------------------------------------------------- the service

/** `afterlog serve` over a copy of `store` on 127.0.0.1. */
async function startService(store) {
  const proc = spawn(
    BIN,
    ["serve", "--store", `file://${store}`, "--listen", "127.0.0.1:0",
      "--insecure-no-auth", "--compact-every-minutes", "0"],
    { env: { ...process.env, NO_COLOR: "1", RUST_LOG: "info" }, stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  const addr = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`afterlog serve did not start: ${err}`)), 30_000);
    proc.stderr.on("data", (d) => {
      err += d;
      const m = /addr=([0-9.]+:[0-9]+)/.exec(err.replace(/\x1b\[[0-9;]*m/g, ""));
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`afterlog serve exited (${code}): ${err}`));
    });
  });
  return {
    async logs(job, query) {
      const url = `http://${addr}/v1/tool/${TOOL}/jobs/${encodeURIComponent(job)}/logs?${query}`;
      const r = await fetch(url);
      const body = await r.text();
      assert.equal(r.status, 200, `${url}: ${body}`);
      return body;
    },
    ndjson(job, query = "") {
      return this.logs(job, `format=ndjson${query}`);
    },
    async json(p) {
      const r = await fetch(`http://${addr}${p}`);
      assert.equal(r.status, 200);
      return r.json();
    },
    stop() {
      proc.removeAllListeners("exit");
      proc.kill();
    },
  };
}

/** A temporary copy of the fixture store (the service must not touch it). */
function copyOfFixtures() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "afterlog-adapter-"));
  fs.cpSync(FIXTURES, dir, { recursive: true });
  return dir;
}

let store, svc;
const served = {};

before(async () => {
  store = copyOfFixtures();
  svc = await startService(store);
  for (const job of JOBS) {
    served[job] = await svc.ndjson(job);
    // A clean read: no final {"messages": …} line of warnings.
    assert.ok(!served[job].includes('"messages"'), served[job]);
    assert.ok(served[job].split("\n").length > 5, `${job}: ${served[job]}`);
  }
});

after(() => {
  svc?.stop();
  if (store) fs.rmSync(store, { recursive: true, force: true });
});

// ---------------------------------------------------------------- tests

test("the fixture store has what the tests are for", () => {
  const objs = jobObjects(FIXTURES, "web");
  const texts = objs.raw.map((o) => zlib.gunzipSync(o.bytes).toString());
  assert.ok(texts.some((t) => t.includes('"\\u0001nf"')), "NF1 (msgpack mode) raw objects");
  assert.ok(texts.some((t) => !t.includes('"\\u0001nf"')), "JSON mode raw objects");
  assert.ok(objs.data.length > 0 && objs.metas.some((m) => m.consumed.length > 0), "a compaction");
  assert.ok(unconsumed(objs).length > 0, "raw objects after the compaction");
  const records = objs.raw.flatMap((o) => a.decodeObject(o.key, o.bytes));
  const ids = records.map((r) => `${r.containerId} ${r.ts} ${r.off} ${r.stream}`);
  assert.ok(new Set(ids).size < ids.length, "a record in two raw objects");
  const containers = new Set(records.filter((r) => r.container === "webservice").map((r) => r.containerId));
  assert.equal(containers.size, 2, "a container restart");
});

test("a job merged from all its objects is the service's output", () => {
  for (const job of JOBS) {
    const o = jobObjects(FIXTURES, job);
    // Consumed raw objects included: their records are deduplicated
    // against the merged objects that hold them.
    assert.equal(mergeWhole([...o.raw, ...o.data]), served[job], job);
    // As the service reads it: consumed raw objects skipped.
    assert.equal(mergeWhole([...o.data, ...unconsumed(o)]), served[job], job);
  }
});

test("the push order does not matter", () => {
  for (const job of JOBS) {
    const o = jobObjects(FIXTURES, job);
    for (const seed of [1, 7, 42, 1234, 99991]) {
      assert.equal(mergeWhole(shuffled([...o.raw, ...o.data], seed)), served[job], `${job} seed ${seed}`);
    }
  }
});

test("objects streamed in chunks merge the same, pulled as they come", () => {
  for (const job of JOBS) {
    const o = jobObjects(FIXTURES, job);
    for (const size of [1, 7, 100, 1 << 16]) {
      const m = new a.Merger();
      const streams = o.data.map((d) => ({ id: m.begin(d.key), bytes: d.bytes, at: 0 }));
      for (const r of unconsumed(o)) m.pushObject(r.key, r.bytes);
      m.finish();
      let out = "";
      // Round-robin chunks of every stream, pulling between them.
      while (streams.some((s) => s.at < s.bytes.length)) {
        for (const s of streams) {
          if (s.at < s.bytes.length) {
            m.pushChunk(s.id, s.bytes.subarray(s.at, s.at + size));
            s.at += size;
          }
        }
        out += m.pullNdjson();
      }
      assert.equal(m.done, false, "streams not ended yet");
      for (const s of streams) m.end(s.id);
      out += m.pullNdjson();
      assert.ok(m.done);
      assert.equal(out, served[job], `${job}, chunks of ${size}`);
    }
  }
});

test("the service's NDJSON streamed through a merger comes out unchanged", () => {
  for (const job of JOBS) {
    const m = new a.Merger();
    const id = m.begin("service");
    m.finish();
    const bytes = new TextEncoder().encode(served[job]);
    for (let i = 0; i < bytes.length; i += 333) m.pushChunk(id, bytes.subarray(i, i + 333));
    m.end(id);
    assert.equal(m.pullNdjson(), served[job]);
  }
});

test("with expectFrom, lines come out before the last object is pushed", () => {
  for (const job of JOBS) {
    const o = jobObjects(FIXTURES, job);
    // Each object with the earliest time it holds: a merged object's key
    // says it; a raw object's records are read (an upload's key time is
    // not a lower bound).
    const lower = (x) => {
      const k = a.parseKey(x.key);
      if (k.kind === "data") return k.firstTs;
      return a.decodeObject(x.key, x.bytes).reduce((m, r) => (r.ts < m ? r.ts : m), 2n ** 64n - 1n);
    };
    const objects = [...o.data, ...unconsumed(o)]
      .map((x) => ({ ...x, lower: lower(x) }))
      .sort((p, q) => (p.lower < q.lower ? -1 : p.lower > q.lower ? 1 : 0));
    const m = new a.Merger();
    let out = "";
    let early = 0;
    for (const x of objects) {
      m.expectFrom(x.lower);
      const got = m.pullNdjson();
      early += got.length;
      out += got;
      m.pushObject(x.key, x.bytes);
    }
    m.finish();
    out += m.pullNdjson();
    assert.equal(out, served[job], job);
    assert.ok(early > 0, `${job}: some lines before finish()`);
    assert.equal(m.stats.outOfOrder, 0);
  }
});

test("selections are the service's: head, tail, container, stream, since/until, run", async () => {
  for (const job of JOBS) {
    const o = jobObjects(FIXTURES, job);
    const objects = [...o.raw, ...o.data];
    const lines = served[job].trimEnd().split("\n").map((l) => a.decodeRecord(l));
    const mid = lines[Math.floor(lines.length / 3)].ts;
    const late = lines[Math.floor((2 * lines.length) / 3)].ts;
    const pods = [...new Set(lines.map((r) => r.pod))];
    const containers = [...new Set(lines.map((r) => r.container))];
    const cases = [
      [{ head: 4 }, "&head=4"],
      [{ tail: 3 }, "&tail=3"],
      [{ tail: 0 }, "&tail=0"],
      [{ stream: "stderr" }, "&stream=stderr"],
      [{ events: "none" }, "&events=none"],
      [{ events: "only", tail: 2 }, "&events=only&tail=2"],
      [{ since: mid }, `&since=${mid}`],
      [{ since: mid, until: late }, `&since=${mid}&until=${late}`],
      [{ until: a.decodeRecord(served[job].split("\n")[2]).time }, `&until=${lines[2].ts}`],
      [{ since: mid, tail: 2, stream: "stdout" }, `&since=${mid}&tail=2&stream=stdout`],
      ...containers.map((c) => [{ container: c }, `&container=${c}`]),
      ...pods.map((p) => [{ pods: [p] }, `&run=${p}`]),
    ];
    for (const [options, query] of cases) {
      const want = await svc.ndjson(job, query);
      assert.equal(mergeWhole(objects, options), want, `${job} ${query}`);
    }
  }
});

test("records decode the same from either event format", () => {
  const o = jobObjects(FIXTURES, "web");
  let nf1 = 0;
  for (const x of o.raw) {
    const text = zlib.gunzipSync(x.bytes).toString();
    for (const line of text.split("\n").filter((l) => l.trim())) {
      const r = a.decodeRecord(line);
      assert.equal(typeof r.ts, "bigint");
      assert.equal(r.time.length, 30);
      if (line.includes('"\\u0001nf"')) {
        nf1 += 1;
        // Served as the JSON mode stores it: no NF1 left, numbers numbers.
        const v = JSON.parse(r.line);
        assert.ok(!("\u0001nf" in v), r.line);
        assert.equal(typeof v.ts, "number");
        assert.equal(typeof v.off, "number");
        assert.deepEqual(a.decodeRecord(r.line), r);
      } else {
        assert.equal(r.line, line);
      }
    }
  }
  assert.ok(nf1 > 0);
  // A NUL and \u0001 survive both encodings.
  const all = o.raw.flatMap((x) => a.decodeObject(x.key, x.bytes)).map((r) => r.log);
  assert.ok(all.some((l) => l.includes("a NUL \u0000 here")));
  assert.ok(all.some((l) => l.includes("NUL \u0000 and \u0001 in NF1")));
  // decodeRecordBytes is decodeRecord of UTF-8.
  const first = served.web.split("\n")[0];
  assert.deepEqual(a.decodeRecordBytes(new TextEncoder().encode(first)), a.decodeRecord(first));
});

test("the merger's records and text are the service's", async () => {
  const o = jobObjects(FIXTURES, "web");
  const merged = () => {
    const m = new a.Merger();
    for (const x of [...o.raw, ...o.data]) m.pushObject(x.key, x.bytes);
    m.finish();
    return m;
  };
  const records = merged().pullRecords();
  assert.deepEqual(records.map((r) => r.line + "\n").join(""), served.web);
  const page = await svc.json(`/v1/tool/${TOOL}/jobs/web/logs?limit=10000`);
  const fields = ({ time, pod, container, stream, log }) => ({ time, pod, container, stream, log });
  assert.deepEqual(records.map(fields), page.logs.map(fields));
  assert.equal(merged().pullText(), await svc.logs("web", "format=text"));
  assert.equal(
    merged().pullText(undefined, false, false),
    records.map((r) => r.log + "\n").join(""),
  );
  // pull() is pullNdjson() line by line, max at a time.
  const m = merged();
  const lines = [];
  for (let got = m.pull(3); got.length > 0; got = m.pull(3)) {
    assert.ok(got.length <= 3);
    lines.push(...got);
  }
  assert.equal(lines.map((l) => l + "\n").join(""), served.web);
});

test("the browser package (ES module, init) merges the same", async () => {
  const web = path.join(PKG, "..", "web");
  const w = await import(path.join(web, "afterlog_adapter.js"));
  await w.default({ module_or_path: fs.readFileSync(path.join(web, "afterlog_adapter_bg.wasm")) });
  const o = jobObjects(FIXTURES, "web");
  const m = new w.Merger();
  for (const x of [...o.raw, ...o.data]) m.pushObject(x.key, x.bytes);
  m.finish();
  assert.equal(m.pullNdjson(), served.web);
});

test("keys: every fixture key parses and is rebuilt exactly", () => {
  for (const key of keysUnder(FIXTURES)) {
    const k = a.parseKey(key);
    const rebuilt = {
      raw: () => a.rawKey(k.tool, k.job, k.pod, k.container, k.keySeconds, k.id),
      data: () => a.dataKey(k.tool, k.job, k.pod, k.container, k.firstTs, k.lastTs, k.id),
      meta: () => a.metaKey(k.tool, k.job, k.pod),
    }[k.kind]();
    assert.equal(rebuilt, key);
    assert.equal(k.tool, TOOL);
    assert.ok(JOBS.includes(k.job), k.job);
  }
  assert.equal(a.encodeKeyPart("my.job"), "my_2ejob");
  assert.equal(a.encodeKeyPart(""), "_");
  assert.equal(a.decodeKeyPart("_4dy_5f_4aob"), "My_Job");
  assert.equal(a.encodeName("../x"), "_2e_2e_2fx");
  assert.equal(a.route("foo", "my.job", "p", "c"), "foo.my_2ejob.p.c");
  assert.equal(a.jobPrefix("meta", "foo", "my.job"), "meta/foo/my_2ejob/");
  assert.equal(a.toolPrefix("data", "foo"), "data/foo/");
  for (const s of ["", "a", "Tool_Name", "é/..", "x".repeat(253)]) {
    assert.equal(a.decodeKeyPart(a.encodeKeyPart(s)), s);
  }
});

test("gunzip is Node's zlib on every stored object", () => {
  for (const key of keysUnder(FIXTURES).filter((k) => k.endsWith(".gz"))) {
    const bytes = new Uint8Array(fs.readFileSync(path.join(FIXTURES, key)));
    assert.deepEqual(Buffer.from(a.gunzip(bytes)), zlib.gunzipSync(bytes), key);
  }
  // Several members, as merged objects are written.
  const two = Buffer.concat([zlib.gzipSync("one\n"), zlib.gzipSync("two\n")]);
  assert.equal(Buffer.from(a.gunzip(two)).toString(), "one\ntwo\n");
});

/** Runs `f`, which must throw a plain Error (not a wasm trap) whose message matches `re`. */
function throwsError(f, re, what) {
  let thrown;
  try {
    f();
  } catch (e) {
    thrown = e;
  }
  assert.ok(thrown, `${what}: no error`);
  assert.ok(thrown instanceof Error, `${what}: ${thrown}`);
  assert.ok(!(thrown instanceof WebAssembly.RuntimeError), `${what}: a wasm trap: ${thrown}`);
  assert.match(thrown.message, re, what);
}

test("bad input is a thrown Error with a message, never a crash", () => {
  const o = jobObjects(FIXTURES, "web");
  const raw = o.raw[0];
  const cut = raw.bytes.subarray(0, Math.floor(raw.bytes.length / 2));
  throwsError(() => a.gunzip(cut), /damaged gzip stream/, "gunzip of a cut object");
  throwsError(() => a.decodeObject(raw.key, cut), new RegExp(`${raw.key}: damaged gzip`), "decodeObject");
  throwsError(() => new a.Merger().pushObject(raw.key, cut), /damaged gzip/, "pushObject");
  throwsError(() => a.gunzip(new Uint8Array([0x1f, 0x8b, 1, 2, 3])), /damaged gzip/, "a bad header");
  throwsError(() => a.decodeRecord("not json"), /not a valid record/, "junk line");
  throwsError(() => a.decodeRecord('{"ts":1,"stream":"stdout","log":"x"}'), /afterlog/, "no labels");
  throwsError(
    () => a.decodeRecord('{"\\u0001nf":"\\u0001n1","ts":"\\u0001nX","stream":"stdout","log":"x","afterlog":{}}'),
    /NF1/,
    "bad NF1",
  );
  throwsError(() => a.decodeObject("junk", new Uint8Array([1, 2, 3, 10, 4])), /junk line 1/, "junk object");
  throwsError(() => a.decodeKeyPart("_61"), /key part/, "non-canonical key part");
  throwsError(() => a.parseKey("raw/foo/x"), /not in the afterlog layout/, "short key");
  throwsError(() => a.parseMeta(new TextEncoder().encode('{"version":9}')), /version 9/, "meta version");
  throwsError(() => a.rawKey("t", "j", "p", "c", 1.5, "u"), /keySeconds/, "fractional key time");
  throwsError(() => a.jobPrefix("tmp", "t", "j"), /top/, "unknown top");
  throwsError(() => new a.Merger({ tial: 3 }), /unknown/, "a typo in the options");
  throwsError(() => new a.Merger({ head: 1, tail: 1 }), /exclude/, "head and tail");
  throwsError(() => new a.Merger({ since: 5 }), /bigint/, "a number as a time");
  throwsError(() => new a.Merger({ since: 5n, until: 5n }), /before until/, "empty window");
  throwsError(() => new a.Merger({ stream: "stdin" }), /stdout/, "stream");
  throwsError(() => new a.Merger({ events: "all" }), /include/, "events");
  throwsError(() => new a.Merger("x"), /an object/, "options not an object");
  const m = new a.Merger();
  throwsError(() => m.pushChunk(77, new Uint8Array(1)), /no open source 77/, "unknown source");
  m.expectFrom(10n);
  throwsError(() => m.expectFrom(9n), /goes back/, "a promise taken back");
  const s = m.begin("s");
  m.pushChunk(s, cut);
  throwsError(() => m.end(s), /damaged gzip/, "a cut stream");
  throwsError(() => m.pushChunk(s, cut), /no open source/, "a closed stream");
  m.finish();
  throwsError(() => m.pushObject("x", new Uint8Array()), /finish/, "push after finish");
  // Still usable after all that.
  assert.equal(typeof m.pullNdjson(), "string");
});

test("random junk and every cut of real objects: Errors or lines, never a trap", () => {
  let s = 12345;
  const rand = (n) => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s % n;
  };
  const objects = keysUnder(FIXTURES)
    .filter((k) => k.endsWith(".gz"))
    .map((k) => ({ key: k, bytes: new Uint8Array(fs.readFileSync(path.join(FIXTURES, k))) }));
  const inputs = [];
  for (let i = 0; i < 300; i++) {
    const junk = new Uint8Array(rand(300));
    for (let j = 0; j < junk.length; j++) junk[j] = rand(256);
    if (i % 3 === 0 && junk.length > 2) [junk[0], junk[1]] = [0x1f, 0x8b];
    inputs.push(junk);
  }
  for (const o of objects) {
    for (let c = 0; c < o.bytes.length; c += Math.max(1, o.bytes.length >> 4)) inputs.push(o.bytes.subarray(0, c));
    const flipped = Uint8Array.from(o.bytes);
    flipped[rand(flipped.length)] ^= 1 + rand(255);
    inputs.push(flipped);
  }
  for (const bytes of inputs) {
    for (const f of [
      () => a.gunzip(bytes),
      () => a.decodeObject("k", bytes),
      () => new a.Merger().pushObject("raw/k", bytes),
      () => {
        const m = new a.Merger({ lenient: true });
        const id = m.begin("k");
        m.pushChunk(id, bytes);
        m.end(id);
        m.finish();
        return m.pullNdjson();
      },
    ]) {
      try {
        f();
      } catch (e) {
        assert.ok(e instanceof Error && !(e instanceof WebAssembly.RuntimeError), String(e));
        assert.ok(e.message.length > 0);
      }
    }
  }
  // The instance is intact.
  assert.equal(mergeWhole([...jobObjects(FIXTURES, "web").raw, ...jobObjects(FIXTURES, "web").data]), served.web);
});

test("lenient: a damaged object is served partly, as the service serves it", async () => {
  // The service over a store in which an object it reads is cut short.
  const damaged = copyOfFixtures();
  const objs = jobObjects(damaged, "web");
  const victim = unconsumed(objs).find((x) => a.decodeObject(x.key, x.bytes).length > 0) ?? objs.data[0];
  const cut = victim.bytes.subarray(0, victim.bytes.length - 12);
  fs.writeFileSync(path.join(damaged, victim.key), cut);
  const other = await startService(damaged);
  try {
    const body = await other.ndjson("web");
    const lines = body.trimEnd().split("\n");
    const last = JSON.parse(lines.at(-1));
    assert.ok(last.messages?.warning?.length > 0, `the service warns: ${body}`);
    const want = lines.slice(0, -1).map((l) => l + "\n").join("");
    const o = jobObjects(damaged, "web");
    throwsError(() => mergeWhole([...o.data, ...unconsumed(o)]), /damaged gzip/, "strict");
    const m = new a.Merger({ lenient: true });
    for (const x of [...o.data, ...unconsumed(o)]) m.pushObject(x.key, x.bytes);
    m.finish();
    assert.equal(m.pullNdjson(), want);
    const warnings = m.takeWarnings();
    assert.equal(warnings.length, 1, String(warnings));
    assert.match(warnings[0], new RegExp(`^${victim.key}: damaged gzip`));
    assert.equal(m.stats.badObjects, 1);
  } finally {
    other.stop();
    fs.rmSync(damaged, { recursive: true, force: true });
  }
});

test("deletion requests hide the lines the service hides; a cancelled one hides nothing", async () => {
  const job = "web";
  const lines = served[job].trimEnd().split("\n").map((l) => a.decodeRecord(l));
  // A word of a line in the middle: the "secret" a request removes.
  const secret = lines[Math.floor(lines.length / 2)].log.split(/\s+/).find((w) => w.length >= 4);
  assert.ok(secret, "a word to delete");
  const id = (n) => `${String(1_800_000_000_000_000_000n + BigInt(n)).padStart(20, "0")}-00000000000000a${n}`;
  const prefix = a.jobPrefix("deletions", TOOL, job);
  const request = (n, selected) => JSON.stringify({
    version: 1, id: id(n), tool: TOOL, job, selected,
    requested_by: "alice", requested_ns: 1, due_ns: 2,
    affected: { lines: 0, bytes: 0, objects: 0 },
  });
  const docs = {
    [`${prefix}${id(1)}.json`]: request(1, { until: 1_900_000_000_000_000_000, grep: [secret] }),
    [`${prefix}${id(2)}.json`]: request(2, { until: 1_900_000_000_000_000_000 }),
    [`${prefix}${id(2)}.decision.json`]: JSON.stringify({
      version: 1, id: id(2), verdict: "cancel", by: "alice", at_ns: 3,
    }),
  };
  const dir = copyOfFixtures();
  for (const [key, text] of Object.entries(docs)) {
    fs.mkdirSync(path.dirname(path.join(dir, key)), { recursive: true });
    fs.writeFileSync(path.join(dir, key), text);
  }
  const other = await startService(dir);
  try {
    const want = await other.ndjson(job);
    assert.ok(!want.includes(secret), "the service hides the secret");
    assert.ok(want.split("\n").length < served[job].split("\n").length);
    const o = jobObjects(FIXTURES, job);
    assert.equal(mergeWhole([...o.raw, ...o.data], { deletions: docs }), want);
    // Strict: a document that is not a request's throws; lenient reports it.
    const junk = { ...docs, [`${prefix}${id(3)}.json`]: "{not json" };
    assert.throws(() => new a.Merger({ deletions: junk }), /deletions/);
    const m = new a.Merger({ deletions: junk, lenient: true });
    assert.equal(m.takeWarnings().length, 1);
    assert.throws(() => new a.Merger({ deletions: ["x"] }), /deletions/);
  } finally {
    other.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
