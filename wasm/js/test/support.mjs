// Shared by the Node tests: the weir-js package for Node and the repository's files.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, "../../..");
// Built by wasm/js/build.sh node (./test.sh runs it first).
export const weir = createRequire(import.meta.url)(path.join(root, "wasm/js/pkg/node/weir_js.js"));

export function config(name) {
  return readFileSync(path.join(root, "examples/configs", name), "utf8");
}

export function readRepo(rel) {
  return readFileSync(path.join(root, rel), "utf8");
}
