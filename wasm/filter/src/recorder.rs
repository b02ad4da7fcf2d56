//! The host side of [`crate::telemetry`]: defines a series' proxy-wasm
//! metrics once per VM and records each request into them from `on_log`.

use crate::telemetry::{
    destination_labels, flags_of_envoy, property_u64, series_values, stat_name, SeriesIds,
    SeriesKey, SourceLabels, REQUESTS_TOTAL, REQUEST_BYTES, REQUEST_DURATION, RESPONSE_BYTES,
};
use proxy_wasm::hostcalls;
use proxy_wasm::types::MetricType;
use std::cell::RefCell;
use std::collections::HashMap;
use weir_core::compile::{Cluster, Table};
use weir_core::decision::Outcome;
use weir_core::telemetry::{Protocol, ResponseFlags};

/// Most series one VM defines: label cardinality stays bounded. Requests
/// of later series are not recorded in any Istio series but counted in
/// `weir_series_overflow`.
const MAX_SERIES: usize = 2048;

/// Per VM: the proxy's labels and the ids of every series defined so far.
pub(crate) struct Recorder {
    source: SourceLabels,
    series: RefCell<HashMap<SeriesKey, SeriesIds>>,
}

/// What `on_log` needs of a request's decision.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decided {
    /// The cluster's address in the table (0: none).
    cluster: usize,
    outcome: Outcome,
    delayed: bool,
    protocol: Protocol,
}

impl Decided {
    pub(crate) fn new(d: &weir_core::Decision<'_>, content_type: Option<&str>) -> Decided {
        Decided {
            cluster: d.cluster.map_or(0, |c| c as *const Cluster as usize),
            outcome: d.outcome,
            delayed: d.delay.is_some(),
            protocol: Protocol::of_content_type(content_type),
        }
    }
}

fn property(path: &[&str]) -> Option<u64> {
    let raw = hostcalls::get_property(path.to_vec()).ok()??;
    property_u64(Some(&raw))
}

impl Recorder {
    pub(crate) fn new(source: SourceLabels) -> Recorder {
        Recorder {
            source,
            series: RefCell::new(HashMap::new()),
        }
    }

    /// Records one finished request: what Weir decided, and what Envoy
    /// says happened (`response.code`, `response.flags`, `request.duration`,
    /// `request.total_size`, `response.total_size`, `response.grpc_status`).
    pub(crate) fn record(&self, table: &Table, d: &Decided) {
        let code = property(&["response", "code"]).unwrap_or(0);
        let envoy_flags = property(&["response", "flags"]).unwrap_or(0);
        let flags =
            ResponseFlags::of_outcome(d.outcome, d.delayed).union(flags_of_envoy(envoy_flags));
        let grpc_status = if d.protocol == Protocol::Grpc {
            property(&["response", "grpc_status"]).and_then(|g| u8::try_from(g).ok())
        } else {
            None
        };
        let key = SeriesKey {
            cluster: d.cluster,
            protocol: d.protocol,
            response_code: u16::try_from(code).unwrap_or(0),
            flags,
            grpc_status,
        };
        let Some(ids) = self.ids_of(table, &key) else {
            count_overflow();
            return;
        };
        let millis = property(&["request", "duration"]).unwrap_or(0) / 1_000_000;
        let request_bytes = property(&["request", "total_size"]).unwrap_or(0);
        let response_bytes = property(&["response", "total_size"]).unwrap_or(0);
        let _ = hostcalls::increment_metric(ids.requests, 1);
        let _ = hostcalls::record_metric(ids.duration, millis);
        let _ = hostcalls::record_metric(ids.request_bytes, request_bytes);
        let _ = hostcalls::record_metric(ids.response_bytes, response_bytes);
    }

    /// The series' ids, defining its metrics on first use (`None` when the
    /// VM's bound is reached or the host refuses).
    fn ids_of(&self, table: &Table, key: &SeriesKey) -> Option<SeriesIds> {
        if let Some(ids) = self.series.borrow().get(key) {
            return Some(*ids);
        }
        if self.series.borrow().len() >= MAX_SERIES {
            return None;
        }
        let cluster = table
            .clusters()
            .iter()
            .find(|c| *c as *const Cluster as usize == key.cluster);
        let dest = destination_labels(cluster);
        let mut scratch = Default::default();
        let values = series_values(&self.source, &dest, key, &mut scratch);
        let values: [&str; 16] = std::array::from_fn(|i| values[i].as_str());
        let define =
            |kind, metric| hostcalls::define_metric(kind, &stat_name(metric, &values)).ok();
        let ids = SeriesIds {
            requests: define(MetricType::Counter, REQUESTS_TOTAL)?,
            duration: define(MetricType::Histogram, REQUEST_DURATION)?,
            request_bytes: define(MetricType::Histogram, REQUEST_BYTES)?,
            response_bytes: define(MetricType::Histogram, RESPONSE_BYTES)?,
        };
        self.series.borrow_mut().insert(*key, ids);
        Some(ids)
    }
}

fn count_overflow() {
    thread_local! {
        static ID: std::cell::Cell<Option<u32>> = const { std::cell::Cell::new(None) };
    }
    let id = ID.with(|c| {
        c.get().or_else(|| {
            let id = hostcalls::define_metric(MetricType::Counter, "weir_series_overflow").ok();
            c.set(id);
            id
        })
    });
    if let Some(id) = id {
        let _ = hostcalls::increment_metric(id, 1);
    }
}
