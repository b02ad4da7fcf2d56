// The playground in a real browser: Debian's Chromium driven by
// puppeteer-core loads it from a local static server, pastes the canary,
// simulates 1 000 requests and reads the split off the page; a bad config
// shows its diagnostic at its line; a link reproduces the page. Screenshots
// go to target/js-artifacts/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createReadStream, mkdirSync, statSync } from "node:fs";
import path from "node:path";
import puppeteer from "puppeteer-core";
import { root, config } from "./support.mjs";

const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = path.join(root, "target/js-artifacts");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".wasm": "application/wasm", ".yaml": "text/yaml" };
const RISKY = "outbound|8080|risky-group|fleetman-staff-service.default.svc.cluster.local";
const SAFE = "outbound|8080|safe-group|fleetman-staff-service.default.svc.cluster.local";

let server, browser, base;

/** Serves the repository's files (GET only, nothing outside it). */
function serve() {
  return new Promise((resolve) => {
    const s = createServer((req, res) => {
      const rel = decodeURIComponent(new URL(req.url, "http://x").pathname);
      const file = path.join(root, path.normalize(rel));
      if (!file.startsWith(root + path.sep) || !statSync(file, { throwIfNoEntry: false })?.isFile()) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { "content-type": TYPES[path.extname(file)] || "application/octet-stream" });
      createReadStream(file).pipe(res);
    });
    s.listen(0, "127.0.0.1", () => resolve(s));
  });
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  server = await serve();
  base = `http://127.0.0.1:${server.address().port}/wasm/js/playground/index.html`;
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
});

after(async () => {
  await browser?.close();
  server?.close();
});

async function open(url = base) {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.setViewport({ width: 1400, height: 1600 });
  await page.goto(url);
  await page.waitForSelector("body[data-ready='1']", { timeout: 20000 });
  return { page, errors };
}

/** Replaces the editor's text as a paste does, and waits for it to apply. */
async function paste(page, text) {
  await page.select("#example", "");
  await page.$eval("#yaml", (ta, t) => {
    ta.focus();
    ta.value = t;
    ta.dispatchEvent(new InputEvent("input", { bubbles: true, inputType: "insertFromPaste" }));
  }, text);
  await page.waitForFunction((t) => document.querySelector("#annotated").textContent.split("\n").length >= t.split("\n").length, {}, text);
  await new Promise((r) => setTimeout(r, 400));
}

async function counts(page, kind) {
  return page.$$eval(`#chart .bars[data-kind='${kind}'] .bar`, (bars) =>
    Object.fromEntries(bars.map((b) => [b.dataset.key, Number(b.dataset.count)])));
}

test("the canary, pasted, splits 90/10 over 1 000 simulated requests", async () => {
  const { page, errors } = await open();
  await paste(page, config("fleetman-canary.yaml"));
  assert.equal(await page.$eval("#diagnostics", (u) => u.textContent), "No diagnostics: the config applies.");
  await page.$eval("#url", (i) => { i.value = "http://fleetman-staff-service.default.svc.cluster.local/"; });
  await page.$eval("#n", (i) => { i.value = "1000"; });
  await page.click("#simulate");
  await page.waitForSelector("#chart .bars[data-kind='destinations'] .bar");
  const n = Number(await page.$eval("#chart p[data-n]", (p) => p.dataset.n));
  assert.equal(n, 1000);
  const d = await counts(page, "destinations");
  assert.equal(d[SAFE] + d[RISKY], 1000, JSON.stringify(d));
  // Binomial(1000, 0.1): within 5 standard deviations (47) of 100.
  assert.ok(Math.abs(d[RISKY] - 100) <= 47, JSON.stringify(d));
  const shown = await page.$eval(`#chart .bar[data-key='${RISKY}'] .pct`, (s) => s.textContent);
  assert.match(shown, new RegExp(`^${d[RISKY]} \\(${(d[RISKY] / 10).toFixed(1)}%\\)$`));
  // The compiled route table shows the weighted split.
  assert.match(await page.$eval("#routes", (r) => r.textContent), /safe-group.*\(90\).*risky-group.*\(10\)/);
  await page.screenshot({ path: path.join(ARTIFACTS, "canary-split.png"), fullPage: true });

  // A link to this page reproduces it: the same config and the same split.
  const link = page.url();
  const again = await open(link);
  await again.page.waitForSelector("#chart .bars[data-kind='destinations'] .bar");
  assert.deepEqual(await counts(again.page, "destinations"), d);
  assert.equal(await again.page.$eval("#yaml", (t) => t.value), config("fleetman-canary.yaml"));
  await again.page.close();
  await page.close();
  assert.deepEqual(errors, []);
});

test("a decision shows its rule trace", async () => {
  const { page, errors } = await open();
  await page.select("#example", "ingress-paths.yaml");
  await page.waitForFunction(() => document.querySelector("#gateway").options.length > 1);
  await page.select("#gateway", "default/gt-gateway");
  await page.$eval("#url", (i) => { i.value = "http://shop.example.com/static/v2/app.js"; });
  await page.click("#decide");
  await page.waitForFunction(() => document.querySelector("#status").textContent.startsWith("decided"));
  const outcome = await page.$eval("#decision-summary tr[data-field='outcome'] td", (t) => t.textContent);
  const trace = await page.$$eval("#trace li", (l) => l.map((x) => x.textContent));
  const json = JSON.parse(await page.$eval("#decision-json", (p) => p.textContent));
  assert.equal(outcome, `${json.outcome}${json.status ? ` (${json.status})` : ""}`);
  assert.match(trace[0], /^gateway default\/gt-gateway: /);
  assert.ok(trace.length >= 2, trace.join("\n"));
  await page.screenshot({ path: path.join(ARTIFACTS, "ingress-trace.png"), fullPage: true });
  await page.close();
  assert.deepEqual(errors, []);
});

test("a bad config shows its diagnostic at its line and keeps the previous config", async () => {
  const { page, errors } = await open();
  await paste(page, config("fleetman-canary.yaml"));
  const bad = config("invalid/bad-regex.yaml");
  await paste(page, bad);
  const line = bad.split("\n").findIndex((l) => l.includes("regex:")) + 1;
  const diag = await page.$eval("#diagnostics li.diag.error", (li) => ({ line: li.dataset.line, code: li.dataset.code, text: li.textContent }));
  assert.equal(diag.code, "IST0106");
  assert.equal(Number(diag.line), line);
  // In the annotated text the note sits right under that line.
  const note = await page.$eval("#annotated .note.error", (n) => ({ line: n.dataset.line, prev: n.previousElementSibling.textContent }));
  assert.equal(Number(note.line), line);
  assert.ok(note.prev.includes("regex:"), note.prev);
  assert.match(await page.$eval("#status", (s) => s.textContent), /previous config keeps serving/);
  // The canary still decides.
  await page.$eval("#url", (i) => { i.value = "http://fleetman-staff-service.default.svc.cluster.local/"; });
  await page.click("#decide");
  await page.waitForFunction(() => document.querySelector("#status").textContent.startsWith("decided"));
  assert.match(await page.$eval("#decision-summary tr[data-field='cluster'] td", (t) => t.textContent), /fleetman-staff-service/);
  await page.screenshot({ path: path.join(ARTIFACTS, "bad-regex.png"), fullPage: true });
  await page.close();
  assert.deepEqual(errors, []);
});
