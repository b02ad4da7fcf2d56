//! The destination registry: cluster name → a small id a packed series key
//! carries, and the `destination_*` labels of each id, made when a table is
//! published so the request path never touches a string.

use super::labels::{DestinationLabels, MAX_DESTINATION_ID};
use super::series_table::{home, slot_count, EMPTY};
use crate::compile::Cluster;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

/// Cluster name → destination id (1…); 0 is the unknown destination.
#[derive(Debug)]
pub(crate) struct Destinations {
    keys: Box<[AtomicU64]>,
    labels: Box<[OnceLock<DestinationLabels>]>,
    /// Tells this registry's ids apart from another's in
    /// `Cluster::metrics_id` (never 0: a fresh cluster matches none).
    uid: u64,
    used: AtomicU32,
    max: u32,
    unknown: DestinationLabels,
}

/// Uids of [`Destinations`] (44 bits: beside a 20-bit id in a `u64`).
static NEXT_DESTINATIONS_UID: AtomicU64 = AtomicU64::new(1);

fn name_key(name: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(name.as_bytes()) | 1 << 63
}

impl Destinations {
    pub(crate) fn new(max: u32) -> Self {
        let max = max.min(MAX_DESTINATION_ID / 2);
        let slots = slot_count(max);
        Destinations {
            keys: (0..slots).map(|_| AtomicU64::new(EMPTY)).collect(),
            labels: (0..slots).map(|_| OnceLock::new()).collect(),
            uid: NEXT_DESTINATIONS_UID.fetch_add(1, Ordering::Relaxed),
            used: AtomicU32::new(0),
            max,
            unknown: DestinationLabels::unknown(),
        }
    }

    /// [`id_of`](Self::id_of) through the id the cluster keeps for the
    /// registry that recorded it last: one load when it is this one. The
    /// id depends only on the cluster's name, which never changes, so a
    /// kept id is never stale.
    #[inline]
    pub(crate) fn id_of_cached(&self, cluster: &Cluster) -> u32 {
        let entry = cluster.metrics_id.load(Ordering::Relaxed);
        if entry >> 20 == self.uid {
            return (entry & u64::from(MAX_DESTINATION_ID)) as u32;
        }
        let id = self.id_of(cluster);
        if id != 0 {
            cluster
                .metrics_id
                .store(self.uid << 20 | u64::from(id), Ordering::Relaxed);
        }
        id
    }

    /// The id of `cluster`, registering it (allocating its labels) when it
    /// is new and there is room; 0 when there is none. Out of line: the
    /// request path comes here once per cluster and registry.
    #[cold]
    #[inline(never)]
    fn id_of(&self, cluster: &Cluster) -> u32 {
        let key = name_key(&cluster.name);
        let mask = self.keys.len() - 1;
        let mut slot = home(key, mask);
        for _ in 0..self.keys.len() {
            let k = self.keys[slot].load(Ordering::Acquire);
            if k == EMPTY {
                if self.used.fetch_add(1, Ordering::Relaxed) >= self.max {
                    self.used.fetch_sub(1, Ordering::Relaxed);
                    return 0;
                }
                if let Err(other) = self.keys[slot].compare_exchange(
                    EMPTY,
                    key,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    self.used.fetch_sub(1, Ordering::Relaxed);
                    if other != key {
                        slot = (slot + 1) & mask;
                        continue;
                    }
                }
            } else if k != key {
                slot = (slot + 1) & mask;
                continue;
            }
            // The claimer or, in a race, whoever comes first makes the labels.
            let labels = self.labels[slot].get_or_init(|| DestinationLabels::of_cluster(cluster));
            if *labels.cluster == *cluster.name {
                return slot as u32 + 1;
            }
            slot = (slot + 1) & mask;
        }
        0
    }

    pub(crate) fn labels(&self, id: u32) -> &DestinationLabels {
        match id.checked_sub(1) {
            Some(slot) => self
                .labels
                .get(slot as usize)
                .and_then(OnceLock::get)
                .unwrap_or(&self.unknown),
            None => &self.unknown,
        }
    }
}
