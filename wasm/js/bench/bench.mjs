// Budgets of weir-js (a bench, not a test): the browser .wasm gzipped, a
// warm decide on the canary from Node, and apply of the 1 024-route table,
// with Rust's own decide on the same machine for scale.
//   wasm/js/bench/bench.sh   (builds, generates the table, runs this)
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import path from "node:path";
import { weir, root, config } from "../test/support.mjs";

const quick = process.env.WEIR_BENCH_QUICK === "1";
const routesFile = process.argv[2];
const results = [];
function report(name, value, unit, budget) {
  const ok = value < budget;
  results.push(ok);
  console.log(`${name.padEnd(44)} ${value.toFixed(unit === "bytes" ? 0 : 1).padStart(12)} ${unit.padEnd(6)} budget < ${budget} ${ok ? "ok" : "OVER"}`);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// 1. Size of what a browser downloads.
const wasm = readFileSync(path.join(root, "wasm/js/pkg/web/weir_js_bg.wasm"));
report("browser .wasm, gzip -9", gzipSync(wasm, { level: 9 }).length, "bytes", 1e6);

// 2. decide on the canary, warm.
const e = new weir.Engine();
e.apply(config("fleetman-canary.yaml"));
const req = { method: "GET", url: "http://fleetman-staff-service.default.svc.cluster.local/api/staff?page=2", headers: { "user-agent": "bench/1", accept: "*/*" } };
const iters = quick ? 20000 : 200000;
for (let i = 0; i < iters; i++) e.decide(req, i);
for (let i = 0; i < iters; i++) e.decidePrepared(new weir.PreparedRequest(req), i);
// Each figure is the median over rounds of the process's CPU time per call
// (user + system, from process.cpuUsage): on a shared machine the wall
// clock also counts the time other processes held the core. The wall-clock
// median is printed beside it.
function perCall(call) {
  const cpu = [];
  const wall = [];
  for (let round = 0; round < (quick ? 3 : 9); round++) {
    const c = process.cpuUsage();
    const t = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) call(i);
    wall.push(Number(process.hrtime.bigint() - t) / iters);
    const d = process.cpuUsage(c);
    cpu.push(((d.user + d.system) * 1000) / iters);
  }
  return { cpu: median(cpu), wall: median(wall) };
}
function reportCall(name, m) {
  report(`${name} (cpu)`, m.cpu, "ns", 1000);
  console.log(`${"".padEnd(44)} ${m.wall.toFixed(1).padStart(12)} ns wall clock`);
}
reportCall("decide, canary, the same request", perCall((i) => e.decide(req, i)));
// A new request each time (the path varies): nothing read before is reused.
const paths = Array.from({ length: 64 }, (_, i) => ({ ...req, url: `${req.url}&n=${i}` }));
reportCall("decide, canary, a different request each call", perCall((i) => e.decide(paths[i & 63], i)));
const prepared = new weir.PreparedRequest(req);
reportCall("decidePrepared, canary", perCall((i) => e.decidePrepared(prepared, i)));

// 3. apply of the 1 024-route table.
if (routesFile) {
  const text = readFileSync(routesFile, "utf8");
  const fresh = new weir.Engine();
  fresh.apply(text);
  const cpu = [];
  const wall = [];
  for (let i = 0; i < (quick ? 3 : 15); i++) {
    const c = process.cpuUsage();
    const t = process.hrtime.bigint();
    fresh.apply(text);
    wall.push(Number(process.hrtime.bigint() - t) / 1e6);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
  }
  report("apply, 1 024-route table (cpu, median)", median(cpu), "ms", 50);
  console.log(`${"".padEnd(44)} ${median(wall).toFixed(1).padStart(12)} ms wall clock`);
}
// A bench reports; it does not fail the run (budgets are read, not asserted).
if (!results.every(Boolean)) console.log("some budgets are over (see OVER above)");
