//! Decisions and diagnostics as JSON, the shape `weir explain --json` prints.

use serde_json::{json, Map, Value};
use weir_core::balance::hash_policy::{HashPolicy, RequestHash};
use weir_core::compile::HeaderOps;
use weir_core::{Decision, Diagnostic, Outcome, Request};

/// One diagnostic as JSON.
pub fn diagnostic(d: &Diagnostic) -> Value {
    json!({
        "code": d.code,
        "severity": d.severity.as_str(),
        "resource": if d.resource.kind.is_empty() { Value::Null } else { json!({
            "kind": d.resource.kind,
            "namespace": d.resource.namespace,
            "name": d.resource.name,
        })},
        "field": d.field,
        "message": d.message,
        "file": d.file,
        "line": d.line,
        "column": d.column,
    })
}

fn ops(o: &HeaderOps) -> Value {
    let pairs = |list: &[(Box<str>, Box<str>)]| -> Value {
        Value::Object(
            list.iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                .collect::<Map<_, _>>(),
        )
    };
    json!({
        "set": pairs(&o.set),
        "add": pairs(&o.add),
        "remove": o.remove.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
    })
}

/// Describes a hash policy for people.
pub fn hash_policy(p: &HashPolicy) -> String {
    match p {
        HashPolicy::Header { name } => format!("header {name}"),
        HashPolicy::Cookie { name, .. } => format!("cookie {name}"),
        HashPolicy::SourceIp => "source ip".to_string(),
        HashPolicy::QueryParameter { name } => format!("query parameter {name}"),
    }
}

/// The key a hash policy read from the request, for people.
pub fn hash_input(h: &weir_core::decision::HashUse<'_>, req: &Request<'_>) -> String {
    match h.input {
        RequestHash::Missing => "absent (random pick, as Envoy)".to_string(),
        RequestHash::GeneratedCookie { value, .. } => {
            format!("generated cookie {:?}", String::from_utf8_lossy(&value))
        }
        RequestHash::Hash(_) => match h.policy {
            HashPolicy::Header { name } => {
                let mut values = Vec::new();
                req.headers
                    .for_each(name, &mut |v| values.push(format!("{v:?}")));
                values.join(", ")
            }
            HashPolicy::Cookie { name, .. } => {
                let mut found = None;
                req.headers.for_each("cookie", &mut |line| {
                    for part in line.split(';') {
                        if let Some((k, v)) = part.trim_start().split_once('=') {
                            if k == name && found.is_none() {
                                found = Some(v.trim_matches('"').to_string());
                            }
                        }
                    }
                });
                format!("{:?}", found.unwrap_or_default())
            }
            HashPolicy::SourceIp => req.remote.map(|a| a.ip().to_string()).unwrap_or_default(),
            HashPolicy::QueryParameter { name } => format!(
                "{:?}",
                weir_core::route::query_value(req.query(), name).unwrap_or("")
            ),
        },
    }
}

/// One decision as JSON.
pub fn decision(d: &Decision<'_>, req: &Request<'_>) -> Value {
    let mut out = Map::new();
    out.insert("outcome".into(), json!(d.outcome.as_str()));
    out.insert(
        "status".into(),
        if d.outcome == Outcome::Route {
            Value::Null
        } else {
            json!(d.status)
        },
    );
    if let Some(g) = d.grpc_status {
        out.insert("grpc_status".into(), json!(g));
    }
    out.insert(
        "route".into(),
        match d.route {
            Some(r) => json!({
                "virtual_service": format!("{}/{}", r.rule.namespace, r.rule.virtual_service),
                "rule": r.rule.index,
                "name": r.rule.name.as_deref(),
                "match": r.match_index,
            }),
            None => match d.l4_rule {
                Some(r) => json!({
                    "virtual_service": format!("{}/{}", r.namespace, r.virtual_service),
                    "rule": r.index,
                    "kind": if r.tls { "tls" } else { "tcp" },
                }),
                None => Value::Null,
            },
        },
    );
    out.insert(
        "cluster".into(),
        json!(d.cluster.map(|c| c.name.to_string())),
    );
    out.insert(
        "destination".into(),
        match d.cluster {
            Some(c) => json!({"host": &*c.host, "subset": &*c.subset, "port": c.port}),
            None => Value::Null,
        },
    );
    out.insert(
        "endpoint".into(),
        json!(d.endpoint.map(|e| e.address.to_string())),
    );
    if let Some(e) = d
        .endpoint
        .filter(|e| !e.pod.is_empty() || !e.source.is_empty())
    {
        out.insert(
            "endpoint_origin".into(),
            json!({"pod": &*e.pod, "source": &*e.source}),
        );
    }
    if d.original_destination {
        out.insert("original_destination".into(), json!(true));
    }
    out.insert("upstream_path".into(), json!(d.upstream_path.to_string()));
    out.insert("upstream_authority".into(), json!(d.upstream_authority));
    out.insert("location".into(), json!(d.location.map(|l| l.to_string())));
    out.insert("request_headers".into(), ops(d.request_headers));
    out.insert("response_headers".into(), ops(d.response_headers));
    out.insert(
        "delay_ms".into(),
        json!(d.delay.map(|t| t.as_millis() as u64)),
    );
    out.insert(
        "timeout_ms".into(),
        json!(d.timeout().map(|t| t.as_millis() as u64)),
    );
    out.insert(
        "retries".into(),
        match d.retries() {
            Some(r) => json!({
                "attempts": r.attempts,
                "per_try_timeout_ms": r.per_try_timeout.map(|t| t.as_millis() as u64),
                "retry_on": &*r.retry_on,
                "retriable_status_codes": &*r.retriable_status_codes,
            }),
            None => Value::Null,
        },
    );
    out.insert(
        "mirrors".into(),
        Value::Array(
            d.mirrors
                .iter()
                .map(|m| json!({"cluster": &*m.cluster_name, "host": &*m.host}))
                .collect(),
        ),
    );
    if d.outcome == Outcome::DirectResponse {
        out.insert("body".into(), json!(String::from_utf8_lossy(d.body())));
    }
    if let Some(h) = &d.hash {
        let input = match h.input {
            RequestHash::Hash(_) => "present",
            RequestHash::GeneratedCookie { .. } => "generated cookie",
            RequestHash::Missing => "absent (random)",
        };
        out.insert(
            "hash".into(),
            json!({
                "policy": hash_policy(h.policy),
                "input": input,
                "key": hash_input(h, req),
                "value": h.value.to_string(),
            }),
        );
    }
    out.insert(
        "set_cookie".into(),
        json!(d.set_cookie.map(|c| c.to_string())),
    );
    Value::Object(out)
}
