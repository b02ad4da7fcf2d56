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

    /// [`Table::begin`] for callers that cannot keep a borrowing [`Ticket`]
    /// (a proxy-wasm HTTP context that holds the table behind an `Rc`): counts
    /// the request in and returns `(cluster index, endpoint index)` — the
    /// cluster's position in [`Table::clusters`] and the endpoint's in
    /// [`Table::endpoints`] of that cluster. Pass them to
    /// [`Table::finish_indices`] **on the same table**. Nothing is counted for
    /// a cluster or endpoint that is not this table's (the indices are `None`).
    /// Allocation-free, like `begin`.
    pub fn begin_indices(&self, decision: &Decision<'_>) -> (Option<u32>, Option<u32>) {
        let ci = decision
            .cluster
            .and_then(|c| self.cluster_index_of(c))
            .and_then(|i| u32::try_from(i).ok());
        let ei = match (ci, decision.endpoint) {
            (Some(ci), Some(e)) => self.endpoint_index_of(ci, e),
            _ => None,
        };
        if let Some(c) = decision.cluster.filter(|_| ci.is_some()) {
            c.active.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(e) = decision.endpoint.filter(|_| ei.is_some()) {
            e.state.active.fetch_add(1, Ordering::Relaxed);
        }
        (ci, ei)
    }

    /// [`Table::finish`] for indices from [`Table::begin_indices`].
    /// `outcome: None` ends the request without a verdict on the endpoint
    /// (the client went away, or a proxy-local reply that never reached the
    /// endpoint): in-flight counts drop, outlier detection is untouched.
    pub fn finish_indices(
        &self,
        indices: (Option<u32>, Option<u32>),
        outcome: Option<RequestOutcome>,
        now_ms: u64,
    ) {
        let ticket = self.ticket_at(indices.0, indices.1);
        match outcome {
            Some(outcome) => self.finish(ticket, outcome, now_ms),
            None => {
                self.advance_clock(now_ms);
                let dec = |a: &std::sync::atomic::AtomicU32| {
                    let _ =
                        a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| v.checked_sub(1));
                };
                if let Some(c) = ticket.cluster {
                    dec(&c.active);
                }
                if let Some(e) = ticket.endpoint {
                    dec(&e.state.active);
                }
            }
        }
    }

    fn ticket_at(&self, cluster: Option<u32>, endpoint: Option<u32>) -> Ticket<'_> {
        let ci = cluster.map(|i| i as usize);
        let set = ci.and_then(|i| self.endpoint_set(i));
        Ticket {
            cluster: ci.and_then(|i| self.routing.clusters.get(i)),
            set,
            endpoint: endpoint.and_then(|e| set?.endpoints.get(e as usize)),
        }
    }

    fn endpoint_index_of(&self, cluster: u32, endpoint: &Endpoint) -> Option<u32> {
        let eps = &self.endpoint_set(cluster as usize)?.endpoints;
        let base = eps.as_ptr() as usize;
        let offset = (endpoint as *const Endpoint as usize).checked_sub(base)?;
        let i = offset / std::mem::size_of::<Endpoint>();
        (i < eps.len() && std::ptr::eq(&eps[i], endpoint))
            .then(|| u32::try_from(i).ok())
            .flatten()
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
