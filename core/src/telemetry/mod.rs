//! What operators watch: Istio's standard metrics ([`Metrics`]), their
//! Prometheus text ([`exposition`]), access-log lines ([`access_log`]),
//! request ids ([`RequestId`]) and local rate limiting ([`rate_limit`],
//! [`local_rate_limit`]).
//!
//! Everything recorded per request is atomics in memory made up front: the
//! request path neither allocates nor locks. Text is made only when scraped.

pub mod access_log;
mod destinations;
pub mod exposition;
mod exposition_text;
mod histogram;
pub mod labels;
pub mod local_rate_limit;
pub mod metrics;
pub mod rate_limit;
pub mod request_id;
mod series_table;
mod shards;

pub use access_log::{AccessLogRecord, LogFormat};
pub use labels::{DestinationLabels, Protocol, Reporter, ResponseFlags, SeriesKey, Workload};
pub use local_rate_limit::{LocalRateLimiter, RateLimitRequest, RateLimitVerdict};
pub use metrics::{Decided, Histogram, HttpSeries, Metrics, MetricsOptions, RequestEnd, TcpSeries};
pub use rate_limit::TokenBucket;
pub use request_id::RequestId;

use crate::Engine;

impl Engine {
    /// The engine's metrics, made with [`MetricsOptions::default`] on first
    /// use (an engine nobody asks for metrics never pays for their cells).
    /// Every table the engine publishes afterwards is
    /// [`prepare`](Metrics::prepare)d, so recording never allocates.
    pub fn metrics(&self) -> &Metrics {
        // Made only when missing: the default options read the CPU count
        // (files under /proc), not something to do per request.
        match self.metrics.get() {
            Some(m) => m,
            None => self.metrics_with(MetricsOptions::default()),
        }
    }

    /// [`metrics`](Self::metrics), made with `options` if not made yet
    /// (the options of an existing one stay).
    pub fn metrics_with(&self, options: MetricsOptions) -> &Metrics {
        self.metrics.get_or_init(|| {
            let m = Metrics::new(options);
            m.prepare(&self.snapshot());
            m
        })
    }

    /// The Telemetry API's access logging for a proxy in `namespace`, from
    /// the config in force: its namespace's Telemetry, else the root
    /// namespace's; `None` when none applies (the proxy's own default,
    /// e.g. the Go proxy's `-access-log` flag, stands).
    pub fn access_logging(
        &self,
        namespace: &str,
    ) -> Option<crate::config::policy::telemetry::AccessLogging> {
        self.with_config(|c| {
            c.telemetries
                .access_logging_for(namespace, &c.kube_options.root_namespace)
                .cloned()
        })
    }

    /// Token buckets for the EnvoyFilter local rate limits that apply to a
    /// proxy in `namespace` with pod `labels`, full at `now_ms`. Made again
    /// after each apply (buckets start full, as Envoy's do on a new config).
    pub fn local_rate_limiter(
        &self,
        namespace: &str,
        labels: &[(&str, &str)],
        now_ms: u64,
    ) -> LocalRateLimiter {
        self.with_config(|c| {
            let configs =
                c.local_rate_limits
                    .for_workload(namespace, labels, &c.kube_options.root_namespace);
            LocalRateLimiter::new(&configs, now_ms)
        })
    }

    /// Called when `table` is about to be published: registers its
    /// destinations with the metrics, if there are any.
    pub(crate) fn telemetry_on_publish(&self, table: &crate::Table) {
        if let Some(m) = self.metrics.get() {
            m.prepare(table);
        }
    }
}
