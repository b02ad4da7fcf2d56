//! The Telemetry API's `accessLogging` (telemetry.istio.io/v1, v1alpha1):
//! whether a proxy writes access logs and which requests.
//!
//! What Weir honours: `accessLogging[].providers[].name: envoy` (Istio's
//! built-in file logger; an empty list means it too), `disabled`,
//! `filter.expression` in the subset of [`LogFilter`], and `match.mode`
//! (a Weir proxy is a client: `SERVER`-only entries do not apply to it).
//! A Telemetry in the root namespace applies mesh-wide; one in the proxy's
//! namespace replaces it (Istio's hierarchy). Anything else is reported
//! naming the field: `selector`/`targetRef(s)` (workload selection) skip the
//! resource, other providers skip their entry, `metrics` and `tracing` are
//! ignored (Weir always records Istio's standard metrics).

use super::log_filter::LogFilter;
use crate::diagnostic::{Diagnostic, ResourceRef, Severity};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TelemetrySpec {
    #[serde(default)]
    selector: Option<Value>,
    #[serde(default)]
    target_ref: Option<Value>,
    #[serde(default)]
    target_refs: Option<Value>,
    #[serde(default)]
    access_logging: Vec<AccessLoggingSpec>,
    #[serde(default)]
    metrics: Option<Value>,
    #[serde(default)]
    tracing: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessLoggingSpec {
    #[serde(default, rename = "match")]
    match_: Option<MatchSpec>,
    #[serde(default)]
    providers: Vec<ProviderRef>,
    #[serde(default)]
    disabled: Option<bool>,
    #[serde(default)]
    filter: Option<FilterSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MatchSpec {
    #[serde(default)]
    mode: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderRef {
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterSpec {
    expression: String,
}

/// The access-log policy one Telemetry resource sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogging {
    /// The resource it came from.
    pub resource: ResourceRef,
    /// Logs are written.
    pub enabled: bool,
    /// Only requests it matches are logged (`None`: all).
    pub filter: Option<LogFilter>,
}

/// The policy in force for a proxy, or `None` when no Telemetry sets one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Telemetries {
    /// By resource, in load order; resources Weir skipped are absent.
    pub access_logging: Vec<AccessLogging>,
}

impl Telemetries {
    /// The access-log policy for a proxy in `namespace`: its namespace's
    /// Telemetry, else the root namespace's (the first of each, by load
    /// order, as Istio takes the oldest).
    pub fn access_logging_for(&self, namespace: &str, root: &str) -> Option<&AccessLogging> {
        let of = |ns: &str| {
            self.access_logging
                .iter()
                .find(|a| a.resource.namespace == ns)
        };
        of(namespace).or_else(|| of(root))
    }
}

fn warn(reference: &ResourceRef, field: &str, message: String) -> Diagnostic {
    Diagnostic::new(
        "WEIR0040",
        Severity::Warning,
        reference.clone(),
        field,
        message,
    )
}

fn error(reference: &ResourceRef, field: &str, message: String) -> Diagnostic {
    Diagnostic::new(
        "WEIR0041",
        Severity::Error,
        reference.clone(),
        field,
        message,
    )
}

/// Reads one Telemetry's spec, reporting what Weir cannot honour.
pub(super) fn add(
    spec: Value,
    reference: ResourceRef,
    out: &mut Telemetries,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let spec: TelemetrySpec = match serde_path_to_error::deserialize(spec) {
        Ok(s) => s,
        Err(e) => {
            let path = e.path().to_string();
            diagnostics.push(error(
                &reference,
                &format!("spec.{path}").replace("spec..", "spec"),
                e.into_inner().to_string(),
            ));
            return;
        }
    };
    for (field, present) in [
        ("spec.selector", spec.selector.is_some()),
        ("spec.targetRef", spec.target_ref.is_some()),
        ("spec.targetRefs", spec.target_refs.is_some()),
    ] {
        if present {
            diagnostics.push(warn(
                &reference,
                field,
                "workload selection is not supported by Weir (a proxy takes its \
                 namespace's or the root namespace's Telemetry); resource skipped"
                    .into(),
            ));
            return;
        }
    }
    for (field, present) in [
        ("spec.metrics", spec.metrics.is_some()),
        ("spec.tracing", spec.tracing.is_some()),
    ] {
        if present {
            diagnostics.push(warn(
                &reference,
                field,
                "not honoured by Weir (it always records Istio's standard metrics, \
                 and traces nothing); ignored"
                    .into(),
            ));
        }
    }
    let mut policy: Option<AccessLogging> = None;
    for (i, entry) in spec.access_logging.iter().enumerate() {
        let at = format!("spec.accessLogging[{i}]");
        let mode = entry.match_.as_ref().and_then(|m| m.mode.as_deref());
        match mode {
            None | Some("CLIENT_AND_SERVER" | "CLIENT") => {}
            // Server-side traffic only: not a client proxy's.
            Some("SERVER") => continue,
            Some(other) => {
                diagnostics.push(error(
                    &reference,
                    &format!("{at}.match.mode"),
                    format!("unknown mode {other:?} (CLIENT, SERVER or CLIENT_AND_SERVER)"),
                ));
                continue;
            }
        }
        let mut envoy = entry.providers.is_empty();
        for (j, p) in entry.providers.iter().enumerate() {
            if p.name == "envoy" {
                envoy = true;
            } else {
                diagnostics.push(warn(
                    &reference,
                    &format!("{at}.providers[{j}].name"),
                    format!(
                        "provider {:?} is not supported by Weir (only \"envoy\", the \
                         built-in access log); ignored",
                        p.name
                    ),
                ));
            }
        }
        if !envoy {
            continue;
        }
        let filter = match &entry.filter {
            Some(f) => match LogFilter::parse(&f.expression) {
                Ok(f) => Some(f),
                Err(e) => {
                    diagnostics.push(error(
                        &reference,
                        &format!("{at}.filter.expression"),
                        format!("{:?}: {e}", f.expression),
                    ));
                    return;
                }
            },
            None => None,
        };
        if policy.is_some() {
            diagnostics.push(warn(
                &reference,
                &at,
                "a second accessLogging entry for the envoy provider; ignored (the first applies)"
                    .into(),
            ));
            continue;
        }
        policy = Some(AccessLogging {
            resource: reference.clone(),
            enabled: !entry.disabled.unwrap_or(false),
            filter,
        });
    }
    if let Some(p) = policy {
        out.access_logging.push(p);
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Loaded;

    fn load(yaml: &str) -> Loaded {
        Loaded::from_source("t.yaml", yaml)
    }

    #[test]
    fn access_logging_is_read_and_resolved_by_namespace() {
        let l = load(
            r#"
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: mesh-default, namespace: istio-system}
spec:
  accessLogging:
  - providers: [{name: envoy}]
---
apiVersion: telemetry.istio.io/v1alpha1
kind: Telemetry
metadata: {name: errors-only, namespace: shop}
spec:
  accessLogging:
  - match: {mode: SERVER}
    disabled: true
  - providers: [{name: envoy}]
    filter: {expression: "response.code >= 400"}
---
apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: off, namespace: quiet}
spec:
  accessLogging: [{disabled: true}]
"#,
        );
        assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
        let t = &l.config.telemetries;
        let root = "istio-system";
        // (proxy namespace, resource, enabled, filtered)
        let rows = [
            ("default", "mesh-default", true, false),
            ("shop", "errors-only", true, true),
            ("quiet", "off", false, false),
        ];
        for (ns, name, enabled, filtered) in rows {
            let p = t.access_logging_for(ns, root).expect(ns);
            assert_eq!(p.resource.name, name);
            assert_eq!(p.enabled, enabled, "{ns}");
            assert_eq!(p.filter.is_some(), filtered, "{ns}");
        }
        assert!(t.access_logging_for("default", "elsewhere").is_none());
    }

    #[test]
    fn what_weir_cannot_honour_is_reported_by_field() {
        // (spec, field, error?, policy kept?)
        let rows = [
            (
                "{selector: {matchLabels: {app: x}}, accessLogging: [{}]}",
                "spec.selector",
                false,
                false,
            ),
            (
                "{accessLogging: [{providers: [{name: otel}]}]}",
                "spec.accessLogging[0].providers[0].name",
                false,
                false,
            ),
            (
                "{accessLogging: [{providers: [{name: otel}, {name: envoy}]}]}",
                "spec.accessLogging[0].providers[0].name",
                false,
                true,
            ),
            (
                "{metrics: [{providers: [{name: prometheus}]}], accessLogging: [{}]}",
                "spec.metrics",
                false,
                true,
            ),
            (
                "{accessLogging: [{filter: {expression: 'size(request.path) > 1'}}]}",
                "spec.accessLogging[0].filter.expression",
                true,
                false,
            ),
            (
                "{accessLogging: [{match: {mode: BOTH}}]}",
                "spec.accessLogging[0].match.mode",
                true,
                false,
            ),
            (
                "{accessLogging: [{bogus: 1}]}",
                "spec.accessLogging[0]",
                true,
                false,
            ),
        ];
        for (spec, field, is_error, kept) in rows {
            let l = load(&format!(
                "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {{name: t, namespace: ns}}\nspec: {spec}\n"
            ));
            let d = l
                .diagnostics
                .iter()
                .find(|d| d.field.starts_with(field))
                .unwrap_or_else(|| panic!("{spec}: no diagnostic on {field}: {:?}", l.diagnostics));
            assert_eq!(d.is_error(), is_error, "{spec}: {d}");
            assert_eq!(d.resource.name, "t");
            assert_eq!(
                l.config
                    .telemetries
                    .access_logging_for("ns", "istio-system")
                    .is_some(),
                kept,
                "{spec}"
            );
        }
    }
}
