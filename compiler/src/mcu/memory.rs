//! The static memory plan: every activation and every kernel's scratch placed in one arena
//! by liveness over the execution order.
//!
//! Time steps: the input is copied into the arena at step 0, op `i` runs at step `i + 1`
//! (an op fused into the one before it runs at that op's step, and the tensor between them
//! is transient: it never lies in the arena), the output is copied out after the last op.
//! A tensor lives from the step that writes it to the last step that reads it; scratch
//! lives during its op only. Two buffers whose lives meet must not share a byte, except an
//! op's output laid over the input it overwrites in place ([`super::OpSchedule::in_place`]),
//! which starts at the same offset.

use super::program::{Int8Program, TensorId};
use super::schedule::Schedule;

/// Offsets and sizes are multiples of this (word loads and LDRD need 4; 8 keeps 64-bit
/// loads aligned too).
pub const ARENA_ALIGN: usize = 8;

/// How buffers are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, strum::Display)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum PlanStrategy {
    /// Every buffer its own bytes (the baseline without reuse).
    NoReuse,
    /// TFLite Micro's greedy planner: largest buffer first, each at the lowest offset free
    /// during its life; no in-place ops.
    GreedyBySize,
    /// In-place ops merged into one buffer, then the best of several greedy orders.
    Edgenas,
}

/// Where each buffer lies in the arena.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MemoryPlan {
    pub strategy: PlanStrategy,
    /// Bytes of the arena (the peak of activations and scratch).
    pub arena_bytes: usize,
    /// Offset of every tensor, by [`TensorId`].
    pub tensor_offsets: Vec<usize>,
    /// Offset of every op's scratch (0 bytes: 0).
    pub scratch_offsets: Vec<usize>,
}

impl MemoryPlan {
    pub fn tensor_offset(&self, t: TensorId) -> usize {
        self.tensor_offsets[t.0]
    }
}

/// One buffer to place: the members share its offset.
#[derive(Debug, Clone)]
struct Buffer {
    size: usize,
    first: usize,
    last: usize,
    tensors: Vec<usize>,
    scratch_of: Option<usize>,
}

fn align(n: usize) -> usize {
    n.div_ceil(ARENA_ALIGN) * ARENA_ALIGN
}

/// Life of every tensor as `(first, last)` steps ([`Schedule::step`]: a fused op runs at
/// its fusing op's step).
fn lifetimes(program: &Int8Program, schedule: &Schedule) -> Vec<(usize, usize)> {
    let steps = program.ops.len() + 1;
    let mut life: Vec<(usize, usize)> = vec![(0, 0); program.tensors.len()];
    for (i, op) in program.ops.iter().enumerate() {
        let step = schedule.step(i);
        life[op.output().0] = (step, step);
    }
    for (i, op) in program.ops.iter().enumerate() {
        for t in op.inputs() {
            life[t.0].1 = life[t.0].1.max(schedule.step(i));
        }
    }
    life[program.output.0].1 = steps;
    life
}

/// The buffers to place; a transient tensor ([`Schedule::transient_tensors`]) has none.
fn buffers(program: &Int8Program, schedule: &Schedule, merge_in_place: bool) -> Vec<Buffer> {
    let life = lifetimes(program, schedule);
    let transient = schedule.transient_tensors(program);
    let n = program.tensors.len();
    let mut group: Vec<usize> = (0..n).collect();
    fn root(group: &mut [usize], mut t: usize) -> usize {
        while group[t] != t {
            group[t] = group[group[t]];
            t = group[t];
        }
        t
    }
    if merge_in_place {
        for (op, s) in program.ops.iter().zip(&schedule.ops) {
            if let Some(input) = s.in_place {
                let (a, b) = (root(&mut group, input.0), root(&mut group, op.output().0));
                group[b] = a;
            }
        }
    }
    let mut by_root: Vec<Option<Buffer>> = vec![None; n];
    for (t, &(first, last)) in life.iter().enumerate() {
        if transient[t] {
            continue;
        }
        let r = root(&mut group, t);
        let size = align(program.tensors[t].shape.len());
        let b = by_root[r].get_or_insert(Buffer { size: 0, first, last, tensors: Vec::new(), scratch_of: None });
        b.size = b.size.max(size);
        b.first = b.first.min(first);
        b.last = b.last.max(last);
        b.tensors.push(t);
    }
    let mut out: Vec<Buffer> = by_root.into_iter().flatten().collect();
    for (i, s) in schedule.ops.iter().enumerate() {
        if s.scratch_bytes > 0 {
            out.push(Buffer {
                size: align(s.scratch_bytes),
                first: schedule.step(i),
                last: schedule.step(i),
                tensors: vec![],
                scratch_of: Some(i),
            });
        }
    }
    out
}

/// Places `buffers` in `order`, each at the lowest offset free during its life; returns the
/// offsets (by buffer index) and the arena size.
fn place_greedy(buffers: &[Buffer], order: &[usize]) -> (Vec<usize>, usize) {
    let mut offsets = vec![usize::MAX; buffers.len()];
    let mut placed: Vec<usize> = Vec::new();
    let mut arena = 0;
    for &b in order {
        let me = &buffers[b];
        let mut busy: Vec<(usize, usize)> = placed
            .iter()
            .filter(|&&p| buffers[p].first <= me.last && me.first <= buffers[p].last)
            .map(|&p| (offsets[p], offsets[p] + buffers[p].size))
            .collect();
        busy.sort_unstable();
        let mut offset = 0;
        for (start, end) in busy {
            if offset + me.size <= start {
                break;
            }
            offset = offset.max(end);
        }
        offsets[b] = offset;
        arena = arena.max(offset + me.size);
        placed.push(b);
    }
    (offsets, arena)
}

/// Plans the arena of `program` run with `schedule`. [`PlanStrategy::GreedyBySize`] and
/// [`PlanStrategy::NoReuse`] ignore the schedule's in-place ops (baselines), so only an
/// [`PlanStrategy::Edgenas`] plan matches code generated with in-place kernels.
pub fn plan_memory(program: &Int8Program, schedule: &Schedule, strategy: PlanStrategy) -> MemoryPlan {
    let buffers = buffers(program, schedule, strategy == PlanStrategy::Edgenas);
    let by_size = |bufs: &[Buffer]| {
        let mut o: Vec<usize> = (0..bufs.len()).collect();
        o.sort_by_key(|&b| (std::cmp::Reverse(bufs[b].size), bufs[b].first));
        o
    };
    let (offsets, arena_bytes) = match strategy {
        PlanStrategy::NoReuse => {
            let mut offsets = Vec::with_capacity(buffers.len());
            let mut next = 0;
            for b in &buffers {
                offsets.push(next);
                next += b.size;
            }
            (offsets, next)
        }
        PlanStrategy::GreedyBySize => place_greedy(&buffers, &by_size(&buffers)),
        PlanStrategy::Edgenas => {
            let n = buffers.len();
            let mut orders = vec![by_size(&buffers)];
            let mut o: Vec<usize> = (0..n).collect();
            o.sort_by_key(|&b| (std::cmp::Reverse(buffers[b].size * (buffers[b].last - buffers[b].first + 1)), b));
            orders.push(o);
            let mut o: Vec<usize> = (0..n).collect();
            o.sort_by_key(|&b| {
                (std::cmp::Reverse(buffers[b].last - buffers[b].first), std::cmp::Reverse(buffers[b].size))
            });
            orders.push(o);
            let mut o: Vec<usize> = (0..n).collect();
            o.sort_by_key(|&b| (buffers[b].first, std::cmp::Reverse(buffers[b].size)));
            orders.push(o);
            orders.iter().map(|o| place_greedy(&buffers, o)).min_by_key(|(_, a)| *a).unwrap_or_default()
        }
    };
    let mut tensor_offsets = vec![0; program.tensors.len()];
    let mut scratch_offsets = vec![0; program.ops.len()];
    for (b, offset) in buffers.iter().zip(&offsets) {
        for &t in &b.tensors {
            tensor_offsets[t] = *offset;
        }
        if let Some(op) = b.scratch_of {
            scratch_offsets[op] = *offset;
        }
    }
    MemoryPlan { strategy, arena_bytes, tensor_offsets, scratch_offsets }
}

/// Checks `plan` buffer pair by buffer pair: every tensor and scratch lies inside the arena
/// at an aligned offset, and no two whose lives meet share a byte, except an in-place
/// op's output and the input it overwrites, which must start at the same offset.
/// Transient tensors ([`Schedule::transient_tensors`]) are not in the arena and not checked.
pub fn verify_plan(program: &Int8Program, schedule: &Schedule, plan: &MemoryPlan) -> Result<(), String> {
    let life = lifetimes(program, schedule);
    let transient = schedule.transient_tensors(program);
    struct Item {
        what: String,
        offset: usize,
        size: usize,
        first: usize,
        last: usize,
        tensor: Option<usize>,
    }
    let mut items: Vec<Item> = program
        .tensors
        .iter()
        .enumerate()
        .filter(|(t, _)| !transient[*t])
        .map(|(t, tensor)| Item {
            what: format!("tensor `{}`", tensor.name),
            offset: plan.tensor_offsets[t],
            size: tensor.shape.len(),
            first: life[t].0,
            last: life[t].1,
            tensor: Some(t),
        })
        .collect();
    for (i, s) in schedule.ops.iter().enumerate() {
        if s.scratch_bytes > 0 {
            items.push(Item {
                what: format!("scratch of `{}`", program.ops[i].name()),
                offset: plan.scratch_offsets[i],
                size: s.scratch_bytes,
                first: schedule.step(i),
                last: schedule.step(i),
                tensor: None,
            });
        }
    }
    let in_place: Vec<(usize, usize)> =
        program.ops.iter().zip(&schedule.ops).filter_map(|(op, s)| s.in_place.map(|t| (t.0, op.output().0))).collect();
    for it in &items {
        if it.offset % ARENA_ALIGN != 0 || it.offset + it.size > plan.arena_bytes {
            return Err(format!(
                "{} at {}+{} is outside the arena of {} or misaligned",
                it.what, it.offset, it.size, plan.arena_bytes
            ));
        }
    }
    for (i, a) in items.iter().enumerate() {
        for b in &items[i + 1..] {
            let lives_meet = a.first <= b.last && b.first <= a.last;
            let bytes_meet = a.offset < b.offset + b.size && b.offset < a.offset + a.size;
            if !(lives_meet && bytes_meet) {
                continue;
            }
            let pair = a.tensor.zip(b.tensor);
            let allowed = pair.is_some_and(|(x, y)| {
                (in_place.contains(&(x, y)) || in_place.contains(&(y, x))) && a.offset == b.offset
            });
            if !allowed {
                return Err(format!(
                    "{} [{}, {}) and {} [{}, {}) overlap while both live (steps {}..={} and {}..={})",
                    a.what,
                    a.offset,
                    a.offset + a.size,
                    b.what,
                    b.offset,
                    b.offset + b.size,
                    a.first,
                    a.last,
                    b.first,
                    b.last
                ));
            }
        }
    }
    Ok(())
}
