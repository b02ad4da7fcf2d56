//! The rule trace: which virtual host a request reached and why each rule
//! before the matching one was skipped (`weir explain`).

use serde::Serialize;
use weir_core::{Request, Table};

/// One rule looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct TraceStep {
    /// `namespace/name http[i].match[m]`, or `default route`.
    pub rule: String,
    pub matched: bool,
    /// The field that did not match (`uri`, `headers.x-user`, …).
    pub mismatch: Option<String>,
}

/// How a request was matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct Trace {
    /// `mesh (sidecar)` or `gateway namespace/name`.
    pub listener: String,
    /// The virtual host's domain; `null` when none serves the authority.
    pub virtual_host: Option<String>,
    /// Set when the port is not HTTP (Istio's protocol selection), so the
    /// host's http routes do not apply.
    pub opaque_port: Option<u16>,
    pub steps: Vec<TraceStep>,
}

/// The trace of `req` on `table`.
pub fn trace(table: &Table, req: &Request<'_>) -> Trace {
    let listener = match req.source.gateway {
        Some(g) => format!("gateway {g}"),
        None => "mesh (sidecar)".to_string(),
    };
    let mut out = Trace {
        listener,
        virtual_host: None,
        opaque_port: None,
        steps: Vec::new(),
    };
    let Some(vhost) = table.virtual_host_for(req) else {
        return out;
    };
    out.virtual_host = Some(vhost.domain.to_string());
    if vhost.is_opaque_port(req.effective_port()) {
        out.opaque_port = Some(req.effective_port());
        return out;
    }
    for route in vhost.routes.iter() {
        let r = &route.rule;
        let rule = match (r.index, route.match_index) {
            (Some(i), Some(m)) => {
                format!("{}/{} http[{i}].match[{m}]", r.namespace, r.virtual_service)
            }
            (Some(i), None) => format!("{}/{} http[{i}]", r.namespace, r.virtual_service),
            (None, _) => "default route".to_string(),
        };
        match route.matcher.check(req) {
            Ok(()) => {
                out.steps.push(TraceStep {
                    rule,
                    matched: true,
                    mismatch: None,
                });
                break;
            }
            Err(m) => out.steps.push(TraceStep {
                rule,
                matched: false,
                mismatch: Some(m.field().to_string()),
            }),
        }
    }
    out
}
