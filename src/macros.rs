//! `select!`, `join!` and `try_join!`: several futures in one task.
//!
//! All three are `macro_rules!` (no proc macro, no allocation): the futures
//! are pinned in place on the task's stack with [`core::pin::pin!`] and
//! polled by one [`core::future::poll_fn`]. Expansions reach the crate
//! through [`__private`] only.
//!
//! ## How `select!` is built
//!
//! `select!` first normalizes its branches (a token muncher): each branch
//! gets an index and a name from a fixed list of 64 (so at most 64
//! branches), its pattern is collected up to the `=` that ends it (up to
//! four token trees in the branch's first step, then four a step: the
//! recursion limit counts steps), and the precondition and handler are
//! wrapped. Then one
//! expansion pins the futures in a tuple, polls them in a rotating order
//! (from 0 with `biased;`), tests a finished branch's output against its
//! pattern by reference (with `mut` and `ref` removed, so the test binds
//! nothing by value), and hands the output, in an enum with one variant per
//! branch, out of the poll function: the futures are dropped, then the
//! handler runs in the caller's body, where `.await`, `?`, `break`,
//! `continue` and `return` mean what they mean there.

/// What the macros' expansions call; not part of the API.
#[doc(hidden)]
pub mod __private {
    use std::cell::Cell;
    use std::task::{Context, Poll};

    pub use core::future::{poll_fn, Future, IntoFuture};
    pub use core::pin::{pin, Pin};
    pub use core::task::Poll::{Pending, Ready};

    /// Spends one unit of the task's cooperative budget (see `coop`): a
    /// `select!` or `join!` whose futures are ready at once still yields
    /// to the other tasks once the budget is spent.
    pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
        crate::coop::poll_proceed(cx)
    }

    thread_local! {
        /// A xorshift state per thread, seeded from std's random hasher keys.
        static RNG: Cell<u64> = Cell::new(seed());
    }

    fn seed() -> u64 {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        // Never zero: xorshift stays at zero forever.
        h.finish() | 1
    }

    /// A pseudo-random branch in `0..n` to start a fair `select!` at.
    pub fn select_start(n: u32) -> u32 {
        RNG.with(|r| {
            let mut x = r.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            r.set(x);
            ((x >> 32) % u64::from(n.max(1))) as u32
        })
    }
}

/// Waits on several futures at once in the current task, runs the handler
/// of the first that completes (and whose output matches its pattern), and
/// drops the others. The shape is tokio's:
///
/// ```text
/// curing::select! {
///     <pattern> = <future> (, if <precondition>)? => <handler>,
///     ...
///     (else => <handler>)?
/// }
/// ```
///
/// 1. Each precondition is evaluated; a branch whose precondition is false
///    is disabled for this `select!`. Then every `<future>` is evaluated
///    (disabled ones too, in order) and pinned in place: no allocation.
///    Anything that implements [`IntoFuture`](std::future::IntoFuture) goes,
///    `&mut fut` too (to keep a future across the turns of a loop; it must
///    be `Unpin`, or pinned first with [`std::pin::pin!`]).
/// 2. The enabled futures are polled, starting from a pseudo-random branch
///    for fairness (no branch always wins when several are ready), or in
///    the order written with `biased;` as the first line.
/// 3. When a future completes, its branch is disabled. If its output
///    matches `<pattern>`, the others are **dropped** and the branch's
///    handler runs with the pattern's bindings, in the enclosing body
///    (`.await`, `?`, `break` and `return` work there as usual). If it does
///    not match, the others keep running.
/// 4. When every branch is disabled, the `else` handler runs; without
///    `else` that is a panic.
///
/// The value of `select!` is the value of the handler that ran, so all
/// handlers have one type. At most 64 branches; past 50 the calling crate
/// may need a higher `#![recursion_limit = "256"]` (the macro reads its
/// branches a step at a time, and each step counts).
///
/// # Cancellation: what the losers lose
///
/// The futures that did not win are dropped where they stood (before the
/// handler runs), which cancels them. Whether that loses anything depends
/// on the future: the crate docs' table ("Which calls lose nothing when
/// dropped") says which curing calls are **cancel-safe**. A stream `read`,
/// a datagram `recv`, a channel `recv`, `Mutex::lock`, `JoinHandle`,
/// `TaskGroup::next` lose nothing: bytes or messages the dropped call got
/// anyway go to the next call. A `write`, `write_all` or `send` is not:
/// some of the bytes may have been written. For those, keep the future
/// across the loop (`&mut fut`), or give the write its own task.
///
/// # The cooperative budget
///
/// Each poll of a `select!` spends one unit of the task's budget (like a
/// ready channel `recv`), before polling anything: a loop over a `select!`
/// whose futures are always ready still returns to the scheduler, so it
/// cannot starve timers or other tasks.
///
/// # Examples
///
/// A read with a deadline; on the timer's branch the read is dropped and
/// its bytes, if any arrive, go to the next read:
///
/// ```
/// use curing::net::UnixStream;
/// use curing::time::sleep;
/// use std::time::Duration;
///
/// curing::run(async {
///     let (a, b) = UnixStream::pair()?;
///     let got = curing::select! {
///         (res, buf) = a.read(vec![0u8; 64]) => Some(buf[..res?].to_vec()),
///         _ = sleep(Duration::from_millis(20)) => None,
///     };
///     assert_eq!(got, None, "nothing was sent yet");
///     b.write_all(b"hello".to_vec()).await.0?;
///     let (res, buf) = a.read(vec![0u8; 64]).await;
///     assert_eq!(&buf[..res?], b"hello");
///     std::io::Result::Ok(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// A loop over a channel and a shutdown signal; `Some(n)` disables the
/// `recv` branch once the channel is closed (`recv` gives `None`), the
/// precondition keeps the finished `oneshot` from being polled again, and
/// `else` ends the loop when nothing is left to wait on:
///
/// ```
/// use curing::sync::{mpsc, oneshot};
///
/// curing::run(async {
///     let (tx, mut rx) = mpsc::channel::<u32>(8);
///     let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
///     curing::spawn(async move {
///         for n in 1..=3 {
///             tx.send(n).await.unwrap();
///         }
///         let _ = stop_tx.send(());
///     });
///     let mut sum = 0;
///     let mut stopping = false;
///     loop {
///         curing::select! {
///             biased;
///             Some(n) = rx.recv() => sum += n,
///             _ = &mut stop_rx, if !stopping => stopping = true,
///             else => break,
///         }
///     }
///     assert_eq!(sum, 6);
/// });
/// ```
///
/// With `biased;` the branches are polled in the order written, so the
/// first is preferred whenever it is ready (here the channel is drained
/// before the stop is noticed; without `biased;` the pick among ready
/// branches is pseudo-random).
#[macro_export]
macro_rules! select {
    (biased; $($t:tt)*) => {
        $crate::__select_munch!(@branch (0) [
            (_0 0) (_1 1) (_2 2) (_3 3) (_4 4) (_5 5) (_6 6) (_7 7)
            (_8 8) (_9 9) (_10 10) (_11 11) (_12 12) (_13 13) (_14 14) (_15 15)
            (_16 16) (_17 17) (_18 18) (_19 19) (_20 20) (_21 21) (_22 22) (_23 23)
            (_24 24) (_25 25) (_26 26) (_27 27) (_28 28) (_29 29) (_30 30) (_31 31)
            (_32 32) (_33 33) (_34 34) (_35 35) (_36 36) (_37 37) (_38 38) (_39 39)
            (_40 40) (_41 41) (_42 42) (_43 43) (_44 44) (_45 45) (_46 46) (_47 47)
            (_48 48) (_49 49) (_50 50) (_51 51) (_52 52) (_53 53) (_54 54) (_55 55)
            (_56 56) (_57 57) (_58 58) (_59 59) (_60 60) (_61 61) (_62 62) (_63 63)
        ] [] $($t)*)
    };
    ($($t:tt)*) => {
        $crate::__select_munch!(@branch (fair) [
            (_0 0) (_1 1) (_2 2) (_3 3) (_4 4) (_5 5) (_6 6) (_7 7)
            (_8 8) (_9 9) (_10 10) (_11 11) (_12 12) (_13 13) (_14 14) (_15 15)
            (_16 16) (_17 17) (_18 18) (_19 19) (_20 20) (_21 21) (_22 22) (_23 23)
            (_24 24) (_25 25) (_26 26) (_27 27) (_28 28) (_29 29) (_30 30) (_31 31)
            (_32 32) (_33 33) (_34 34) (_35 35) (_36 36) (_37 37) (_38 38) (_39 39)
            (_40 40) (_41 41) (_42 42) (_43 43) (_44 44) (_45 45) (_46 46) (_47 47)
            (_48 48) (_49 49) (_50 50) (_51 51) (_52 52) (_53 53) (_54 54) (_55 55)
            (_56 56) (_57 57) (_58 58) (_59 59) (_60 60) (_61 61) (_62 62) (_63 63)
        ] [] $($t)*)
    };
}

/// Normalizes `select!`'s branches, then expands them (see `src/macros.rs`).
#[doc(hidden)]
#[macro_export]
macro_rules! __select_munch {
    // -- Between branches --------------------------------------------------
    // The end, without `else`.
    (@branch $start:tt [$($ids:tt)*] [$($done:tt)*]) => {
        $crate::__select_munch!(@expand $start [$($done)*] {
            ::core::panic!("all branches of curing::select! are disabled and there is no `else`")
        })
    };
    // `else`, last.
    (@branch $start:tt [$($ids:tt)*] [$($done:tt)*] else => $else:expr $(,)?) => {
        $crate::__select_munch!(@expand $start [$($done)*] { $else })
    };
    (@branch $start:tt [$($ids:tt)*] [$($done:tt)*] else $($rest:tt)*) => {
        ::core::compile_error!("curing::select!: `else => <expression>` must be the last branch")
    };
    // A new branch: a pattern of up to four token trees is found here, in
    // one step (the recursion limit counts steps), a longer one in `@pat`.
    (@branch $start:tt [$name:tt $($ids:tt)*] $done:tt $p1:tt = $($rest:tt)+) => {
        $crate::__select_munch!(@fut $start [$($ids)*] $done $name [$p1] $($rest)+)
    };
    (@branch $start:tt [$name:tt $($ids:tt)*] $done:tt $p1:tt $p2:tt = $($rest:tt)+) => {
        $crate::__select_munch!(@fut $start [$($ids)*] $done $name [$p1 $p2] $($rest)+)
    };
    (@branch $start:tt [$name:tt $($ids:tt)*] $done:tt $p1:tt $p2:tt $p3:tt = $($rest:tt)+) => {
        $crate::__select_munch!(@fut $start [$($ids)*] $done $name [$p1 $p2 $p3] $($rest)+)
    };
    (@branch $start:tt [$name:tt $($ids:tt)*] $done:tt $p1:tt $p2:tt $p3:tt $p4:tt = $($rest:tt)+) => {
        $crate::__select_munch!(@fut $start [$($ids)*] $done $name [$p1 $p2 $p3 $p4] $($rest)+)
    };
    (@branch $start:tt [$name:tt $($ids:tt)*] $done:tt $($rest:tt)+) => {
        $crate::__select_munch!(@pat $start [$($ids)*] $done $name [] $($rest)+)
    };
    (@branch $start:tt [] $($rest:tt)*) => {
        ::core::compile_error!("curing::select!: at most 64 branches")
    };
    // -- A longer pattern, four token trees a step, up to its `=` -----------
    (@pat $start:tt $ids:tt $done:tt $name:tt [$($p:tt)+] = $($rest:tt)+) => {
        $crate::__select_munch!(@fut $start $ids $done $name [$($p)+] $($rest)+)
    };
    (@pat $start:tt $ids:tt $done:tt $name:tt [$($p:tt)*] $p1:tt = $($rest:tt)+) => {
        $crate::__select_munch!(@fut $start $ids $done $name [$($p)* $p1] $($rest)+)
    };
    (@pat $start:tt $ids:tt $done:tt $name:tt [$($p:tt)*] $p1:tt $p2:tt = $($rest:tt)+) => {
        $crate::__select_munch!(@fut $start $ids $done $name [$($p)* $p1 $p2] $($rest)+)
    };
    (@pat $start:tt $ids:tt $done:tt $name:tt [$($p:tt)*] $p1:tt $p2:tt $p3:tt = $($rest:tt)+) => {
        $crate::__select_munch!(@fut $start $ids $done $name [$($p)* $p1 $p2 $p3] $($rest)+)
    };
    (@pat $start:tt $ids:tt $done:tt $name:tt [$($p:tt)*] $p1:tt $p2:tt $p3:tt $p4:tt = $($rest:tt)+) => {
        $crate::__select_munch!(@fut $start $ids $done $name [$($p)* $p1 $p2 $p3 $p4] $($rest)+)
    };
    (@pat $start:tt $ids:tt $done:tt $name:tt [$($p:tt)*] $p1:tt $p2:tt $p3:tt $p4:tt $($rest:tt)+) => {
        $crate::__select_munch!(@pat $start $ids $done $name [$($p)* $p1 $p2 $p3 $p4] $($rest)+)
    };
    (@pat $($rest:tt)*) => {
        ::core::compile_error!("curing::select!: a branch is `<pattern> = <future> => <handler>`")
    };
    // -- The future, the precondition and the handler -----------------------
    (@fut $start:tt $ids:tt [$($done:tt)*] $name:tt $p:tt $f:expr, if $c:expr => $h:block, $($rest:tt)*) => {
        $crate::__select_munch!(@branch $start $ids [$($done)* { $name $p ($c) ($f) $h }] $($rest)*)
    };
    (@fut $start:tt $ids:tt [$($done:tt)*] $name:tt $p:tt $f:expr => $h:block, $($rest:tt)*) => {
        $crate::__select_munch!(@branch $start $ids [$($done)* { $name $p (true) ($f) $h }] $($rest)*)
    };
    (@fut $start:tt $ids:tt [$($done:tt)*] $name:tt $p:tt $f:expr, if $c:expr => $h:block $($rest:tt)*) => {
        $crate::__select_munch!(@branch $start $ids [$($done)* { $name $p ($c) ($f) $h }] $($rest)*)
    };
    (@fut $start:tt $ids:tt [$($done:tt)*] $name:tt $p:tt $f:expr => $h:block $($rest:tt)*) => {
        $crate::__select_munch!(@branch $start $ids [$($done)* { $name $p (true) ($f) $h }] $($rest)*)
    };
    (@fut $start:tt $ids:tt [$($done:tt)*] $name:tt $p:tt $f:expr, if $c:expr => $h:expr) => {
        $crate::__select_munch!(@branch $start $ids [$($done)* { $name $p ($c) ($f) { $h } }])
    };
    (@fut $start:tt $ids:tt [$($done:tt)*] $name:tt $p:tt $f:expr => $h:expr) => {
        $crate::__select_munch!(@branch $start $ids [$($done)* { $name $p (true) ($f) { $h } }])
    };
    (@fut $start:tt $ids:tt [$($done:tt)*] $name:tt $p:tt $f:expr, if $c:expr => $h:expr, $($rest:tt)*) => {
        $crate::__select_munch!(@branch $start $ids [$($done)* { $name $p ($c) ($f) { $h } }] $($rest)*)
    };
    (@fut $start:tt $ids:tt [$($done:tt)*] $name:tt $p:tt $f:expr => $h:expr, $($rest:tt)*) => {
        $crate::__select_munch!(@branch $start $ids [$($done)* { $name $p (true) ($f) { $h } }] $($rest)*)
    };
    // -- The expansion --------------------------------------------------------
    (@expand $start:tt [] $else:block) => {
        ::core::compile_error!("curing::select! needs at least one `<pattern> = <future> => <handler>` branch")
    };
    (@expand $start:tt [$({ ($id:ident $idx:tt) [$($p:tt)+] ($c:expr) ($f:expr) $h:block })+] $else:block) => {{
        #[allow(non_camel_case_types)]
        enum __Out<$($id,)+> {
            $($id($id),)+
            Disabled,
        }
        const __BRANCHES: u32 = [$($idx,)+].len() as u32;
        // `mut` for a handler's `ref mut` bindings.
        #[allow(unused_mut)]
        let mut __out = {
            let mut __disabled: u64 = 0;
            $(
                if !$c {
                    __disabled |= 1u64 << $idx;
                }
            )+
            // Pinned in place, each in its own temporary (extended to the
            // block); dropped at its end, before a handler runs.
            let mut __futures = ($(
                $crate::__private::pin!($crate::__private::IntoFuture::into_future($f)),
            )+);
            let __start: u32 = $crate::__select_munch!(@start $start __BRANCHES);
            $crate::__private::poll_fn(|__cx| {
                // One unit of budget per poll, before anything is polled:
                // an output once taken could not be given back.
                if $crate::__private::poll_proceed(__cx).is_pending() {
                    return $crate::__private::Pending;
                }
                let mut __pending = false;
                for __i in 0..__BRANCHES {
                    // `start + i` modulo the count, `start` being below it.
                    let mut __branch = __start + __i;
                    if __branch >= __BRANCHES {
                        __branch -= __BRANCHES;
                    }
                    $(
                        if __branch == $idx && __disabled & (1u64 << $idx) == 0 {
                            match $crate::__private::Future::poll(__futures.$idx.as_mut(), __cx) {
                                $crate::__private::Ready(__v) => {
                                    __disabled |= 1u64 << $idx;
                                    #[allow(unused_variables, unreachable_patterns, clippy::match_like_matches_macro)]
                                    let __matched = match &__v {
                                        $crate::__select_clean!(@[] [] $($p)+) => true,
                                        _ => false,
                                    };
                                    if __matched {
                                        return $crate::__private::Ready(__Out::$id(__v));
                                    }
                                }
                                $crate::__private::Pending => __pending = true,
                            }
                        }
                    )+
                }
                if __pending {
                    $crate::__private::Pending
                } else {
                    $crate::__private::Ready(__Out::Disabled)
                }
            })
            .await
        };
        // `unused_parens`: a pattern the user wrote in parentheses.
        #[allow(unreachable_patterns, unused_parens)]
        match __out {
            $(__Out::$id($($p)+) => $h,)+
            __Out::Disabled => $else,
            _ => ::core::unreachable!("curing::select!: an output that did not match its pattern"),
        }
    }};
    (@start (0) $n:ident) => { 0 };
    (@start (fair) $n:ident) => { $crate::__private::select_start($n) };
}

/// A `select!` pattern without `mut` and `ref`, to test an output by
/// reference without binding anything by value (see `src/macros.rs`):
/// `@[stack of open groups] [output so far] input...`.
#[doc(hidden)]
#[macro_export]
macro_rules! __select_clean {
    (@[] [$($o:tt)*]) => { $($o)* };
    // The end of a group: close it into the enclosing output.
    (@[[paren [$($oo:tt)*] [$($or:tt)*]] $($s:tt)*] [$($o:tt)*]) => {
        $crate::__select_clean!(@[$($s)*] [$($oo)* ($($o)*)] $($or)*)
    };
    (@[[bracket [$($oo:tt)*] [$($or:tt)*]] $($s:tt)*] [$($o:tt)*]) => {
        $crate::__select_clean!(@[$($s)*] [$($oo)* [$($o)*]] $($or)*)
    };
    (@[[brace [$($oo:tt)*] [$($or:tt)*]] $($s:tt)*] [$($o:tt)*]) => {
        $crate::__select_clean!(@[$($s)*] [$($oo)* {$($o)*}] $($or)*)
    };
    // A group: open it.
    (@[$($s:tt)*] [$($o:tt)*] ($($g:tt)*) $($r:tt)*) => {
        $crate::__select_clean!(@[[paren [$($o)*] [$($r)*]] $($s)*] [] $($g)*)
    };
    (@[$($s:tt)*] [$($o:tt)*] [$($g:tt)*] $($r:tt)*) => {
        $crate::__select_clean!(@[[bracket [$($o)*] [$($r)*]] $($s)*] [] $($g)*)
    };
    (@[$($s:tt)*] [$($o:tt)*] {$($g:tt)*} $($r:tt)*) => {
        $crate::__select_clean!(@[[brace [$($o)*] [$($r)*]] $($s)*] [] $($g)*)
    };
    // `&mut <pattern>` matches a `&mut` value: kept.
    (@$s:tt [$($o:tt)*] & mut $($r:tt)*) => {
        $crate::__select_clean!(@$s [$($o)* & mut] $($r)*)
    };
    (@$s:tt [$($o:tt)*] && mut $($r:tt)*) => {
        $crate::__select_clean!(@$s [$($o)* && mut] $($r)*)
    };
    // Binding modes: removed.
    (@$s:tt [$($o:tt)*] ref mut $($r:tt)*) => {
        $crate::__select_clean!(@$s [$($o)*] $($r)*)
    };
    (@$s:tt [$($o:tt)*] ref $($r:tt)*) => {
        $crate::__select_clean!(@$s [$($o)*] $($r)*)
    };
    (@$s:tt [$($o:tt)*] mut $($r:tt)*) => {
        $crate::__select_clean!(@$s [$($o)*] $($r)*)
    };
    (@$s:tt [$($o:tt)*] $t:tt $($r:tt)*) => {
        $crate::__select_clean!(@$s [$($o)* $t] $($r)*)
    };
}

/// Runs several futures concurrently in the current task and waits for
/// all of them: `let (a, b, c) = curing::join!(fa, fb, fc);` (in an async
/// body: the macro awaits), as tokio's `join!`. Its value is the tuple of
/// the outputs, in the order written.
///
/// Each future is evaluated in order, pinned in place (no allocation, no
/// task: they share this task's poll, so they need not be `Send` or
/// `'static`) and polled until it completes; a finished future is dropped
/// at once and its output kept. Each poll starts at the next future in
/// turn, so one that spends the task's whole budget cannot starve the
/// others, and each poll spends one unit of the budget itself (see
/// [`select!`](crate::select)). Dropping the `join!` drops the futures not
/// yet finished (see the crate docs' table of what that loses). At most
/// 64 futures; `join!()` is `()`.
///
/// ```
/// use curing::time::sleep;
/// use std::time::{Duration, Instant};
///
/// curing::run(async {
///     let start = Instant::now();
///     let (a, b) = curing::join!(
///         async { sleep(Duration::from_millis(30)).await; "a" },
///         async { sleep(Duration::from_millis(30)).await; 2 },
///     );
///     assert_eq!((a, b), ("a", 2));
///     // Concurrently: about 30 ms, not 60.
///     assert!(start.elapsed() < Duration::from_millis(55));
/// });
/// ```
#[macro_export]
macro_rules! join {
    () => {
        async {}.await
    };
    ($($f:expr),+ $(,)?) => {
        $crate::__join_munch!((join) [
            (_0 0) (_1 1) (_2 2) (_3 3) (_4 4) (_5 5) (_6 6) (_7 7)
            (_8 8) (_9 9) (_10 10) (_11 11) (_12 12) (_13 13) (_14 14) (_15 15)
            (_16 16) (_17 17) (_18 18) (_19 19) (_20 20) (_21 21) (_22 22) (_23 23)
            (_24 24) (_25 25) (_26 26) (_27 27) (_28 28) (_29 29) (_30 30) (_31 31)
            (_32 32) (_33 33) (_34 34) (_35 35) (_36 36) (_37 37) (_38 38) (_39 39)
            (_40 40) (_41 41) (_42 42) (_43 43) (_44 44) (_45 45) (_46 46) (_47 47)
            (_48 48) (_49 49) (_50 50) (_51 51) (_52 52) (_53 53) (_54 54) (_55 55)
            (_56 56) (_57 57) (_58 58) (_59 59) (_60 60) (_61 61) (_62 62) (_63 63)
        ] [] $($f,)+)
    };
}

/// Like [`join!`](crate::join), for futures whose outputs are `Result<T, E>`
/// (one `E` for all): `Ok` with the tuple of the `T`s once all are `Ok`, or
/// the first `Err` as soon as it comes, dropping the futures still running
/// (as tokio's `try_join!`).
///
/// ```
/// use curing::time::sleep;
/// use std::io;
/// use std::time::Duration;
///
/// curing::run(async {
///     let slow = async {
///         sleep(Duration::from_secs(10)).await;
///         io::Result::Ok(1)
///     };
///     let fails = async { Err::<u8, _>(io::Error::other("no")) };
///     let res = curing::try_join!(slow, fails);
///     assert_eq!(res.unwrap_err().to_string(), "no");
///
///     let ok = curing::try_join!(async { io::Result::Ok(1) }, async { Ok("two") });
///     assert_eq!(ok.unwrap(), (1, "two"));
/// });
/// ```
#[macro_export]
macro_rules! try_join {
    () => {
        async { ::core::result::Result::<(), _>::Ok(()) }.await
    };
    ($($f:expr),+ $(,)?) => {
        $crate::__join_munch!((try) [
            (_0 0) (_1 1) (_2 2) (_3 3) (_4 4) (_5 5) (_6 6) (_7 7)
            (_8 8) (_9 9) (_10 10) (_11 11) (_12 12) (_13 13) (_14 14) (_15 15)
            (_16 16) (_17 17) (_18 18) (_19 19) (_20 20) (_21 21) (_22 22) (_23 23)
            (_24 24) (_25 25) (_26 26) (_27 27) (_28 28) (_29 29) (_30 30) (_31 31)
            (_32 32) (_33 33) (_34 34) (_35 35) (_36 36) (_37 37) (_38 38) (_39 39)
            (_40 40) (_41 41) (_42 42) (_43 43) (_44 44) (_45 45) (_46 46) (_47 47)
            (_48 48) (_49 49) (_50 50) (_51 51) (_52 52) (_53 53) (_54 54) (_55 55)
            (_56 56) (_57 57) (_58 58) (_59 59) (_60 60) (_61 61) (_62 62) (_63 63)
        ] [] $($f,)+)
    };
}

/// Gives `join!`'s and `try_join!`'s futures their indexes, then expands
/// them (see `src/macros.rs`).
#[doc(hidden)]
#[macro_export]
macro_rules! __join_munch {
    (@done (join) $v:ident $slot:expr) => {
        $slot = ::core::option::Option::Some($v)
    };
    (@done (try) $v:ident $slot:expr) => {
        match $v {
            ::core::result::Result::Ok(__t) => $slot = ::core::option::Option::Some(__t),
            ::core::result::Result::Err(__e) => {
                return $crate::__private::Ready(::core::result::Result::Err(__e));
            }
        }
    };
    (@out (join) $out:expr) => {
        $crate::__private::Ready($out)
    };
    (@out (try) $out:expr) => {
        $crate::__private::Ready(::core::result::Result::Ok($out))
    };
    ($mode:tt [($id:ident $idx:tt) $($ids:tt)*] [$($done:tt)*] $f:expr, $($rest:tt)*) => {
        $crate::__join_munch!($mode [$($ids)*] [$($done)* ($idx $f)] $($rest)*)
    };
    ($mode:tt [] [$($done:tt)*] $f:expr, $($rest:tt)*) => {
        ::core::compile_error!("curing::join!: at most 64 futures")
    };
    ($mode:tt [$($ids:tt)*] [$(($idx:tt $f:expr))+]) => {{
        const __N: u32 = [$($idx,)+].len() as u32;
        // Each future pinned in place in an `Option` (set to `None`, which
        // drops it, once it finished), next to its output.
        let mut __futures = ($(
            (
                $crate::__private::pin!(::core::option::Option::Some(
                    $crate::__private::IntoFuture::into_future($f),
                )),
                ::core::option::Option::None,
            ),
        )+);
        let mut __next: u32 = 0;
        $crate::__private::poll_fn(|__cx| {
            if $crate::__private::poll_proceed(__cx).is_pending() {
                return $crate::__private::Pending;
            }
            let __start = __next;
            __next += 1;
            if __next == __N {
                __next = 0;
            }
            for __i in 0..__N {
                let mut __k = __start + __i;
                if __k >= __N {
                    __k -= __N;
                }
                $(
                    if __k == $idx {
                        if let ::core::option::Option::Some(__fut) =
                            __futures.$idx.0.as_mut().as_pin_mut()
                        {
                            if let $crate::__private::Ready(__v) =
                                $crate::__private::Future::poll(__fut, __cx)
                            {
                                __futures.$idx.0.set(::core::option::Option::None);
                                $crate::__join_munch!(@done $mode __v __futures.$idx.1);
                            }
                        }
                    }
                )+
            }
            if $(__futures.$idx.1.is_some() &&)+ true {
                $crate::__join_munch!(@out $mode ($(
                    __futures.$idx.1.take().expect("curing::join!: an output taken twice"),
                )+))
            } else {
                $crate::__private::Pending
            }
        })
        .await
    }};
}
