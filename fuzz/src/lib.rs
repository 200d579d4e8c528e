//! Fuzzing of everything that reads input a user (or an attacker) controls: the ONNX
//! importer and the precision planners behind it, the `.npy` reader, genome JSON (and the
//! graph it builds, with its cost analysis), target descriptor TOML.
//!
//! Cargo-fuzz needs a nightly toolchain; this is a mutational fuzzer on stable: every
//! [`FuzzTarget`] has seed inputs that are valid, and each execution applies a few random
//! mutations (bit flips, interesting bytes, inserted, deleted, duplicated or spliced
//! ranges, and for the text formats numbers swapped for extreme ones) to one of them. A
//! run fails on the first panic, and the [`limit`] allocator stops the process on any
//! single allocation over 1 GiB, writing the input that asked for it.

pub mod limit;
mod mutate;
mod seeds;
mod targets;

pub use mutate::Mutator;
pub use targets::{FuzzTarget, TARGETS};

use std::panic::{catch_unwind, AssertUnwindSafe};

use edgenas_compiler::rng::SeededRng;

/// What one fuzzing run did.
#[derive(Debug, Clone, PartialEq)]
pub struct FuzzReport {
    pub target: &'static str,
    pub executions: u64,
    /// Inputs that made the target panic, with the panic message (the run stops at the first).
    pub crash: Option<(Vec<u8>, String)>,
    /// Executions whose input the target accepted (parsed without error).
    pub accepted: u64,
}

/// Runs `target` on `runs` mutated seed inputs (or until `stop` says so), with mutations
/// drawn from `seed`. Stops at the first panic and reports its input.
pub fn fuzz(target: &FuzzTarget, runs: u64, seed: u64, stop: &mut dyn FnMut(u64) -> bool) -> FuzzReport {
    let seeds = (target.seeds)();
    let mut mutator = Mutator::new(SeededRng::derive(seed, target.name), target.text);
    let mut accepted = 0;
    for executions in 0..runs {
        if stop(executions) {
            return FuzzReport { target: target.name, executions, crash: None, accepted };
        }
        let input = mutator.mutate(&seeds);
        limit::set_current_input(&input);
        match catch_unwind(AssertUnwindSafe(|| (target.run)(&input))) {
            Ok(true) => accepted += 1,
            Ok(false) => {}
            Err(panic) => {
                let message = edgenas_runtime::panic_message(&*panic).to_string();
                return FuzzReport {
                    target: target.name,
                    executions: executions + 1,
                    crash: Some((input, message)),
                    accepted,
                };
            }
        }
    }
    FuzzReport { target: target.name, executions: runs, crash: None, accepted }
}
