//! The proxy-wasm root context (after the proxy-wasm SDK examples): it owns
//! the compiled table and creates the HTTP contexts ([`crate::http`]) and
//! network contexts ([`crate::connection`]).
//!
//! Every host call goes through `proxy_wasm::hostcalls`, whose results are
//! `Result`s: the SDK's trait helpers `unwrap` them, and a panic aborts the VM
//! (the wasm profile is `panic = "abort"`), failing every later request.

use crate::http::Http;
use crate::kept_engine::Applied;
use crate::settings::{FilterKind, Settings};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext, StreamContext};
use proxy_wasm::types::{BufferType, ContextType, LogLevel};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

pub(crate) fn log(level: LogLevel, message: &str) {
    let _ = hostcalls::log(level, message);
}

/// Adds one to a counter (Envoy shows it as `wasmcustom.<name>`, summed
/// over the VMs).
pub(crate) fn count(name: &str) {
    if let Ok(id) = hostcalls::define_metric(proxy_wasm::types::MetricType::Counter, name) {
        let _ = hostcalls::increment_metric(id, 1);
    }
}

pub(crate) fn now_millis() -> u64 {
    now_nanos() / 1_000_000
}

pub(crate) fn now_nanos() -> u64 {
    hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A request waiting out a fault delay, resumed by the root tick.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delayed {
    pub(crate) context_id: u32,
    pub(crate) due_nanos: u64,
    /// A fault abort drawn together with the delay: answered once due.
    pub(crate) then_abort: Option<(u16, Option<u32>)>,
}

/// What the root shares with its HTTP contexts (one per VM, single-threaded).
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    /// xorshift64* state: the entropy of every decision.
    pub(crate) rng: Cell<u64>,
    pub(crate) delayed: RefCell<Vec<Delayed>>,
    pub(crate) ticking: Cell<bool>,
    /// Some cluster has outlier detection: keep the table's clock moving so
    /// ejections end, and report upstream statuses.
    pub(crate) outlier: bool,
    /// The network filter's counters (`filter: network` only).
    pub(crate) connections: Option<crate::connection::Counters>,
    /// Istio's standard metrics (`telemetry.metrics`).
    pub(crate) recorder: Option<crate::recorder::Recorder>,
}

impl Shared {
    pub(crate) fn next_entropy(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The root context: parses the plugin configuration and owns the table.
pub struct Root {
    id: u32,
    shared: Option<Rc<Shared>>,
}

impl Root {
    pub fn new(id: u32) -> Root {
        Root { id, shared: None }
    }
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let raw = match hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX) {
            Ok(raw) => raw.unwrap_or_default(),
            Err(e) => {
                log(
                    LogLevel::Error,
                    &format!("weir: cannot read the plugin configuration: {e:?}"),
                );
                return false;
            }
        };
        let settings = match Settings::from_json(&raw) {
            Ok(s) => s,
            Err(e) => {
                // One log line per problem, so each names its resource and field.
                for line in e.to_string().lines() {
                    log(LogLevel::Error, &format!("weir: {}", line.trim_start()));
                }
                return false;
            }
        };
        for w in &settings.warnings {
            log(LogLevel::Warn, &format!("weir: {w}"));
        }
        let routes = settings.table.as_deref().map_or(0, |t| t.clusters().len());
        let how = match settings.applied {
            Some(Applied::Compiled) => {
                count("weir_route_compiles");
                "routes compiled".to_string()
            }
            Some(Applied::EndpointsUpdated(n)) => {
                count("weir_endpoint_updates");
                format!("endpoints of {n} host(s) updated, routes kept")
            }
            Some(Applied::Unchanged) => "unchanged, routes kept".to_string(),
            None => "noop".to_string(),
        };
        log(
            LogLevel::Info,
            &format!(
                "weir: configured (root {}, {:?} filter, {} clusters, upstream {:?}, noop {}; {how})",
                self.id, settings.filter, routes, settings.upstream, settings.noop
            ),
        );
        let seed = now_nanos() ^ u64::from(self.id).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let outlier = settings
            .table
            .as_deref()
            .is_some_and(|t| t.clusters().iter().any(|c| c.policy.outlier.is_some()));
        let connections =
            (settings.filter == FilterKind::Network).then(crate::connection::Counters::define);
        let recorder = settings.telemetry.metrics.then(|| {
            crate::recorder::Recorder::new(crate::telemetry::SourceLabels::new(
                &settings.telemetry,
                &settings.source_namespace,
                &settings.source_labels,
            ))
        });
        self.shared = Some(Rc::new(Shared {
            recorder,
            connections,
            settings,
            rng: Cell::new(seed),
            delayed: RefCell::new(Vec::new()),
            ticking: Cell::new(false),
            outlier,
        }));
        true
    }

    fn on_tick(&mut self) {
        let Some(shared) = &self.shared else { return };
        let now = now_nanos();
        let due: Vec<Delayed> = {
            let mut q = shared.delayed.borrow_mut();
            let (due, wait): (Vec<Delayed>, Vec<Delayed>) =
                q.drain(..).partition(|d| d.due_nanos <= now);
            *q = wait;
            due
        };
        for d in due {
            if hostcalls::set_effective_context(d.context_id).is_ok() {
                crate::reply::finish_delay(&shared.settings, d.then_abort);
            }
        }
        if shared.delayed.borrow().is_empty() {
            let _ = hostcalls::set_effective_context(self.id);
            let _ = hostcalls::set_tick_period(Duration::ZERO);
            shared.ticking.set(false);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        // Never `None`: the SDK panics on it. An unconfigured root cannot
        // serve (Envoy refuses the plugin), but answer 500 to be safe.
        Some(Box::new(Http::new(context_id, self.shared.clone())))
    }

    fn create_stream_context(&self, _context_id: u32) -> Option<Box<dyn StreamContext>> {
        Some(Box::new(crate::connection::Tcp::new(self.shared.clone())))
    }

    fn get_type(&self) -> Option<ContextType> {
        match self.shared.as_ref().map(|s| s.settings.filter) {
            Some(FilterKind::Network) => Some(ContextType::StreamContext),
            _ => Some(ContextType::HttpContext),
        }
    }
}
