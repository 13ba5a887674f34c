//! "The X running on this thread": a thread-local slot holding an `Rc<T>`
//! while a guard lives, read in one word.
//!
//! Each user declares its own slot, `thread_local! { static S: Slot<T> =
//! const { Slot::new() }; }`, and passes `&S` to these functions. A raw
//! pointer in a `Cell` rather than a `RefCell<Option<Rc<T>>>`: [`current`]
//! runs for every op, and this way it reads a word, with no borrow flag and
//! no thread-local destructor to check for. The pointer, when not null,
//! owns one strong count of its `Rc<T>` (from [`enter`]), given back by the
//! [`Entered`] guard's drop, which nulls the slot first.

use std::cell::Cell;
use std::rc::{Rc, Weak};
use std::thread::LocalKey;

/// A thread-local slot; see the module docs.
pub(crate) struct Slot<T>(Cell<*const T>);

impl<T> Slot<T> {
    /// An empty slot.
    pub(crate) const fn new() -> Slot<T> {
        Slot(Cell::new(std::ptr::null()))
    }
}

/// Calls `f` with the value in `slot` on this thread, if any (also `None`
/// while the thread's locals are being destroyed).
#[inline]
pub(crate) fn with<T: 'static, R>(
    slot: &'static LocalKey<Slot<T>>,
    f: impl FnOnce(Option<&T>) -> R,
) -> R {
    let ptr = slot.try_with(|s| s.0.get()).unwrap_or(std::ptr::null());
    // Only an `Entered` guard's drop gives back the count the slot owns,
    // nulling the slot first; a guard lives in a frame (a runtime's
    // `block_on` or drop) that outlasts every call that reaches here.
    // SAFETY: non-null, `ptr` owns a count of a live `Rc<T>` (see the
    // module docs), which outlives the borrow passed to `f`.
    f(unsafe { ptr.as_ref() })
}

/// A new reference to the value in `slot`, if any.
#[inline]
pub(crate) fn current<T: 'static>(slot: &'static LocalKey<Slot<T>>) -> Option<Rc<T>> {
    let ptr = slot.with(|s| s.0.get());
    if ptr.is_null() {
        return None;
    }
    // SAFETY: a non-null slot came from `Rc::into_raw` and still owns a
    // strong count (see the module docs), so the allocation is live; the
    // count taken here is owned by the `Rc` made from it.
    unsafe {
        Rc::increment_strong_count(ptr);
        Some(Rc::from_raw(ptr))
    }
}

/// Whether `value` is the one in `slot`. No reference count changes: a
/// `Weak` keeps its allocation, so no other value can live at the same
/// address while `value` exists.
pub(crate) fn is<T: 'static>(slot: &'static LocalKey<Slot<T>>, value: &Weak<T>) -> bool {
    slot.with(|s| std::ptr::eq(s.0.get(), value.as_ptr()))
}

/// Whether `slot` holds a value on this thread.
pub(crate) fn is_set<T: 'static>(slot: &'static LocalKey<Slot<T>>) -> bool {
    slot.with(|s| !s.0.get().is_null())
}

/// Puts `value` in `slot` until the guard is dropped, or returns `None`
/// if the slot is already taken.
pub(crate) fn enter<T: 'static>(
    slot: &'static LocalKey<Slot<T>>,
    value: &Rc<T>,
) -> Option<Entered<T>> {
    slot.with(|s| {
        if !s.0.get().is_null() {
            return None;
        }
        s.0.set(Rc::into_raw(value.clone()));
        Some(Entered { slot })
    })
}

/// Empties its slot when dropped; see [`enter`].
pub(crate) struct Entered<T: 'static> {
    slot: &'static LocalKey<Slot<T>>,
}

impl<T: 'static> Drop for Entered<T> {
    fn drop(&mut self) {
        let ptr = self.slot.with(|s| s.0.replace(std::ptr::null()));
        if !ptr.is_null() {
            // SAFETY: the slot owned this count (see the module docs) and
            // is null now, so nothing else gives it back. Dropped after the
            // null is stored: the value's destructors see an empty slot.
            drop(unsafe { Rc::from_raw(ptr) });
        }
    }
}
