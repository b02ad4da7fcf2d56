// The Weir playground: plain ES module, no dependencies, no build step.
// It loads weir-js for the web (wasm/js/build.sh web) and the bundled
// example configs from the repository, and keeps its whole state in the
// URL's fragment so a link reproduces what is on the screen.
import init, { Engine, check, version } from "../pkg/web/weir_js.js";

const EXAMPLES_DIR = "../../../examples/configs/";
const EXAMPLES = [
  "fleetman-canary.yaml",
  "fleetman-sticky.yaml",
  "ingress-paths.yaml",
  "myapp-ab.yaml",
  "reviews-faults.yaml",
  "scoped-rules.yaml",
  "tcp-echo.yaml",
  "invalid/bad-regex.yaml",
  "invalid/bad-weights.yaml",
  "invalid/malformed.yaml",
  "invalid/shadowed-route.yaml",
  "invalid/unknown-subset.yaml",
];

const $ = (id) => document.getElementById(id);
const engine = { current: null };
let lastAction = null;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c);
  return e;
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

// ---- state in the URL ----------------------------------------------------

function state() {
  return {
    example: $("example").value,
    yaml: $("example").value && $("yaml").dataset.pristine === "1" ? undefined : $("yaml").value,
    method: $("method").value,
    url: $("url").value,
    headers: $("headers").value,
    gateway: $("gateway").value,
    namespace: $("namespace").value,
    labels: $("labels").value,
    entropy: $("entropy").value,
    n: $("n").value,
    action: lastAction,
  };
}

function saveState() {
  history.replaceState(null, "", "#" + encodeURIComponent(JSON.stringify(state())));
}

function loadState() {
  try {
    return JSON.parse(decodeURIComponent(location.hash.slice(1))) || {};
  } catch {
    return {};
  }
}

// ---- config --------------------------------------------------------------

function renderDiagnostics(list, text) {
  const ul = $("diagnostics");
  ul.replaceChildren();
  for (const d of list) {
    const where = d.line ? `line ${d.line}: ` : "";
    const what = d.resource ? `${d.resource.kind} ${d.resource.namespace}/${d.resource.name} ${d.field}` : d.field;
    const li = el("li", { class: `diag ${d.severity}`, "data-line": d.line ?? "", "data-code": d.code },
      `${where}${d.severity} ${d.code} ${what}: ${d.message}`);
    li.addEventListener("click", () => selectLine(d.line));
    ul.append(li);
  }
  if (list.length === 0) ul.append(el("li", { class: "ok" }, "No diagnostics: the config applies."));
  // The text with each diagnostic under its line.
  const byLine = new Map();
  for (const d of list) {
    if (!d.line) continue;
    if (!byLine.has(d.line)) byLine.set(d.line, []);
    byLine.get(d.line).push(d);
  }
  const pre = $("annotated");
  pre.replaceChildren();
  text.split("\n").forEach((line, i) => {
    const n = i + 1;
    const notes = byLine.get(n) || [];
    const row = el("span", { class: notes.length ? "row marked" : "row", "data-line": n },
      el("span", { class: "ln" }, String(n)), line, "\n");
    pre.append(row);
    for (const d of notes) {
      pre.append(el("span", { class: `note ${d.severity}`, "data-line": n, "data-code": d.code },
        `^ ${d.code}: ${d.message}`));
    }
  });
}

function selectLine(line) {
  if (!line) return;
  const ta = $("yaml");
  const lines = ta.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((a, l) => a + l.length + 1, 0);
  ta.focus();
  ta.setSelectionRange(start, start + (lines[line - 1] || "").length);
}

/** Checks and applies the editor's text; the previous table stays on errors. */
function applyConfig() {
  const text = $("yaml").value;
  let diagnostics;
  try {
    diagnostics = check(text);
  } catch (e) {
    setStatus(e.message, true);
    return false;
  }
  renderDiagnostics(diagnostics, text);
  try {
    engine.current.apply(text);
    const errors = diagnostics.filter((d) => d.severity === "error").length;
    setStatus(errors ? "" : `applied (${diagnostics.length} warning(s))`);
  } catch (e) {
    setStatus(`${e.message.split(":")[0].replace(/^weir/, "rejected")}: the previous config keeps serving`, true);
    return false;
  } finally {
    renderRoutes();
  }
  return true;
}

function renderRoutes() {
  const table = engine.current.routes();
  const box = $("routes");
  box.replaceChildren();
  const gw = $("gateway");
  const chosen = gw.value;
  gw.replaceChildren(el("option", { value: "" }, "mesh (sidecar)"));
  const seen = new Set();
  for (const l of table.listeners) {
    if (l.name !== "mesh") {
      const name = l.name.replace(/:\d+$/, "");
      if (!seen.has(name)) {
        seen.add(name);
        gw.append(el("option", { value: name }, `gateway ${name}`));
      }
    }
    const t = el("table", { "data-listener": l.name });
    t.append(el("caption", {}, `Listener ${l.name}${l.https_redirect ? " (https redirect)" : ""}`));
    t.append(el("tr", {}, ...["Domain", "Match", "Rule", "Action"].map((h) => el("th", {}, h))));
    for (const r of l.http) {
      t.append(el("tr", {}, ...[r.domain, r.match, r.rule, r.action].map((c) => el("td", {}, c))));
    }
    for (const r of l.tcp) {
      t.append(el("tr", {}, ...[`(${r.kind})`, `${r.match_blocks} match block(s)`, r.rule, r.destinations.join(", ")].map((c) => el("td", {}, c))));
    }
    box.append(t);
  }
  gw.value = seen.has(chosen) ? chosen : "";
  box.append(el("p", {}, `${table.clusters.length} cluster(s): `
    + table.clusters.map((c) => `${c.name} (${c.lb}, ${c.endpoints.length} endpoint(s))`).join("; ")));
  return table;
}

/** A URL for the first host the chosen listener routes, when none is given. */
function suggestUrl(table) {
  if ($("url").value) return;
  const name = $("gateway").value;
  const l = table.listeners.find((l) => (name ? l.name.startsWith(name + ":") : l.name === "mesh"));
  const host = l?.http.find((r) => r.domain && !r.domain.includes("*"))?.domain;
  if (host) $("url").value = `http://${host}/`;
}

// ---- requests ------------------------------------------------------------

function request() {
  const headers = [];
  for (const line of $("headers").value.split("\n")) {
    if (!line.trim()) continue;
    const i = line.indexOf(":");
    if (i <= 0) throw new Error(`header line ${JSON.stringify(line)} is not "name: value"`);
    headers.push([line.slice(0, i).trim(), line.slice(i + 1).trim()]);
  }
  const labels = {};
  for (const part of $("labels").value.split(",")) {
    if (!part.trim()) continue;
    const [k, v] = part.split("=");
    if (v === undefined) throw new Error(`source label ${JSON.stringify(part)} is not k=v`);
    labels[k.trim()] = v.trim();
  }
  const source = { namespace: $("namespace").value, labels };
  if ($("gateway").value) source.gateway = $("gateway").value;
  return { method: $("method").value, url: $("url").value, headers, source };
}

function entropy() {
  const s = $("entropy").value.trim() || "0";
  if (!/^\d+$/.test(s)) throw new Error(`entropy ${JSON.stringify(s)} is not a non-negative integer`);
  return BigInt(s);
}

function decide() {
  lastAction = "decide";
  try {
    const { decision: d, trace } = engine.current.explain(request(), entropy());
    const rows = [
      ["Outcome", d.outcome + (d.status ? ` (${d.status})` : "")],
      ["Rule", d.route ? `${d.route.virtual_service} ${d.route.kind}[${d.route.rule ?? "default"}]` : "none"],
      ["Cluster", d.cluster ?? "none"],
      ["Endpoint", d.endpoint ?? "none"],
      ["Upstream path", d.upstream_path],
    ];
    if (d.location) rows.push(["Location", d.location]);
    if (d.delay_ms !== null) rows.push(["Fault delay", `${d.delay_ms} ms`]);
    if (d.timeout_ms !== null) rows.push(["Timeout", `${d.timeout_ms} ms`]);
    if (d.retries) rows.push(["Retries", `${d.retries.attempts} on ${d.retries.retry_on}`]);
    if (d.mirrors.length) rows.push(["Mirrors", d.mirrors.map((m) => m.cluster).join(", ")]);
    $("decision-summary").replaceChildren(...rows.map(([k, v]) =>
      el("tr", { "data-field": k.toLowerCase() }, el("th", {}, k), el("td", {}, v))));
    $("decision-json").textContent = JSON.stringify(d, null, 2);
    const ol = $("trace");
    ol.replaceChildren();
    ol.append(el("li", {}, `${trace.listener}: ${trace.virtual_host ? `virtual host ${trace.virtual_host}` : "no virtual host for this authority"}`));
    if (trace.opaque_port !== null) ol.append(el("li", {}, `port ${trace.opaque_port} is not HTTP: its http routes do not apply`));
    for (const s of trace.steps) {
      ol.append(el("li", { class: s.matched ? "matched" : "skipped" },
        `${s.rule}: ${s.matched ? "matched" : `skipped (${s.mismatch} does not match)`}`));
    }
    setStatus(`decided: ${d.outcome}`);
  } catch (e) {
    setStatus(e.message, true);
  }
  saveState();
}

function bars(title, counts, n, kind) {
  const box = el("div", { class: "bars", "data-kind": kind }, el("h4", {}, title));
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  for (const [key, count] of entries) {
    const pct = (100 * count) / n;
    const fill = el("div", { class: "fill" });
    fill.style.width = `${pct}%`;
    box.append(el("div", { class: "bar", "data-key": key, "data-count": count },
      el("span", { class: "key" }, key), el("div", { class: "track" }, fill),
      el("span", { class: "pct" }, `${count} (${pct.toFixed(1)}%)`)));
  }
  return box;
}

function simulate() {
  lastAction = "simulate";
  try {
    const n = Number($("n").value);
    const s = engine.current.simulate(request(), n, entropy());
    $("chart").replaceChildren(
      el("p", { "data-n": s.n }, `${s.n} simulated requests, entropy from seed ${s.seed}`),
      bars("Outcomes", s.outcomes, s.n, "outcomes"),
      bars("Destinations", s.destinations, s.n, "destinations"),
      bars("Endpoints", s.endpoints, s.n, "endpoints"));
    setStatus(`simulated ${s.n} requests`);
  } catch (e) {
    setStatus(e.message, true);
  }
  saveState();
}

// ---- wiring --------------------------------------------------------------

async function loadExample(name) {
  const response = await fetch(EXAMPLES_DIR + name);
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
  return response.text();
}

async function main() {
  await init();
  engine.current = new Engine();
  $("version").textContent = version();
  for (const name of EXAMPLES) $("example").append(el("option", { value: name }, name));

  const saved = loadState();
  for (const id of ["method", "url", "headers", "namespace", "labels", "entropy", "n"]) {
    if (saved[id] !== undefined) $(id).value = saved[id];
  }
  const example = saved.example ?? (saved.yaml === undefined ? EXAMPLES[0] : "");
  $("example").value = example;
  if (saved.yaml !== undefined) {
    $("yaml").value = saved.yaml;
    $("yaml").dataset.pristine = "0";
  } else if (example) {
    $("yaml").value = await loadExample(example);
    $("yaml").dataset.pristine = "1";
  }
  applyConfig();
  if (saved.gateway) $("gateway").value = saved.gateway;
  suggestUrl(engine.current.routes());
  if (saved.action === "simulate") simulate();
  else decide();

  $("example").addEventListener("change", async () => {
    const name = $("example").value;
    if (!name) return;
    try {
      $("yaml").value = await loadExample(name);
      $("yaml").dataset.pristine = "1";
    } catch (e) {
      setStatus(e.message, true);
      return;
    }
    $("url").value = "";
    if (applyConfig()) {
      suggestUrl(engine.current.routes());
      decide();
    }
    saveState();
  });
  let timer;
  $("yaml").addEventListener("input", () => {
    $("yaml").dataset.pristine = "0";
    clearTimeout(timer);
    timer = setTimeout(() => { applyConfig(); saveState(); }, 250);
  });
  $("decide").addEventListener("click", decide);
  $("simulate").addEventListener("click", simulate);
  $("gateway").addEventListener("change", saveState);
  document.body.dataset.ready = "1";
}

main().catch((e) => setStatus(`failed to start: ${e.message}`, true));
