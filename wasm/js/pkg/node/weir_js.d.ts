/* tslint:disable */
/* eslint-disable */

/** What `apply` throws for a rejected config: an `Error` named
 * `WeirConfigError` carrying every diagnostic (errors and warnings). */
export interface WeirConfigError extends Error {
    name: "WeirConfigError";
    diagnostics: DiagnosticReport[];
}


/**
 * A TCP or TLS connection to decide.
 */
export interface ConnectionInput {
    /**
     * The original destination, `ip:port`.
     */
    destination?: string;
    /**
     * The listener port; absent: the destination's.
     */
    port?: number;
    /**
     * The TLS server name (only `tls[]` rules match one).
     */
    sni?: string;
    /**
     * The service host connected to, when the proxy knows it.
     */
    host?: string;
    source?: SourceInput;
}

/**
 * A cluster the request is copied to.
 */
export interface MirrorReport {
    cluster: string;
    host: string;
    /**
     * Share mirrored, parts per million.
     */
    per_million: number;
}

/**
 * A decision with the rule trace that led to it.
 */
export interface Explanation {
    decision: DecisionReport;
    trace: Trace;
}

/**
 * A listener: the sidecars' (`mesh`) or a gateway's port.
 */
export interface ListenerReport {
    /**
     * `mesh` or `namespace/name:port`.
     */
    name: string;
    https_redirect: boolean;
    http: HttpRouteRow[];
    tcp: TcpRouteRow[];
}

/**
 * An HTTP request to decide: `{method, url, headers, source}`.
 */
export interface RequestInput {
    /**
     * `GET` when absent.
     */
    method?: string;
    /**
     * `http://host[:port]/path?query` (the scheme may be left out).
     */
    url: string;
    headers?: HeadersInput;
    /**
     * The listener port; absent: the URL's.
     */
    port?: number;
    source?: SourceInput;
}

/**
 * Header edits, in the order they apply: remove, then set, then add.
 */
export interface HeaderOpsReport {
    /**
     * `[name, value]` pairs.
     */
    set: [string, string][];
    add: [string, string][];
    remove: string[];
}

/**
 * Headers as an object (`{"user-agent": "curl"}`) or as ordered pairs
 * (`[["x-a", "1"], ["x-a", "2"]]`, for repeated names).
 */
export type HeadersInput = [string, string][] | Record<string, string>;

/**
 * How N decisions of one request fell.
 */
export interface Simulation {
    n: number;
    /**
     * The seed of the entropy sequence (splitmix64).
     */
    seed: number;
    /**
     * Count per outcome (`route`, `fault_abort`, …).
     */
    outcomes: Record<string, number>;
    /**
     * Count per cluster.
     */
    destinations: Record<string, number>;
    /**
     * Count per endpoint (`ip:port`, with ` (pod ns/name)` when known).
     */
    endpoints: Record<string, number>;
}

/**
 * How a consistent-hash balancer hashed the request.
 */
export interface HashReport {
    /**
     * `header x-user`, `cookie user`, `source ip`, `query parameter u`.
     */
    policy: string;
    /**
     * `present`, `generated cookie` or `absent (random)`.
     */
    input: string;
    /**
     * The key read from the request, for people.
     */
    key: string;
    /**
     * The 64-bit hash, in decimal (a JS number cannot hold it).
     */
    value: string;
}

/**
 * How a request was matched.
 */
export interface Trace {
    /**
     * `mesh (sidecar)` or `gateway namespace/name`.
     */
    listener: string;
    /**
     * The virtual host's domain; `null` when none serves the authority.
     */
    virtual_host: string | null;
    /**
     * Set when the port is not HTTP (Istio's protocol selection), so the
     * host's http routes do not apply.
     */
    opaque_port: number | null;
    steps: TraceStep[];
}

/**
 * One HTTP route of a virtual host.
 */
export interface HttpRouteRow {
    domain: string;
    /**
     * The match, for people: `/api*`, `method=GET`, `!x-user=ann`, …
     */
    match: string;
    /**
     * `namespace/name http[i]`, or `(default route)`.
     */
    rule: string;
    /**
     * Clusters with their weights, or the redirect or direct response.
     */
    action: string;
}

/**
 * One TCP or TLS rule.
 */
export interface TcpRouteRow {
    /**
     * `tcp` or `tls`.
     */
    kind: string;
    match_blocks: number;
    /**
     * `namespace/name [i]`.
     */
    rule: string;
    /**
     * `host|subset (weight)` each.
     */
    destinations: string[];
}

/**
 * One cluster and its endpoints.
 */
export interface ClusterReport {
    name: string;
    /**
     * The load balancer: `round_robin`, `ring_hash`, `maglev`, …
     */
    lb: string;
    endpoints: EndpointReport[];
}

/**
 * One decision: what to do with one request.
 */
export interface DecisionReport {
    /**
     * `route`, `redirect`, `direct_response`, `fault_abort`, `no_route`,
     * `no_cluster`, `no_healthy_upstream` or `overflow`.
     */
    outcome: string;
    /**
     * The status of a local reply; `null` when routed.
     */
    status: number | null;
    /**
     * A gRPC fault abort: answer 200 with this grpc-status.
     */
    grpc_status?: number;
    route: RouteReport | null;
    /**
     * Index of the route destination picked.
     */
    destination_index: number | null;
    /**
     * `outbound|PORT|SUBSET|HOST`.
     */
    cluster: string | null;
    destination: DestinationReport | null;
    /**
     * `ip:port`.
     */
    endpoint: string | null;
    endpoint_origin?: EndpointOriginReport;
    /**
     * PASSTHROUGH: forward to the address the client dialled.
     */
    original_destination?: boolean;
    upstream_path: string;
    upstream_authority: string | null;
    location: string | null;
    request_headers: HeaderOpsReport;
    response_headers: HeaderOpsReport;
    delay_ms: number | null;
    timeout_ms: number | null;
    retries: RetriesReport | null;
    mirrors: MirrorReport[];
    /**
     * A direct response's body.
     */
    body?: string;
    hash?: HashReport;
    set_cookie: string | null;
}

/**
 * One diagnostic: what `weir check --json` prints for each.
 */
export interface DiagnosticReport {
    /**
     * `IST0101`, `WEIR0001`, …
     */
    code: string;
    /**
     * `error`, `warning` or `info`.
     */
    severity: string;
    /**
     * `null` for a file that could not be parsed.
     */
    resource: ResourceReport | null;
    /**
     * Field path, e.g. `spec.http[0].match[0].uri.regex`.
     */
    field: string;
    message: string;
    file: string | null;
    /**
     * 1-based line in `file` (syntax errors, and resources found by
     * [`crate::locate`]).
     */
    line: number | null;
    column: number | null;
}

/**
 * One endpoint of a cluster.
 */
export interface EndpointReport {
    address: string;
    /**
     * `namespace/name` of its pod, `""` when not from Kubernetes.
     */
    pod: string;
    /**
     * Where it was read from.
     */
    source: string;
}

/**
 * One rule looked at.
 */
export interface TraceStep {
    /**
     * `namespace/name http[i].match[m]`, or `default route`.
     */
    rule: string;
    matched: boolean;
    /**
     * The field that did not match (`uri`, `headers.x-user`, …).
     */
    mismatch: string | null;
}

/**
 * The client workload and the proxy's listener.
 */
export interface SourceInput {
    /**
     * Decide as this gateway (`namespace/name`); absent or `mesh`: a sidecar.
     */
    gateway?: string;
    /**
     * The client workload's namespace (`sourceNamespace` matches).
     */
    namespace?: string;
    /**
     * The client workload's labels (`sourceLabels` matches).
     */
    labels?: Record<string, string>;
    /**
     * The client's address, `ip` or `ip:port`.
     */
    ip?: string;
    /**
     * The address the listener accepts on, `ip:port` (generated hash
     * cookies hash it); absent: unknown.
     */
    local?: string;
}

/**
 * The destination picked.
 */
export interface DestinationReport {
    host: string;
    /**
     * `""` for no subset.
     */
    subset: string;
    port: number;
}

/**
 * The resource a diagnostic is about.
 */
export interface ResourceReport {
    kind: string;
    namespace: string;
    name: string;
}

/**
 * The retry policy (Istio's defaults filled in).
 */
export interface RetriesReport {
    attempts: number;
    per_try_timeout_ms: number | null;
    retry_on: string;
    retriable_status_codes: number[];
}

/**
 * The rule that matched.
 */
export interface RouteReport {
    /**
     * `namespace/name` of the VirtualService.
     */
    virtual_service: string;
    /**
     * `http`, `tcp` or `tls`: which list the rule is in.
     */
    kind: string;
    /**
     * Index in that list; `null` for the default route of a service.
     */
    rule: number | null;
    /**
     * The rule's `name`.
     */
    name: string | null;
    /**
     * Which of the rule's `match` blocks matched (HTTP).
     */
    match: number | null;
}

/**
 * The whole table.
 */
export interface RouteTable {
    listeners: ListenerReport[];
    clusters: ClusterReport[];
}

/**
 * Where an endpoint came from (Kubernetes inputs).
 */
export interface EndpointOriginReport {
    /**
     * `namespace/name` of the pod.
     */
    pod: string;
    /**
     * The EndpointSlice, Endpoints or ServiceEntry it was read from.
     */
    source: string;
}


/**
 * An engine: the config in force and its compiled table.
 */
export class Engine {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Validates, compiles and puts `text` in force; returns its warnings.
     * A config with errors throws a `WeirConfigError` carrying every
     * diagnostic, and the previous config keeps serving.
     */
    apply(text: string): DiagnosticReport[];
    /**
     * `decide` for a request read once: what a proxy or a loop calls.
     */
    decidePrepared(request: PreparedRequest, entropy: bigint | number): DecisionReport;
    /**
     * Decides a TCP or TLS connection: `{destination, port, sni, host, source}`.
     */
    decideTcp(connection: ConnectionInput, entropy: bigint | number): DecisionReport;
    /**
     * Decides an HTTP request: `{method, url, headers, port, source}`.
     * `entropy` (BigInt or number) drives every random choice: the same
     * config, request and entropy give the same decision in Rust, C, Go
     * and JS. Decisions are frozen, and equal ones may be the same object.
     */
    decide(request: RequestInput, entropy: bigint | number): DecisionReport;
    /**
     * The decision and the rules looked at on the way (`weir explain`).
     */
    explain(request: RequestInput, entropy: bigint | number): Explanation;
    /**
     * An engine with no config: every request is `no_route`.
     */
    constructor();
    /**
     * The compiled listeners, routes and clusters (`weir routes`).
     */
    routes(): RouteTable;
    /**
     * `n` decisions of `request` with entropy drawn from `seed` (default
     * 0), counted by outcome, destination and endpoint.
     */
    simulate(request: RequestInput, n: number, seed: bigint | number | undefined): Simulation;
}

/**
 * A request read once, for deciding many times (`decidePrepared`): the
 * object form is read and checked on every `decide`, which costs more
 * than the decision.
 */
export class PreparedRequest {
    free(): void;
    [Symbol.dispose](): void;
    /**
     * Reads and checks `request` as `decide` does.
     */
    constructor(request: RequestInput);
}

/**
 * Validates `text` (YAML or JSON, any number of documents) as `weir check`
 * does; the diagnostics carry the line of the field they are about.
 */
export function check(text: string): DiagnosticReport[];

/**
 * Turns a Rust panic into a thrown `Error` with the panic's message (the
 * wasm build aborts on panic; without this JS would see only
 * `unreachable`). No input is meant to reach one.
 */
export function start(): void;

/**
 * Weir's version.
 */
export function version(): string;
