//! The integer-only program: int8 activations in HWC layout (batch 1), each with one
//! scale and zero point, and the ops between them in execution order.

use crate::ops::{Int8Add, Int8AvgPool, Int8Conv, Int8DepthwiseConv, Int8MaxPool, Int8Requantize};
use crate::{ProgramError, QuantizedMultiplier};

/// Index of a tensor in [`Int8Program::tensors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct TensorId(pub usize);

/// Height, width and channels of an activation stored channels-last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Hwc {
    pub h: usize,
    pub w: usize,
    pub c: usize,
}

impl Hwc {
    pub fn new(h: usize, w: usize, c: usize) -> Self {
        Hwc { h, w, c }
    }

    /// Number of int8 values (= bytes).
    pub fn len(&self) -> usize {
        self.h * self.w * self.c
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `real = (q − zero_point) · scale`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QuantParams {
    pub scale: f32,
    pub zero_point: i8,
}

impl QuantParams {
    /// `q` for `real`, rounded half to even (as ONNX QuantizeLinear) and saturated.
    pub fn quantize(&self, real: f32) -> i8 {
        let q = (real / self.scale).round_ties_even() + f32::from(self.zero_point);
        q.clamp(-128.0, 127.0) as i8
    }

    pub fn dequantize(&self, q: i8) -> f32 {
        (f32::from(q) - f32::from(self.zero_point)) * self.scale
    }
}

/// One int8 activation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Int8Tensor {
    /// The ONNX float tensor it was quantized from.
    pub name: String,
    /// The int8/uint8 tensor of the ONNX model that holds it (a QuantizeLinear output).
    pub quantized: String,
    pub shape: Hwc,
    pub quant: QuantParams,
}

/// A kernel window over an HWC map: kernel, stride and zero padding per side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Window {
    pub kernel_h: usize,
    pub kernel_w: usize,
    pub stride_h: usize,
    pub stride_w: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub pad_bottom: usize,
    pub pad_right: usize,
}

impl Window {
    /// A `k×k` window with stride `s` and padding `p` on every side.
    pub fn square(k: usize, s: usize, p: usize) -> Self {
        Window {
            kernel_h: k,
            kernel_w: k,
            stride_h: s,
            stride_w: s,
            pad_top: p,
            pad_left: p,
            pad_bottom: p,
            pad_right: p,
        }
    }

    /// Output height and width over an `h×w` input; `None` when the window does not fit.
    pub fn output_size(&self, h: usize, w: usize) -> Option<(usize, usize)> {
        let span_h = (h + self.pad_top + self.pad_bottom).checked_sub(self.kernel_h)?;
        let span_w = (w + self.pad_left + self.pad_right).checked_sub(self.kernel_w)?;
        if self.stride_h == 0 || self.stride_w == 0 {
            return None;
        }
        Some((span_h / self.stride_h + 1, span_w / self.stride_w + 1))
    }

    pub fn taps(&self) -> usize {
        self.kernel_h * self.kernel_w
    }

    pub fn has_padding(&self) -> bool {
        self.pad_top + self.pad_left + self.pad_bottom + self.pad_right > 0
    }
}

/// One integer op.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Int8Op {
    Conv(Int8Conv),
    DepthwiseConv(Int8DepthwiseConv),
    Add(Int8Add),
    AvgPool(Int8AvgPool),
    MaxPool(Int8MaxPool),
    Requantize(Int8Requantize),
}

impl Int8Op {
    pub fn name(&self) -> &str {
        match self {
            Int8Op::Conv(o) => &o.name,
            Int8Op::DepthwiseConv(o) => &o.name,
            Int8Op::Add(o) => &o.name,
            Int8Op::AvgPool(o) => &o.name,
            Int8Op::MaxPool(o) => &o.name,
            Int8Op::Requantize(o) => &o.name,
        }
    }

    /// A short kind name for reports (`conv`, `pointwise`, `depthwise`, `fc`, ...).
    pub fn kind(&self, program: &Int8Program) -> &'static str {
        match self {
            Int8Op::Conv(o) if o.is_fully_connected(program) => "fc",
            Int8Op::Conv(o) if o.window.taps() == 1 => "pointwise",
            Int8Op::Conv(_) => "conv",
            Int8Op::DepthwiseConv(_) => "depthwise",
            Int8Op::Add(_) => "add",
            Int8Op::AvgPool(o) if o.is_global(program) => "global_avg_pool",
            Int8Op::AvgPool(_) => "avg_pool",
            Int8Op::MaxPool(_) => "max_pool",
            Int8Op::Requantize(_) => "requantize",
        }
    }

    /// The tensors the op reads, in order.
    pub fn inputs(&self) -> Vec<TensorId> {
        match self {
            Int8Op::Conv(o) => vec![o.input],
            Int8Op::DepthwiseConv(o) => vec![o.input],
            Int8Op::Add(o) => vec![o.a, o.b],
            Int8Op::AvgPool(o) => vec![o.input],
            Int8Op::MaxPool(o) => vec![o.input],
            Int8Op::Requantize(o) => vec![o.input],
        }
    }

    pub fn output(&self) -> TensorId {
        match self {
            Int8Op::Conv(o) => o.output,
            Int8Op::DepthwiseConv(o) => o.output,
            Int8Op::Add(o) => o.output,
            Int8Op::AvgPool(o) => o.output,
            Int8Op::MaxPool(o) => o.output,
            Int8Op::Requantize(o) => o.output,
        }
    }

    /// Multiply-accumulates of one inference.
    pub fn macs(&self, program: &Int8Program) -> u64 {
        let out = program.tensor(self.output()).shape;
        let pixels = (out.h * out.w) as u64;
        match self {
            Int8Op::Conv(o) => pixels * out.c as u64 * (o.window.taps() * o.in_channels) as u64,
            Int8Op::DepthwiseConv(o) => pixels * out.c as u64 * o.window.taps() as u64,
            _ => 0,
        }
    }

    /// Bytes of constants (weights, biases, multipliers, shifts) the op keeps in flash.
    pub fn constant_bytes(&self) -> usize {
        match self {
            Int8Op::Conv(o) => o.weights.len() + 12 * o.bias.len(),
            Int8Op::DepthwiseConv(o) => o.weights.len() + 12 * o.bias.len(),
            Int8Op::AvgPool(o) => 8 * o.count_multipliers.len(),
            _ => 0,
        }
    }
}

/// An integer-only model: tensors and ops in execution order, from one int8 input to one
/// int8 output. Built by the compiler's `mcu::import_qdq`; checked by [`Int8Program::check`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Int8Program {
    pub tensors: Vec<Int8Tensor>,
    pub ops: Vec<Int8Op>,
    pub input: TensorId,
    pub output: TensorId,
}

/// The first bytes of a program file: a name and the format version.
pub const PROGRAM_FILE_MAGIC: &[u8; 14] = b"EDGENAS-INT8\x00\x01";

impl Int8Program {
    /// The program as a file a device runner loads ([`Int8Program::from_bytes`]):
    /// [`PROGRAM_FILE_MAGIC`], then the program in postcard's encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = PROGRAM_FILE_MAGIC.to_vec();
        bytes.extend(postcard::to_allocvec(self).unwrap_or_default());
        bytes
    }

    /// Reads a program file and checks the program ([`Int8Program::check`]). Fails with
    /// [`ProgramError::Malformed`] naming the problem: another file, another version, a
    /// truncated or damaged encoding, a program that does not check.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProgramError> {
        let bad = |what: String| ProgramError::Malformed(what);
        let body = bytes
            .strip_prefix(&PROGRAM_FILE_MAGIC[..12])
            .ok_or_else(|| bad("not an edgenas int8 program file".into()))?;
        let body = body
            .strip_prefix(&PROGRAM_FILE_MAGIC[12..])
            .ok_or_else(|| bad(format!("program file version {:?}, this build reads version 1", body.get(..2))))?;
        let program: Int8Program =
            postcard::from_bytes(body).map_err(|e| bad(format!("damaged or truncated program file: {e}")))?;
        program.check()?;
        Ok(program)
    }

    pub fn tensor(&self, id: TensorId) -> &Int8Tensor {
        &self.tensors[id.0]
    }

    pub fn input_tensor(&self) -> &Int8Tensor {
        self.tensor(self.input)
    }

    pub fn output_tensor(&self) -> &Int8Tensor {
        self.tensor(self.output)
    }

    pub fn macs(&self) -> u64 {
        self.ops.iter().map(|o| o.macs(self)).sum()
    }

    /// Bytes of every op's constants (the model's share of flash, code excluded).
    pub fn constant_bytes(&self) -> usize {
        self.ops.iter().map(Int8Op::constant_bytes).sum()
    }

    /// The op writing `t`, if any (the input has none).
    pub fn producer(&self, t: TensorId) -> Option<usize> {
        self.ops.iter().position(|o| o.output() == t)
    }

    /// Checks what the interpreter and the code generator rely on: every op reads tensors
    /// written earlier (or the input), every tensor but the input is written once, shapes
    /// and constant lengths agree with each op's parameters, and the output is written.
    pub fn check(&self) -> Result<(), ProgramError> {
        let n = self.tensors.len();
        let bad = |what: String| ProgramError::Malformed(what);
        if self.input.0 >= n || self.output.0 >= n {
            return Err(bad("input or output tensor out of range".into()));
        }
        let mut written = vec![false; n];
        written[self.input.0] = true;
        for op in &self.ops {
            for t in op.inputs() {
                if t.0 >= n || !written[t.0] {
                    return Err(bad(format!("op `{}` reads a tensor not written before it", op.name())));
                }
            }
            let out = op.output();
            if out.0 >= n || written[out.0] {
                return Err(bad(format!("op `{}` writes a tensor written before", op.name())));
            }
            written[out.0] = true;
            let shapes: Vec<Hwc> = op.inputs().iter().map(|&t| self.tensor(t).shape).collect();
            let expected = match op {
                Int8Op::Conv(o) => o.output_shape(shapes[0]),
                Int8Op::DepthwiseConv(o) => o.output_shape(shapes[0]),
                Int8Op::Add(_) => (shapes[0] == shapes[1]).then_some(shapes[0]),
                Int8Op::AvgPool(o) => o.output_shape(shapes[0]),
                Int8Op::MaxPool(o) => o.output_shape(shapes[0]),
                Int8Op::Requantize(_) => Some(shapes[0]),
            };
            if let Some(m) = multipliers(op).iter().find(|m| !m.is_valid()) {
                return Err(bad(format!("op `{}`: {m:?} is not a Q31 multiplier", op.name())));
            }
            if let Some(bound) = accumulator_bound(op).filter(|&b| b > i64::from(i32::MAX)) {
                return Err(bad(format!(
                    "op `{}`: its int32 accumulator could reach {bound} (bias plus 255 times the weights' \
                     absolute sum), beyond int32",
                    op.name()
                )));
            }
            if expected != Some(self.tensor(out).shape) {
                return Err(bad(format!(
                    "op `{}`: output shape {:?}, its inputs {:?} give {:?}",
                    op.name(),
                    self.tensor(out).shape,
                    shapes,
                    expected
                )));
            }
        }
        if !written[self.output.0] {
            return Err(bad("the output tensor is never written".into()));
        }
        Ok(())
    }
}

/// Every requantization multiplier of `op`.
fn multipliers(op: &Int8Op) -> Vec<QuantizedMultiplier> {
    match op {
        Int8Op::Conv(o) => o.requant.clone(),
        Int8Op::DepthwiseConv(o) => o.requant.clone(),
        Int8Op::Add(o) => vec![o.a_requant, o.b_requant, o.output_requant],
        Int8Op::AvgPool(o) => o.count_multipliers.clone(),
        Int8Op::MaxPool(o) => vec![o.requant],
        Int8Op::Requantize(o) => vec![o.requant],
    }
}

/// The largest magnitude an op's int32 accumulator can reach for any input (every
/// `|x + input_offset|` is at most 255): `None` for ops without one.
fn accumulator_bound(op: &Int8Op) -> Option<i64> {
    let per_filter = |weights: &[i8], bias: &[i32], k: usize| {
        let k = k.max(1);
        weights
            .chunks(k)
            .zip(bias)
            .map(|(f, &b)| i64::from(b).abs() + 255 * f.iter().map(|&w| i64::from(w).abs()).sum::<i64>())
            .max()
            .unwrap_or(0)
    };
    match op {
        Int8Op::Conv(o) => Some(per_filter(&o.weights, &o.bias, o.window.taps() * o.in_channels)),
        Int8Op::DepthwiseConv(o) => {
            let taps = o.window.taps();
            let c = o.channels.max(1);
            let planar: Vec<i8> = (0..c)
                .flat_map(|ch| (0..taps).map(move |t| (t, ch)))
                .map(|(t, ch)| o.weights.get(t * c + ch).copied().unwrap_or(0))
                .collect();
            Some(per_filter(&planar, &o.bias, taps))
        }
        Int8Op::AvgPool(o) => Some(255 * o.window.taps() as i64),
        _ => None,
    }
}
