// Writes a request object of the plain shapes into the wasm memory, in JS,
// where reading an object is fast (each property read from Rust would cross
// into JS, which costs more than the decision): tokens each ended by NUL,
// each starting with a tag letter, which read.rs parses in place. Only
// ASCII text without NUL is written this way; anything else (an unknown
// field, a value of another type, other text, more than fits) gives -1,
// and Rust reads the object with its exact reader, which names the problem.
//
// The entropy goes the same way (a number crossing back into JS for its
// value cost more than the rest of the call).
//
// A proxy or a loop decides the same strings again and again (the same
// header names, often the same URL): each encoder remembers the strings it
// wrote last time, in order, and where each one's bytes end. While a call
// puts the same strings in the same order, their bytes are already in
// place and are skipped over; from the first difference on, it writes.

// The call in progress (JS runs one at a time): the memory's bytes, the
// next byte to write, the end of the scratch area, and the reuse state:
// the encoder's memo, the count of puts so far and whether all of them
// were the previous call's.
let bytes = null;
let at = 0;
let end = 0;
let memo = null;
let puts = 0;
let same = false;

// Where the entropy goes (8 bytes, little endian), whether it was written
// (1) or is for Rust to read from the value (0), and where the tokens start.
const ENTROPY = 0, ENTROPY_SET = 8, TOKENS = 16;

// True when the put about to be made is the previous call's at this point
// (same tag, the same string): its bytes are then skipped over.
function reused(tag, s) {
  if (same) {
    const i = puts;
    if (i < memo.count && memo.tags[i] === tag && memo.strs[i] === s) {
      at = memo.ends[i];
      puts = i + 1;
      return true;
    }
    same = false;
  }
  return false;
}

// Records the put just written (its bytes end at `at`).
function written(tag, s) {
  const i = puts++;
  memo.tags[i] = tag;
  memo.strs[i] = s;
  memo.ends[i] = at;
}

// Writes tag, s and NUL; false when s is not ASCII text without NUL or
// does not fit. (Locals in the loop: the optimiser keeps them in registers.)
function put(tag, s) {
  if (typeof s !== "string") return false;
  if (reused(tag, s)) return true;
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
  written(tag, s);
  return true;
}

// put for a header name, in lowercase (as the exact reader stores it).
function putLower(tag, s) {
  if (typeof s !== "string") return false;
  if (reused(tag, s)) return true;
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
  written(tag, s);
  return true;
}

// The tags (read.rs names them).
const URL = 85, METHOD = 77, PORT = 80, HEADER = 72, VALUE = 86;
const GATEWAY = 71, NAMESPACE = 78, IP = 73, LOCAL = 67, LABEL = 75, LABEL_VALUE = 87;

// The browser's and Node's UTF-8 writer: native, many times faster than a
// loop over the characters of a URL.
const utf8 = new TextEncoder();

// Writes the URL `s` as one token of its UTF-8 bytes; Rust splits it with
// the exact reader's own weir_report::request::split_url, so both paths
// read a URL the same way. False when it holds NUL (which ends tokens;
// split_url refuses control characters anyway), a lone surrogate (which
// the writer would replace; the exact reader refuses it, saying so) or
// does not fit.
function putUrl(s) {
  if (typeof s !== "string") return false;
  if (reused(URL, s)) return true;
  if (s.indexOf("\0") >= 0 || typeof s.isWellFormed !== "function" || !s.isWellFormed()) return false;
  let p = at;
  if (p + 2 > end) return false;
  bytes[p++] = URL;
  const r = utf8.encodeInto(s, bytes.subarray(p, end - 1));
  if (r.read !== s.length) return false;
  p += r.written;
  bytes[p++] = 0;
  at = p;
  written(URL, s);
  return true;
}

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
  // Last: a proxy's requests differ most in their URLs, and the strings
  // before the first difference are reused.
  return putUrl(r.url);
}

// 2^32 and 2^64, for splitting the entropy.
const TWO_32 = 4294967296;
const TWO_64N = 18446744073709551616n;

// Writes the entropy as Rust's entropy_of reads it (a safe non-negative
// integer number, a BigInt in 0..2^64, or undefined for 0); false for
// anything else, which Rust reads itself (and refuses, naming why).
function putEntropy(e, p) {
  let lo, hi;
  if (typeof e === "number") {
    if (!(Number.isSafeInteger(e) && e >= 0)) return false;
    lo = e % TWO_32;
    hi = (e - lo) / TWO_32;
  } else if (typeof e === "bigint") {
    if (e < 0n || e >= TWO_64N) return false;
    lo = Number(e & 0xffffffffn);
    hi = Number(e >> 32n);
  } else if (e === undefined) {
    lo = hi = 0;
  } else {
    return false;
  }
  const b = bytes;
  b[p] = lo; b[p + 1] = lo >>> 8; b[p + 2] = lo >>> 16; b[p + 3] = lo >>> 24;
  b[p + 4] = hi; b[p + 5] = hi >>> 8; b[p + 6] = hi >>> 16; b[p + 7] = hi >>> 24;
  return true;
}

// Writes `entropy` and `r` at `ptr` (`cap` bytes) of the memory
// `m.memory`: the entropy's 8 bytes and whether they were written, then
// the request's tokens from ptr + 16; returns the tokens' length, or -1
// when Rust must read `r` with the exact reader. `m` is the encoder's
// memo: the memory's bytes and the strings written last time.
export function encode_request(r, entropy, m, ptr, cap) {
  bytes = m.bytes;
  // A view of a grown memory's old buffer has length 0 (it is detached).
  if (bytes === undefined || bytes.length === 0) bytes = m.bytes = new Uint8Array(m.memory.buffer);
  if (m.tags === undefined) {
    m.tags = [];
    m.strs = [];
    m.ends = [];
    m.count = 0;
  }
  bytes[ptr + ENTROPY_SET] = putEntropy(entropy, ptr + ENTROPY) ? 1 : 0;
  memo = m;
  puts = 0;
  same = true;
  at = ptr + TOKENS;
  end = ptr + cap;
  const ok = request(r);
  // A failed call may have overwritten part of what the memo describes.
  m.count = ok ? puts : 0;
  // The strings past the count are dropped (not kept alive by the memo).
  if (m.strs.length > m.count) m.strs.length = m.count;
  bytes = null;
  memo = null;
  return ok ? at - ptr - TOKENS : -1;
}
