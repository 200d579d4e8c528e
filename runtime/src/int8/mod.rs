//! int8 programs (`edgenas_kernels::Int8Program`) run inside tract as ops of the project's
//! own: every integer op of the program becomes one tract node (`EdgenasInt8Conv`,
//! `EdgenasInt8Depthwise`, `EdgenasInt8Add`, `EdgenasInt8AvgPool`, `EdgenasInt8MaxPool`,
//! `EdgenasInt8Requantize`), between an `EdgenasQuantize` of the f32 input and an
//! `EdgenasDequantize` of the output. tract plans, schedules and frees the tensors; the
//! kernels are `edgenas_kernels::fast` (conv, depthwise, add, requantize) and the
//! reference semantics (pools), so the plan computes exactly
//! `edgenas_kernels::run_reference`.
//!
//! Requantization, bias, ReLU/ReLU6 clamps and the input zero point live inside each op:
//! the plan has no quantize or dequantize pass but at its two ends.

mod boundary;
mod conv;
mod elementwise;
mod pool;
mod scratch;

use std::time::Instant;

use edgenas_kernels::fast::Isa;
use edgenas_kernels::{Hwc, Int8Op, Int8Program};
use tract_nnef::tract_core::internal::*;

pub use boundary::{EdgenasDequantize, EdgenasQuantize};
pub use conv::{EdgenasInt8Conv, EdgenasInt8Depthwise};
pub use elementwise::{EdgenasInt8Add, EdgenasInt8Requantize};
pub use pool::{EdgenasInt8AvgPool, EdgenasInt8MaxPool};

use crate::model::{guarded, tract};
use crate::{CompiledModel, RuntimeError};

/// The names of the ops [`CompiledModel::from_int8_program`] puts in a plan.
pub const INT8_OP_NAMES: [&str; 8] = [
    "EdgenasQuantize",
    "EdgenasInt8Conv",
    "EdgenasInt8Depthwise",
    "EdgenasInt8Add",
    "EdgenasInt8AvgPool",
    "EdgenasInt8MaxPool",
    "EdgenasInt8Requantize",
    "EdgenasDequantize",
];

impl CompiledModel {
    /// Plans `program` (checked with `Int8Program::check` first) as a tract model of the
    /// project's int8 ops, with kernels for the best instruction set of this CPU. The input
    /// is f32 NCHW (batch 1) as in the ONNX model the program came from, quantized by the
    /// model's first node; the output is dequantized to f32, `[1, C]` for a 1×1 map and
    /// NCHW otherwise. `label` names the model in errors.
    pub fn from_int8_program(program: &Int8Program, label: &str) -> Result<Self, RuntimeError> {
        Self::from_int8_program_for(program, label, Isa::detect())
    }

    /// Loads an int8 program file (`Int8Program::to_bytes`) and plans it as
    /// [`CompiledModel::from_int8_program`] does; a file that is not one, or is damaged,
    /// is [`RuntimeError::Load`] naming `label` and the problem.
    pub fn from_int8_bytes(bytes: &[u8], label: &str) -> Result<Self, RuntimeError> {
        let program = Int8Program::from_bytes(bytes)
            .map_err(|e| RuntimeError::Load { path: label.to_string(), reason: e.to_string() })?;
        Self::from_int8_program(&program, label)
    }

    /// [`CompiledModel::from_int8_program`] with the kernels of `isa` (the baseline when
    /// this CPU lacks it).
    pub fn from_int8_program_for(program: &Int8Program, label: &str, isa: Isa) -> Result<Self, RuntimeError> {
        guarded(label, || {
            let start = Instant::now();
            program.check().map_err(|e| e.to_string())?;
            let model = int8_model(program, isa)?;
            let parse = start.elapsed();
            Self::from_typed(model, parse, std::time::Duration::ZERO)
        })
    }
}

/// What one op of an int8 plan computes; [`int8_tract_op!`] adds tract's `Op`, `EvalOp` and
/// `TypedOp` around it.
pub(crate) trait Int8Kernel {
    /// The op's name in the plan.
    const NAME: &'static str;
    /// The output's fact (int8 HWC, or f32 for the dequantization).
    fn output_fact(&self) -> TypedFact;
    /// Multiply-accumulates of one evaluation.
    fn macs(&self) -> u64 {
        0
    }
    fn compute(&self, inputs: &[TValue]) -> TractResult<Tensor>;
}

/// tract's op traits for a type implementing [`Int8Kernel`].
macro_rules! int8_tract_op {
    ($op:ty) => {
        impl Op for $op {
            fn name(&self) -> StaticName {
                <$op as $crate::int8::Int8Kernel>::NAME.into()
            }
            op_as_typed_op!();
        }

        impl EvalOp for $op {
            op_out_of_plan!();

            fn eval(&self, _: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
                Ok(tvec!($crate::int8::Int8Kernel::compute(self, &inputs)?.into_tvalue()))
            }
        }

        impl TypedOp for $op {
            fn output_facts(&self, _: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
                Ok(tvec!($crate::int8::Int8Kernel::output_fact(self)))
            }

            fn cost(&self, _: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
                let macs = $crate::int8::Int8Kernel::macs(self);
                Ok(if macs == 0 { tvec!() } else { tvec!((Cost::FMA(DatumType::I8), (macs as i64).into())) })
            }

            as_op!();
        }
    };
}
pub(crate) use int8_tract_op;

/// The int8 HWC fact of a map.
pub(crate) fn hwc_fact(s: Hwc) -> TypedFact {
    TypedFact::dt_shape(DatumType::I8, [s.h, s.w, s.c])
}

/// The int8 values of an input.
pub(crate) fn int8s(value: &TValue) -> TractResult<&[i8]> {
    value.try_as_plain_ram()?.as_slice::<i8>()
}

/// A new int8 map of shape `s` filled by `fill`.
pub(crate) fn int8_map(s: Hwc, fill: impl FnOnce(&mut [i8])) -> TractResult<Tensor> {
    let mut y = Tensor::zero::<i8>(&[s.h, s.w, s.c])?;
    fill(y.try_as_plain_ram_mut()?.as_slice_mut::<i8>()?);
    Ok(y)
}

/// The tract model of `program`: one node per op, named as the op (the ONNX node it came
/// from).
fn int8_model(program: &Int8Program, isa: Isa) -> Result<TypedModel, String> {
    let mut model = TypedModel::default();
    let input = program.input_tensor();
    let s = input.shape;
    let source = model
        .add_source("input", TypedFact::dt_shape(DatumType::F32, [1, s.c, s.h, s.w]))
        .map_err(tract("adding the input"))?;
    let mut outlets = vec![None; program.tensors.len()];
    let quantized = model
        .wire_node(format!("{}.quantize", input.name), EdgenasQuantize::new(input.quant, s), &[source])
        .map_err(tract("wiring the input quantization"))?;
    outlets[program.input.0] = Some(quantized[0]);
    for op in &program.ops {
        let inputs = op
            .inputs()
            .iter()
            .map(|t| outlets[t.0].ok_or_else(|| format!("op `{}` reads a tensor not computed yet", op.name())))
            .collect::<Result<Vec<_>, _>>()?;
        let shape = |t: edgenas_kernels::TensorId| program.tensor(t).shape;
        let out = shape(op.output());
        let x = shape(op.inputs()[0]);
        let fast = |what: &str| format!("op `{}`: {what} zero point outside int8", op.name());
        let wired = match op {
            Int8Op::Conv(o) => {
                model.wire_node(&o.name, EdgenasInt8Conv::new(o, x, out, isa).ok_or_else(|| fast("input"))?, &inputs)
            }
            Int8Op::DepthwiseConv(o) => model.wire_node(
                &o.name,
                EdgenasInt8Depthwise::new(o, x, out, isa).ok_or_else(|| fast("input"))?,
                &inputs,
            ),
            Int8Op::Add(o) => model.wire_node(&o.name, EdgenasInt8Add::new(o, out), &inputs),
            Int8Op::AvgPool(o) => model.wire_node(&o.name, EdgenasInt8AvgPool::new(o, x, out), &inputs),
            Int8Op::MaxPool(o) => model.wire_node(&o.name, EdgenasInt8MaxPool::new(o, x, out), &inputs),
            Int8Op::Requantize(o) => model.wire_node(&o.name, EdgenasInt8Requantize::new(o, out), &inputs),
        }
        .map_err(|e| format!("wiring op `{}`: {e:#}", op.name()))?;
        outlets[op.output().0] = Some(wired[0]);
    }
    let output = program.output_tensor();
    let last = outlets[program.output.0].ok_or("the output is never computed")?;
    let dequantized = model
        .wire_node(format!("{}.dequantize", output.name), EdgenasDequantize::new(output.quant, output.shape), &[last])
        .map_err(tract("wiring the output dequantization"))?;
    model.select_output_outlets(&dequantized).map_err(tract("selecting the output"))?;
    Ok(model)
}
