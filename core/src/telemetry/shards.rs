//! Per-thread shards of metric cells: a thread that owns a shard adds to
//! its cells with plain loads and stores (no locked instruction, the cost
//! that dominated recording); readers sum the shards. A thread claims a
//! shard of a [`Metrics`](super::Metrics) on its first record and gives it
//! back when it exits; threads beyond the shards share shard 0 with atomic
//! adds. No lock and no allocation on the request path.
//!
//! Each thread also remembers where a few recent series keys of the
//! `Metrics` it recorded into last are ([`Owners::recent`]): a repeat
//! record (most are) skips the shared table's probe.

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
        let _ = RECENT.try_with(|r| {
            if r.owner.get() == self.owner {
                r.owner.set(0);
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

/// Recent keys a thread remembers (a power of two).
const WAYS: usize = 8;

/// This thread's view of the `Metrics` it recorded into last: its shard and
/// where a few recent keys' cells are. Plain `Cell`s with a constant start
/// and no destructor: reading them is a load, never a lazy init.
struct Recent {
    /// The `Metrics`' [`Owners::id`] (0: none; ids start at 1).
    owner: Cell<u64>,
    /// The shard this thread owns there, plus one (0: the shared shard).
    shard: Cell<usize>,
    /// Packed keys (0: none; a packed key is never 0) …
    keys: [Cell<u64>; WAYS],
    /// … and where their cells are among all the cells (shard applied).
    at: [Cell<usize>; WAYS],
}

thread_local! {
    static MINE: RefCell<[Option<Claim>; CLAIMS]> = const { RefCell::new([const { None }; CLAIMS]) };
    static RECENT: Recent = const {
        Recent {
            owner: Cell::new(0),
            shard: Cell::new(0),
            keys: [const { Cell::new(0) }; WAYS],
            at: [const { Cell::new(0) }; WAYS],
        }
    };
}

/// The way of `key`: its destination id's and response code's low bits,
/// the fields that tell a proxy's usual series apart (no multiply).
#[inline(always)]
fn way(key: u64) -> usize {
    (key ^ key >> 22) as usize & (WAYS - 1)
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

    /// `(owned, index)` of `key`'s cells if this thread remembers them:
    /// `owned` when they are in this thread's own shard.
    #[inline(always)]
    pub(crate) fn recent(&self, key: u64) -> Option<(bool, usize)> {
        RECENT
            .try_with(|r| {
                let w = way(key);
                (r.owner.get() == self.id && r.keys[w].get() == key)
                    .then(|| (r.shard.get() != 0, r.at[w].get()))
            })
            .ok()
            .flatten()
    }

    /// Remembers that `key`'s cells are at `index` for this thread (after
    /// [`current`](Self::current), which made this `Metrics` the one
    /// remembered). Never for the overflow cell: each record there counts.
    #[inline]
    pub(crate) fn remember(&self, key: u64, index: usize) {
        let _ = RECENT.try_with(|r| {
            if r.owner.get() == self.id {
                let w = way(key);
                r.keys[w].set(key);
                r.at[w].set(index);
            }
        });
    }

    /// The shard this thread owns (0-based among the ownable ones), if any.
    #[inline]
    pub(crate) fn current(&self) -> Option<usize> {
        let mine = RECENT.try_with(|r| (r.owner.get() == self.id).then(|| r.shard.get()));
        match mine {
            Ok(Some(shard)) => shard.checked_sub(1),
            _ => self.current_slow(),
        }
    }

    /// [`current`](Self::current) when this thread last recorded into
    /// another `Metrics` (or none): finds or makes the claim, and makes
    /// this `Metrics` the one remembered, forgetting the other's keys.
    #[cold]
    #[inline(never)]
    fn current_slow(&self) -> Option<usize> {
        let shard = if self.taken.is_empty() {
            None
        } else {
            MINE.try_with(|mine| {
                let mut mine = mine.try_borrow_mut().ok()?;
                if let Some(c) = mine.iter().flatten().find(|c| c.owner == self.id) {
                    return c.shard;
                }
                self.claim(&mut mine)
            })
            .ok()
            .flatten()
        };
        let _ = RECENT.try_with(|r| {
            for k in &r.keys {
                k.set(0);
            }
            r.shard.set(shard.map_or(0, |s| s + 1));
            r.owner.set(self.id);
        });
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

    /// Keys are remembered for the `Metrics` recorded into last only, and
    /// forgotten when the thread switches to another and back.
    #[test]
    fn recent_keys_belong_to_one_owner() {
        let (a, b) = (Owners::new(1), Owners::new(0));
        let key = 1 << 63 | 7;
        assert_eq!(a.recent(key), None);
        assert_eq!(a.current(), Some(0));
        a.remember(key, 42);
        assert_eq!(a.recent(key), Some((true, 42)));
        assert_eq!(a.recent(key | 1 << 22), None, "another key");
        assert_eq!(b.recent(key), None, "another owner");
        // b has no shard of its own: its cells are the shared ones.
        assert_eq!(b.current(), None);
        b.remember(key, 3);
        assert_eq!(b.recent(key), Some((false, 3)));
        // Remembering is for the one current: a's keys went with the switch.
        a.remember(key, 42);
        assert_eq!(a.recent(key), None);
        assert_eq!(a.current(), Some(0), "a's claim kept");
        assert_eq!(a.recent(key), None, "forgotten on the switch");
    }
}
