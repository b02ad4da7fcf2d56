//! `weir_stats`: per-route and per-destination hit counters of a snapshot.

use crate::cast;
use crate::error::weir_result;
use crate::panic;
use crate::slice::weir_str;
use crate::snapshot::weir_snapshot;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use weir_core::compile::{ClusterChoice, L4Rule, RouteDestination, Rule};
use weir_core::Table;

/// Which kind of rule a route stat is about.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum weir_rule_kind {
    /// An `http[]` rule.
    Http = 0,
    /// A `tcp[]` rule.
    Tcp = 1,
    /// A `tls[]` rule.
    Tls = 2,
}

/// The rules of a snapshot, listed once each (a rule serving several hosts or
/// gateways is one entry), with live counters.
///
/// Thread safety: read-only; may be shared between threads.
pub struct weir_stats {
    table: Arc<Table>,
    rules: Vec<Entry>,
}

impl std::fmt::Debug for weir_stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("weir_stats")
            .field("rules", &self.rules.len())
            .finish()
    }
}

/// Points into `weir_stats::table`, which the object keeps alive.
#[derive(Debug, Clone, Copy)]
enum Entry {
    Http(*const Rule),
    L4(*const L4Rule),
}

/// One rule's counters. Strings borrow the `weir_stats` object.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_route_stat {
    /// `http`, `tcp` or `tls`.
    pub kind: weir_rule_kind,
    /// The VirtualService namespace.
    pub vs_namespace: weir_str,
    /// The VirtualService name.
    pub virtual_service: weir_str,
    /// `http[].name`, or empty.
    pub name: weir_str,
    /// True when `index` is set (false for a service's default route).
    pub has_index: bool,
    /// Position in `http[]` / `tcp[]` / `tls[]`.
    pub index: usize,
    /// Requests (or connections) that matched the rule, on every snapshot
    /// sharing this routing (endpoint updates keep counters).
    pub hits: u64,
    /// Number of weighted destinations (see `weir_stats_destination`).
    pub destinations_len: usize,
}

/// One weighted destination's counters. Strings borrow the `weir_stats` object.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_destination_stat {
    /// The destination host (FQDN).
    pub host: weir_str,
    /// The subset, or empty.
    pub subset: weir_str,
    /// The cluster name when it is fixed; empty when it depends on the port or is missing.
    pub cluster: weir_str,
    /// The configured weight.
    pub weight: u32,
    /// Times this destination was chosen.
    pub hits: u64,
}

fn collect(table: &Table) -> Vec<Entry> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut listeners: Vec<_> = table.mesh_views().into_iter().map(|(_, l)| l).collect();
    listeners.extend(table.gateways().into_iter().map(|(_, _, l)| l));
    for l in listeners {
        for vh in l.virtual_hosts.iter() {
            for r in vh.routes.iter() {
                let p = Arc::as_ptr(&r.rule);
                if seen.insert(p as usize) {
                    out.push(Entry::Http(p));
                }
            }
        }
        for r in l.tcp.iter() {
            let p: *const L4Rule = r;
            if seen.insert(p as usize) {
                out.push(Entry::L4(p));
            }
        }
    }
    out
}

impl weir_stats {
    fn entry(&self, index: usize) -> Result<Entry, weir_result> {
        self.rules
            .get(index)
            .copied()
            .ok_or(weir_result::IndexOutOfRange)
    }
}

/// Lists the rules of `snapshot` with their counters into a new stats object
/// written to `*out` (it keeps the table alive). Free it with `weir_stats_free`.
/// Allocates: not for the per-request path.
///
/// # Safety
/// `snapshot` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_snapshot_stats(
    snapshot: *const weir_snapshot,
    out: *mut *mut weir_stats,
) -> weir_result {
    panic::boundary(|| {
        cast::arc_ref::<Table, _>(snapshot)?;
        let out = cast::try_out(out)?;
        let table: Arc<Table> = cast::arc_clone(snapshot);
        let rules = collect(&table);
        *out = cast::new_handle(weir_stats { table, rules });
        Ok(())
    })
}

/// Frees a stats object. NULL is a no-op; freeing twice gives
/// `WEIR_RESULT_INVALID_HANDLE`.
///
/// # Safety
/// `stats` NULL or from `weir_snapshot_stats`.
#[no_mangle]
pub unsafe extern "C" fn weir_stats_free(stats: *mut weir_stats) -> weir_result {
    panic::boundary(|| cast::free_handle(stats))
}

/// Writes the number of rules to `*out`.
///
/// # Safety
/// `stats` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_stats_route_count(
    stats: *const weir_stats,
    out: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let s = cast::try_ref(stats)?;
        let out = cast::try_out(out)?;
        *out = s.rules.len();
        Ok(())
    })
}

/// Writes rule `index`'s counters (read now) to `*out`.
///
/// # Safety
/// `stats` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_stats_route(
    stats: *const weir_stats,
    index: usize,
    out: *mut weir_route_stat,
) -> weir_result {
    panic::boundary(|| {
        let s = cast::try_ref(stats)?;
        let out = cast::try_out(out)?;
        let _keep = &s.table;
        // SAFETY: entries point into `s.table`, alive as long as `s`.
        *out = match s.entry(index)? {
            Entry::Http(p) => {
                let r = cast::try_ref(p)?;
                weir_route_stat {
                    kind: weir_rule_kind::Http,
                    vs_namespace: weir_str::new(&r.namespace),
                    virtual_service: weir_str::new(&r.virtual_service),
                    name: weir_str::new(r.name.as_deref().unwrap_or("")),
                    has_index: r.index.is_some(),
                    index: r.index.unwrap_or(0),
                    hits: r.hits(),
                    destinations_len: r.destinations().len(),
                }
            }
            Entry::L4(p) => {
                let r = cast::try_ref(p)?;
                weir_route_stat {
                    kind: if r.tls {
                        weir_rule_kind::Tls
                    } else {
                        weir_rule_kind::Tcp
                    },
                    vs_namespace: weir_str::new(&r.namespace),
                    virtual_service: weir_str::new(&r.virtual_service),
                    name: weir_str::EMPTY,
                    has_index: true,
                    index: r.index,
                    hits: r.hits.load(Ordering::Relaxed),
                    destinations_len: r.destinations.len(),
                }
            }
        };
        Ok(())
    })
}

/// Writes destination `dest_index` of rule `route_index` to `*out`.
///
/// # Safety
/// `stats` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_stats_destination(
    stats: *const weir_stats,
    route_index: usize,
    dest_index: usize,
    out: *mut weir_destination_stat,
) -> weir_result {
    panic::boundary(|| {
        let s = cast::try_ref(stats)?;
        let out = cast::try_out(out)?;
        // SAFETY: as in `weir_stats_route`.
        let dests: &[RouteDestination] = match s.entry(route_index)? {
            Entry::Http(p) => (*p).destinations(),
            Entry::L4(p) => &(*p).destinations,
        };
        let d = dests.get(dest_index).ok_or(weir_result::IndexOutOfRange)?;
        let cluster = match &d.cluster {
            ClusterChoice::Fixed(c) => s
                .table
                .clusters()
                .get(*c as usize)
                .map(|c| &*c.name)
                .unwrap_or(""),
            _ => "",
        };
        *out = weir_destination_stat {
            host: weir_str::new(&d.host),
            subset: weir_str::new(&d.subset),
            cluster: weir_str::new(cluster),
            weight: d.weight,
            hits: d.hits.load(Ordering::Relaxed),
        };
        Ok(())
    })
}
