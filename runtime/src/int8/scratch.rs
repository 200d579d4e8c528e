//! The int8 ops' scratch buffers, one set per thread, kept between evaluations: a plan
//! grows each to its largest op once instead of allocating at every op of every inference.
//! The kernels give the same results whatever an earlier op left in them
//! (kernels/tests/fast_matches_reference.rs).

use std::cell::RefCell;

use edgenas_kernels::fast::ConvScratch;

/// What the fast kernels take as scratch.
#[derive(Default)]
pub(crate) struct Int8Scratch {
    /// Patches and packed pairs of [`edgenas_kernels::fast::FastConv`].
    pub conv: ConvScratch,
    /// The padded input copy of [`edgenas_kernels::fast::FastDepthwise`].
    pub padded: Vec<i8>,
    /// One pixel's accumulators (depthwise, pools).
    pub acc: Vec<i32>,
}

thread_local! {
    static SCRATCH: RefCell<Int8Scratch> = RefCell::default();
}

/// Runs `f` with this thread's scratch (not reentrant: `f` must not call it again).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Int8Scratch) -> R) -> R {
    SCRATCH.with(|s| f(&mut s.borrow_mut()))
}
