/* tslint:disable */
/* eslint-disable */
export const memory: WebAssembly.Memory;
export const __wbg_engine_free: (a: number, b: number) => void;
export const __wbg_preparedrequest_free: (a: number, b: number) => void;
export const check: (a: any) => [number, number, number];
export const engine_apply: (a: number, b: any) => [number, number, number];
export const engine_decide: (a: number, b: any, c: any) => [number, number, number];
export const engine_decidePrepared: (a: number, b: number, c: any) => [number, number, number];
export const engine_decideTcp: (a: number, b: any, c: any) => [number, number, number];
export const engine_explain: (a: number, b: any, c: any) => [number, number, number];
export const engine_new: () => number;
export const engine_routes: (a: number) => [number, number, number];
export const engine_simulate: (a: number, b: any, c: number, d: any) => [number, number, number];
export const preparedrequest_new: (a: any) => [number, number, number];
export const start: () => void;
export const version: () => [number, number];
export const __wbindgen_malloc: (a: number, b: number) => number;
export const __wbindgen_realloc: (a: number, b: number, c: number, d: number) => number;
export const __wbindgen_free: (a: number, b: number, c: number) => void;
export const __wbindgen_exn_store: (a: number) => void;
export const __externref_table_alloc: () => number;
export const __wbindgen_externrefs: WebAssembly.Table;
export const __externref_table_dealloc: (a: number) => void;
export const __wbindgen_start: () => void;
