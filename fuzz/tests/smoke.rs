//! Keeps the fuzzer working: a short run of every target under the 1 GiB allocation limit
//! (scripts/fuzz.sh runs the long ones). Each target must accept some mutated inputs, or
//! its seeds or mutations have stopped reaching past the first check.

use edgenas_fuzz::limit::{largest_allocation, LimitedAllocator, MAX_ALLOCATION};
use edgenas_fuzz::{fuzz, TARGETS};

#[global_allocator]
static ALLOCATOR: LimitedAllocator = LimitedAllocator;

/// Executions per target: a few seconds in all, enough for every mutation kind to be
/// drawn hundreds of times.
const RUNS: u64 = 3000;

#[test]
fn every_target_survives_a_short_run() {
    for target in &TARGETS {
        let seeds = (target.seeds)();
        assert!(seeds.len() >= 4, "{}: {} seeds", target.name, seeds.len());
        assert!(seeds.iter().any(|s| (target.run)(s)), "{}: no seed is accepted", target.name);
        let report = fuzz(target, RUNS, 1, &mut |_| false);
        assert!(report.crash.is_none(), "{}: {:?}", target.name, report.crash.map(|c| c.1));
        assert_eq!(report.executions, RUNS);
        assert!(
            report.accepted > 0 && report.accepted < RUNS,
            "{}: {} of {RUNS} accepted",
            target.name,
            report.accepted
        );
    }
    assert!(largest_allocation() <= MAX_ALLOCATION);
}
