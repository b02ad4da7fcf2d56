// Writes a request object of the plain shapes into the wasm memory, in JS,
// where reading an object is fast (each property read from Rust would cross
// into JS, which costs more than the decision): tokens each ended by NUL,
// each starting with a tag letter, which read.rs parses in place. Only
// ASCII text without NUL is written this way; anything else (an unknown
// field, a value of another type, other text, more than fits) gives -1,
// and Rust reads the object with its exact reader, which names the problem.

// The call in progress (JS runs one at a time): the memory's bytes, the
// next byte to write and the end of the scratch area.
let bytes = null;
let at = 0;
let end = 0;

// Writes tag, s and NUL; false when s is not ASCII text without NUL or
// does not fit. (Locals in the loop: the optimiser keeps them in registers.)
function put(tag, s) {
  if (typeof s !== "string") return false;
  const b = bytes, n = s.length;
  let p = at;
  if (p + n + 2 > end) return false;
  b[p++] = tag;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c > 127) return false;
    b[p++] = c;
  }
  b[p++] = 0;
  at = p;
  return true;
}

// put for a header name, in lowercase (as the exact reader stores it).
function putLower(tag, s) {
  if (typeof s !== "string") return false;
  const b = bytes, n = s.length;
  let p = at;
  if (p + n + 2 > end) return false;
  b[p++] = tag;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c > 127) return false;
    b[p++] = c >= 65 && c <= 90 ? c | 32 : c;
  }
  b[p++] = 0;
  at = p;
  return true;
}

// The tags (read.rs names them).
const URL = 85, METHOD = 77, PORT = 80, HEADER = 72, VALUE = 86;
const GATEWAY = 71, NAMESPACE = 78, IP = 73, LOCAL = 67, LABEL = 75, LABEL_VALUE = 87;

// Header pairs ([[name, value], …]) or an object of them.
function headers(list) {
  if (Array.isArray(list)) {
    for (let i = 0; i < list.length; i++) {
      const p = list[i];
      if (!Array.isArray(p) || p.length !== 2 || !putLower(HEADER, p[0]) || !put(VALUE, p[1])) return false;
    }
    return true;
  }
  return object(list, HEADER, VALUE, putLower);
}

// An object's own properties as tagged pairs of strings.
function object(o, key, value, putKey) {
  if (o === null || typeof o !== "object" || Array.isArray(o)) return false;
  for (const k in o) {
    // Inherited keys count as unknown: the exact reader decides about them.
    if (!Object.hasOwn(o, k) || !putKey(key, k) || !put(value, o[k])) return false;
  }
  return true;
}

function source(s) {
  if (s === null || typeof s !== "object" || Array.isArray(s)) return false;
  for (const k in s) {
    const v = s[k];
    if (v === undefined) continue;
    let ok;
    switch (k) {
      case "gateway": ok = put(GATEWAY, v); break;
      case "namespace": ok = put(NAMESPACE, v); break;
      case "ip": ok = put(IP, v); break;
      case "local": ok = put(LOCAL, v); break;
      case "labels": ok = object(v, LABEL, LABEL_VALUE, put); break;
      default: ok = false;
    }
    if (!ok) return false;
  }
  return true;
}

function request(r) {
  if (r === null || typeof r !== "object" || Array.isArray(r)) return false;
  if (!put(URL, r.url)) return false;
  for (const k in r) {
    const v = r[k];
    if (v === undefined) continue;
    let ok;
    switch (k) {
      case "url": ok = true; break;
      case "method": ok = put(METHOD, v); break;
      case "port": ok = Number.isInteger(v) && v >= 0 && v <= 65535 && put(PORT, String(v)); break;
      case "headers": ok = headers(v); break;
      case "source": ok = source(v); break;
      default: ok = false;
    }
    if (!ok) return false;
  }
  return true;
}

// Writes `r` at `ptr` (`cap` bytes) of the memory `memo.memory`: the length
// written, or -1 when Rust must read `r` with the exact reader.
export function encode_request(r, memo, ptr, cap) {
  bytes = memo.bytes;
  // A view of a grown memory's old buffer has length 0 (it is detached).
  if (bytes === undefined || bytes.length === 0) bytes = memo.bytes = new Uint8Array(memo.memory.buffer);
  at = ptr;
  end = ptr + cap;
  const ok = request(r);
  bytes = null;
  return ok ? at - ptr : -1;
}
