//! Validation like `istioctl analyze` and Kiali: every problem at once.
//!
//! Each [`Diagnostic`] names a code (Istio's `IST…` / Kiali's `KIA…` where
//! one exists, `WEIR…` for Weir's own), a severity, the resource, the field
//! path (`spec.http[0].match[0].uri.regex`) and a message. Errors reject the
//! whole config; warnings are reported and the config applies.

use crate::balance::maglev::validate_table_size;
use crate::balance::ring_hash::{validate_ring_sizes, RingHash};
use crate::config::delegates;
use crate::config::destination_rules::DestinationRuleIndex;
use crate::config::model::*;
use crate::config::names::{expand_host, hosts_intersect, parse_duration, resolve_gateway};
use crate::config::registry::{labels_select, Registry};
use crate::config::{Config, Kind, Resource};
pub use crate::diagnostic::{has_errors, Diagnostic, ResourceRef, Severity};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Largest regex Istio accepts.
const MAX_REGEX_LEN: usize = 1024;
/// Compiled-size limit for every regex (linear-time engine, bounded memory).
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a pattern for a full match (RE2 semantics, anchored both ends).
pub(crate) fn full_match_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!(
            "regex is {} characters long; the limit is {MAX_REGEX_LEN}",
            pattern.len()
        ));
    }
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| one_line(&e.to_string()))
}

/// Compiles a pattern for search-and-replace (not anchored).
pub(crate) fn search_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!(
            "regex is {} characters long; the limit is {MAX_REGEX_LEN}",
            pattern.len()
        ));
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| one_line(&e.to_string()))
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The redirect codes Envoy supports; others make the route unusable.
pub(crate) const REDIRECT_CODES: [u32; 5] = [301, 302, 303, 307, 308];

/// The gRPC status names Istio accepts for `fault.abort.grpcStatus`.
pub(crate) const GRPC_STATUSES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Collects diagnostics for one resource.
struct Reporter<'a> {
    out: &'a mut Vec<Diagnostic>,
    resource: ResourceRef,
}

impl Reporter<'_> {
    fn push(&mut self, code: &'static str, severity: Severity, field: &str, message: String) {
        self.out.push(Diagnostic::new(
            code,
            severity,
            self.resource.clone(),
            field,
            message,
        ));
    }
    fn error(&mut self, field: &str, message: String) {
        self.push("IST0106", Severity::Error, field, message);
    }
}

/// Validates a loaded config against itself: schema rules, references,
/// reachability, conflicts. Appends to `out`.
pub fn validate(config: &Config, out: &mut Vec<Diagnostic>) {
    validate_building_registry(config, out);
}

/// [`validate`], returning the service registry it built: from the
/// ServiceEntries validation accepts only, as a rejected resource never
/// reaches istiod (a rejected `hosts: ["*"]` would make every missing host
/// look known). [`crate::compile::compile_validated`] takes it, so an
/// apply builds the registry once.
pub fn validate_building_registry(config: &Config, out: &mut Vec<Diagnostic>) -> Registry {
    // ServiceEntries first (their checks stand alone), reported in the
    // usual place below.
    let mut entry_diagnostics = Vec::new();
    let rejected: Vec<bool> = config
        .service_entries
        .iter()
        .map(|se| {
            let first = entry_diagnostics.len();
            let mut r = Reporter {
                out: &mut entry_diagnostics,
                resource: se.reference(Kind::ServiceEntry),
            };
            service_entry(se, &mut r);
            // Only this entry's own diagnostics: O(1) per diagnostic.
            entry_diagnostics[first..].iter().any(Diagnostic::is_error)
        })
        .collect();
    let registry = Registry::build_except(config, &rejected);
    let ctx = Context::new(config, &registry);
    for vs in &config.virtual_services {
        let mut r = Reporter {
            out: &mut *out,
            resource: vs.reference(Kind::VirtualService),
        };
        ctx.virtual_service(vs, &mut r);
    }
    for dr in &config.destination_rules {
        let mut r = Reporter {
            out: &mut *out,
            resource: dr.reference(Kind::DestinationRule),
        };
        ctx.destination_rule(dr, &mut r);
    }
    for gw in &config.gateways {
        let mut r = Reporter {
            out: &mut *out,
            resource: gw.reference(Kind::Gateway),
        };
        gateway(gw, &mut r);
    }
    out.append(&mut entry_diagnostics);
    ctx.conflicts(out);
    crate::config::kube::check::check(config, out);
    registry
}

struct Context<'a> {
    config: &'a Config,
    registry: &'a Registry,
    destination_rules: DestinationRuleIndex<'a>,
    delegates: delegates::Delegates<'a>,
    gateways: HashSet<String>,
}

impl<'a> Context<'a> {
    fn new(config: &'a Config, registry: &'a Registry) -> Self {
        let gateways = config
            .gateways
            .iter()
            .map(|g| format!("{}/{}", g.namespace, g.name))
            .collect();
        Context {
            config,
            registry,
            destination_rules: DestinationRuleIndex::new(&config.destination_rules),
            delegates: delegates::Delegates::new(&config.virtual_services),
            gateways,
        }
    }

    /// True when the DestinationRules that apply to `host` (the compiler's
    /// lookup: most specific host match, wildcards included) define `subset`.
    fn defines_subset(&self, host: &str, subset: &str) -> bool {
        self.destination_rules.defines_subset(host, subset)
    }

    /// A root route's `delegate`: what it names must be a delegate exported
    /// to the root's namespace (else the route is skipped, as istiod does),
    /// and delegation is one level deep.
    fn delegate(
        &self,
        vs: &Resource<VirtualServiceSpec>,
        d: &Delegate,
        has_action: bool,
        field: &str,
        r: &mut Reporter<'_>,
    ) {
        let field = format!("{field}.delegate");
        let ns = d.namespace.as_deref().unwrap_or(&vs.namespace);
        let target = format!("{ns}/{}", d.name);
        if d.name.is_empty() {
            r.error(&format!("{field}.name"), "delegate name is required".into());
        } else if delegates::is_delegate(vs) {
            r.error(
                &field,
                format!("a delegate VirtualService cannot delegate again (to {target:?}): delegation is one level deep"),
            );
        } else if has_action {
            r.error(
                &field,
                "delegate cannot be combined with route, redirect or direct_response: the delegate's routes replace this one".into(),
            );
        } else if ns == vs.namespace && d.name == vs.name {
            r.error(
                &field,
                format!("VirtualService {target} delegates to itself"),
            );
        } else {
            let skipped = match self.delegates.lookup(ns, &d.name, &vs.namespace) {
                delegates::Lookup::Found(_) => return,
                delegates::Lookup::Missing => {
                    format!("Referenced delegate VirtualService not found: {target:?}")
                }
                delegates::Lookup::NotDelegate => {
                    format!("VirtualService {target} has hosts, so it is not a delegate")
                }
                delegates::Lookup::NotExported => format!(
                    "delegate VirtualService {target} is not exported to namespace {:?}",
                    vs.namespace
                ),
            };
            r.push(
                "IST0101",
                Severity::Warning,
                &field,
                format!("{skipped}; this route is skipped"),
            );
        }
    }

    fn virtual_service(&self, vs: &Resource<VirtualServiceSpec>, r: &mut Reporter<'_>) {
        let spec = &vs.spec;
        let gateways: Vec<String> = if spec.gateways.is_empty() {
            vec!["mesh".into()]
        } else {
            spec.gateways
                .iter()
                .map(|g| resolve_gateway(g, &vs.namespace))
                .collect()
        };
        let mesh_bound = gateways.iter().any(|g| g == "mesh");
        export_to(
            &spec.export_to,
            &vs.namespace,
            ExportToOf::VirtualService,
            r,
        );
        if delegates::is_delegate(vs) {
            // A delegate: its routes are used through a root's
            // `http[].delegate`, in the root's hosts and gateways.
            let only_http = "a delegate VirtualService (one without hosts) takes only http routes";
            if !spec.gateways.is_empty() {
                r.error(
                    "spec.gateways",
                    "a delegate VirtualService (one without hosts) must not name gateways: its root's apply".into(),
                );
            }
            if !spec.tls.is_empty() {
                r.error("spec.tls", only_http.into());
            }
            if !spec.tcp.is_empty() {
                r.error("spec.tcp", only_http.into());
            }
        }
        let mut seen = Vec::<String>::new();
        for (i, host) in spec.hosts.iter().enumerate() {
            let field = format!("spec.hosts[{i}]");
            let expanded = expand_host(host, &vs.namespace);
            if host.is_empty() {
                r.error(&field, "host must not be empty".into());
            } else if host == "*" && mesh_bound {
                r.error(
                    &field,
                    "wildcard host * is not allowed for VirtualServices bound to the mesh".into(),
                );
            } else if !valid_host(host) {
                r.error(
                    &field,
                    format!("invalid host {host:?}: expected a DNS name, a *.suffix wildcard or *"),
                );
            }
            if seen.iter().any(|h| hosts_intersect(h, &expanded)) {
                r.error(
                    &field,
                    format!(
                        "duplicate hosts in virtual service: {host:?} overlaps an earlier host"
                    ),
                );
            }
            seen.push(expanded);
        }
        if spec.http.is_empty() && spec.tcp.is_empty() && spec.tls.is_empty() {
            r.error(
                "spec",
                "http, tcp or tls must be provided in virtual service".into(),
            );
        }
        for (i, g) in spec.gateways.iter().enumerate() {
            let resolved = resolve_gateway(g, &vs.namespace);
            if resolved == "mesh" {
                continue;
            }
            let field = format!("spec.gateways[{i}]");
            if !self.gateways.contains(&resolved) {
                r.push(
                    "IST0101",
                    Severity::Error,
                    &field,
                    format!("Referenced gateway not found: {resolved:?}"),
                );
            } else {
                self.hosts_in_gateway(vs, &resolved, &field, r);
            }
            if !g.contains('/') && g.contains('.') {
                r.push(
                    "KIA1108",
                    Severity::Info,
                    &field,
                    "Preferred nomenclature: <gateway namespace>/<gateway name>".into(),
                );
            }
        }
        for (i, route) in spec.http.iter().enumerate() {
            self.http_route(vs, route, &format!("spec.http[{i}]"), r);
        }
        reachability(&spec.http, r);
        for (i, tcp) in spec.tcp.iter().enumerate() {
            let field = format!("spec.tcp[{i}]");
            for (j, m) in tcp.matches.iter().enumerate() {
                for (k, subnet) in m.destination_subnets.iter().enumerate() {
                    if crate::route::Cidr::parse(subnet).is_none() {
                        r.error(
                            &format!("{field}.match[{j}].destinationSubnets[{k}]"),
                            format!("invalid CIDR {subnet:?}"),
                        );
                    }
                }
                if let Some(p) = m.port {
                    check_port(p, &format!("{field}.match[{j}].port"), r);
                }
            }
            let dests: Vec<(&Destination, Option<i64>)> = tcp
                .route
                .iter()
                .map(|d| (&d.destination, d.weight))
                .collect();
            self.destinations(vs, &dests, &format!("{field}.route"), r);
        }
        for (i, tls) in spec.tls.iter().enumerate() {
            let field = format!("spec.tls[{i}]");
            if tls.matches.is_empty() {
                r.error(
                    &format!("{field}.match"),
                    "TLS route must have at least one match condition".into(),
                );
            }
            for (j, m) in tls.matches.iter().enumerate() {
                if m.sni_hosts.is_empty() {
                    r.error(
                        &format!("{field}.match[{j}].sniHosts"),
                        "TLS match must have at least one SNI host".into(),
                    );
                }
                for (k, sni) in m.sni_hosts.iter().enumerate() {
                    let sni_e = expand_host(sni, &vs.namespace);
                    let covered = spec.hosts.iter().any(|h| {
                        crate::config::names::host_matches(&expand_host(h, &vs.namespace), &sni_e)
                    });
                    if !covered {
                        r.error(
                            &format!("{field}.match[{j}].sniHosts[{k}]"),
                            format!("SNI host {sni:?} is not a subset of any of the virtual service hosts"),
                        );
                    }
                }
            }
            let dests: Vec<(&Destination, Option<i64>)> = tls
                .route
                .iter()
                .map(|d| (&d.destination, d.weight))
                .collect();
            self.destinations(vs, &dests, &format!("{field}.route"), r);
        }
    }

    fn hosts_in_gateway(
        &self,
        vs: &Resource<VirtualServiceSpec>,
        gw_ref: &str,
        field: &str,
        r: &mut Reporter<'_>,
    ) {
        let Some((gw_ns, gw_name)) = gw_ref.split_once('/') else {
            return;
        };
        let Some(gw) = self
            .config
            .gateways
            .iter()
            .find(|g| g.namespace == gw_ns && g.name == gw_name)
        else {
            return;
        };
        // Only server hosts whose namespace scope admits this VirtualService
        // (`ns/host`, `./host` for the gateway's namespace, `*/host`, `host`).
        let server_hosts: Vec<&str> = gw
            .spec
            .servers
            .iter()
            .flat_map(|s| s.hosts.iter())
            .filter_map(|h| match h.split_once('/') {
                Some(("*", host)) => Some(host),
                Some((".", host)) => (gw.namespace == vs.namespace).then_some(host),
                Some((ns, host)) => (ns == vs.namespace).then_some(host),
                None => Some(h.as_str()),
            })
            .collect();
        let hosts: Vec<&String> = vs
            .spec
            .hosts
            .iter()
            .filter(|h| {
                let h = h.to_ascii_lowercase();
                !server_hosts
                    .iter()
                    .any(|s| hosts_intersect(&s.to_ascii_lowercase(), &h))
            })
            .collect();
        if !hosts.is_empty() {
            r.push(
                "IST0132",
                Severity::Warning,
                field,
                format!(
                    "one or more host {hosts:?} defined in VirtualService {}/{} not found in Gateway {gw_ref}",
                    vs.namespace, vs.name
                ),
            );
        }
    }

    fn http_route(
        &self,
        vs: &Resource<VirtualServiceSpec>,
        route: &HttpRoute,
        field: &str,
        r: &mut Reporter<'_>,
    ) {
        let has_route = route.route.as_ref().is_some_and(|d| !d.is_empty());
        let has_redirect = route.redirect.is_some();
        let has_direct = route.direct_response.is_some();
        if let Some(d) = &route.delegate {
            self.delegate(vs, d, has_route || has_redirect || has_direct, field, r);
        }
        match (has_route, has_redirect, has_direct) {
            (false, false, false) if route.delegate.is_none() => r.error(
                field,
                "HTTP route, redirect or direct_response is required".into(),
            ),
            (true, true, _) => r.error(
                field,
                "HTTP route cannot contain both route and redirect".into(),
            ),
            (true, _, true) => r.error(
                field,
                "HTTP route cannot contain both route and direct_response".into(),
            ),
            (_, true, true) => r.error(
                field,
                "HTTP route cannot contain both redirect and direct_response".into(),
            ),
            _ => {}
        }
        if (has_redirect || has_direct) && route.fault.is_some() {
            r.error(
                &format!("{field}.fault"),
                "HTTP route cannot contain fault with a redirect or direct_response".into(),
            );
        }
        if (has_redirect || has_direct) && route.rewrite.is_some() {
            r.error(
                &format!("{field}.rewrite"),
                "HTTP route cannot contain rewrite with a redirect or direct_response".into(),
            );
        }
        if let Some(matches) = &route.matches {
            for (j, m) in matches.iter().enumerate() {
                match_request(m, &format!("{field}.match[{j}]"), r);
                for (k, g) in m.gateways.iter().enumerate() {
                    let resolved = resolve_gateway(g, &vs.namespace);
                    if resolved != "mesh" && !self.gateways.contains(&resolved) {
                        r.push(
                            "IST0101",
                            Severity::Error,
                            &format!("{field}.match[{j}].gateways[{k}]"),
                            format!("Referenced gateway not found: {resolved:?}"),
                        );
                    }
                }
            }
        }
        if let Some(dests) = &route.route {
            let list: Vec<(&Destination, Option<i64>)> =
                dests.iter().map(|d| (&d.destination, d.weight)).collect();
            self.destinations(vs, &list, &format!("{field}.route"), r);
            for (i, d) in dests.iter().enumerate() {
                if let Some(h) = &d.headers {
                    header_ops(h, &format!("{field}.route[{i}].headers"), r);
                }
            }
        }
        if let Some(redirect) = &route.redirect {
            redirect_rules(redirect, route, &format!("{field}.redirect"), r);
        }
        if let Some(direct) = &route.direct_response {
            let f = format!("{field}.directResponse");
            if !(200..=599).contains(&direct.status) {
                r.error(
                    &format!("{f}.status"),
                    format!("status {} is not within 200-599", direct.status),
                );
            }
            if let Some(body) = &direct.body {
                if body.string.is_some() && body.bytes.is_some() {
                    r.error(
                        &format!("{f}.body"),
                        "only one of string or bytes may be set".into(),
                    );
                }
                if let Some(b) = &body.bytes {
                    if crate::config::base64::decode_base64(b).is_none() {
                        r.error(
                            &format!("{f}.body.bytes"),
                            "bytes is not valid base64".into(),
                        );
                    }
                }
                let len = body.string.as_ref().map_or(0, String::len)
                    + body.bytes.as_ref().map_or(0, String::len);
                if len > 1024 * 1024 {
                    r.error(&format!("{f}.body"), "body is larger than 1 MB".into());
                } else if len > 100 * 1024 {
                    r.push(
                        "IST0133",
                        Severity::Warning,
                        &format!("{f}.body"),
                        "body is larger than 100 KB".into(),
                    );
                }
            }
        }
        if let Some(rw) = &route.rewrite {
            let f = format!("{field}.rewrite");
            if rw.uri.is_some() && rw.uri_regex_rewrite.is_some() {
                r.error(
                    &f,
                    "rewrite may not contain both uri and uriRegexRewrite".into(),
                );
            }
            if let Some(rr) = &rw.uri_regex_rewrite {
                match (&rr.pattern, &rr.rewrite) {
                    (Some(p), Some(_)) => {
                        if let Err(e) = search_regex(p) {
                            r.error(
                                &format!("{f}.uriRegexRewrite.match"),
                                format!("invalid regex {p:?}: {e}"),
                            );
                        }
                    }
                    _ => r.error(
                        &format!("{f}.uriRegexRewrite"),
                        "uriRegexRewrite needs both match and rewrite".into(),
                    ),
                }
            }
        }
        if let Some(t) = &route.timeout {
            check_duration(t, &format!("{field}.timeout"), r);
        }
        if let Some(retry) = &route.retries {
            let f = format!("{field}.retries");
            if retry.attempts.is_some_and(|a| a < 0) {
                r.error(
                    &format!("{f}.attempts"),
                    "attempts cannot be negative".into(),
                );
            }
            if let Some(t) = &retry.per_try_timeout {
                check_duration(t, &format!("{f}.perTryTimeout"), r);
            }
            if let Some(b) = &retry.backoff {
                check_duration(b, &format!("{f}.backoff"), r);
            }
        }
        if let Some(fault) = &route.fault {
            fault_rules(fault, &format!("{field}.fault"), r);
        }
        if route.mirror.is_some() && route.mirrors.is_some() {
            r.error(
                &format!("{field}.mirrors"),
                "mirror and mirrors cannot both be set".into(),
            );
        }
        if let Some(m) = &route.mirror {
            self.mirror_destination(vs, m, &format!("{field}.mirror"), r);
        }
        if let Some(p) = &route.mirror_percentage {
            check_percent(p.value, &format!("{field}.mirrorPercentage.value"), r);
        }
        if let Some(p) = route.mirror_percent {
            if p > 100 {
                r.error(
                    &format!("{field}.mirrorPercent"),
                    format!("mirror percent {p} must be within 0-100"),
                );
            }
        }
        for (i, m) in route.mirrors.iter().flatten().enumerate() {
            self.mirror_destination(
                vs,
                &m.destination,
                &format!("{field}.mirrors[{i}].destination"),
                r,
            );
            if let Some(p) = &m.percentage {
                check_percent(
                    p.value,
                    &format!("{field}.mirrors[{i}].percentage.value"),
                    r,
                );
            }
        }
        if let Some(cors) = &route.cors_policy {
            for (i, o) in cors.allow_origins.iter().enumerate() {
                string_match(
                    o,
                    &format!("{field}.corsPolicy.allowOrigins[{i}]"),
                    false,
                    r,
                );
            }
            if let Some(age) = &cors.max_age {
                check_duration(age, &format!("{field}.corsPolicy.maxAge"), r);
            }
        }
        if let Some(h) = &route.headers {
            header_ops(h, &format!("{field}.headers"), r);
        }
    }

    fn mirror_destination(
        &self,
        vs: &Resource<VirtualServiceSpec>,
        d: &Destination,
        field: &str,
        r: &mut Reporter<'_>,
    ) {
        let host = expand_host(&d.host, &vs.namespace);
        match self.registry.find(&host) {
            None => r.push(
                "IST0101",
                Severity::Error,
                &format!("{field}.host"),
                format!("Referenced mirror host not found: {host:?}"),
            ),
            Some(_) => {
                if let Some(subset) = &d.subset {
                    if !self.defines_subset(&host, subset) {
                        r.push(
                            "IST0101",
                            Severity::Error,
                            &format!("{field}.subset"),
                            format!("Referenced mirror+subset in destinationrule not found: \"{host}+{subset}\""),
                        );
                    }
                }
            }
        }
    }

    /// Weights, hosts, subsets and ports of a route's destinations.
    fn destinations(
        &self,
        vs: &Resource<VirtualServiceSpec>,
        dests: &[(&Destination, Option<i64>)],
        field: &str,
        r: &mut Reporter<'_>,
    ) {
        if dests.is_empty() {
            return;
        }
        let mut total = 0i64;
        for (i, (_, w)) in dests.iter().enumerate() {
            let w = w.unwrap_or(0);
            if w < 0 {
                r.error(
                    &format!("{field}[{i}].weight"),
                    format!("weight {w} is negative; weights must be 0 or more"),
                );
            } else {
                total += w;
            }
        }
        if dests.len() > 1 && total == 0 {
            r.error(
                &format!("{field}[*].weight"),
                "total destination weight = 0: with several destinations at least one needs a positive weight".into(),
            );
        }
        if dests.len() == 1 {
            if let Some(w) = dests[0].1.filter(|&w| w > 0 && w < 100) {
                r.push(
                    "KIA1104",
                    Severity::Warning,
                    &format!("{field}[0].weight"),
                    format!("The weight is assumed to be 100 because there is only one route destination (weight {w} is ignored)"),
                );
            }
        }
        let mut seen = HashSet::new();
        for (i, (d, _)) in dests.iter().enumerate() {
            let f = format!("{field}[{i}].destination");
            if d.host.is_empty() {
                r.error(&format!("{f}.host"), "destination host is required".into());
                continue;
            }
            if d.host.contains('*') {
                r.error(
                    &format!("{f}.host"),
                    format!("destination host {:?} may not be a wildcard", d.host),
                );
                continue;
            }
            let host = expand_host(&d.host, &vs.namespace);
            if !seen.insert((host.clone(), d.subset.clone())) {
                r.push(
                    "KIA1105",
                    Severity::Warning,
                    &f,
                    "This host subset combination is already referenced in another route destination".into(),
                );
            }
            if let Some(subset) = &d.subset {
                if !self.defines_subset(&host, subset) {
                    r.push(
                        "IST0101",
                        Severity::Error,
                        &format!("{f}.subset"),
                        format!(
                            "Referenced host+subset in destinationrule not found: \"{host}+{subset}\""
                        ),
                    );
                }
            }
            let Some(service) = self.registry.find(&host) else {
                // Endpoints may still arrive at run time (set_endpoints), as
                // Kubernetes Services would; until then requests get 503 NC.
                r.push(
                    "IST0101",
                    Severity::Warning,
                    &format!("{f}.host"),
                    format!(
                        "Referenced host not found: {host:?}; requests to it get 503 (no cluster) until a ServiceEntry or set_endpoints provides it"
                    ),
                );
                continue;
            };
            match d.port.as_ref().and_then(|p| p.number) {
                Some(p) => {
                    check_port(p, &format!("{f}.port.number"), r);
                    if !service.ports.is_empty() && !service.ports.iter().any(|sp| sp.number == p) {
                        r.push(
                            "IST0101",
                            Severity::Error,
                            &format!("{f}.port.number"),
                            format!("Referenced host:port not found: \"{host}:{p}\""),
                        );
                    }
                }
                None if service.ports.len() > 1 => {
                    let ports: Vec<u32> = service.ports.iter().map(|p| p.number).collect();
                    r.push(
                        "IST0112",
                        Severity::Error,
                        &format!("{f}.port"),
                        format!("This VirtualService routes to a service {host:?} that exposes multiple ports {ports:?}. Specifying a port in the destination is required to disambiguate."),
                    );
                }
                None => {}
            }
        }
    }

    fn destination_rule(&self, dr: &Resource<DestinationRuleSpec>, r: &mut Reporter<'_>) {
        let spec = &dr.spec;
        let of = if spec.workload_selector.is_some() {
            ExportToOf::DestinationRuleWithSelector
        } else {
            ExportToOf::DestinationRule
        };
        export_to(&spec.export_to, &dr.namespace, of, r);
        if spec.host.is_empty() {
            r.error("spec.host", "host is required".into());
            return;
        }
        let host = expand_host(&spec.host, &dr.namespace);
        let known = self.registry.any_matching(&host);
        if !known {
            r.push(
                "IST0174",
                Severity::Warning,
                "spec.host",
                format!("The host {host} defined in the DestinationRule does not match any services in the mesh."),
            );
        }
        if let Some(tp) = &spec.traffic_policy {
            traffic_policy(tp, "spec.trafficPolicy", r);
        }
        let mut names = HashSet::new();
        for (i, subset) in spec.subsets.iter().enumerate() {
            let f = format!("spec.subsets[{i}]");
            if subset.name.is_empty() {
                r.error(&format!("{f}.name"), "subset name is required".into());
            } else if !is_dns1123_label(&subset.name) {
                r.error(
                    &format!("{f}.name"),
                    format!(
                        "subset name {:?} is not a valid DNS-1123 label",
                        subset.name
                    ),
                );
            }
            if !names.insert(subset.name.as_str()) {
                r.error(
                    &format!("{f}.name"),
                    format!("duplicate subset name {:?}", subset.name),
                );
            }
            if let Some(tp) = &subset.traffic_policy {
                traffic_policy(tp, &format!("{f}.trafficPolicy"), r);
            }
            if known {
                let selected = self
                    .registry
                    .under(&host)
                    .flat_map(|s| s.endpoints.iter())
                    .any(|ep| labels_select(&subset.labels, &ep.labels));
                if !selected {
                    r.push(
                        "IST0173",
                        Severity::Warning,
                        &format!("{f}.labels"),
                        format!(
                            "The Subset {} defined in the DestinationRule does not select any endpoints, which leads to 503 UH (NoHealthyUpstream) until endpoints with labels {:?} exist.",
                            subset.name, subset.labels
                        ),
                    );
                }
            }
        }
    }

    /// Conflicts across resources: several mesh VirtualServices for one host
    /// (IST0109), several DestinationRules for one host (KIA0201).
    fn conflicts(&self, out: &mut Vec<Diagnostic>) {
        // Keyed as istioctl's ConflictingMeshGatewayHostsAnalyzer keys them:
        // by the namespaces a VirtualService is exported to ("*": all), each
        // scope also meeting the public ones for the host.
        let mut by_scope: BTreeMap<(String, String), Vec<&Resource<VirtualServiceSpec>>> =
            BTreeMap::new();
        for vs in &self.config.virtual_services {
            let mesh = vs.spec.gateways.is_empty() || vs.spec.gateways.iter().any(|g| g == "mesh");
            if !mesh {
                continue;
            }
            let export = &vs.spec.export_to;
            let scopes: Vec<String> = if crate::config::delegates::exported_everywhere(export) {
                vec!["*".to_string()]
            } else {
                export
                    .iter()
                    .map(|e| {
                        if e == "." {
                            vs.namespace.clone()
                        } else {
                            e.clone()
                        }
                    })
                    .collect()
            };
            for scope in scopes {
                for h in &vs.spec.hosts {
                    let list = by_scope
                        .entry((scope.clone(), expand_host(h, &vs.namespace)))
                        .or_default();
                    if !list.iter().any(|v| std::ptr::eq(*v, vs)) {
                        list.push(vs);
                    }
                }
            }
        }
        // Each VirtualService reported once, in O(1) per report.
        let mut reported: std::collections::HashSet<*const Resource<VirtualServiceSpec>> =
            std::collections::HashSet::new();
        for ((scope, host), list) in &by_scope {
            let mut list = list.clone();
            if scope != "*" {
                if let Some(public) = by_scope.get(&("*".to_string(), host.clone())) {
                    list.extend(public.iter().copied());
                }
            }
            if list.len() < 2 {
                continue;
            }
            // Who takes the host there: a namespace's own, then those
            // exported to it, then the public ones (all of the "*" scope);
            // the oldest within each.
            list.sort_by(|a, b| {
                let rank = |v: &Resource<VirtualServiceSpec>| {
                    crate::config::delegates::visibility_rank(
                        &v.spec.export_to,
                        &v.namespace,
                        scope,
                    )
                };
                (rank(a), a.precedence_key()).cmp(&(rank(b), b.precedence_key()))
            });
            let names: Vec<String> = list
                .iter()
                .map(|v| format!("{}/{}", v.namespace, v.name))
                .collect();
            let (who, place) = if scope == "*" {
                (format!("the oldest, {},", names[0]), String::new())
            } else {
                (
                    names[0].clone(),
                    format!(" for sidecars in namespace {scope}"),
                )
            };
            for vs in &list[1..] {
                let key: *const Resource<VirtualServiceSpec> = *vs;
                if !reported.insert(key) {
                    continue;
                }
                out.push(Diagnostic::new(
                    "IST0109",
                    Severity::Warning,
                    vs.reference(Kind::VirtualService),
                    "spec.hosts",
                    format!(
                        "The VirtualServices {} associated with mesh gateway define the same host {host} which can lead to undefined behavior; {who} wins{place} and this one is ignored for that host. This can be fixed by merging the conflicting VirtualServices into a single resource.",
                        names.join(","),
                    ),
                ));
            }
        }
        // Rules merge only within a namespace: a client sees one namespace's
        // rules for a host (its own, the service's or the root's).
        let mut dr_hosts: BTreeMap<(String, &str), Vec<&Resource<DestinationRuleSpec>>> =
            BTreeMap::new();
        for dr in &self.config.destination_rules {
            dr_hosts
                .entry((expand_host(&dr.spec.host, &dr.namespace), &dr.namespace))
                .or_default()
                .push(dr);
        }
        for ((host, _), list) in dr_hosts {
            if list.len() < 2 {
                continue;
            }
            for dr in &list[1..] {
                out.push(Diagnostic::new(
                    "KIA0201",
                    Severity::Warning,
                    dr.reference(Kind::DestinationRule),
                    "spec.host",
                    format!("More than one DestinationRule for host {host} in namespace {}: subsets are merged (first wins on duplicate names) and the oldest top-level trafficPolicy applies", dr.namespace),
                ));
            }
        }
    }
}

fn valid_host(host: &str) -> bool {
    if host == "*" {
        return true;
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    !name.is_empty()
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// `exportTo` as Istio's webhook checks it (`validateExportTo` in
/// pkg/config/validation): `.`, `*` or namespace names, no duplicates (`.`
/// is the own namespace), `*` alone, and `~` (nobody) only on a
/// ServiceEntry, alone; a DestinationRule with a `workloadSelector` applies
/// in its own namespace only, so it may name nothing else.
fn export_to(entries: &[String], namespace: &str, of: ExportToOf, r: &mut Reporter<'_>) {
    let none_allowed = of == ExportToOf::ServiceEntry;
    let mut seen: Vec<&str> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let field = || format!("spec.exportTo[{i}]");
        let key = if e == "." { namespace } else { e.as_str() };
        if seen.contains(&key) {
            let message = if key != e {
                format!(
                    "duplicate entries in exportTo: \".\" and the current namespace {namespace:?}"
                )
            } else {
                format!("duplicate entry {e:?} in exportTo")
            };
            r.error(&field(), message);
            continue;
        }
        let valid = e == "." || e == "*" || (none_allowed && e == "~") || is_dns1123_label(e);
        if !valid {
            let allowed = if none_allowed { "., *, ~" } else { ". or *" };
            r.error(
                &field(),
                format!("{e:?} is not an exportTo entry: only {allowed} or a namespace name (a DNS-1123 label)"),
            );
            continue;
        }
        seen.push(key);
    }
    if entries.len() > 1 && seen.contains(&"*") {
        r.error(
            "spec.exportTo",
            "cannot have both public (*) and non-public exportTo values".into(),
        );
    }
    if entries.len() > 1 && seen.contains(&"~") {
        r.error(
            "spec.exportTo",
            "cannot export to no one (~) and to someone".into(),
        );
    }
    if of == ExportToOf::DestinationRuleWithSelector && !seen.is_empty() {
        if !seen.contains(&namespace) {
            r.error(
                "spec.exportTo",
                "destination rule with workload selector cannot have exportTo beyond current namespace".into(),
            );
        } else if seen.len() > 1 {
            r.error(
                "spec.exportTo",
                "destination rule with workload selector cannot have multiple entries in exportTo"
                    .into(),
            );
        }
    }
}

/// Which kind of resource an `exportTo` list belongs to: each allows
/// different entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExportToOf {
    VirtualService,
    DestinationRule,
    DestinationRuleWithSelector,
    ServiceEntry,
}

fn check_port(p: u32, field: &str, r: &mut Reporter<'_>) {
    if !(1..=65535).contains(&p) {
        r.error(field, format!("port number {p} must be within 1-65535"));
    }
}

fn check_duration(text: &str, field: &str, r: &mut Reporter<'_>) {
    if let Err(e) = parse_duration(text) {
        r.error(field, e);
    }
}

fn check_percent(v: f64, field: &str, r: &mut Reporter<'_>) {
    if !(0.0..=100.0).contains(&v) || v.is_nan() {
        r.error(field, format!("percentage {v} must be within 0-100"));
    }
}

/// A StringMatch: one of exact/prefix/regex; `{}` means presence where allowed.
fn string_match(m: &StringMatch, field: &str, presence_ok: bool, r: &mut Reporter<'_>) {
    let set = [m.exact.is_some(), m.prefix.is_some(), m.regex.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if set > 1 {
        r.error(
            field,
            "only one of exact, prefix or regex may be set".into(),
        );
    }
    if set == 0 && !presence_ok {
        r.error(field, "one of exact, prefix or regex must be set".into());
    }
    if m.prefix.as_deref() == Some("") {
        r.error(
            &format!("{field}.prefix"),
            "prefix must not be empty".into(),
        );
    }
    if let Some(re) = &m.regex {
        if re.is_empty() {
            r.error(&format!("{field}.regex"), "regex must not be empty".into());
        } else if !(presence_ok && re == "*") {
            if let Err(e) = full_match_regex(re) {
                r.error(
                    &format!("{field}.regex"),
                    format!("invalid regex {re:?}: {e}"),
                );
            }
        }
    }
}

fn match_request(m: &HttpMatchRequest, field: &str, r: &mut Reporter<'_>) {
    let empty = m.uri.is_none()
        && m.scheme.is_none()
        && m.method.is_none()
        && m.authority.is_none()
        && m.headers.is_empty()
        && m.without_headers.is_empty()
        && m.query_params.is_empty()
        && m.port.is_none()
        && m.source_labels.is_empty()
        && m.source_namespace.is_none()
        && m.gateways.is_empty()
        && !m.ignore_uri_case;
    if empty {
        r.error(
            field,
            "HTTPMatchRequest cannot be empty: omit the match block to match everything".into(),
        );
    }
    for (name, sm) in [
        ("uri", &m.uri),
        ("scheme", &m.scheme),
        ("method", &m.method),
        ("authority", &m.authority),
    ] {
        if let Some(sm) = sm {
            string_match(sm, &format!("{field}.{name}"), false, r);
        }
    }
    for (kind, map) in [
        ("headers", &m.headers),
        ("withoutHeaders", &m.without_headers),
    ] {
        for (name, sm) in map {
            let f = format!("{field}.{kind}.{name}");
            if name.is_empty() || !name.bytes().all(is_tchar) {
                r.error(
                    &f,
                    format!("header name {name:?} is not a valid HTTP header name"),
                );
            }
            string_match(sm, &f, true, r);
        }
    }
    for (name, sm) in &m.query_params {
        string_match(sm, &format!("{field}.queryParams.{name}"), true, r);
    }
    if let Some(p) = m.port {
        check_port(p, &format!("{field}.port"), r);
    }
    if let Some(ns) = &m.source_namespace {
        if !is_dns1123_label(ns) {
            r.error(
                &format!("{field}.sourceNamespace"),
                format!("{ns:?} is not a valid namespace name"),
            );
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn header_ops(h: &Headers, field: &str, r: &mut Reporter<'_>) {
    for (dir, ops) in [("request", &h.request), ("response", &h.response)] {
        let Some(ops) = ops else { continue };
        let names = ops
            .set
            .keys()
            .map(|k| ("set", k))
            .chain(ops.add.keys().map(|k| ("add", k)))
            .chain(ops.remove.iter().map(|k| ("remove", k)));
        for (op, name) in names {
            let f = format!("{field}.{dir}.{op}.{name}");
            if name.starts_with(':') {
                r.error(
                    &f,
                    format!("header {name:?}: pseudo-headers cannot be edited"),
                );
            } else if name.is_empty() || !name.bytes().all(is_tchar) {
                r.error(
                    &f,
                    format!("header name {name:?} is not a valid HTTP header name"),
                );
            } else if name.eq_ignore_ascii_case("host") && (dir == "response" || op == "remove") {
                r.error(
                    &f,
                    "the host header can only be set or added on requests".into(),
                );
            }
        }
    }
}

fn redirect_rules(rd: &HttpRedirect, route: &HttpRoute, field: &str, r: &mut Reporter<'_>) {
    if rd.uri.is_some() && rd.prefix_rewrite.is_some() {
        r.error(field, "only one of uri or prefixRewrite may be set".into());
    }
    if rd.uri.is_none()
        && rd.prefix_rewrite.is_none()
        && rd.authority.is_none()
        && rd.scheme.is_none()
        && rd.port.is_none()
        && rd.derive_port.is_none()
    {
        r.error(
            field,
            "redirect must specify uri, prefixRewrite, authority, scheme or port".into(),
        );
    }
    if rd.prefix_rewrite.is_some() {
        let all_prefix = route
            .matches
            .iter()
            .flatten()
            .all(|m| m.uri.as_ref().is_some_and(|u| u.prefix.is_some()));
        if !all_prefix || route.matches.as_ref().is_none_or(|m| m.is_empty()) {
            r.error(
                &format!("{field}.prefixRewrite"),
                "prefixRewrite needs every match of the rule to be a uri prefix".into(),
            );
        }
    }
    if let Some(code) = rd.redirect_code {
        if !(300..=399).contains(&code) {
            r.error(
                &format!("{field}.redirectCode"),
                format!("redirect code {code} is not a 3xx code"),
            );
        } else if !REDIRECT_CODES.contains(&code) {
            r.push(
                "WEIR0010",
                Severity::Warning,
                &format!("{field}.redirectCode"),
                format!("redirect code {code} is not supported (301, 302, 303, 307, 308): the rule has no action and will not match"),
            );
        }
    }
    if let Some(s) = &rd.scheme {
        if s != "http" && s != "https" {
            r.error(
                &format!("{field}.scheme"),
                format!("scheme {s:?} must be http or https"),
            );
        }
    }
    if let Some(p) = rd.port {
        check_port(p, &format!("{field}.port"), r);
    }
    if let Some(d) = &rd.derive_port {
        if d != "FROM_PROTOCOL_DEFAULT" && d != "FROM_REQUEST_PORT" {
            r.error(
                &format!("{field}.derivePort"),
                format!("unknown derivePort {d:?}"),
            );
        }
    }
}

fn fault_rules(fault: &HttpFaultInjection, field: &str, r: &mut Reporter<'_>) {
    if fault.delay.is_none() && fault.abort.is_none() {
        r.error(field, "fault must have an abort and/or a delay".into());
    }
    if let Some(d) = &fault.delay {
        let f = format!("{field}.delay");
        if d.exponential_delay.is_some() {
            r.error(
                &format!("{f}.exponentialDelay"),
                "exponentialDelay is not supported".into(),
            );
        }
        match &d.fixed_delay {
            Some(t) => check_duration(t, &format!("{f}.fixedDelay"), r),
            None if d.exponential_delay.is_none() => {
                r.error(&format!("{f}.fixedDelay"), "fixedDelay is required".into())
            }
            None => {}
        }
        if let Some(p) = &d.percentage {
            fault_percent(p.value, &format!("{f}.percentage.value"), r);
        }
        if let Some(p) = d.percent {
            if !(0..=100).contains(&p) {
                r.error(
                    &format!("{f}.percent"),
                    format!("percent {p} must be within 0-100"),
                );
            }
        }
    }
    if let Some(a) = &fault.abort {
        let f = format!("{field}.abort");
        if a.http2_error.is_some() {
            r.error(
                &format!("{f}.http2Error"),
                "http2Error is not supported".into(),
            );
        }
        match (a.http_status, &a.grpc_status) {
            (Some(_), Some(_)) => {
                r.error(&f, "only one of httpStatus or grpcStatus may be set".into())
            }
            (Some(s), None) if !(200..=599).contains(&s) => r.error(
                &format!("{f}.httpStatus"),
                format!("httpStatus {s} must be within 200-599"),
            ),
            (None, Some(g)) if !GRPC_STATUSES.contains(&g.as_str()) => r.error(
                &format!("{f}.grpcStatus"),
                format!("unknown grpcStatus {g:?}"),
            ),
            (None, None) if a.http2_error.is_none() => {
                r.error(&f, "abort needs httpStatus or grpcStatus".into())
            }
            _ => {}
        }
        if let Some(p) = &a.percentage {
            fault_percent(p.value, &format!("{f}.percentage.value"), r);
        }
    }
}

fn fault_percent(v: f64, field: &str, r: &mut Reporter<'_>) {
    if v.is_nan() || !(0.0..=100.0).contains(&v) || (v > 0.0 && v < 0.0001) {
        r.error(
            field,
            format!("percentage {v} must be 0 or within 0.0001-100"),
        );
    }
}

fn traffic_policy(tp: &TrafficPolicy, field: &str, r: &mut Reporter<'_>) {
    if let Some(lb) = &tp.load_balancer {
        load_balancer(lb, &format!("{field}.loadBalancer"), r);
    }
    if let Some(od) = &tp.outlier_detection {
        outlier(od, &format!("{field}.outlierDetection"), r);
    }
    if let Some(cp) = &tp.connection_pool {
        connection_pool(cp, &format!("{field}.connectionPool"), r);
    }
    let mut ports = HashSet::new();
    for (i, pl) in tp.port_level_settings.iter().enumerate() {
        let f = format!("{field}.portLevelSettings[{i}]");
        match pl.port.as_ref().and_then(|p| p.number) {
            Some(p) => {
                check_port(p, &format!("{f}.port.number"), r);
                if !ports.insert(p) {
                    r.error(
                        &format!("{f}.port.number"),
                        format!("duplicate port level settings for port {p}"),
                    );
                }
            }
            None => r.error(&format!("{f}.port"), "port is required".into()),
        }
        if let Some(lb) = &pl.load_balancer {
            load_balancer(lb, &format!("{f}.loadBalancer"), r);
        }
        if let Some(od) = &pl.outlier_detection {
            outlier(od, &format!("{f}.outlierDetection"), r);
        }
        if let Some(cp) = &pl.connection_pool {
            connection_pool(cp, &format!("{f}.connectionPool"), r);
        }
    }
}

fn load_balancer(lb: &LoadBalancerSettings, field: &str, r: &mut Reporter<'_>) {
    if lb.simple.is_some() && lb.consistent_hash.is_some() {
        r.error(
            field,
            "only one of simple or consistentHash may be set".into(),
        );
    }
    if let Some(s) = &lb.simple {
        if !matches!(
            s.as_str(),
            "UNSPECIFIED"
                | "LEAST_CONN"
                | "LEAST_REQUEST"
                | "RANDOM"
                | "PASSTHROUGH"
                | "ROUND_ROBIN"
        ) {
            r.error(
                &format!("{field}.simple"),
                format!("unknown load balancer {s:?}"),
            );
        }
    }
    if let Some(ch) = &lb.consistent_hash {
        let f = format!("{field}.consistentHash");
        let keys = [
            ch.http_header_name.is_some(),
            ch.http_cookie.is_some(),
            ch.use_source_ip == Some(true),
            ch.http_query_parameter_name.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if keys > 1 {
            r.error(&f, "only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName may be set".into());
        }
        if ch.http_header_name.as_deref() == Some("") {
            r.error(
                &format!("{f}.httpHeaderName"),
                "header name must not be empty".into(),
            );
        }
        if ch.http_query_parameter_name.as_deref() == Some("") {
            r.error(
                &format!("{f}.httpQueryParameterName"),
                "query parameter name must not be empty".into(),
            );
        }
        if let Some(c) = &ch.http_cookie {
            if c.name.is_empty() {
                r.error(
                    &format!("{f}.httpCookie.name"),
                    "cookie name is required".into(),
                );
            }
            if let Some(t) = &c.ttl {
                check_duration(t, &format!("{f}.httpCookie.ttl"), r);
            }
        }
        if ch.ring_hash.is_some() && ch.maglev.is_some() {
            r.error(&f, "only one of ringHash or maglev may be set".into());
        }
        let ring_min = ch
            .ring_hash
            .as_ref()
            .and_then(|rh| rh.minimum_ring_size)
            .map(|m| (m, "ringHash.minimumRingSize"));
        for (size, name) in ring_min
            .into_iter()
            .chain(ch.minimum_ring_size.map(|m| (m, "minimumRingSize")))
        {
            // The balancer's own check, against Envoy's maximum ring size.
            if let Err(why) = validate_ring_sizes(size, RingHash::MAX_RING_SIZE) {
                r.error(
                    &format!("{f}.{name}"),
                    format!("minimum ring size {size}: {why}"),
                );
            }
        }
        if let Some(size) = ch
            .maglev
            .as_ref()
            .and_then(|m| m.table_size)
            .filter(|&s| s != 0)
        {
            if let Err(why) = validate_table_size(size) {
                r.error(
                    &format!("{f}.maglev.tableSize"),
                    format!("table size {size}: {why}"),
                );
            }
        }
    }
}

fn outlier(od: &OutlierDetection, field: &str, r: &mut Reporter<'_>) {
    for (name, v) in [
        ("maxEjectionPercent", od.max_ejection_percent),
        ("minHealthPercent", od.min_health_percent),
    ] {
        if let Some(v) = v {
            if !(0..=100).contains(&v) {
                r.error(
                    &format!("{field}.{name}"),
                    format!("{name} {v} must be within 0-100"),
                );
            }
        }
    }
    for (name, d) in [
        ("interval", &od.interval),
        ("baseEjectionTime", &od.base_ejection_time),
    ] {
        if let Some(d) = d {
            check_duration(d, &format!("{field}.{name}"), r);
        }
    }
}

fn connection_pool(cp: &ConnectionPoolSettings, field: &str, r: &mut Reporter<'_>) {
    let mut check = |name: &str, v: Option<i64>| {
        if let Some(v) = v {
            if v < 0 {
                r.error(
                    &format!("{field}.{name}"),
                    format!("{v} must not be negative"),
                );
            }
        }
    };
    if let Some(h) = &cp.http {
        check("http.http1MaxPendingRequests", h.http1_max_pending_requests);
        check("http.http2MaxRequests", h.http2_max_requests);
        check(
            "http.maxRequestsPerConnection",
            h.max_requests_per_connection,
        );
        check("http.maxRetries", h.max_retries);
    }
    if let Some(t) = &cp.tcp {
        check("tcp.maxConnections", t.max_connections);
    }
}

fn gateway(gw: &Resource<GatewaySpec>, r: &mut Reporter<'_>) {
    if gw.spec.servers.is_empty() {
        r.error(
            "spec.servers",
            "gateway must have at least one server".into(),
        );
    }
    for (i, s) in gw.spec.servers.iter().enumerate() {
        let f = format!("spec.servers[{i}]");
        match &s.port {
            None => r.error(&format!("{f}.port"), "port is required".into()),
            Some(p) => {
                check_port(p.number, &format!("{f}.port.number"), r);
                let proto = p.protocol.to_ascii_uppercase();
                if !matches!(
                    proto.as_str(),
                    "HTTP" | "HTTPS" | "GRPC" | "GRPC-WEB" | "HTTP2" | "MONGO" | "TCP" | "TLS"
                ) {
                    r.error(
                        &format!("{f}.port.protocol"),
                        format!("unknown protocol {:?}", p.protocol),
                    );
                }
            }
        }
        if s.hosts.is_empty() {
            r.error(
                &format!("{f}.hosts"),
                "server must have at least one host".into(),
            );
        }
    }
}

fn service_entry(se: &Resource<ServiceEntrySpec>, r: &mut Reporter<'_>) {
    export_to(
        &se.spec.export_to,
        &se.namespace,
        ExportToOf::ServiceEntry,
        r,
    );
    if se.spec.hosts.is_empty() {
        r.error(
            "spec.hosts",
            "ServiceEntry must have at least one host".into(),
        );
    }
    for (i, h) in se.spec.hosts.iter().enumerate() {
        if h == "*" {
            r.error(
                &format!("spec.hosts[{i}]"),
                "ServiceEntry host may not be *".into(),
            );
        } else if !valid_host(h) {
            r.error(&format!("spec.hosts[{i}]"), format!("invalid host {h:?}"));
        }
    }
    let mut numbers = HashSet::new();
    for (i, p) in se.spec.ports.iter().enumerate() {
        check_port(p.number, &format!("spec.ports[{i}].number"), r);
        if !numbers.insert(p.number) {
            r.error(
                &format!("spec.ports[{i}].number"),
                format!("port number {} is not unique", p.number),
            );
        }
    }
    let resolution = se.spec.resolution.as_deref().unwrap_or("NONE");
    if !matches!(
        resolution,
        "NONE" | "STATIC" | "DNS" | "DNS_ROUND_ROBIN" | "DYNAMIC_DNS"
    ) {
        r.error(
            "spec.resolution",
            format!("unknown resolution {resolution:?}"),
        );
    }
    for (i, ep) in se.spec.endpoints.iter().enumerate() {
        let f = format!("spec.endpoints[{i}]");
        if resolution == "STATIC"
            && ep.address.parse::<std::net::IpAddr>().is_err()
            && !ep.address.starts_with("unix://")
        {
            r.error(
                &format!("{f}.address"),
                format!(
                    "endpoint address {:?} is not an IP address (resolution STATIC)",
                    ep.address
                ),
            );
        }
        for (name, port) in &ep.ports {
            check_port(*port, &format!("{f}.ports.{name}"), r);
        }
    }
}

/// IST0130 / IST0131: rules and match blocks earlier rules already take.
fn reachability(rules: &[HttpRoute], r: &mut Reporter<'_>) {
    let mut earlier = EarlierMatches::default();
    let mut catch_all_at: Option<usize> = None;
    for (i, rule) in rules.iter().enumerate() {
        if let Some(at) = catch_all_at {
            r.push(
                "IST0130",
                Severity::Warning,
                &format!("spec.http[{i}]"),
                format!(
                    "VirtualService rule #{i} not used (route without matches defined before: rule #{at} matches every request, so this rule is shadowed)"
                ),
            );
            continue;
        }
        let Some(matches) = rule.matches.as_ref().filter(|m| !m.is_empty()) else {
            if i + 1 < rules.len() {
                catch_all_at = Some(i);
            }
            continue;
        };
        let mut covered = 0;
        for (j, m) in matches.iter().enumerate() {
            if let Some((ei, ej)) = earlier.covering(m) {
                covered += 1;
                if matches.len() > 1 {
                    r.push(
                        "IST0131",
                        Severity::Info,
                        &format!("spec.http[{i}].match[{j}]"),
                        format!("VirtualService rule #{i} match #{j} is not used (duplicate/overlapping match in rule #{ei} match #{ej})"),
                    );
                }
            }
        }
        if covered == matches.len() {
            r.push(
                "IST0130",
                Severity::Warning,
                &format!("spec.http[{i}]"),
                format!("VirtualService rule #{i} not used (all matches used by prior rules)"),
            );
        }
        for (j, m) in matches.iter().enumerate() {
            if is_catch_all(m) && i + 1 < rules.len() {
                catch_all_at = Some(i);
            }
            earlier.add(m, (i, j));
        }
    }
}

/// The uri conditions of earlier match blocks that share the same other
/// conditions: what a later block with those conditions is covered by.
#[derive(Default)]
struct UriCover {
    /// A block with no uri (or `.*`): covers every uri.
    all: Option<(usize, usize)>,
    exact: HashMap<String, (usize, usize)>,
    prefix: HashMap<String, (usize, usize)>,
    regex: HashMap<String, (usize, usize)>,
}

/// Earlier match blocks grouped by their non-uri conditions, so checking a
/// block costs lookups, not a comparison with every earlier block (a
/// VirtualService may carry thousands of rules).
#[derive(Default)]
struct EarlierMatches {
    groups: HashMap<(String, bool), UriCover>,
}

impl EarlierMatches {
    fn add(&mut self, m: &HttpMatchRequest, at: (usize, usize)) {
        let g = self
            .groups
            .entry((others_key(m), m.ignore_uri_case))
            .or_default();
        let keep = |slot: &mut (usize, usize)| *slot = (*slot).min(at);
        match &m.uri {
            None => keep(g.all.get_or_insert(at)),
            Some(u) if u.regex.as_deref() == Some(".*") => keep(g.all.get_or_insert(at)),
            Some(u) => {
                if let Some(x) = &u.exact {
                    keep(g.exact.entry(x.clone()).or_insert(at));
                } else if let Some(p) = &u.prefix {
                    keep(g.prefix.entry(p.clone()).or_insert(at));
                } else if let Some(re) = &u.regex {
                    keep(g.regex.entry(re.clone()).or_insert(at));
                }
            }
        }
    }

    /// The earliest block that takes every request `m` takes, if any.
    fn covering(&self, m: &HttpMatchRequest) -> Option<(usize, usize)> {
        let own = (others_key(m), m.ignore_uri_case);
        let unconditional = (others_key(&HttpMatchRequest::default()), m.ignore_uri_case);
        [own, unconditional]
            .iter()
            .filter_map(|key| self.groups.get(key))
            .filter_map(|g| g.covering(m.uri.as_ref()))
            .min()
    }
}

impl UriCover {
    fn covering(&self, uri: Option<&StringMatch>) -> Option<(usize, usize)> {
        let by_prefix = |text: &str| {
            text.char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .filter(|&i| i > 0)
                .filter_map(|i| self.prefix.get(&text[..i]).copied())
                .min()
        };
        let found = match uri {
            None => None,
            Some(u) => match (&u.exact, &u.prefix, &u.regex) {
                (Some(x), _, _) => [self.exact.get(x).copied(), by_prefix(x)]
                    .into_iter()
                    .flatten()
                    .min(),
                (None, Some(p), _) => by_prefix(p),
                (None, None, Some(re)) => self.regex.get(re).copied(),
                _ => None,
            },
        };
        [self.all, found].into_iter().flatten().min()
    }
}

/// The conditions of a block other than its uri, as a comparable key.
fn others_key(m: &HttpMatchRequest) -> String {
    format!("{:?}", without_uri(m))
}

/// A match block that takes every request: at most a uri of prefix `/` or
/// regex `.*`, nothing else.
fn is_catch_all(m: &HttpMatchRequest) -> bool {
    let uri_all = match &m.uri {
        None => true,
        Some(u) => u.prefix.as_deref() == Some("/") || u.regex.as_deref() == Some(".*"),
    };
    let none = HttpMatchRequest::default();
    uri_all && without_uri(m) == without_uri(&none)
}

/// The conditions of a block other than its uri, for comparison.
fn without_uri(m: &HttpMatchRequest) -> impl PartialEq + std::fmt::Debug + '_ {
    (
        &m.scheme,
        &m.method,
        &m.authority,
        &m.headers,
        &m.without_headers,
        &m.query_params,
        m.port,
        &m.source_labels,
        &m.source_namespace,
        &m.gateways,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Loaded;

    /// Codes and fields of the reachability diagnostics for `http` rules.
    fn reachability_of(http: &str) -> Vec<(String, String)> {
        let yaml = format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: v}}\nspec:\n  hosts: [web.example.com]\n  http:\n{http}"
        );
        let loaded = Loaded::from_source("t.yaml", &yaml);
        let mut out = loaded.diagnostics.clone();
        validate(&loaded.config, &mut out);
        out.into_iter()
            .filter(|d| d.code == "IST0130" || d.code == "IST0131")
            .map(|d| (d.code.to_string(), d.field))
            .collect()
    }

    #[test]
    fn shadowed_rules_and_matches() {
        let route = "    route: [{destination: {host: web.example.com}}]\n";
        let cases: &[(&str, &[(&str, &str)])] = &[
            // A longer prefix after a shorter one is shadowed.
            ("  - match: [{uri: {prefix: /a}}]\nR  - match: [{uri: {prefix: /ab}}]\nR", &[("IST0130", "spec.http[1]")]),
            // The other way round is fine.
            ("  - match: [{uri: {prefix: /ab}}]\nR  - match: [{uri: {prefix: /a}}]\nR", &[]),
            // An exact path under an earlier prefix; one of two blocks covered.
            (
                "  - match: [{uri: {prefix: /a}}]\nR  - match: [{uri: {exact: /a/x}}, {uri: {exact: /b}}]\nR",
                &[("IST0131", "spec.http[1].match[0]")],
            ),
            // Extra conditions on the earlier block: the later one is reachable.
            ("  - match: [{uri: {prefix: /a}, headers: {x: {exact: y}}}]\nR  - match: [{uri: {prefix: /a/b}}]\nR", &[]),
            // Same extra conditions: shadowed.
            (
                "  - match: [{uri: {prefix: /a}, headers: {x: {exact: y}}}]\nR  - match: [{uri: {prefix: /a/b}, headers: {x: {exact: y}}}]\nR",
                &[("IST0130", "spec.http[1]")],
            ),
            // Identical regex.
            ("  - match: [{uri: {regex: /r.*}}]\nR  - match: [{uri: {regex: /r.*}}]\nR", &[("IST0130", "spec.http[1]")]),
            // A rule without match before others shadows them.
            ("  - route: [{destination: {host: web.example.com}}]\n  - match: [{uri: {prefix: /z}}]\nR", &[("IST0130", "spec.http[1]")]),
            // ignoreUriCase differs: not covered.
            ("  - match: [{uri: {prefix: /a}, ignoreUriCase: true}]\nR  - match: [{uri: {prefix: /a/b}}]\nR", &[]),
        ];
        for (http, want) in cases {
            let got = reachability_of(&http.replace('R', route));
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(c, f)| (c.to_string(), f.to_string()))
                .collect();
            assert_eq!(got, want, "{http}");
        }
    }
}
