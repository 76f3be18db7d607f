//! The CPU backend's decode loop allocates nothing: after a warm-up (graphs prepared, scratch
//! grown), `Engine::eval` of one token on both real test models makes no heap allocation on
//! any thread, whether it returns the logits (sampling) or the argmax id (greedy).
//!
//! A counting global allocator sees every allocation of the process, rayon's workers
//! included; this file holds a single test so nothing else runs while it counts.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use kiln::engine::{Engine, EngineOptions};
use kiln::exec::DeviceChoice;
use kiln::model::Outputs;

/// The system allocator, counting allocations (and reallocations) while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for `dealloc`, and `new_size` is the caller's valid new size.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made by `f`, on any thread.
fn count(f: impl FnOnce()) -> usize {
    ALLOCS.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
    f();
    COUNTING.store(false, Ordering::SeqCst);
    ALLOCS.load(Ordering::SeqCst)
}

fn check(model: &str) {
    let Some(path) = common::model_path(model) else { return };
    let opts = EngineOptions {
        device: DeviceChoice::Cpu,
        threads: 2,
        n_ctx: 256,
        ..EngineOptions::default()
    };
    let mut engine = Engine::load(&path, &opts, |_, _| {}).expect("load");
    let prompt: Vec<u32> = (1..40).collect();
    for outputs in [Outputs::Last, Outputs::Argmax] {
        engine.reset();
        engine.eval(&prompt, outputs).expect("prefill");
        // Warm-up: the decode graph is prepared and its scratch grown on first use.
        for t in 0..2 {
            engine.eval(&[100 + t], outputs).expect("warm-up step");
        }
        for t in 0..8 {
            let n = count(|| engine.eval(&[200 + t], outputs).expect("decode step"));
            assert_eq!(n, 0, "{model}: decode step {t} ({outputs:?}) made {n} allocations");
        }
    }
}

#[test]
fn cpu_decode_steps_allocate_nothing() {
    check(common::SMOLLM2);
    check(common::GEMMA3);
}
