// The shared decision vectors (ffi/tests/vectors/decisions.txt, made by the
// core and replayed by the C and Go tests) replayed through weir-js, field
// by field: JS decides every case as Rust, C and Go do.
import { test } from "node:test";
import assert from "node:assert/strict";
import { weir, config, readRepo } from "./support.mjs";

/** The canonical want.* lines of a decision (ffi/tests/vectors.rs `render`). */
function render(d) {
  const out = [];
  const line = (k, v) => out.push(`want.${k}\t${v ?? ""}`);
  const ns = (ms) => (ms === null ? "" : String(BigInt(ms) * 1000000n));
  line("outcome", d.outcome);
  line("status", d.status ?? 0);
  line("grpc_status", d.grpc_status);
  line("route", d.route ? `${d.route.virtual_service}/${d.route.rule ?? "-"}` : "");
  line("route_name", d.route?.name);
  line("destination_index", d.destination_index);
  line("cluster", d.cluster);
  line("endpoint", d.endpoint);
  line("delay_ns", ns(d.delay_ms));
  line("timeout_ns", ns(d.timeout_ms));
  line("retry_attempts", d.retries?.attempts);
  line("retry_on", d.retries?.retry_on);
  line("upstream_path", d.upstream_path);
  line("upstream_authority", d.upstream_authority);
  line("location", d.location);
  line("body", d.body);
  line("set_cookie", d.set_cookie);
  for (const m of d.mirrors) line("mirror", m.cluster);
  for (const [name, ops] of [["req", d.request_headers], ["resp", d.response_headers]]) {
    for (const [k, v] of ops.set) line(`${name}_set`, `${k}\t${v}`);
    for (const [k, v] of ops.add) line(`${name}_add`, `${k}\t${v}`);
    for (const k of ops.remove) line(`${name}_remove`, k);
  }
  return out.join("\n");
}

function cases() {
  const list = [];
  let kv = {}, headers = [], labels = {}, want = [];
  for (const raw of readRepo("ffi/tests/vectors/decisions.txt").split("\n")) {
    if (raw === "" || raw.startsWith("#")) continue;
    const [key, ...rest] = raw.split("\t");
    if (key === "end") {
      list.push({ kv, headers, labels, want: want.join("\n") });
      kv = {}; headers = []; labels = {}; want = [];
    } else if (key.startsWith("want.")) want.push(raw);
    else if (key === "header") headers.push([rest[0], rest[1]]);
    else if (key === "label") labels[rest[0]] = rest[1];
    else kv[key] = rest.join("\t");
  }
  return list;
}

test("every shared vector decides the same in JS", () => {
  const all = cases();
  assert.ok(all.length >= 60, `only ${all.length} vectors`);
  let engine, current;
  for (const [i, c] of all.entries()) {
    const { kv } = c;
    if (kv.config !== current) {
      engine = new weir.Engine();
      engine.apply(config(kv.config));
      current = kv.config;
    }
    const source = { namespace: kv.namespace, labels: c.labels };
    if (kv.gateway) source.gateway = kv.gateway;
    if (kv.remote) source.ip = kv.remote;
    if (kv.local) source.local = kv.local;
    const entropy = BigInt(kv.entropy);
    let d;
    if (kv.kind === "tcp") {
      const conn = { port: Number(kv.port), source };
      if (kv.destination) conn.destination = kv.destination;
      if (kv.sni) conn.sni = kv.sni;
      if (kv.host) conn.host = kv.host;
      d = engine.decideTcp(conn, entropy);
    } else {
      d = engine.decide({
        method: kv.method,
        url: `${kv.scheme}://${kv.authority}${kv.path}`,
        headers: c.headers,
        port: Number(kv.port),
        source,
      }, entropy);
    }
    assert.equal(render(d), c.want, `vector ${i} (${kv.config})`);
  }
});
