//! What operators configure around routing: the Telemetry API's access
//! logging ([`telemetry`]) and local rate limiting as Istio's rate-limit task
//! writes it with an EnvoyFilter ([`envoy_filter`]). Read at load time into
//! [`Config::telemetries`](super::Config) and
//! [`Config::local_rate_limits`](super::Config); every field Weir cannot
//! honour is a diagnostic naming it.

pub mod envoy_filter;
pub mod local_ratelimit;
pub mod log_filter;
pub mod telemetry;

use super::load::Loaded;
use crate::diagnostic::{Diagnostic, ResourceRef, Severity};
use serde_json::{Map, Value};

impl Loaded {
    /// Takes a Telemetry or EnvoyFilter object; false for any other kind.
    pub(super) fn add_policy_object(
        &mut self,
        kind: &str,
        api_version: &str,
        reference: &ResourceRef,
        obj: &mut Map<String, Value>,
    ) -> bool {
        let telemetry = kind == "Telemetry"
            && matches!(
                api_version,
                "telemetry.istio.io/v1" | "telemetry.istio.io/v1alpha1"
            );
        let envoy_filter = kind == "EnvoyFilter" && api_version == "networking.istio.io/v1alpha3";
        if !telemetry && !envoy_filter {
            return false;
        }
        if reference.name.is_empty() {
            self.diagnostics.push(Diagnostic::new(
                "IST0106",
                Severity::Error,
                reference.clone(),
                "metadata.name",
                "metadata.name is required".to_string(),
            ));
        }
        let spec = obj
            .remove("spec")
            .unwrap_or(Value::Object(Default::default()));
        if telemetry {
            telemetry::add(
                spec,
                reference.clone(),
                &mut self.config.telemetries,
                &mut self.diagnostics,
            );
        } else {
            envoy_filter::add(
                spec,
                reference.clone(),
                &mut self.config.local_rate_limits,
                &mut self.diagnostics,
            );
        }
        true
    }
}
