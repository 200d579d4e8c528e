//! One call from an [`Int8Program`] to what a microcontroller build needs: kernels chosen,
//! arena planned (with the two baselines beside it, computed by the same code) and C
//! generated.

use super::codegen::{generate_c, GeneratedSources};
use super::memory::{plan_memory, verify_plan, MemoryPlan, PlanStrategy};
use super::program::Int8Program;
use super::schedule::{schedule, Schedule};
use super::McuError;

/// Peak bytes of one program's activations under each placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MemoryReport {
    /// The arena the generated C declares (in-place ops, best of several greedy orders).
    pub arena_bytes: usize,
    /// TFLite Micro's greedy-by-size placement of the same buffers, without in-place ops.
    pub greedy_by_size_bytes: usize,
    /// Every buffer its own bytes.
    pub no_reuse_bytes: usize,
    /// The largest scratch buffer of any op (inside the arena).
    pub largest_scratch_bytes: usize,
    /// Bytes of constants (weights, some pre-widened, biases, multipliers, shifts), all in
    /// flash.
    pub constant_bytes: usize,
}

/// The in-place ops worth keeping: an in-place op shares one buffer between its input and
/// output, so a smaller output keeps the input's bytes for as long as it lives. Starting
/// from every in-place op, each is dropped in turn when the plan without it is smaller
/// (one pass; plans take microseconds).
fn plan_in_place(program: &Int8Program, mut scheduled: Schedule) -> (Schedule, MemoryPlan) {
    let mut plan = plan_memory(program, &scheduled, PlanStrategy::Edgenas);
    for i in 0..scheduled.ops.len() {
        let Some(input) = scheduled.ops[i].in_place.take() else { continue };
        let without = plan_memory(program, &scheduled, PlanStrategy::Edgenas);
        if without.arena_bytes < plan.arena_bytes {
            plan = without;
        } else {
            scheduled.ops[i].in_place = Some(input);
        }
    }
    (scheduled, plan)
}

/// The expand-depthwise fusions worth making ([`Schedule::fuse_expand_depthwise`]): each
/// candidate pair, in order, is fused when the plan with it is smaller. A fused pair runs
/// no faster than the two ops (its depthwise reads the same rows, from a ring), so only a
/// smaller arena pays.
fn plan_fusions(program: &Int8Program, mut scheduled: Schedule, mut plan: MemoryPlan) -> (Schedule, MemoryPlan) {
    for i in 0..scheduled.ops.len() {
        let Some(fused) = scheduled.fuse_expand_depthwise(program, i) else { continue };
        let with = plan_memory(program, &fused, PlanStrategy::Edgenas);
        if with.arena_bytes < plan.arena_bytes {
            (scheduled, plan) = (fused, with);
        }
    }
    (scheduled, plan)
}

/// A program lowered for a microcontroller.
#[derive(Debug, Clone)]
pub struct McuModel {
    pub program: Int8Program,
    pub schedule: Schedule,
    pub plan: MemoryPlan,
    pub memory: MemoryReport,
    pub sources: GeneratedSources,
}

impl McuModel {
    /// Lowers `program`: DSP kernels when `dsp`, in-place ops, expand-depthwise fusions,
    /// the edgenas plan (checked by [`verify_plan`]) and the generated C. No weights are
    /// widened ([`McuModel::lower_for_flash`]).
    pub fn lower(program: Int8Program, dsp: bool) -> Result<Self, McuError> {
        Self::lower_for_flash(program, dsp, 0)
    }

    /// [`McuModel::lower`] for a target with `flash_bytes` of flash: with DSP, the weights of
    /// the convolutions with the largest output maps are pre-widened
    /// ([`Schedule::widen_weights`]) while the constants stay within half of the flash
    /// (the rest is left to code and to what a user links beside the model).
    pub fn lower_for_flash(program: Int8Program, dsp: bool, flash_bytes: usize) -> Result<Self, McuError> {
        program.check()?;
        let (scheduled, plan) = plan_in_place(&program, schedule(&program, dsp, true));
        let (mut scheduled, plan) = plan_fusions(&program, scheduled, plan);
        let widened = scheduled.widen_weights(&program, flash_bytes / 2);
        verify_plan(&program, &scheduled, &plan).map_err(McuError::Malformed)?;
        let baseline = schedule(&program, dsp, false);
        let greedy = plan_memory(&program, &baseline, PlanStrategy::GreedyBySize);
        let none = plan_memory(&program, &baseline, PlanStrategy::NoReuse);
        let memory = MemoryReport {
            arena_bytes: plan.arena_bytes,
            greedy_by_size_bytes: greedy.arena_bytes,
            no_reuse_bytes: none.arena_bytes,
            largest_scratch_bytes: scheduled.ops.iter().map(|s| s.scratch_bytes).max().unwrap_or(0),
            constant_bytes: program.constant_bytes() + widened,
        };
        let sources = generate_c(&program, &scheduled, &plan)?;
        Ok(McuModel { program, schedule: scheduled, plan, memory, sources })
    }

    /// The `n` largest activations as `(name, bytes)`, largest first (what to shrink when a
    /// model does not fit).
    pub fn largest_tensors(&self, n: usize) -> Vec<(String, usize)> {
        let mut all: Vec<(String, usize)> =
            self.program.tensors.iter().map(|t| (t.name.clone(), t.shape.len())).collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }

    /// The `n` ops with the most constant bytes as `(name, bytes)`, largest first.
    pub fn largest_constants(&self, n: usize) -> Vec<(String, usize)> {
        let mut all: Vec<(String, usize)> = self
            .program
            .ops
            .iter()
            .map(|o| (o.name().to_string(), o.constant_bytes()))
            .filter(|(_, b)| *b > 0)
            .collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.truncate(n);
        all
    }
}
