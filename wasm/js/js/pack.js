// Packs a request object of the plain shapes into one string, in JS, where
// reading it is fast (each property read from Rust crosses into JS):
// tokens separated by NUL, each starting with a tag letter (read.rs parses
// them). Anything else — an unknown field, a value of another type, a
// string with a NUL or a lone surrogate — gives undefined, and Rust reads
// the object with its exact reader, which names the problem.
const ok = (v) => typeof v === "string" && !v.includes("\0") && (v.isWellFormed === undefined || v.isWellFormed());

function pairs(list, key, value) {
  let out = "";
  if (Array.isArray(list)) {
    for (const p of list) {
      if (!Array.isArray(p) || p.length !== 2 || !ok(p[0]) || !ok(p[1])) return undefined;
      out += "\0" + key + p[0] + "\0" + value + p[1];
    }
  } else if (list !== null && typeof list === "object") {
    for (const k in list) {
      if (!Object.prototype.hasOwnProperty.call(list, k)) continue;
      const v = list[k];
      if (!ok(k) || !ok(v)) return undefined;
      out += "\0" + key + k + "\0" + value + v;
    }
  } else return undefined;
  return out;
}

function onlyKnown(o, allowed) {
  for (const k in o) {
    if (Object.prototype.hasOwnProperty.call(o, k) && !allowed.includes(k)) return false;
  }
  return true;
}

const REQUEST = ["url", "method", "headers", "port", "source"];
const SOURCE = ["gateway", "namespace", "labels", "ip", "local"];

// Packs `r` for an engine: 0 when it is not a plain shape, 1 when it is
// the same as the last request packed with this `memo` (an engine's: its
// Rust side keeps what that one read as), 2 when it is new (take_packed
// hands it over). Numbers cross into wasm as they are; a string or an
// object would cost more crossings than the decision.
export function pack_request(r, memo) {
  const packed = pack(r);
  if (packed === undefined) return 0;
  if (packed === memo.last) return 1;
  memo.last = packed;
  return 2;
}

export function take_packed(memo) {
  return memo.last;
}

export function forget(memo) {
  memo.last = undefined;
}

function pack(r) {
  if (r === null || typeof r !== "object" || Array.isArray(r)) return undefined;
  if (!onlyKnown(r, REQUEST)) return undefined;
  if (!ok(r.url)) return undefined;
  let out = "U" + r.url;
  if (r.method !== undefined) {
    if (!ok(r.method)) return undefined;
    out += "\0M" + r.method;
  }
  if (r.port !== undefined) {
    if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535) return undefined;
    out += "\0P" + r.port;
  }
  if (r.headers !== undefined) {
    const h = pairs(r.headers, "H", "V");
    if (h === undefined) return undefined;
    out += h;
  }
  const s = r.source;
  if (s !== undefined) {
    if (s === null || typeof s !== "object" || Array.isArray(s) || !onlyKnown(s, SOURCE)) return undefined;
    for (const [key, tag] of [["gateway", "G"], ["namespace", "N"], ["ip", "I"], ["local", "C"]]) {
      const v = s[key];
      if (v === undefined) continue;
      if (!ok(v)) return undefined;
      out += "\0" + tag + v;
    }
    if (s.labels !== undefined) {
      const l = pairs(s.labels, "K", "W");
      if (l === undefined) return undefined;
      out += l;
    }
  }
  return out;
}
