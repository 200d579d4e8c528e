//! Which C kernel runs each op, whether it writes its output over a dying input, and the
//! scratch memory it needs. The memory plan and the code generator both read it, so the
//! arena the C declares is the one that was planned.

use super::program::{Int8Op, Int8Program, TensorId};

/// The C kernel of one op (`mcu/c/edgenas_kernels.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kernel {
    /// Any window: direct loops (portable) or im2col of two output pixels into q15 (DSP).
    Conv,
    /// 1×1, stride 1, no padding: a matrix product over pixels.
    Pointwise,
    /// A 1×1 convolution of a 1×1 map.
    FullyConnected,
    /// Channel by channel: the channel's plane is copied into a zero-padded scratch plane,
    /// so the output may overwrite the input.
    Depthwise,
    /// Element-wise; in place when an input dies here.
    Add,
    Requantize,
    /// Channel by channel through a scratch plane, like [`Kernel::Depthwise`].
    AvgPool,
    MaxPool,
    /// Channel by channel, writing channel `c` at index `c`: in place without scratch.
    GlobalAvgPool,
    /// A pointwise expansion that also runs the depthwise convolution after it
    /// ([`Kernel::Fused`]), row by row through a ring of expanded rows in its scratch: the
    /// expanded tensor never lies whole in the arena, and the depthwise's output is
    /// written by this op.
    ExpandDepthwise,
    /// An op computed by the op before it ([`Kernel::ExpandDepthwise`]): no code of its own.
    Fused,
}

impl Kernel {
    /// Kernels whose output may lie over one of their inputs.
    pub fn can_run_in_place(self) -> bool {
        matches!(
            self,
            Kernel::Depthwise
                | Kernel::Add
                | Kernel::Requantize
                | Kernel::AvgPool
                | Kernel::MaxPool
                | Kernel::GlobalAvgPool
        )
    }
}

/// One op's kernel, memory behaviour and scratch.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpSchedule {
    pub kernel: Kernel,
    /// The input whose buffer the output reuses (it dies at this op), if any.
    pub in_place: Option<TensorId>,
    /// Bytes of scratch the kernel needs while it runs.
    pub scratch_bytes: usize,
    /// The DSP kernel reads this convolution's weights pre-widened to 16-bit pairs: twice
    /// their flash, no sign extension in the inner loop ([`Schedule::widen_weights`]).
    pub wide_weights: bool,
}

/// The kernels of a whole program.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Schedule {
    /// The Cortex-M DSP extension's kernels (SMLAD on packed 16-bit pairs).
    pub dsp: bool,
    pub ops: Vec<OpSchedule>,
}

impl Schedule {
    /// By [`TensorId`], whether the tensor never lies in the arena: the output of an
    /// [`Kernel::ExpandDepthwise`] op, consumed row by row inside it.
    pub fn transient_tensors(&self, program: &Int8Program) -> Vec<bool> {
        let mut transient = vec![false; program.tensors.len()];
        for (op, s) in program.ops.iter().zip(&self.ops) {
            if s.kernel == Kernel::ExpandDepthwise {
                transient[op.output().0] = true;
            }
        }
        transient
    }

    /// The step at which op `i` runs ([`super::memory`]'s time steps): `i + 1`, or its
    /// fusing op's step for a [`Kernel::Fused`] op.
    pub fn step(&self, i: usize) -> usize {
        if self.ops[i].kernel == Kernel::Fused {
            i
        } else {
            i + 1
        }
    }

    /// The schedule with the pointwise op `expand` and the depthwise op after it fused
    /// ([`Kernel::ExpandDepthwise`] and [`Kernel::Fused`]), or `None` when they cannot be:
    /// the depthwise must read the pointwise's output and be its only reader, with a
    /// kernel of at most 8×8 and a vertical stride no larger than the kernel.
    pub fn fuse_expand_depthwise(&self, program: &Int8Program, expand: usize) -> Option<Schedule> {
        let (Some(Int8Op::Conv(e)), Some(Int8Op::DepthwiseConv(d))) =
            (program.ops.get(expand), program.ops.get(expand + 1))
        else {
            return None;
        };
        let readers = program.ops.iter().filter(|o| o.inputs().contains(&e.output)).count();
        let w = &d.window;
        let fits = w.kernel_h <= FUSED_MAX_KERNEL && w.kernel_w <= FUSED_MAX_KERNEL && w.stride_h <= w.kernel_h;
        if self.ops[expand].kernel != Kernel::Pointwise
            || self.ops[expand + 1].kernel != Kernel::Depthwise
            || d.input != e.output
            || readers != 1
            || e.output == program.output
            || !fits
        {
            return None;
        }
        let width = program.tensor(e.input).shape.w;
        let padded = width + w.pad_left + w.pad_right;
        let ring = ((w.kernel_h * e.out_channels + 1) * padded + 4).div_ceil(4) * 4;
        let pointwise = scratch_bytes(program, &program.ops[expand], Kernel::Pointwise, self.dsp);
        let mut fused = self.clone();
        fused.ops[expand] = OpSchedule {
            kernel: Kernel::ExpandDepthwise,
            in_place: None,
            scratch_bytes: ring + pointwise,
            ..self.ops[expand]
        };
        fused.ops[expand + 1] =
            OpSchedule { kernel: Kernel::Fused, in_place: None, scratch_bytes: 0, wide_weights: false };
        Some(fused)
    }

    /// Widens the weights of the convolutions that run the most multiply-accumulates per
    /// weight byte (the largest output maps) first, each while the constants stay within
    /// `constant_budget` bytes; returns the flash bytes added.
    pub fn widen_weights(&mut self, program: &Int8Program, constant_budget: usize) -> usize {
        let mut candidates: Vec<(usize, usize, usize)> = (0..self.ops.len())
            .filter_map(|i| {
                let extra = wide_weight_extra_bytes(program, self, i)?;
                let out = program.tensor(program.ops[i].output()).shape;
                Some((out.h * out.w, extra, i))
            })
            .collect();
        candidates.sort_by_key(|&(pixels, _, i)| (std::cmp::Reverse(pixels), i));
        let mut constants = program.constant_bytes();
        let mut added = 0;
        for (_, extra, i) in candidates {
            if constants + extra <= constant_budget {
                self.ops[i].wide_weights = true;
                constants += extra;
                added += extra;
            }
        }
        added
    }
}

/// Extra flash bytes of op `i`'s weights pre-widened for the DSP kernels: 16-bit pairs,
/// filters in pairs (an odd last one padded with a zero filter), each padded to a multiple
/// of four values, less the int8 weights they replace; `None` for an op without a
/// matrix-product kernel.
fn wide_weight_extra_bytes(program: &Int8Program, schedule: &Schedule, i: usize) -> Option<usize> {
    let Int8Op::Conv(c) = &program.ops[i] else { return None };
    if !schedule.dsp
        || !matches!(
            schedule.ops[i].kernel,
            Kernel::Conv | Kernel::Pointwise | Kernel::FullyConnected | Kernel::ExpandDepthwise
        )
    {
        return None;
    }
    let k4 = (c.window.taps() * c.in_channels).div_ceil(4) * 4;
    let wide = c.out_channels.div_ceil(2) * 2 * k4 * 2;
    Some(wide.saturating_sub(c.weights.len()))
}

/// Largest kernel side of a fused depthwise (`EDGENAS_DW_MAX_KERNEL`).
const FUSED_MAX_KERNEL: usize = 8;

/// Chooses every op's kernel for `dsp` and, with `in_place`, lets every op that can
/// overwrite an input that dies there do so (the program input too: `edgenas_invoke`
/// copies it into the arena first). Whether each one should is the memory plan's call
/// ([`super::McuModel::lower`] drops those that enlarge the arena).
pub fn schedule(program: &Int8Program, dsp: bool, in_place: bool) -> Schedule {
    let mut last_use = vec![None; program.tensors.len()];
    for (i, op) in program.ops.iter().enumerate() {
        for t in op.inputs() {
            last_use[t.0] = Some(i);
        }
    }
    let ops = program
        .ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let kernel = kernel_of(program, op);
            let dying = op
                .inputs()
                .into_iter()
                .find(|t| last_use[t.0] == Some(i) && *t != program.output && !inputs_repeat(op));
            let in_place = if in_place && kernel.can_run_in_place() { dying } else { None };
            let scratch_bytes = scratch_bytes(program, op, kernel, dsp);
            OpSchedule { kernel, in_place, scratch_bytes, wide_weights: false }
        })
        .collect();
    Schedule { dsp, ops }
}

/// `Add(x, x)`: both inputs are one buffer, which the op must not overwrite half-read.
fn inputs_repeat(op: &Int8Op) -> bool {
    let inputs = op.inputs();
    inputs.len() == 2 && inputs[0] == inputs[1]
}

fn kernel_of(program: &Int8Program, op: &Int8Op) -> Kernel {
    match op {
        Int8Op::Conv(c) if c.is_fully_connected(program) && !c.window.has_padding() => Kernel::FullyConnected,
        Int8Op::Conv(c)
            if c.window.taps() == 1 && c.window.stride_h == 1 && c.window.stride_w == 1 && !c.window.has_padding() =>
        {
            Kernel::Pointwise
        }
        Int8Op::Conv(_) => Kernel::Conv,
        Int8Op::DepthwiseConv(_) => Kernel::Depthwise,
        Int8Op::Add(_) => Kernel::Add,
        Int8Op::Requantize(_) => Kernel::Requantize,
        Int8Op::AvgPool(p) if p.is_global(program) => Kernel::GlobalAvgPool,
        Int8Op::AvgPool(_) => Kernel::AvgPool,
        Int8Op::MaxPool(_) => Kernel::MaxPool,
    }
}

/// Scratch of each kernel, as `edgenas_kernels.h` documents per function.
fn scratch_bytes(program: &Int8Program, op: &Int8Op, kernel: Kernel, dsp: bool) -> usize {
    let input = program.tensor(op.inputs()[0]).shape;
    let round4 = |n: usize| n.div_ceil(4) * 4;
    match (op, kernel) {
        (Int8Op::Conv(c), Kernel::Conv) if dsp => 5 * round4(c.window.taps() * c.in_channels),
        (Int8Op::Conv(c), Kernel::Pointwise) if dsp => 2 * 2 * round4(c.in_channels),
        (Int8Op::Conv(c), Kernel::FullyConnected) if dsp => 2 * 2 * round4(c.in_channels),
        (Int8Op::DepthwiseConv(d), Kernel::Depthwise) => {
            let w = &d.window;
            let plane = (input.h + w.pad_top + w.pad_bottom) * (input.w + w.pad_left + w.pad_right);
            round4(plane) + 4
        }
        (_, Kernel::AvgPool | Kernel::MaxPool) => round4(input.h * input.w),
        _ => 0,
    }
}
