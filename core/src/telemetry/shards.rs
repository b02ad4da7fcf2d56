//! Per-thread shards of metric cells: a thread that owns a shard adds to
//! its cells with plain loads and stores (no locked instruction, the cost
//! that dominated recording); readers sum the shards. A thread claims a
//! shard of a [`Metrics`](super::Metrics) on its first record and gives it
//! back when it exits; threads beyond the shards share shard 0 with atomic
//! adds. No lock and no allocation on the request path.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// The ownership flags of one `Metrics`' shards.
#[derive(Debug)]
pub(crate) struct Owners {
    /// Unique per `Metrics`: tells this thread's claims apart.
    id: u64,
    taken: Arc<[AtomicBool]>,
    /// Shards some thread has owned: a scrape skips the others (all zeros).
    ever_claimed: Box<[AtomicBool]>,
}

/// One claim of this thread: shard `shard` of `Metrics` `owner`.
struct Claim {
    owner: u64,
    /// `None`: every shard was taken; this thread uses the shared one.
    shard: Option<usize>,
    taken: Arc<[AtomicBool]>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Never leave the fast path pointing at a shard given back (a
        // record from another thread-local's destructor takes the slow
        // path, finds no claim, and uses the shared shard).
        let _ = LAST.try_with(|l| {
            if l.get().0 == self.owner {
                l.set((0, 0));
            }
        });
        if let Some(s) = self.shard {
            // Release: the next owner sees every value this thread stored.
            self.taken[s].store(false, Ordering::Release);
        }
    }
}

/// Claims per thread: how many `Metrics` a thread records into at once
/// with a shard of its own (more use the shared shard).
const CLAIMS: usize = 4;

thread_local! {
    static MINE: RefCell<[Option<Claim>; CLAIMS]> = const { RefCell::new([const { None }; CLAIMS]) };
    /// The last `(owner, shard + 1)` looked up (0: none): one compare in
    /// the usual case of a thread recording into one `Metrics`.
    static LAST: Cell<(u64, usize)> = const { Cell::new((0, 0)) };
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Owners {
    /// `shards` ownable shards.
    pub(crate) fn new(shards: usize) -> Owners {
        Owners {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            taken: (0..shards).map(|_| AtomicBool::new(false)).collect(),
            ever_claimed: (0..shards).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// The shard this thread owns (0-based among the ownable ones), if any.
    #[inline]
    pub(crate) fn current(&self) -> Option<usize> {
        if self.taken.is_empty() {
            return None;
        }
        if let Ok((owner, shard)) = LAST.try_with(Cell::get) {
            if owner == self.id {
                return shard.checked_sub(1);
            }
        }
        let shard = MINE
            .try_with(|mine| {
                let mut mine = mine.try_borrow_mut().ok()?;
                if let Some(c) = mine.iter().flatten().find(|c| c.owner == self.id) {
                    return c.shard;
                }
                self.claim(&mut mine)
            })
            .ok()
            .flatten();
        let _ = LAST.try_with(|l| l.set((self.id, shard.map_or(0, |s| s + 1))));
        shard
    }

    /// True once some thread has owned shard `shard`.
    pub(crate) fn ever_claimed(&self, shard: usize) -> bool {
        self.ever_claimed
            .get(shard)
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }

    #[cold]
    fn claim(&self, mine: &mut [Option<Claim>; CLAIMS]) -> Option<usize> {
        // Claims of dropped `Metrics` (only this thread holds their flags).
        for c in mine.iter_mut() {
            if c.as_ref().is_some_and(|c| Arc::strong_count(&c.taken) == 1) {
                *c = None;
            }
        }
        let free = mine.iter().position(Option::is_none)?;
        let shard = self.taken.iter().position(|t| {
            t.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        });
        if let Some(s) = shard {
            // Before this thread's first add to the shard.
            self.ever_claimed[s].store(true, Ordering::Relaxed);
        }
        mine[free] = Some(Claim {
            owner: self.id,
            shard,
            taken: Arc::clone(&self.taken),
        });
        shard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_own_distinct_shards_and_give_them_back() {
        let owners = Owners::new(2);
        let mine = owners.current();
        assert_eq!(mine, Some(0));
        assert_eq!(owners.current(), Some(0), "kept");
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(owners.current(), Some(1)));
        });
        // That thread exited: its shard is free again.
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(owners.current(), Some(1));
                std::thread::scope(|s| {
                    s.spawn(|| assert_eq!(owners.current(), None, "all taken"));
                });
            });
        });
        let none = Owners::new(0);
        assert_eq!(none.current(), None);
    }
}
