// weir-js under Node: the API's answers and its errors on bad input.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import path from "node:path";
import { weir, config, root } from "./support.mjs";

const CANARY = "http://fleetman-staff-service.default.svc.cluster.local/api/staff";
const SAFE = "outbound|8080|safe-group|fleetman-staff-service.default.svc.cluster.local";
const RISKY = "outbound|8080|risky-group|fleetman-staff-service.default.svc.cluster.local";

function canaryEngine() {
  const e = new weir.Engine();
  assert.deepEqual(e.apply(config("fleetman-canary.yaml")), []);
  return e;
}

/** Throws an Error (never a panic) whose message matches `pattern`. */
function throwsError(f, pattern) {
  let thrown;
  try { f(); } catch (e) { thrown = e; }
  assert.ok(thrown instanceof Error, `no Error thrown (got ${thrown})`);
  assert.match(thrown.message, pattern);
  assert.doesNotMatch(thrown.message, /panicked|internal error|unreachable/);
  return thrown;
}

test("decide gives the CLI's decision fields", () => {
  const d = canaryEngine().decide({ method: "GET", url: CANARY, headers: { "User-Agent": "t" } }, 0n);
  assert.equal(d.outcome, "route");
  assert.equal(d.status, null);
  assert.equal(d.cluster, SAFE);
  assert.deepEqual(d.destination, {
    host: "fleetman-staff-service.default.svc.cluster.local", subset: "safe-group", port: 8080,
  });
  assert.match(d.endpoint, /^10\.1\.0\.1[12]:8080$/);
  assert.equal(d.route.virtual_service, "default/a-set-of-routing-rules-we-can-call-this-anything");
  assert.equal(d.route.rule, 0);
  assert.equal(d.upstream_path, "/api/staff");
  assert.equal(d.retries.attempts, 2);
  assert.deepEqual(d.mirrors, []);
  // Entropy as a number and as a BigInt is the same choice; 95 % 100 >= 90 is risky.
  const e = canaryEngine();
  assert.equal(e.decide({ url: CANARY }, 95).cluster, RISKY);
  assert.equal(e.decide({ url: CANARY }, 95n).cluster, RISKY);
  assert.equal(e.decide({ url: CANARY }, 2n ** 64n - 1n).outcome, "route");
});

test("simulate splits the canary 90/10", () => {
  const n = 10000;
  const s = canaryEngine().simulate({ url: CANARY }, n, 7n);
  assert.equal(s.n, n);
  assert.equal(s.outcomes.route, n);
  // Binomial(n, 0.1): 5 standard deviations is 150.
  const sd = Math.sqrt(n * 0.1 * 0.9);
  assert.ok(Math.abs(s.destinations[RISKY] - n * 0.1) < 5 * sd, JSON.stringify(s.destinations));
  assert.equal(s.destinations[SAFE] + s.destinations[RISKY], n);
  assert.equal(Object.values(s.endpoints).reduce((a, b) => a + b, 0), n);
});

test("explain traces the rules looked at", () => {
  const e = new weir.Engine();
  e.apply(config("ingress-paths.yaml"));
  const routes = e.routes();
  const gw = routes.listeners.find((l) => l.name !== "mesh");
  assert.ok(gw, "a gateway listener");
  const host = gw.http[gw.http.length - 1].domain;
  const x = e.explain({ url: `http://${host}/no-such-path-${Date.now()}`, source: { gateway: gw.name.split(":")[0] } }, 0);
  assert.equal(x.trace.listener, `gateway ${gw.name.split(":")[0]}`);
  assert.ok(x.trace.steps.length >= 1);
  for (const s of x.trace.steps.slice(0, -1)) {
    assert.equal(s.matched, false);
    assert.equal(typeof s.mismatch, "string");
  }
  assert.equal(x.decision.outcome, x.trace.steps.at(-1)?.matched ? x.decision.outcome : "no_route");
});

test("routes lists listeners and clusters", () => {
  const r = canaryEngine().routes();
  assert.equal(r.listeners[0].name, "mesh");
  assert.match(r.listeners[0].http[0].action, /safe-group.*\(90\).*risky-group.*\(10\)/);
  const names = r.clusters.map((c) => c.name);
  assert.ok(names.includes(SAFE) && names.includes(RISKY), names.join(" "));
  assert.equal(r.clusters.find((c) => c.name === RISKY).endpoints.length, 1);
});

test("every invalid example gets its diagnostic, at the field's line", () => {
  const dir = path.join(root, "examples/configs/invalid");
  const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));
  assert.ok(files.length >= 5);
  for (const f of files) {
    const text = config(`invalid/${f}`);
    const lines = text.split("\n");
    const got = weir.check(text);
    for (const m of text.matchAll(/^# weir-expect: (error|warning) (\S+)(?: (\S+))?/gm)) {
      const [, severity, a, b] = m;
      const [code, field] = a.includes(".") ? [null, a] : [a, b];
      const d = got.find((d) => d.severity === severity && (!code || d.code === code) && (!field || d.field === field));
      assert.ok(d, `${f}: no ${m[0]} in ${JSON.stringify(got)}`);
      if (d.resource && field) {
        // A field's line holds its key; a sequence item's starts with its dash.
        const last = field.split(".").at(-1);
        const want = /\]$/.test(last) ? /^\s*- / : new RegExp(`\\b${last}:`);
        assert.ok(d.line >= 1, `${f}: no line`);
        assert.match(lines[d.line - 1], want, `${f}: line ${d.line} is not ${field}`);
      }
    }
  }
  const regex = weir.check(config("invalid/bad-regex.yaml")).find((d) => d.code === "IST0106");
  assert.equal(regex.line, 15);
  assert.equal(regex.file, "<input>");
});

test("a rejected config throws WeirConfigError and the previous one keeps serving", () => {
  const e = canaryEngine();
  const err = throwsError(() => e.apply(config("invalid/bad-regex.yaml")), /config rejected with 1 error/);
  assert.equal(err.name, "WeirConfigError");
  assert.ok(err.diagnostics.some((d) => d.code === "IST0106" && d.line === 15));
  assert.equal(e.decide({ url: CANARY }, 0).cluster, SAFE);
});

test("bad input is a thrown Error and changes nothing", () => {
  const e = canaryEngine();
  for (const bad of [5, null, undefined, {}, ["kind: x"], 1n]) {
    throwsError(() => e.apply(bad), /apply: expected a string/);
    throwsError(() => weir.check(bad), /check: expected a string/);
  }
  throwsError(() => e.apply("kind: VirtualService\nmetadata: {name: a\ud800}\n"), /lone UTF-16 surrogate/);
  throwsError(() => e.decide({ url: `http://a\udc00b/` }, 0), /lone UTF-16 surrogate/);
  throwsError(() => e.decide({ url: CANARY, headers: [["x", "\ud800"]] }, 0), /lone UTF-16 surrogate/);
  // Megabytes of YAML that is not a config, and more text than accepted.
  const junk = "key: [unclosed\n".repeat(300000);
  throwsError(() => e.apply(junk), /config rejected/);
  throwsError(() => e.apply("#".repeat(64 * 1024 * 1024 + 1)), /more than the \d+ accepted/);
  for (const url of ["http://", "http:///x", "://host/", "http://a b/", "http://host/\n", ""]) {
    throwsError(() => e.decide({ url }, 0), /request: URL/);
  }
  throwsError(() => e.decide({ url: CANARY, bogus: 1 }, 0), /request: .*unknown field/);
  throwsError(() => e.decide("GET /", 0), /request: expected an object/);
  throwsError(() => e.decide({ url: CANARY, headers: { "bad name": "x" } }, 0), /header name/);
  throwsError(() => e.decide({ url: CANARY, source: { ip: "not-an-ip" } }, 0), /source ip/);
  for (const entropy of [-1, 1.5, 2 ** 60, "7", {}, 2n ** 64n, -1n]) {
    throwsError(() => e.decide({ url: CANARY }, entropy), /entropy/);
  }
  throwsError(() => e.simulate({ url: CANARY }, 0), /simulate: n must be/);
  throwsError(() => e.decideTcp({ destination: "nope" }, 0), /connection: destination/);
  // Still the canary, unchanged.
  assert.equal(e.decide({ url: CANARY }, 0).cluster, SAFE);
  assert.equal(e.decide({ url: CANARY }, 95).cluster, RISKY);
});

test("a request object changed between calls is read again", () => {
  const e = new weir.Engine();
  e.apply(config("ingress-paths.yaml"));
  const r = { url: "http://shop.example.com/api/members", source: { gateway: "default/gt-gateway" } };
  const first = e.decide(r, 0);
  r.url = "http://shop.example.com/static/v2/app.js";
  const second = e.decide(r, 0);
  assert.notEqual(first.outcome + first.cluster, second.outcome + second.cluster);
  assert.equal(second.outcome, "redirect");
  // A bad request in between, then the first again: its own answer.
  assert.throws(() => e.decide({ url: "http://" }, 0), /no host/);
  r.url = "http://shop.example.com/api/members";
  assert.deepEqual(e.decide(r, 0), first);
  // Prepared and plain agree, and decisions cannot be changed by a caller.
  assert.deepEqual(e.decidePrepared(new weir.PreparedRequest(r), 0), first);
  assert.ok(Object.isFrozen(first) && Object.isFrozen(first.route));
  assert.throws(() => { "use strict"; first.outcome = "x"; }, TypeError);
});

test("the in-place reader splits URLs as the exact reader does", () => {
  // Rules that tell scheme, authority and path apart: the redirect's
  // location carries all three, upstream_path the path.
  const e = new weir.Engine();
  e.apply(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: split, namespace: default}
spec:
  hosts: [example.com, "*.example.com"]
  http:
  - match: [{scheme: {exact: https}, uri: {prefix: /r}}]
    redirect: {uri: /moved}
  - match: [{uri: {exact: /}}]
    directResponse: {status: 201}
  - match: [{scheme: {exact: https}}]
    directResponse: {status: 202}
  - match: [{uri: {prefix: /q}}]
    directResponse: {status: 203}
  - match: [{uri: {prefix: /x}}]
    redirect: {uri: /y}
  - route: [{destination: {host: example.com}}]
`);
  const urls = [
    "https://a.example.com/r?x=1#frag", "HTTPS://A.example.com/r", "hTTp://example.com?q", "example.com/q/1",
    "example.com", "http://example.com#f", "https://example.com:8443/r/x", "http://example.com/", "https://example.com",
    "a+b.c-d://example.com/x", "http://example.com/a#b c", "1http://example.com/", "http://example.com/a:b//c",
    "h://x://y/z", "http://exa mple.com/", "http://example.com/x?y#z#w", "http://example.com?", "ex://example.com/x",
    "http:/example.com/x", "http://example.com/\u00e9", "http://b.example.com/x?q=\u0001", "://", "a://", "a://?",
    "http://example.com/x\u007f", "-a://example.com/x", "http://[::1]:80/x", "x:y://example.com/x",
  ];
  const outcome = (f) => {
    try { return f(); } catch (err) { return `threw ${err.message}`; }
  };
  let routed = 0;
  for (const url of urls) {
    const req = { url, headers: { "X-Test": "1" } };
    const exact = outcome(() => e.decidePrepared(new weir.PreparedRequest(req), 0));
    assert.deepEqual(outcome(() => e.decide(req, 0)), exact, url);
    // Twice: the second call reuses what the first wrote.
    assert.deepEqual(outcome(() => e.decide(req, 0)), exact, `${url} again`);
    if (typeof exact === "object") routed++;
  }
  // Both kinds are in the table.
  assert.ok(routed >= 15 && routed < urls.length, `${routed} decided`);
  assert.equal(e.decide({ url: "HTTPS://A.example.com/r" }, 0).location, "https://A.example.com/moved");
});

test("entropy written by JS decides as the entropy read by Rust", () => {
  const e = canaryEngine();
  for (const entropy of [0, 89, 90, 99, 2 ** 32 + 95, 2 ** 53 - 1, 0n, 95n, 2n ** 32n + 5n, 2n ** 64n - 1n, undefined]) {
    const exact = e.decidePrepared(new weir.PreparedRequest({ url: CANARY }), entropy);
    assert.deepEqual(e.decide({ url: CANARY }, entropy), exact, String(entropy));
  }
  // 2^32 is 96 mod 100 (risky) with its high word, 0 (safe) without.
  assert.equal(e.decide({ url: CANARY }, 2 ** 32).cluster, RISKY);
  assert.equal(e.decide({ url: CANARY }, 2n ** 32n).cluster, RISKY);
  assert.equal(e.decide({ url: CANARY }, 2 ** 33 + 8).cluster, SAFE); // 2^33 = 92 mod 100
});

test("encode.js writes the tokens read.rs reads, reusing the previous call's", async () => {
  const { encode_request } = await import(path.join(root, "wasm/js/js/encode.js"));
  const memo = { memory: { buffer: new ArrayBuffer(256) } };
  const text = (n) => Buffer.from(memo.bytes.subarray(16 + 16, 16 + 16 + n)).toString("latin1");
  const encode = (r, entropy = 7) => {
    const n = encode_request(r, entropy, memo, 16, 200);
    return n < 0 ? n : text(n);
  };
  assert.equal(encode({ url: "HTTPS://A.example.com?q#f", method: "GET" }),
    "MGET\0UHTTPS://A.example.com?q#f\0");
  assert.deepEqual([...memo.bytes.subarray(16, 25)], [7, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal(encode({ url: "h" }, 2 ** 40 + 3), "Uh\0");
  assert.deepEqual([...memo.bytes.subarray(16, 25)], [3, 0, 0, 0, 0, 1, 0, 0, 1]);
  assert.equal(encode({ url: "h" }, -1), "Uh\0");
  assert.equal(memo.bytes[24], 0, "a negative entropy is left to Rust");
  // The same strings again: skipped over, the same bytes; a changed one
  // is written, and so is everything after it.
  const r = { url: "http://x/a", headers: { "X-A": "1", b: "2" } };
  assert.equal(encode(r), "Hx-a\0V1\0Hb\0V2\0Uhttp://x/a\0");
  memo.bytes.fill(0, 32, 64);
  assert.equal(encode(r), "\0".repeat(26), "the same strings are not written again");
  r.url = "http://x/b";
  assert.equal(encode(r), "\0".repeat(14) + "Uhttp://x/b\0", "the headers before it are kept");
  r.headers["X-A"] = "3";
  // (The zeroed name still skipped: unchanged, before the change.)
  assert.equal(encode(r), "\0".repeat(5) + "V3\0Hb\0V2\0Uhttp://x/b\0");
  // A failed call forgets what it overwrote.
  assert.equal(encode({ url: "http://x/a", headers: { "X-A": "\u00e9" } }), -1);
  assert.equal(encode(r), "Hx-a\0V3\0Hb\0V2\0Uhttp://x/b\0");
  // A URL is written as it is (UTF-8; Rust splits and checks it), but for
  // what would not read back the same: NUL, a lone surrogate, a non-string.
  assert.equal(encode({ url: "http://x/caf\u00e9" }), "Uhttp://x/caf\u00c3\u00a9\0");
  assert.equal(encode({ url: "http://x/a\0Gns/gw" }), -1);
  assert.equal(encode({ url: "http://x/\ud800" }), -1);
  assert.equal(encode({ url: 5 }), -1);
  assert.equal(encode({ url: "http://x/" + "a".repeat(300) }), -1, "more than fits");
});
