//! The microcontroller backend's model side: integer-only programs imported from QDQ
//! ONNX, the static memory plan and the generated C. The programs, their ops and their
//! reference semantics live in `edgenas-kernels` (re-exported here), shared with the
//! runtime's int8 ops.
//!
//! Data flow: [`import_qdq`] turns an integer-only QDQ model into an [`Int8Program`]
//! (int8 HWC activations, per-channel int8 weights, int32 biases, Q31 multipliers) →
//! [`run_reference`] runs it on the host → [`plan_memory`] places every activation in one
//! arena → [`generate_c`] writes `model.h`, `model.c` and the kernels.
//!
//! Invariant: the reference interpreter and the generated C compute the same function, bit
//! for bit, for every input (tests/mcu.rs checks it on the host, under
//! AddressSanitizer/UBSan, and under QEMU).

mod codegen;
mod import;
mod lower;
mod memory;
mod schedule;

use edgenas_kernels::{self as program, ops, ProgramError};

pub use codegen::{
    generate_c, GeneratedSources, KERNELS_HEADER, KERNELS_HEADER_FILE, MODEL_HEADER_FILE, MODEL_SOURCE_FILE,
};
pub use edgenas_kernels::{
    eval_op, run_reference, run_reference_traced, Hwc, Int8Add, Int8AvgPool, Int8Conv, Int8DepthwiseConv, Int8MaxPool,
    Int8Op, Int8Program, Int8Requantize, Int8Tensor, QuantParams, QuantizedMultiplier, TensorId, Window,
    ADD_LEFT_SHIFT,
};
pub use import::{import_qdq, import_qdq_bytes};
pub use lower::{McuModel, MemoryReport};
pub use memory::{plan_memory, verify_plan, MemoryPlan, PlanStrategy, ARENA_ALIGN};
pub use schedule::{schedule, Kernel, OpSchedule, Schedule};

use thiserror::Error;

/// Why a model cannot become, or run as, an integer program.
#[derive(Debug, Error)]
pub enum McuError {
    #[error(
        "the model is float (it has no QuantizeLinear): the microcontroller backend runs int8 models; \
         quantize it with `edgenas quantize --to int8 --integer-only` first"
    )]
    FloatModel,
    #[error(
        "tensor `{tensor}` is not quantized to int8: the microcontroller backend runs integer-only models \
         (`edgenas quantize --to int8 --integer-only` quantizes every activation)"
    )]
    NotQuantized { tensor: String },
    #[error("unsupported op `{op}` at node `{node}` for a microcontroller")]
    UnsupportedOp { op: String, node: String },
    #[error("node `{node}`: unsupported on a microcontroller: {reason}")]
    Unsupported { node: String, reason: String },
    #[error("malformed int8 model: {0}")]
    Malformed(String),
    #[error("input has {got} int8 values, the model takes {expected}")]
    InputSize { got: usize, expected: usize },
}

impl From<ProgramError> for McuError {
    fn from(e: ProgramError) -> Self {
        match e {
            ProgramError::Malformed(what) => McuError::Malformed(what),
            ProgramError::InputSize { got, expected } => McuError::InputSize { got, expected },
        }
    }
}
