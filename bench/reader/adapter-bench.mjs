// The JavaScript adapter's benchmark in Node: gunzip, decode and merge the
// raw objects `bench-adapter` generated (see src/adapter.rs)
// through the .wasm, on one thread, and print MiB/s of JSON lines plus the
// output's line count and FNV-1a hash (which must match bench-adapter's).
//
//   cargo run --profile ci -p afterlog-bench-reader --bin bench-adapter
//   scripts/build-adapter
//   node bench/reader/adapter-bench.mjs [--dir target/bench-adapter] [--runs 3] [--pkg target/adapter-pkg/node]

import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

const args = { dir: "target/bench-adapter", runs: 3, pkg: "target/adapter-pkg/node" };
for (let i = 2; i < process.argv.length; i += 2) {
  const name = process.argv[i].replace(/^--/, "");
  if (!(name in args)) throw new Error(`unknown argument ${process.argv[i]}: --dir DIR --runs N --pkg DIR`);
  args[name] = name === "runs" ? Number(process.argv[i + 1]) : process.argv[i + 1];
}
const a = createRequire(import.meta.url)(path.resolve(args.pkg));
const MIB = 1024 * 1024;

function files(dir, prefix = "") {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const key = prefix + e.name;
    if (e.isDirectory()) out.push(...files(path.join(dir, e.name), key + "/"));
    else if (e.name.endsWith(".gz")) out.push(key);
  }
  return out;
}

// Sorted like bench-adapter's object list (by path).
const keys = files(path.join(args.dir, "raw"), "raw/").sort();
if (keys.length === 0) throw new Error(`no objects under ${args.dir}/raw: run bench-adapter first`);
const objects = keys.map((key) => ({ key, bytes: new Uint8Array(fs.readFileSync(path.join(args.dir, key))) }));
const stored = objects.reduce((n, o) => n + o.bytes.length, 0);
const text = objects.reduce((n, o) => n + zlib.gunzipSync(o.bytes).length, 0);
console.log(`${objects.length} objects: ${(stored / MIB).toFixed(1)} MiB stored, ${(text / MIB).toFixed(1)} MiB of JSON lines`);

const median = (v) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)];
function time(what, f) {
  const runs = [];
  let result;
  for (let i = 0; i < args.runs; i++) {
    const t = process.hrtime.bigint();
    result = f();
    runs.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  const s = median(runs);
  console.log(`${what}: median ${s.toFixed(3)} s of ${runs.length} runs → ${(text / MIB / s).toFixed(0)} MiB/s of JSON lines`);
  return result;
}

function fnv1a(h, bytes) {
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193) >>> 0;
  return h;
}

time("Node's zlib.gunzipSync only (native zlib)", () => objects.forEach((o) => zlib.gunzipSync(o.bytes)));
time("adapter gunzip only (wasm, flate2 on zlib-rs)", () => objects.forEach((o) => a.gunzip(o.bytes)));
// Lenient reads as the service does (lines parsed as the merge pulls
// them); strict (the default) parses each object whole at push.
const merge = (options) => () => {
  const m = new a.Merger(options);
  for (const o of objects) m.pushObject(o.key, o.bytes);
  m.finish();
  const out = [];
  for (let s = m.pullNdjson(100_000); s.length > 0; s = m.pullNdjson(100_000)) out.push(s);
  m.free();
  return out;
};
time("adapter Merger, lenient: pushObject all, finish, pullNdjson (wasm)", merge({ lenient: true }));
const chunks = time("adapter Merger, strict: pushObject all, finish, pullNdjson (wasm)", merge());
const enc = new TextEncoder();
let h = 0x811c9dc5;
let lines = 0;
for (const c of chunks) {
  h = fnv1a(h, enc.encode(c));
  for (let i = c.indexOf("\n"); i >= 0; i = c.indexOf("\n", i + 1)) lines++;
}
console.log(`output: ${lines} lines, FNV-1a ${h.toString(16).padStart(8, "0")}`);
const wasm = path.join(args.pkg, "afterlog_adapter_bg.wasm");
const raw = fs.statSync(wasm).size;
const gz = zlib.gzipSync(fs.readFileSync(wasm), { level: 9 }).length;
console.log(`${wasm}: ${raw} bytes (${(raw / 1024).toFixed(0)} KiB), gzip -9 ${gz} bytes (${(gz / 1024).toFixed(0)} KiB)`);
