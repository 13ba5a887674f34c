//! `curing::select!`, `curing::join!` and `curing::try_join!` (issue 20,
//! item 1), on both drivers (`CURING_DRIVER=epoll` for the second run):
//! the first ready branch wins and the others are dropped before its
//! handler runs; branches disabled by their pattern or precondition; `else`;
//! `biased;` order and the default's fairness; a select loop over a stream
//! read and a timer that loses no byte when the timer wins (the read is
//! cancel-safe); the cooperative budget (a loop of selects or joins over
//! always-ready futures still lets a sleeping task run); join's output order
//! and concurrency; try_join's first error.

mod common;

use curing::net::UnixStream;
use curing::sync::{mpsc, oneshot};
use curing::time::{sleep, timeout};
use std::cell::{Cell, RefCell};
use std::future::{pending, ready};
use std::rc::Rc;
use std::time::{Duration, Instant};

use common::sleeper;

const T: Duration = Duration::from_secs(30);

/// Counts its drops in a shared counter.
struct OnDrop(Rc<Cell<u32>>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

/// Sleeps `ms`, then returns `v`; counts its drop (finished or not) in
/// `drops`.
async fn after(ms: u64, v: u32, drops: Rc<Cell<u32>>) -> u32 {
    let _guard = OnDrop(drops);
    sleep(Duration::from_millis(ms)).await;
    v
}

#[test]
// The expansions need no `unsafe` in the caller's crate.
#[forbid(unsafe_code)]
fn the_first_ready_wins_and_the_rest_are_dropped_before_its_handler() {
    common::run(T, || async {
        let drops = Rc::new(Cell::new(0));
        let start = Instant::now();
        let got = curing::select! {
            v = after(5_000, 1, drops.clone()) => v,
            v = after(10, 2, drops.clone()) => {
                // All three futures are gone when a handler runs.
                assert_eq!(drops.get(), 3, "losers dropped before the handler");
                v
            }
            v = after(5_000, 3, drops.clone()) => v,
        };
        assert_eq!(got, 2);
        assert_eq!(drops.get(), 3);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "the losers were not awaited"
        );
    });
}

#[test]
// The expansions need no `unsafe` in the caller's crate.
#[forbid(unsafe_code)]
fn a_branch_whose_output_does_not_match_is_disabled_and_the_others_keep_running() {
    common::run(T, || async {
        let polls = Rc::new(Cell::new(0u32));
        let counted = {
            let polls = polls.clone();
            std::future::poll_fn(move |_| {
                polls.set(polls.get() + 1);
                std::task::Poll::Ready(None::<u32>)
            })
        };
        let got = curing::select! {
            biased;
            Some(v) = counted => v,
            v = async { sleep(Duration::from_millis(10)).await; 7 } => v + 100,
        };
        assert_eq!(got, 107);
        assert_eq!(polls.get(), 1, "a disabled branch is not polled again");

        // `Err` patterns, `mut`/`ref` bindings and or-patterns.
        let got = curing::select! {
            Ok(mut v) = async { Err::<u32, u32>(1) } => { v += 1; v }
            Ok(v) | Err(v) = async { sleep(Duration::from_millis(5)).await; Ok::<u32, u32>(40) } => v,
        };
        assert_eq!(got, 40);
        let got = curing::select! {
            (ref s, mut n) = async { (String::from("ab"), 1u32) } => { n += s.len() as u32; n }
        };
        assert_eq!(got, 3);
        // Long patterns (read four token trees a step: 7, 5 and 9 here),
        // `ref mut`, `@` bindings, ranges.
        let got = curing::select! {
            biased;
            Ok(1) | Ok(2) | Ok(3) | Ok(4) = ready(Ok::<u32, ()>(9)) => 0,
            Ok(mut v) | Err(mut v) = ready(Ok::<u32, u32>(9)) => { v += 1; v }
        };
        assert_eq!(got, 10);
        let got = curing::select! {
            biased;
            Some(v @ 1..=5) = ready(Some(7u32)) => v,
            Some(ref mut s) = ready(Some(String::from("x"))) => { s.push('y'); s.len() as u32 }
        };
        assert_eq!(got, 2);
        let got = curing::select! {
            biased;
            Ok(1) | Ok(2) | Ok(3) | Ok(4) | Err(_) = ready(Ok::<u32, ()>(2)) => 5,
        };
        assert_eq!(got, 5);
    });
}

#[test]
fn else_runs_when_every_branch_is_disabled() {
    common::run(T, || async {
        // By pattern.
        let got = curing::select! {
            Some(v) = ready(None::<u32>) => v,
            Ok(v) = async { Err::<u32, ()>(()) } => v,
            else => 99,
        };
        assert_eq!(got, 99);
        // By precondition: the future is still evaluated, never polled.
        let evaluated = Cell::new(false);
        let polled = Rc::new(Cell::new(false));
        let got = curing::select! {
            _ = {
                evaluated.set(true);
                let polled = polled.clone();
                async move { polled.set(true) }
            }, if false => 1,
            else => 2,
        };
        assert_eq!(got, 2);
        assert!(evaluated.get(), "a disabled branch's future is evaluated");
        assert!(!polled.get(), "a disabled branch's future is not polled");
        // A precondition disables only its own branch.
        let got = curing::select! {
            _ = ready(()), if false => 1,
            _ = ready(()), if true => 2,
            else => 3,
        };
        assert_eq!(got, 2);
    });
}

#[test]
#[should_panic(expected = "all branches of curing::select! are disabled")]
fn without_else_all_disabled_panics() {
    let _fds = common::fd_lock();
    curing::run(async {
        curing::select! {
            Some(v) = ready(None::<u32>) => v,
        }
    });
}

#[test]
fn biased_polls_in_the_order_written() {
    common::run(T, || async {
        for _ in 0..200 {
            let got = curing::select! {
                biased;
                _ = ready(()) => 0,
                _ = ready(()) => 1,
                _ = ready(()) => 2,
            };
            assert_eq!(got, 0);
        }
        // The first ready branch in order, not the first written.
        let got = curing::select! {
            biased;
            _ = pending::<()>() => 0,
            _ = ready(()) => 1,
            _ = ready(()) => 2,
        };
        assert_eq!(got, 1);
    });
}

#[test]
fn fifty_branches_and_sixty_four_joined_futures_compile_under_the_default_recursion_limit() {
    common::run(T, || async {
        let got = curing::select! {
            biased;
            Some(x) = ready(Some(0u32)) => x, Some(x) = ready(Some(1u32)) => x,
            Some(x) = ready(Some(2u32)) => x, Some(x) = ready(Some(3u32)) => x,
            Some(x) = ready(Some(4u32)) => x, Some(x) = ready(Some(5u32)) => x,
            Some(x) = ready(Some(6u32)) => x, Some(x) = ready(Some(7u32)) => x,
            Some(x) = ready(Some(8u32)) => x, Some(x) = ready(Some(9u32)) => x,
            Some(x) = ready(Some(10u32)) => x, Some(x) = ready(Some(11u32)) => x,
            Some(x) = ready(Some(12u32)) => x, Some(x) = ready(Some(13u32)) => x,
            Some(x) = ready(Some(14u32)) => x, Some(x) = ready(Some(15u32)) => x,
            Some(x) = ready(Some(16u32)) => x, Some(x) = ready(Some(17u32)) => x,
            Some(x) = ready(Some(18u32)) => x, Some(x) = ready(Some(19u32)) => x,
            Some(x) = ready(Some(20u32)) => x, Some(x) = ready(Some(21u32)) => x,
            Some(x) = ready(Some(22u32)) => x, Some(x) = ready(Some(23u32)) => x,
            Some(x) = ready(Some(24u32)) => x, Some(x) = ready(Some(25u32)) => x,
            Some(x) = ready(Some(26u32)) => x, Some(x) = ready(Some(27u32)) => x,
            Some(x) = ready(Some(28u32)) => x, Some(x) = ready(Some(29u32)) => x,
            Some(x) = ready(Some(30u32)) => x, Some(x) = ready(Some(31u32)) => x,
            Some(x) = ready(Some(32u32)) => x, Some(x) = ready(Some(33u32)) => x,
            Some(x) = ready(Some(34u32)) => x, Some(x) = ready(Some(35u32)) => x,
            Some(x) = ready(Some(36u32)) => x, Some(x) = ready(Some(37u32)) => x,
            Some(x) = ready(Some(38u32)) => x, Some(x) = ready(Some(39u32)) => x,
            Some(x) = ready(Some(40u32)) => x, Some(x) = ready(Some(41u32)) => x,
            Some(x) = ready(Some(42u32)) => x, Some(x) = ready(Some(43u32)) => x,
            Some(x) = ready(Some(44u32)) => x, Some(x) = ready(Some(45u32)) => x,
            Some(x) = ready(Some(46u32)) => x, Some(x) = ready(Some(47u32)) => x,
            Some(x) = ready(Some(48u32)) => x, Some(x) = ready(Some(49u32)) => x,
        };
        assert_eq!(got, 0);
        let got = curing::select! {
            biased;
            Some(x) = ready(None::<u32>) => x,
            Some(x) = ready(Some(1u32)) => x,
        };
        assert_eq!(got, 1);
        let t = curing::join!(
            ready(0),
            ready(1),
            ready(2),
            ready(3),
            ready(4),
            ready(5),
            ready(6),
            ready(7),
            ready(8),
            ready(9),
            ready(10),
            ready(11),
            ready(12),
            ready(13),
            ready(14),
            ready(15),
            ready(16),
            ready(17),
            ready(18),
            ready(19),
            ready(20),
            ready(21),
            ready(22),
            ready(23),
            ready(24),
            ready(25),
            ready(26),
            ready(27),
            ready(28),
            ready(29),
            ready(30),
            ready(31),
            ready(32),
            ready(33),
            ready(34),
            ready(35),
            ready(36),
            ready(37),
            ready(38),
            ready(39),
            ready(40),
            ready(41),
            ready(42),
            ready(43),
            ready(44),
            ready(45),
            ready(46),
            ready(47),
            ready(48),
            ready(49),
            ready(50),
            ready(51),
            ready(52),
            ready(53),
            ready(54),
            ready(55),
            ready(56),
            ready(57),
            ready(58),
            ready(59),
            ready(60),
            ready(61),
            ready(62),
            ready(63),
        );
        assert_eq!((t.0, t.31, t.63), (0, 31, 63));
    });
}

#[test]
fn unbiased_select_starves_no_branch() {
    common::run(T, || async {
        const ROUNDS: u32 = 3000;
        let mut wins = [0u32; 3];
        for _ in 0..ROUNDS {
            let i = curing::select! {
                _ = ready(()) => 0,
                _ = ready(()) => 1,
                _ = ready(()) => 2,
            };
            wins[i] += 1;
        }
        println!("wins over {ROUNDS} rounds: {wins:?}");
        // A third each, within a wide margin (a fixed start gives all to one).
        for w in wins {
            assert!(
                (ROUNDS / 6..ROUNDS / 2).contains(&w),
                "wins {wins:?} are not spread"
            );
        }
    });
}

#[test]
fn a_select_loop_over_a_read_and_a_timer_loses_no_bytes() {
    common::run(T, || async {
        let (a, b) = UnixStream::pair().unwrap();
        const LEN: usize = 64 * 1024;
        let data = common::pattern(20, LEN);
        let writer = {
            let data = data.clone();
            curing::spawn(async move {
                // Chunks of varying size with pauses, so the timer wins often
                // while reads are in flight.
                let mut off = 0;
                let mut n = 0u64;
                while off < LEN {
                    let len = (1 + (n * 7919) % 3000) as usize;
                    let end = (off + len).min(LEN);
                    let (res, _) = b.write_all(data[off..end].to_vec()).await;
                    res.unwrap();
                    off = end;
                    n += 1;
                    if n % 4 == 0 {
                        sleep(Duration::from_millis(2)).await;
                    }
                }
                b
            })
        };
        let mut got = Vec::with_capacity(LEN);
        let mut timer_wins = 0u32;
        while got.len() < LEN {
            curing::select! {
                (res, buf) = a.read(vec![0u8; 1500]) => {
                    let n = res.unwrap();
                    assert!(n > 0, "early end of stream at {}", got.len());
                    got.extend_from_slice(&buf[..n]);
                }
                _ = sleep(Duration::from_micros(300)) => timer_wins += 1,
            }
        }
        let b = writer.await.unwrap();
        drop(b);
        let (res, _) = a.read(vec![0u8; 16]).await;
        assert_eq!(res.unwrap(), 0, "nothing more than what was sent");
        // The reads the timer beat were cancelled, not left to pile up.
        sleep(Duration::from_millis(20)).await;
        let in_flight = curing::runtime::stats().ops_in_flight;
        assert_eq!(in_flight, 0, "ops left in flight after the loop");
        println!("timer won {timer_wins} times");
        assert!(
            timer_wins > 0,
            "the timer never won: the test tested nothing"
        );
        assert_eq!(
            common::hash(&got),
            common::hash(&data),
            "bytes lost or reordered"
        );
    });
}

#[test]
fn a_select_loop_over_a_channel_and_a_shutdown_signal() {
    common::run(T, || async {
        let (tx, mut rx) = mpsc::channel::<u32>(4);
        let (stop_tx, mut stop_rx) = oneshot::channel::<()>();
        curing::spawn(async move {
            for n in 0..100 {
                tx.send(n).await.unwrap();
            }
            sleep(Duration::from_millis(5)).await;
            let _ = stop_tx.send(());
            // The sender stays open: only the stop ends the loop.
            sleep(Duration::from_secs(60)).await;
            drop(tx);
        });
        let mut seen = Vec::new();
        loop {
            curing::select! {
                Some(n) = rx.recv() => seen.push(n),
                _ = &mut stop_rx => break,
            }
        }
        assert_eq!(
            seen,
            (0..100).collect::<Vec<_>>(),
            "every message, in order"
        );
    });
}

#[test]
fn handlers_run_in_the_enclosing_body() {
    async fn first_even(values: &[u32]) -> Result<u32, &'static str> {
        for &v in values {
            curing::select! {
                v = ready(v) => {
                    if v % 2 == 1 {
                        continue;
                    }
                    if v == 0 {
                        return Err("zero");
                    }
                    sleep(Duration::from_millis(1)).await;
                    let checked: Result<u32, &str> = Ok(v);
                    let w = checked?;
                    return Ok(w.max(v));
                }
            }
        }
        Err("none")
    }
    common::run(T, || async {
        assert_eq!(first_even(&[1, 3, 4, 6]).await, Ok(4));
        assert_eq!(first_even(&[1, 0]).await, Err("zero"));
        assert_eq!(first_even(&[1]).await, Err("none"));
    });
}

#[test]
fn dropping_a_select_drops_every_branch() {
    common::run(T, || async {
        let drops = Rc::new(Cell::new(0));
        let res = timeout(Duration::from_millis(10), async {
            curing::select! {
                v = after(5_000, 1, drops.clone()) => v,
                v = after(5_000, 2, drops.clone()) => v,
            }
        })
        .await;
        assert!(res.is_err());
        assert_eq!(drops.get(), 2);
    });
}

/// The budget test of tests/promises_budget.rs, for a spinner made of
/// `select!`s (or `join!`s) over futures that are ready at once and spend
/// no budget themselves: a ticker must get a turn per budget's worth of
/// selects and a 10 ms sleeper must wake on time.
fn budget_check(what: &'static str, join: bool) {
    common::run(T, move || async move {
        let done = Rc::new(Cell::new(false));
        let ticks = Rc::new(Cell::new(0u64));
        let spinning = Rc::new(Cell::new(true));
        let ticker = {
            let (ticks, spinning) = (ticks.clone(), spinning.clone());
            curing::spawn(async move {
                loop {
                    curing::yield_now().await;
                    if spinning.get() {
                        ticks.set(ticks.get() + 1);
                    }
                }
            })
        };
        let spinner = {
            let done = done.clone();
            let start = Instant::now();
            curing::spawn(async move {
                let mut n = 0u64;
                while !done.get() && start.elapsed() < Duration::from_secs(3) {
                    if join {
                        let (a, b) = curing::join!(ready(1u64), async { 1u64 });
                        n += a + b - 1;
                    } else {
                        n += curing::select! {
                            v = ready(1u64) => v,
                            v = async { 1u64 } => v,
                        };
                    }
                }
                spinning.set(false);
                n
            })
        };
        let worst = sleeper(20).await;
        done.set(true);
        let ready_n = spinner.await.unwrap();
        ticker.abort();
        let ticks = ticks.get();
        println!("{what}: {ready_n} ready, {ticks} ticker turns, sleeper at most {worst:?} late");
        assert!(
            ready_n > 1000,
            "{what}: the spinner ran only {ready_n} times"
        );
        assert!(
            ticks >= ready_n / 256,
            "{what}: the ticker ran {ticks} times for {ready_n} ready selects"
        );
        // Starved, the sleeper would wait out the spinner's 3 s; the limit
        // leaves room for a loaded machine (other builds on the same cores).
        assert!(
            worst < Duration::from_millis(500),
            "{what}: sleeper starved: {worst:?} late"
        );
    });
}

#[test]
fn a_select_loop_over_ready_futures_still_yields() {
    budget_check("select!", false);
}

#[test]
fn a_join_loop_over_ready_futures_still_yields() {
    budget_check("join!", true);
}

#[test]
// The expansions need no `unsafe` in the caller's crate.
#[forbid(unsafe_code)]
fn join_returns_outputs_in_the_order_written_and_runs_them_concurrently() {
    common::run(T, || async {
        let order = Rc::new(RefCell::new(Vec::new()));
        let step = |ms: u64, v: &'static str| {
            let order = order.clone();
            async move {
                sleep(Duration::from_millis(ms)).await;
                order.borrow_mut().push(v);
                v
            }
        };
        let start = Instant::now();
        let (a, b, c) = curing::join!(step(60, "a"), step(20, "b"), step(40, "c"));
        let took = start.elapsed();
        assert_eq!((a, b, c), ("a", "b", "c"), "outputs in the order written");
        assert_eq!(*order.borrow(), ["b", "c", "a"], "finished in time order");
        assert!(took >= Duration::from_millis(60));
        assert!(
            took < Duration::from_millis(110),
            "not concurrent: {took:?}"
        );

        // A finished future is dropped at once, before the join ends.
        let drops = Rc::new(Cell::new(0));
        let seen = Rc::new(Cell::new(u32::MAX));
        let (x, ()) = curing::join!(after(5, 1, drops.clone()), {
            let (drops, seen) = (drops.clone(), seen.clone());
            async move {
                sleep(Duration::from_millis(40)).await;
                seen.set(drops.get());
            }
        });
        assert_eq!(x, 1);
        assert_eq!(
            seen.get(),
            1,
            "the first future was dropped when it finished"
        );

        // Not `Send`, not `'static`, borrowed, one future, trailing comma.
        let local = Rc::new(5);
        let borrowed = &local;
        let (v,) = curing::join!(async { **borrowed + 1 },);
        assert_eq!(v, 6);
        let () = curing::join!();
    });
}

#[test]
// The expansions need no `unsafe` in the caller's crate.
#[forbid(unsafe_code)]
fn try_join_returns_the_first_error_and_drops_the_rest() {
    common::run(T, || async {
        let drops = Rc::new(Cell::new(0));
        let start = Instant::now();
        let res: Result<(u32, u32, u32), String> = curing::try_join!(
            async { Ok(after(5_000, 1, drops.clone()).await) },
            async {
                sleep(Duration::from_millis(10)).await;
                Err("second".to_string())
            },
            async {
                sleep(Duration::from_millis(20)).await;
                Err("third".to_string())
            },
        );
        assert_eq!(res, Err("second".to_string()));
        assert_eq!(drops.get(), 1, "the running future was dropped");
        assert!(start.elapsed() < Duration::from_secs(2));

        let ok: Result<_, String> = curing::try_join!(async { Ok(1u8) }, async {
            sleep(Duration::from_millis(5)).await;
            Ok("two")
        });
        assert_eq!(ok, Ok((1, "two")));
    });
}
