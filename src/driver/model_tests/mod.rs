//! Model-based property test of the driver's op state machine (issue 9;
//! docs/reliability.md, "model-based fuzz target").
//!
//! The real [`Driver`] runs over the simulated ring (`sim`), and real
//! [`Submit`] futures of a test op ([`TestOp`], whose buffer reports its own
//! drop) are polled and dropped by random action sequences. The test plays
//! the kernel: it picks which held SQE completes and how (success, error,
//! `-ECANCELED` after a cancel, cancel outcomes 0, `-ENOENT`, `-EALREADY`),
//! posts duplicate, late and unknown CQEs, makes `io_uring_enter` fail
//! (`EBUSY`, `EAGAIN`, `ENOMEM`, `EINTR`, `ETIME`, `EBADR`) or submit only
//! part of the queue, keeps the SQ small so it fills, overflows the CQ,
//! defers completions as task work, completes the wake-up read (a wake from
//! another thread), wakes wakers from other threads, and shuts down
//! (`begin_shutdown`, then either drain or `leak_in_kernel`, then `Drop`).
//!
//! A reference model runs alongside, and after every step the test checks:
//!
//! 1. no op buffer is dropped while the simulated kernel holds an SQE
//!    naming it (docs/reliability.md, rule 1), and no buffer or waker is
//!    dropped or woken while the driver's `RefCell` is borrowed
//!    (docs/reliability.md, rule 7);
//! 2. every buffer is dropped exactly once, after its CQE, except the ops
//!    leaked at shutdown, which are exactly `Stats::leaked` (checked at the
//!    end);
//! 3. each future gets its own op's first CQE (its id and result), and an
//!    abandoned op is finished with its own; duplicate, late and unknown
//!    CQEs are counted in `stale_cqes` and delivered to no one
//!    (docs/reliability.md, rule 4);
//! 4. ops in the kernel never exceed the cap (docs/reliability.md, rule 6);
//!    no future is stranded: in a final "settle" phase the test completes everything,
//!    polls only futures that were woken (as an executor does), and every
//!    future must resolve; after each hand-out of wakes, a future whose CQE
//!    was reaped has been woken through the waker of its latest poll;
//! 5. a future dropped in flight gets exactly one `ASYNC_CANCEL`, pushed
//!    eventually even when the SQ was full; no live op is ever cancelled
//!    before shutdown; late successes are `late_completions`;
//! 6. enter errors lose no SQE: after settling, the SQ is empty and every
//!    pushed SQE was submitted (the kernel completed it);
//! 7. `Stats` agree with the model: `ops_submitted`, `ops_completed`,
//!    `ops_in_flight`, `cqes`, `stale_cqes`, `ops_cancelled`,
//!    `late_completions`, `enter_calls`, `enter_busy`, `cq_dropped`,
//!    `leaked`; the wake-up read is armed at most once; the ring is closed
//!    exactly once.
//!
//! A failure prints proptest's shrunk (minimal) case, which can be pasted
//! into [`replay`] as a regression. `CURING_MODEL_CASES` sets the number of
//! cases (default [`DEFAULT_CASES`]), `CURING_MODEL_SEED` fixes the seed;
//! `ci/stress.sh` runs many more.
//!
//! No runtime is involved: each case makes a driver over a simulated ring
//! current on the test's thread (`driver::current`, which `Submit` uses),
//! and polls the futures itself.

mod harness;
mod world;

use super::current::{Core, Entered};
use super::sim::{SimRing, SimState};
use super::Driver;
use harness::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use world::*;
/// Cases per run by default, sized to keep `cargo test` short (time per
/// run: benches/compare/README.md, "Design measurements", "Model test").
pub(super) const DEFAULT_CASES: u32 = 1000;

/// Bytes in a test op's buffer.
pub(super) const BUF_LEN: u32 = 16;

/// Errors a completed op may report (never `EFAULT`: that would mean a
/// freed buffer, which `Stats::efault_cqes` counts).
pub(super) const OP_ERRNOS: [i32; 4] = [libc::ECANCELED, libc::EIO, libc::ECONNRESET, libc::EAGAIN];

/// Errors a scripted `io_uring_enter` may fail with.
pub(super) const ENTER_ERRNOS: [i32; 6] = [
    libc::EBUSY,
    libc::EAGAIN,
    libc::ENOMEM,
    libc::EINTR,
    libc::ETIME,
    libc::EBADR,
];

/// Runs one case on a driver over a simulated ring, made current on this
/// thread with no runtime around it. `Err` lists what went wrong.
fn run_case(case: &Case) -> Result<(), String> {
    let sim = Rc::new(RefCell::new(SimState::new(case.sq, case.cq as usize)));
    let first_generation = if case.wrap { u32::MAX - 2 } else { 1 };
    let wake_fd = if case.wake_fd { 1000 } else { -1 };
    let driver = Driver::with_sim(
        SimRing::new(sim.clone(), case.cq),
        first_generation,
        wake_fd,
    );
    let ctx = Rc::new(Core::new(driver));
    let entered = Entered::new(&ctx);
    let tracker = Rc::new(Tracker {
        ctx: ctx.clone(),
        sim: sim.clone(),
        freed: RefCell::default(),
        finished: RefCell::default(),
        violations: RefCell::default(),
    });
    TRACKER.with(|t| *t.borrow_mut() = Some(tracker.clone()));
    let mut world = World {
        ctx: ctx.clone(),
        sim,
        tracker: tracker.clone(),
        futs: Vec::new(),
        ops: Vec::new(),
        by_user_data: HashMap::new(),
        reaped_history: Vec::new(),
        old_wakers: Vec::new(),
        pushed_seen: 0,
        drained_seen: 0,
        cancels: HashMap::new(),
        shutting_down: false,
        leaked: 0,
    };
    let mut trace = String::new();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        for (n, a) in case.actions.iter().enumerate() {
            world.step(a);
            world.check();
            if !tracker.violations.borrow().is_empty() {
                let _ = write!(trace, "after action {n} ({a:?})");
                return;
            }
        }
        match &case.end {
            End::Settle => {
                world.settle();
                world.shutdown(&[], false);
            }
            End::Shutdown { steps, leak } => world.shutdown(steps, *leak),
        }
    }));
    // The simulated driver is dropped (and its ring closed) before the
    // final check; a spare one with a ring of its own takes its place.
    let spare = SimRing::new(Rc::new(RefCell::new(SimState::new(1, 1))), 1);
    let sim_driver = ctx.driver.replace(Driver::with_sim(spare, 1, -1));
    let result = match outcome {
        Ok(()) if tracker.violations.borrow().is_empty() => {
            let stats = sim_driver.stats();
            let wrapped = sim_driver.next_generation < first_generation;
            COVERAGE.with(|c| {
                let mut c = c.borrow_mut();
                c.cases += 1;
                c.ops_submitted += stats.ops_submitted;
                c.ops_completed += stats.ops_completed;
                c.ops_cancelled += stats.ops_cancelled;
                c.late_completions += stats.late_completions;
                c.stale_cqes += stats.stale_cqes;
                c.sq_full += stats.sq_full;
                c.backpressure += stats.backpressure;
                c.enter_busy += stats.enter_busy;
                c.cq_overflows += stats.cq_overflows;
                c.leaked += stats.leaked;
                c.wrapped += u64::from(wrapped);
                for op in &world.ops {
                    c.dropped_completed += u64::from(op.abandoned && op.reaped_at_drop);
                    c.dropped_unpolled += u64::from(op.user_data.is_none() && !op.taken);
                }
            });
            drop(sim_driver);
            world.final_check();
            Ok(())
        }
        Ok(()) => Ok(()),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            tracker.violation(format!("panic: {msg}"));
            Ok(())
        }
    };
    let violations = std::mem::take(&mut *tracker.violations.borrow_mut());
    TRACKER.with(|t| *t.borrow_mut() = None);
    drop(entered);
    if violations.is_empty() {
        // Drop the world only now: its futures are all gone, its wakers and
        // the sim hold no borrow.
        drop(world);
        return result;
    }
    // After a failure, keep every object alive: dropping futures of a
    // confused driver could panic again.
    std::mem::forget(world);
    Err(format!("{} {trace}", violations.join("; ")))
}

fn cases() -> u32 {
    std::env::var("CURING_MODEL_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

#[test]
fn driver_op_state_machine_matches_the_model() {
    let config = Config {
        cases: cases(),
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = match std::env::var("CURING_MODEL_SEED") {
        Ok(seed) => {
            let seed: u64 = seed.parse().expect("CURING_MODEL_SEED is a u64");
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&seed.to_le_bytes());
            TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &bytes))
        }
        Err(_) => TestRunner::new(config),
    };
    let result = runner.run(&case(), |case| run_case(&case).map_err(TestCaseError::fail));
    if let Err(e) = result {
        panic!("the driver disagrees with the model.\n{e}");
    }
    COVERAGE.with(|c| eprintln!("model test coverage: {:?}", c.borrow()));
}

/// A case for the regressions below (no wrap, no wake-up fd).
fn regression(sq: usize, cq: u32, actions: Vec<Action>, end: End) -> Case {
    Case {
        sq,
        cq,
        wrap: false,
        wake_fd: false,
        actions,
        end,
    }
}

/// The shrunk cases proptest printed for deliberately broken drivers (one
/// bug each, named in the comment; see the module docs), replayed on the
/// real one. Each fails if its bug comes back.
#[test]
fn replay() {
    use Action::*;
    let poll = |fut| Poll {
        fut,
        other_waker: false,
    };
    let complete = |res| Complete {
        pick: 0,
        res,
        deferred: false,
    };
    let settle = || End::Settle;
    let cases = [
        // An abandoned op freed when its cancel is pushed, not at its CQE.
        regression(1, 1, vec![Submit, poll(0), Drop { fut: 0 }], settle()),
        // Slot waiters never woken when a slot frees.
        regression(1, 1, vec![Submit, Submit, Submit], settle()),
        // A CQE matched by slab key only, ignoring the generation.
        regression(
            1,
            1,
            vec![
                Submit,
                poll(0),
                Flush,
                complete(0),
                Flush,
                Duplicate { pick: 0, res: 0 },
                poll(0),
                Submit,
                Submit,
            ],
            settle(),
        ),
        // A cancel that found the SQ full dropped instead of kept.
        regression(
            1,
            1,
            vec![Submit, poll(0), EnterError { errno: 0 }],
            End::Shutdown {
                steps: vec![],
                leak: false,
            },
        ),
        regression(
            3,
            3,
            vec![
                Submit,
                Submit,
                Submit,
                Submit,
                poll(222),
                Submit,
                Drop { fut: 23 },
                Flush,
                Drop { fut: 14 },
                poll(26),
                EnterError { errno: 0 },
                poll(133),
                Drop { fut: 1 },
            ],
            settle(),
        ),
        // The in-flight cap off by one.
        regression(1, 1, vec![Submit, Submit, Submit, Submit], settle()),
        // Waiting ops failed on an enter error although the kernel has them
        // (tokio#8255).
        regression(
            1,
            1,
            vec![Submit, Submit, EnterError { errno: 0 }],
            settle(),
        ),
        // `leak_in_kernel` freeing instead of leaking.
        regression(
            1,
            1,
            vec![Submit, poll(0)],
            End::Shutdown {
                steps: vec![],
                leak: true,
            },
        ),
        // A poll with a new waker that keeps the old one in the slot.
        regression(
            1,
            1,
            vec![
                Submit,
                Submit,
                poll(103),
                Flush,
                Submit,
                Submit,
                Poll {
                    fut: 41,
                    other_waker: true,
                },
                Submit,
                complete(0),
                Flush,
                TakeReady,
            ],
            settle(),
        ),
        // A push that finds the SQ full with no op in flight, queued as a
        // slot waiter (nothing will ever wake it).
        regression(
            1,
            2,
            vec![
                PartialSubmit { n: 1 },
                EnterError { errno: 0 },
                EnterError { errno: 0 },
                Submit,
                poll(0),
                Flush,
                complete(0),
                Drop { fut: 0 },
                Flush,
                Submit,
            ],
            settle(),
        ),
        // A drop after the CQE was reaped, before it was taken.
        regression(
            1,
            1,
            vec![Submit, poll(0), Flush, complete(1), Reap, Drop { fut: 0 }],
            settle(),
        ),
    ];
    for case in &cases {
        if let Err(e) = run_case(case) {
            panic!("{e}\n{case:?}");
        }
    }
}
