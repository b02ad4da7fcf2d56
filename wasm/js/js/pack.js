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
    for (let i = 0; i < list.length; i++) {
      const p = list[i];
      if (!Array.isArray(p) || p.length !== 2 || !ok(p[0]) || !ok(p[1])) return undefined;
      out += "\0" + key + p[0] + "\0" + value + p[1];
    }
    return out;
  }
  if (list === null || typeof list !== "object") return undefined;
  // Inherited keys count as unknown: the exact reader decides about them.
  for (const k in list) {
    const v = list[k];
    if (!ok(k) || !ok(v) || !Object.hasOwn(list, k)) return undefined;
    out += "\0" + key + k + "\0" + value + v;
  }
  return out;
}

function requestKeysKnown(o) {
  for (const k in o) {
    switch (k) {
      case "url": case "method": case "headers": case "port": case "source": break;
      default: return false;
    }
  }
  return true;
}

function sourceKeysKnown(o) {
  for (const k in o) {
    switch (k) {
      case "gateway": case "namespace": case "labels": case "ip": case "local": break;
      default: return false;
    }
  }
  return true;
}

function tagged(tag, v) {
  if (v === undefined) return "";
  return ok(v) ? "\0" + tag + v : undefined;
}

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
  if (r === null || typeof r !== "object" || Array.isArray(r) || !requestKeysKnown(r)) return undefined;
  if (!ok(r.url)) return undefined;
  let out = "U" + r.url;
  const method = tagged("M", r.method);
  if (method === undefined) return undefined;
  out += method;
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
    if (s === null || typeof s !== "object" || Array.isArray(s) || !sourceKeysKnown(s)) return undefined;
    const parts = [tagged("G", s.gateway), tagged("N", s.namespace), tagged("I", s.ip), tagged("C", s.local)];
    if (parts.includes(undefined)) return undefined;
    out += parts.join("");
    if (s.labels !== undefined) {
      const l = pairs(s.labels, "K", "W");
      if (l === undefined) return undefined;
      out += l;
    }
  }
  return out;
}
