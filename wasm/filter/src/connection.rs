//! The network filter's stream context: one decision per connection, made
//! when it opens (before `tcp_proxy` picks its upstream), from what Envoy
//! knows of the connection and never from what the client sends.

use crate::filter::{log, Shared};
use crate::http::{address, needs_feedback};
use crate::network::{connection_action, filter_state_arguments, ConnectionAction};
use crate::network::{ORIGINAL_DST_ADDRESS, TCP_PROXY_CLUSTER};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, StreamContext};
use proxy_wasm::types::{Action, LogLevel, MetricType};
use std::cell::Cell;
use std::rc::Rc;
use weir_core::decision::Outcome;
use weir_core::{Connection, Source};

/// Why a connection was closed: its counter and whether it was logged.
#[derive(Debug)]
struct Reason {
    metric: Option<u32>,
    logged: Cell<bool>,
}

/// The network filter's counters, one set per VM (Envoy sums them over
/// workers): `weir_tcp_routed` and `weir_tcp_closed_<outcome>`.
#[derive(Debug)]
pub(crate) struct Counters {
    routed: Option<u32>,
    /// By outcome; `internal_error` last (a host call failed).
    closed: [Reason; 6],
}

const CLOSE_REASONS: [&str; 6] = [
    "no_route",
    "no_cluster",
    "no_healthy_upstream",
    "overflow",
    "fault_abort",
    "internal_error",
];

impl Counters {
    pub(crate) fn define() -> Counters {
        let metric = |name: &str| hostcalls::define_metric(MetricType::Counter, name).ok();
        Counters {
            routed: metric("weir_tcp_routed"),
            closed: CLOSE_REASONS.map(|r| Reason {
                metric: metric(&format!("weir_tcp_closed_{r}")),
                logged: Cell::new(false),
            }),
        }
    }

    fn routed(&self) {
        if let Some(id) = self.routed {
            let _ = hostcalls::increment_metric(id, 1);
        }
    }

    /// Counts a close; logs the first of each reason per VM.
    fn closed(&self, reason: &str, detail: &str) {
        let i = CLOSE_REASONS
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(CLOSE_REASONS.len() - 1);
        let r = &self.closed[i];
        if let Some(id) = r.metric {
            let _ = hostcalls::increment_metric(id, 1);
        }
        if !r.logged.replace(true) {
            log(
                LogLevel::Warn,
                &format!("weir: closing connection: {reason}{detail} (logged once per VM)"),
            );
        }
    }
}

/// One downstream connection.
pub(crate) struct Tcp {
    shared: Option<Rc<Shared>>,
    /// Counted in flight on the cluster and endpoint (least request) until
    /// the connection ends.
    in_flight: Option<(Option<u32>, Option<u32>)>,
}

impl Tcp {
    pub(crate) fn new(shared: Option<Rc<Shared>>) -> Tcp {
        Tcp {
            shared,
            in_flight: None,
        }
    }

    fn decide_and_act(&mut self, shared: &Shared) -> Result<(), (&'static str, String)> {
        let settings = &shared.settings;
        let table = settings
            .table
            .as_deref()
            .ok_or(("internal_error", ": no table".to_string()))?;
        let sni = hostcalls::get_property(vec!["connection", "requested_server_name"])
            .ok()
            .flatten()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|s| !s.is_empty());
        let labels = settings.source_label_pairs();
        let destination = address(&["destination", "address"]);
        let source = Source {
            gateway: settings.gateway.as_deref(),
            local: destination,
            namespace: &settings.source_namespace,
            labels: &labels,
        };
        let conn = Connection {
            destination,
            port: settings.port,
            sni: sni.as_deref(),
            host: None,
            remote: address(&["source", "address"]),
            source: &source,
        };
        let d = table.decide_tcp(&conn, shared.next_entropy());
        match connection_action(settings, &d) {
            ConnectionAction::Close(outcome) => {
                let detail = match (outcome, &sni) {
                    (Outcome::NoRoute, Some(sni)) => {
                        format!(" (port {}, SNI {sni:?})", conn.effective_port())
                    }
                    (Outcome::NoRoute, None) => {
                        format!(" (port {}, no SNI)", conn.effective_port())
                    }
                    _ => String::new(),
                };
                Err((outcome.as_str(), detail))
            }
            ConnectionAction::Forward {
                cluster,
                original_dst,
            } => {
                set_filter_state(TCP_PROXY_CLUSTER, cluster)?;
                if let Some(ep) = original_dst {
                    set_filter_state(ORIGINAL_DST_ADDRESS, ep)?;
                }
                if d.cluster.is_some_and(needs_feedback) {
                    self.in_flight = Some(table.begin_indices(&d));
                }
                Ok(())
            }
        }
    }
}

fn set_filter_state(key: &str, value: &str) -> Result<(), (&'static str, String)> {
    let args = filter_state_arguments(key, value);
    hostcalls::call_foreign_function("set_envoy_filter_state", Some(&args))
        .map(|_| ())
        .map_err(|s| {
            (
                "internal_error",
                format!(": set_envoy_filter_state {key}: {s:?}"),
            )
        })
}

impl Context for Tcp {}

impl StreamContext for Tcp {
    fn on_new_connection(&mut self) -> Action {
        let Some(shared) = self.shared.clone() else {
            let _ = hostcalls::close_downstream();
            return Action::Pause;
        };
        let result = self.decide_and_act(&shared);
        let counters = shared.connections.as_ref();
        match result {
            Ok(()) => {
                if let Some(c) = counters {
                    c.routed();
                }
                Action::Continue
            }
            Err((reason, detail)) => {
                if let Some(c) = counters {
                    c.closed(reason, &detail);
                }
                let _ = hostcalls::close_downstream();
                Action::Pause
            }
        }
    }
}

impl Drop for Tcp {
    fn drop(&mut self) {
        let Some(indices) = self.in_flight.take() else {
            return;
        };
        if let Some(table) = self
            .shared
            .as_ref()
            .and_then(|s| s.settings.table.as_deref())
        {
            table.finish_indices(indices, None, 0);
        }
    }
}
