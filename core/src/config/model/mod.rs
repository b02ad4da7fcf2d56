//! Serde types of the Istio networking resources, as users write them.
//!
//! Field names follow the Istio API (`networking.istio.io` v1, v1beta1 and
//! v1alpha3 share one schema). Fields Weir reads are typed; fields Weir
//! accepts but does not act on (TLS settings and the like) are kept as raw
//! JSON so valid configs load and typos are still caught: unknown fields are
//! collected as diagnostics by the loader.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

mod destination_rule;
mod service_entry;

pub use super::string_map::StringMap;
pub use destination_rule::*;
pub use service_entry::*;

/// `metadata` of any resource. Fields kubectl prints that Weir ignores are
/// swallowed here without a diagnostic.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub creation_timestamp: Option<String>,
    #[serde(default)]
    pub labels: StringMap,
    /// Read for `networking.istio.io/exportTo` on Services. The other keys
    /// kubectl prints (`uid`, `ownerReferences`, `managedFields`…) are
    /// skipped as they are read: a `flatten`ed map of them buffered every
    /// object's metadata twice.
    #[serde(default)]
    pub annotations: Option<Value>,
}

// ---------------------------------------------------------------- VirtualService

/// `VirtualService.spec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceSpec {
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub gateways: Vec<String>,
    #[serde(default)]
    pub http: Vec<HttpRoute>,
    #[serde(default)]
    pub tls: Vec<TlsRoute>,
    #[serde(default)]
    pub tcp: Vec<TcpRoute>,
    #[serde(default)]
    pub export_to: Vec<String>,
}

/// `HTTPRoute`. The actions most routes leave unset are boxed: inline they
/// made every route over a kilobyte, most of a 50 000-service mesh's memory.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRoute {
    pub name: Option<String>,
    #[serde(rename = "match")]
    pub matches: Option<Vec<HttpMatchRequest>>,
    pub route: Option<Vec<HttpRouteDestination>>,
    pub redirect: Option<Box<HttpRedirect>>,
    pub direct_response: Option<Box<HttpDirectResponse>>,
    pub delegate: Option<Box<Delegate>>,
    pub rewrite: Option<Box<HttpRewrite>>,
    pub timeout: Option<String>,
    pub retries: Option<Box<HttpRetry>>,
    pub fault: Option<Box<HttpFaultInjection>>,
    pub mirror: Option<Destination>,
    pub mirrors: Option<Vec<HttpMirrorPolicy>>,
    pub mirror_percentage: Option<Percent>,
    pub mirror_percent: Option<u32>,
    pub cors_policy: Option<Box<CorsPolicy>>,
    pub headers: Option<Box<Headers>>,
}

/// `HTTPMatchRequest`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpMatchRequest {
    pub name: Option<String>,
    pub uri: Option<StringMatch>,
    pub scheme: Option<StringMatch>,
    pub method: Option<StringMatch>,
    pub authority: Option<StringMatch>,
    #[serde(default)]
    pub headers: BTreeMap<String, StringMatch>,
    #[serde(default)]
    pub without_headers: BTreeMap<String, StringMatch>,
    #[serde(default)]
    pub query_params: BTreeMap<String, StringMatch>,
    #[serde(default)]
    pub ignore_uri_case: bool,
    #[serde(default, deserialize_with = "zero_is_unset")]
    pub port: Option<u32>,
    #[serde(default)]
    pub source_labels: StringMap,
    pub source_namespace: Option<String>,
    #[serde(default)]
    pub gateways: Vec<String>,
    pub stat_prefix: Option<String>,
}

impl HttpMatchRequest {
    /// Istio's catch-all block (`isCatchAllMatch`, pilot/pkg/networking/core/route):
    /// no uri, prefix `/` or regex `.*`, and no other condition. On a
    /// listener the block's `gateways` name (`gateway_scoped`), they are met
    /// and the source conditions dropped, so neither counts. The one test
    /// validation (IST0130) and compilation (a catch-all ends a
    /// VirtualService's routes; a gateway moves them last) share.
    pub fn is_catch_all(&self, gateway_scoped: bool) -> bool {
        let uri_all = match &self.uri {
            None => true,
            Some(u) => u.prefix.as_deref() == Some("/") || u.regex.as_deref() == Some(".*"),
        };
        // Every header key is a condition: istiod's TranslateRouteMatch
        // (pilot/pkg/networking/core/route/route.go) no longer leaves out
        // `uri`, `scheme`, `method` and `authority` as older releases did.
        let no_headers = self.headers.is_empty();
        let no_source = gateway_scoped
            || (self.source_labels.is_empty()
                && self.source_namespace.is_none()
                && self.gateways.is_empty());
        uri_all
            && no_headers
            && no_source
            && self.scheme.is_none()
            && self.method.is_none()
            && self.authority.is_none()
            && self.without_headers.is_empty()
            && self.query_params.is_empty()
            && self.port.is_none()
    }
}

/// `StringMatch`: one of exact / prefix / regex; `{}` means "present".
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct StringMatch {
    pub exact: Option<String>,
    pub prefix: Option<String>,
    pub regex: Option<String>,
}

/// `HTTPRouteDestination`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteDestination {
    pub destination: Destination,
    pub weight: Option<i64>,
    pub headers: Option<Box<Headers>>,
}

/// `Destination`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Destination {
    #[serde(default)]
    pub host: String,
    pub subset: Option<String>,
    pub port: Option<PortSelector>,
}

/// `PortSelector`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortSelector {
    pub number: Option<u32>,
}

/// `HTTPRedirect`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRedirect {
    pub uri: Option<String>,
    pub prefix_rewrite: Option<String>,
    pub authority: Option<String>,
    pub port: Option<u32>,
    pub derive_port: Option<String>,
    pub scheme: Option<String>,
    pub redirect_code: Option<u32>,
}

/// `HTTPDirectResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpDirectResponse {
    pub status: u32,
    pub body: Option<HttpBody>,
}

/// `HTTPBody`: a string or base64 bytes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpBody {
    pub string: Option<String>,
    pub bytes: Option<String>,
}

/// `Delegate`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delegate {
    pub name: String,
    pub namespace: Option<String>,
}

/// `HTTPRewrite`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRewrite {
    pub uri: Option<String>,
    pub authority: Option<String>,
    pub uri_regex_rewrite: Option<RegexRewrite>,
}

/// `RegexRewrite`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegexRewrite {
    #[serde(rename = "match")]
    pub pattern: Option<String>,
    pub rewrite: Option<String>,
}

/// `HTTPRetry`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpRetry {
    pub attempts: Option<i64>,
    pub per_try_timeout: Option<String>,
    pub retry_on: Option<String>,
    pub retry_remote_localities: Option<bool>,
    pub retry_ignore_previous_hosts: Option<bool>,
    pub backoff: Option<String>,
}

/// `HTTPFaultInjection`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpFaultInjection {
    pub delay: Option<FaultDelay>,
    pub abort: Option<FaultAbort>,
}

/// `HTTPFaultInjection.Delay`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultDelay {
    pub fixed_delay: Option<String>,
    pub exponential_delay: Option<String>,
    pub percentage: Option<Percent>,
    pub percent: Option<i64>,
}

/// `HTTPFaultInjection.Abort`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FaultAbort {
    pub http_status: Option<i64>,
    pub grpc_status: Option<String>,
    pub http2_error: Option<String>,
    pub percentage: Option<Percent>,
}

/// `Percent`.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Percent {
    #[serde(default)]
    pub value: f64,
}

/// `HTTPMirrorPolicy`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpMirrorPolicy {
    pub destination: Destination,
    pub percentage: Option<Percent>,
}

/// `CorsPolicy`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorsPolicy {
    #[serde(default)]
    pub allow_origins: Vec<StringMatch>,
    #[serde(default)]
    pub allow_origin: Vec<String>,
    #[serde(default)]
    pub allow_methods: Vec<String>,
    #[serde(default)]
    pub allow_headers: Vec<String>,
    #[serde(default)]
    pub expose_headers: Vec<String>,
    pub max_age: Option<String>,
    pub allow_credentials: Option<bool>,
    pub unmatched_preflights: Option<String>,
}

/// `Headers`: request and response header operations.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Headers {
    pub request: Option<HeaderOperations>,
    pub response: Option<HeaderOperations>,
}

/// `Headers.HeaderOperations`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderOperations {
    #[serde(default)]
    pub set: StringMap,
    #[serde(default)]
    pub add: StringMap,
    #[serde(default)]
    pub remove: Vec<String>,
}

/// `TCPRoute`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpRoute {
    #[serde(rename = "match", default)]
    pub matches: Vec<L4MatchAttributes>,
    #[serde(default)]
    pub route: Vec<RouteDestination>,
}

/// `TLSRoute`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsRoute {
    #[serde(rename = "match", default)]
    pub matches: Vec<TlsMatchAttributes>,
    #[serde(default)]
    pub route: Vec<RouteDestination>,
}

/// `L4MatchAttributes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L4MatchAttributes {
    #[serde(default)]
    pub destination_subnets: Vec<String>,
    #[serde(default, deserialize_with = "zero_is_unset")]
    pub port: Option<u32>,
    #[serde(default)]
    pub source_labels: StringMap,
    #[serde(default)]
    pub gateways: Vec<String>,
    pub source_namespace: Option<String>,
    pub source_subnet: Option<String>,
}

/// `TLSMatchAttributes`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsMatchAttributes {
    #[serde(default)]
    pub sni_hosts: Vec<String>,
    #[serde(default)]
    pub destination_subnets: Vec<String>,
    #[serde(default, deserialize_with = "zero_is_unset")]
    pub port: Option<u32>,
    #[serde(default)]
    pub source_labels: StringMap,
    #[serde(default)]
    pub gateways: Vec<String>,
    pub source_namespace: Option<String>,
}

/// `RouteDestination` (L4).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteDestination {
    pub destination: Destination,
    pub weight: Option<i64>,
}

/// A match's `port`, where 0 is proto3's unset: Istio checks the port only
/// when it is not 0 (pkg/config/validation/virtualservice.go) and matches
/// every port then.
fn zero_is_unset<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    Ok(Option::<u32>::deserialize(d)?.filter(|&p| p != 0))
}
