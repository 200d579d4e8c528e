//! The integer scheme of edgenas, shared by every engine that runs int8 programs.
//!
//! An [`Int8Program`] is an integer-only model: int8 activations in HWC layout with one
//! scale and zero point each, per-output-channel symmetric int8 weights, int32 biases and
//! requantization by a Q31 multiplier and shift ([`QuantizedMultiplier`]; TFLite's and
//! CMSIS-NN's scheme with single rounding). Each op of [`ops`] states its parameters and
//! its reference semantics (`eval`, plain scalar loops); [`run_reference`] interprets a
//! whole program. [`fast`] holds the optimized kernels that compute the same function.
//!
//! Who uses what: `edgenas-compiler` imports QDQ ONNX into programs and generates C for
//! microcontrollers from them (the C must equal the reference bit for bit);
//! `edgenas-runtime` runs programs inside tract as ops of its own, with the fast kernels
//! (which must equal the reference bit for bit too).
//!
//! Architecture invariant: pure integer arithmetic, no I/O, no dependency beyond serde,
//! postcard (the program file) and thiserror, so the device runner can link it. Not an API boundary for users: its
//! callers are the compiler and the runtime.

pub mod fast;
pub mod ops;
mod program;
mod reference;
mod requant;

pub use ops::{Int8Add, Int8AvgPool, Int8Conv, Int8DepthwiseConv, Int8MaxPool, Int8Requantize, ADD_LEFT_SHIFT};
pub use program::{Hwc, Int8Op, Int8Program, Int8Tensor, QuantParams, TensorId, Window, PROGRAM_FILE_MAGIC};
pub use reference::{eval_op, run_reference, run_reference_traced};
pub use requant::{clamp_i8, QuantizedMultiplier};

/// A program that breaks what the interpreters rely on, or an input of the wrong size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgramError {
    #[error("malformed int8 model: {0}")]
    Malformed(String),
    #[error("input has {got} int8 values, the model takes {expected}")]
    InputSize { got: usize, expected: usize },
}
