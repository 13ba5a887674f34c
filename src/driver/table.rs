//! The table of single-shot ops in flight: a slab specialised for the op
//! path, indexed by the low half of `user_data`.
//!
//! A vacant entry has generation 0, which no op gets (generations start at
//! 1 and skip 0 when they wrap), so one compare of the generation that a
//! `user_data` carries finds a live op: no separate vacant/occupied tag to
//! test, and no stand-in value to insert and overwrite. Vacant entries form
//! a free list through `next_free`, most recently freed first, so a new op
//! reuses the entry (and the cache line) the last completion freed. This
//! costs fewer instructions per op than `slab::Slab<Slot>` (figures:
//! benches/compare/README.md, "Design measurements", "Instructions per
//! NOP").

use super::lifecycle::Lifecycle;
use super::RawCqe;

/// One entry. See the module docs.
struct Entry {
    /// The op's generation (the high half of its `user_data`); 0 while
    /// vacant.
    generation: u32,
    /// While vacant: the next vacant entry, or the table's length.
    next_free: u32,
    /// Where the op is in its life; `VACANT` while vacant.
    state: Lifecycle,
}

/// What a vacant entry holds: a state with nothing to drop (any
/// `Completed` will do; `free_completed` leaves the op's own).
const VACANT: Lifecycle = Lifecycle::Completed(RawCqe { res: 0, flags: 0 });

/// The ops in flight. See the module docs.
pub(crate) struct OpTable {
    entries: Vec<Entry>,
    /// The first vacant entry, or `entries.len()` when none is.
    free: usize,
    /// Live entries.
    len: usize,
}

impl OpTable {
    /// An empty table with room for `capacity` ops before it grows.
    pub(crate) fn with_capacity(capacity: usize) -> OpTable {
        OpTable {
            entries: Vec::with_capacity(capacity),
            free: 0,
            len: 0,
        }
    }

    /// Live ops.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no op is live.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key the next [`insert`](Self::insert) will use.
    #[inline]
    pub(crate) fn vacant_key(&self) -> usize {
        self.free
    }

    /// Adds an op under [`vacant_key`](Self::vacant_key); returns the key.
    /// `generation` is never 0 (that marks a vacant entry). Nothing here
    /// panics: the driver calls this right after pushing the op's SQE.
    #[inline(always)]
    pub(crate) fn insert(&mut self, generation: u32, state: Lifecycle) -> usize {
        debug_assert_ne!(generation, 0, "generation 0 marks a vacant entry");
        let key = self.free;
        if let Some(entry) = self.entries.get_mut(key) {
            self.free = entry.next_free as usize;
            entry.generation = generation;
            // A vacant entry's state has nothing to drop (see `VACANT` and
            // `free_completed`): replaced without drop glue.
            std::mem::forget(std::mem::replace(&mut entry.state, state));
        } else {
            self.entries.push(Entry {
                generation,
                next_free: 0,
                state,
            });
            self.free = self.entries.len();
        }
        self.len += 1;
        key
    }

    /// The state of the live op under `key` with `generation`, if any.
    /// `generation` comes from a `user_data` the driver made, so it is not
    /// 0 (which would find a vacant entry, whose state reads as completed).
    #[inline(always)]
    pub(crate) fn get_mut(&mut self, key: usize, generation: u32) -> Option<&mut Lifecycle> {
        debug_assert_ne!(generation, 0, "no op has generation 0");
        match self.entries.get_mut(key) {
            Some(entry) if entry.generation == generation => Some(&mut entry.state),
            _ => None,
        }
    }

    /// Frees the live entry under `key` and returns its state.
    ///
    /// # Panics
    ///
    /// If the entry is vacant.
    #[inline(always)]
    pub(crate) fn remove(&mut self, key: usize) -> Lifecycle {
        std::mem::replace(self.vacate(key), VACANT)
    }

    /// Frees the live entry under `key`, whose state is `Completed` (the
    /// caller read it): that state stays behind as the vacant one, since it
    /// has nothing to drop, so nothing is moved out or written over.
    #[inline(always)]
    pub(crate) fn free_completed(&mut self, key: usize) {
        let state = self.vacate(key);
        debug_assert!(matches!(state, Lifecycle::Completed(_)));
    }

    /// Marks the live entry under `key` vacant and puts it at the head of
    /// the free list; returns its state, for the caller to take or leave.
    ///
    /// # Panics
    ///
    /// If the entry is vacant already.
    #[inline(always)]
    fn vacate(&mut self, key: usize) -> &mut Lifecycle {
        let entry = &mut self.entries[key];
        assert_ne!(entry.generation, 0, "vacating a vacant op entry");
        entry.generation = 0;
        entry.next_free = self.free as u32;
        self.free = key;
        self.len -= 1;
        &mut entry.state
    }

    /// Every live op: its key, generation and state.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, u32, &Lifecycle)> + '_ {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.generation != 0)
            .map(|(key, e)| (key, e.generation, &e.state))
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn completed(res: i32) -> Lifecycle {
        Lifecycle::Completed(RawCqe { res, flags: 0 })
    }

    fn res(state: &Lifecycle) -> i32 {
        match state {
            Lifecycle::Completed(raw) => raw.res,
            _ => panic!("not a completed state"),
        }
    }

    #[test]
    fn keys_are_reused_most_recent_first_and_generations_guard_them() {
        let mut t = OpTable::with_capacity(2);
        assert_eq!(t.vacant_key(), 0);
        assert_eq!(t.insert(1, completed(10)), 0);
        assert_eq!(t.vacant_key(), 1);
        assert_eq!(t.insert(2, completed(20)), 1);
        assert_eq!(t.insert(3, completed(30)), 2);
        assert_eq!(t.len(), 3);

        assert_eq!(res(&t.remove(0)), 10);
        assert_eq!(res(t.get_mut(2, 3).unwrap()), 30);
        t.free_completed(2);
        assert_eq!(t.len(), 1);
        // Vacant entries are not found, whatever generation is asked for.
        assert!(t.get_mut(0, 1).is_none());
        assert!(t.get_mut(7, 1).is_none());
        // The last freed key comes back first, under a new generation; the
        // old one no longer matches (a late CQE of the freed op).
        assert_eq!(t.vacant_key(), 2);
        assert_eq!(t.insert(4, completed(40)), 2);
        assert!(t.get_mut(2, 3).is_none());
        assert_eq!(res(t.get_mut(2, 4).unwrap()), 40);
        assert_eq!(t.insert(5, completed(50)), 0);
        assert_eq!(t.vacant_key(), 3);

        let live: Vec<(usize, u32)> = t.iter().map(|(k, g, _)| (k, g)).collect();
        assert_eq!(live, [(0, 5), (1, 2), (2, 4)]);
        for key in [0, 1, 2] {
            t.remove(key);
        }
        assert!(t.is_empty());
        assert_eq!(t.iter().count(), 0);
    }

    #[test]
    #[should_panic(expected = "vacant")]
    fn removing_a_vacant_entry_panics() {
        let mut t = OpTable::with_capacity(1);
        t.insert(1, completed(0));
        t.remove(0);
        t.remove(0);
    }
}
