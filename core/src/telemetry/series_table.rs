//! A fixed-capacity, lock-free map from packed series keys to cells: the
//! table every series lives in, made whole when the `Metrics` is, so a new
//! series on the request path claims a slot with one compare-exchange and
//! allocates nothing. Keys beyond the bound share one overflow cell.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// A free slot (0 is never a packed key).
pub(crate) const EMPTY: u64 = 0;
const PENDING: u32 = u32::MAX;

/// Fixed-capacity, lock-free map from packed keys to cells; at most `max`
/// distinct keys get their own cells, the rest share the overflow cell.
#[derive(Debug)]
pub(crate) struct SeriesTable<C> {
    keys: Box<[AtomicU64]>,
    /// The cell of each occupied slot; [`PENDING`] for an instant while the
    /// slot's claimer numbers it.
    cell_of: Box<[AtomicU32]>,
    /// Per shard, `max` cells then the overflow cell (`max + 1` a shard).
    cells: Box<[C]>,
    used: AtomicU32,
    /// Series with their own cells; cell `max` is the overflow cell.
    pub(crate) max: u32,
    /// Records that went to the overflow cell.
    pub(crate) overflowed: AtomicU64,
}

pub(crate) fn slot_count(max: u32) -> usize {
    // At most half full: probes stay short.
    (max as usize).saturating_mul(2).max(2).next_power_of_two()
}

#[inline]
pub(crate) fn home(key: u64, mask: usize) -> usize {
    // Fibonacci hashing spreads the packed fields over the slots.
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
}

impl<C: Default> SeriesTable<C> {
    pub(crate) fn new(max: u32, shards: usize) -> Self {
        let slots = slot_count(max);
        let per_shard = max as usize + 1;
        SeriesTable {
            keys: (0..slots).map(|_| AtomicU64::new(EMPTY)).collect(),
            cell_of: (0..slots).map(|_| AtomicU32::new(PENDING)).collect(),
            cells: (0..per_shard * shards.max(1))
                .map(|_| C::default())
                .collect(),
            used: AtomicU32::new(0),
            max,
            overflowed: AtomicU64::new(0),
        }
    }
}

impl<C> SeriesTable<C> {
    fn overflow(&self) -> u32 {
        self.overflowed.fetch_add(1, Ordering::Relaxed);
        self.max
    }

    #[inline]
    fn cell_at(&self, slot: usize) -> u32 {
        loop {
            let c = self.cell_of[slot].load(Ordering::Acquire);
            if c != PENDING {
                if c >= self.max {
                    return self.overflow();
                }
                return c;
            }
            // The claimer is between its two stores.
            std::hint::spin_loop();
        }
    }

    /// Cell `cell` of shard `shard`.
    #[inline]
    pub(crate) fn cell(&self, shard: usize, cell: u32) -> &C {
        self.at(self.index(shard, cell))
    }

    /// Where cell `cell` of shard `shard` is among all the cells.
    #[inline]
    pub(crate) fn index(&self, shard: usize, cell: u32) -> usize {
        shard * (self.max as usize + 1) + cell as usize
    }

    /// The cell at `index` (from [`index`](Self::index)).
    #[inline]
    pub(crate) fn at(&self, index: usize) -> &C {
        &self.cells[index]
    }

    /// How many shards of cells there are.
    pub(crate) fn shards(&self) -> usize {
        self.cells.len() / (self.max as usize + 1)
    }

    /// The cells of `key` in shard 0, claimed on first use.
    #[inline]
    pub(crate) fn get(&self, key: u64) -> &C {
        self.cell(0, self.get_index(key))
    }

    /// The cell index of `key` (the same in every shard), claimed on first use.
    #[inline]
    pub(crate) fn get_index(&self, key: u64) -> u32 {
        let mask = self.keys.len() - 1;
        let mut slot = home(key, mask);
        for _ in 0..self.keys.len() {
            let k = self.keys[slot].load(Ordering::Acquire);
            if k == key {
                return self.cell_at(slot);
            }
            if k == EMPTY {
                match self.keys[slot].compare_exchange(
                    EMPTY,
                    key,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        let n = self.used.fetch_add(1, Ordering::Relaxed);
                        // n >= max: the slot remembers the key goes to overflow.
                        self.cell_of[slot].store(n.min(self.max), Ordering::Release);
                        return self.cell_at(slot);
                    }
                    Err(k) if k == key => return self.cell_at(slot),
                    Err(_) => {}
                }
            }
            slot = (slot + 1) & mask;
        }
        self.overflow()
    }

    /// `(key, cell index)` of every series with its own cells, by key.
    pub(crate) fn series(&self) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        self.series_into(&mut out);
        out
    }

    /// [`series`](Self::series) into `out` (cleared first; a scrape reuses it).
    pub(crate) fn series_into(&self, out: &mut Vec<(u64, u32)>) {
        out.clear();
        out.extend((0..self.keys.len()).filter_map(|slot| {
            let key = self.keys[slot].load(Ordering::Acquire);
            let cell = self.cell_of[slot].load(Ordering::Acquire);
            (key != EMPTY && cell < self.max).then_some((key, cell))
        }));
        out.sort_unstable_by_key(|&(k, _)| k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_beyond_the_bound_share_the_overflow_cell() {
        let t: SeriesTable<AtomicU64> = SeriesTable::new(3, 1);
        for key in 1..=10u64 {
            t.get(key | 1 << 63).fetch_add(key, Ordering::Relaxed);
        }
        // The same key again finds its own cell.
        t.get(2 | 1 << 63).fetch_add(100, Ordering::Relaxed);
        let series = t.series();
        assert_eq!(series.len(), 3);
        let own: u64 = series
            .iter()
            .map(|&(_, c)| t.cell(0, c).load(Ordering::Relaxed))
            .sum();
        let over = t.cells[3].load(Ordering::Relaxed);
        assert_eq!(own + over, 55 + 100);
        assert_eq!(t.overflowed.load(Ordering::Relaxed), 7);
    }

    /// A key keeps one cell index in every shard.
    #[test]
    fn cells_are_indexed_by_shard_then_cell() {
        let t: SeriesTable<AtomicU64> = SeriesTable::new(3, 2);
        let cell = t.get_index(5 | 1 << 63);
        assert_eq!(t.get_index(5 | 1 << 63), cell);
        assert_eq!(t.shards(), 2);
        assert_eq!(t.index(1, cell), 4 + cell as usize);
        t.at(t.index(1, cell)).fetch_add(1, Ordering::Relaxed);
        assert_eq!(t.cell(1, cell).load(Ordering::Relaxed), 1);
        assert_eq!(t.cell(0, cell).load(Ordering::Relaxed), 0);
    }
}
