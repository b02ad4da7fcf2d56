//! Feedback from the proxy: requests in flight (least request, connection-pool
//! limits) and their outcomes (outlier detection). Atomics only; nothing
//! allocates. Time comes from the caller (a monotonic clock in milliseconds),
//! so tests are deterministic.

use super::{Cluster, Endpoint, EndpointSet, Table};
use crate::decision::Decision;
use std::sync::atomic::Ordering;

/// A request in flight, from [`Table::begin`] to [`Table::finish`].
#[derive(Debug)]
#[must_use = "pass the ticket to Table::finish when the request ends"]
pub struct Ticket<'t> {
    cluster: Option<&'t Cluster>,
    set: Option<&'t EndpointSet>,
    endpoint: Option<&'t Endpoint>,
}

/// How a request ended, as the proxy saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestOutcome {
    /// The upstream answered with this status.
    Status(u16),
    /// No connection could be made (counts as a gateway error and a 5xx).
    ConnectFailure,
}

impl RequestOutcome {
    fn is_5xx(self) -> bool {
        match self {
            RequestOutcome::Status(s) => (500..600).contains(&s),
            RequestOutcome::ConnectFailure => true,
        }
    }

    /// Envoy's gateway errors: 502, 503, 504 and connection failures.
    fn is_gateway_error(self) -> bool {
        matches!(
            self,
            RequestOutcome::Status(502..=504) | RequestOutcome::ConnectFailure
        )
    }
}

impl Table {
    /// Marks the decided request as started: counts it against its cluster's
    /// connection-pool limits and its endpoint's active requests.
    pub fn begin<'t>(&'t self, decision: &Decision<'t>) -> Ticket<'t> {
        let cluster = decision.cluster;
        let set = cluster
            .and_then(|c| self.cluster_index_of(c))
            .and_then(|i| self.endpoint_set(i));
        if let Some(c) = cluster {
            c.active.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(e) = decision.endpoint {
            e.state.active.fetch_add(1, Ordering::Relaxed);
        }
        Ticket {
            cluster,
            set,
            endpoint: decision.endpoint,
        }
    }

    /// Marks a request as ended at `now_ms` (caller's monotonic clock) and
    /// runs outlier detection on its endpoint.
    pub fn finish(&self, ticket: Ticket<'_>, outcome: RequestOutcome, now_ms: u64) {
        self.advance_clock(now_ms);
        if let Some(c) = ticket.cluster {
            let _ = c
                .active
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
        }
        let Some(ep) = ticket.endpoint else { return };
        let state = &ep.state;
        let _ = state
            .active
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
        let Some(policy) = ticket.cluster.and_then(|c| c.policy.outlier.as_ref()) else {
            return;
        };
        let five = if outcome.is_5xx() {
            state.consecutive_5xx.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            state.consecutive_5xx.store(0, Ordering::Relaxed);
            0
        };
        let gateway = if outcome.is_gateway_error() {
            state.consecutive_gateway.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            state.consecutive_gateway.store(0, Ordering::Relaxed);
            0
        };
        let tripped = policy.consecutive_5xx.is_some_and(|n| five >= n)
            || policy
                .consecutive_gateway_errors
                .is_some_and(|n| gateway >= n);
        if !tripped || state.ejected_until_ms.load(Ordering::Relaxed) > now_ms {
            return;
        }
        // Envoy ejects while the share ejected after this one stays within
        // maxEjectionPercent; one host may always be ejected.
        if let Some(set) = ticket.set {
            let total = set.endpoints.len() as u64;
            let ejected = set
                .endpoints
                .iter()
                .filter(|e| e.state.ejected_until_ms.load(Ordering::Relaxed) > now_ms)
                .count() as u64;
            if total == 0
                || (ejected > 0
                    && (ejected + 1) * 100 / total > u64::from(policy.max_ejection_percent))
            {
                return;
            }
        }
        // baseEjectionTime multiplied by how many times it was ejected.
        let times = u64::from(state.ejections.fetch_add(1, Ordering::Relaxed)) + 1;
        let base = policy.base_ejection_time.as_millis() as u64;
        state.ejected_until_ms.store(
            now_ms.saturating_add(base.saturating_mul(times)),
            Ordering::Relaxed,
        );
        state.consecutive_5xx.store(0, Ordering::Relaxed);
        state.consecutive_gateway.store(0, Ordering::Relaxed);
    }

    /// Moves the table's clock forward (ejections end when it passes them).
    pub fn advance_clock(&self, now_ms: u64) {
        self.routing.clock_ms.fetch_max(now_ms, Ordering::Relaxed);
    }

    /// True when `endpoint` is ejected by outlier detection now.
    pub fn is_ejected(&self, endpoint: &Endpoint) -> bool {
        endpoint.state.ejected_until_ms.load(Ordering::Relaxed)
            > self.routing.clock_ms.load(Ordering::Relaxed)
    }

    fn cluster_index_of(&self, cluster: &Cluster) -> Option<usize> {
        let base = self.routing.clusters.as_ptr() as usize;
        let offset = (cluster as *const Cluster as usize).checked_sub(base)?;
        let i = offset / std::mem::size_of::<Cluster>();
        (i < self.routing.clusters.len() && std::ptr::eq(&self.routing.clusters[i], cluster))
            .then_some(i)
    }
}
