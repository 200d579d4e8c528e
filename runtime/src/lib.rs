//! Device side of edgenas: load a model with tract (ONNX, or NNEF as saved by
//! [`save_nnef`]), optimize it for one input shape, run it on `.npy` tensors and measure its
//! latency.
//!
//! Features: `onnx` (default) loads `.onnx` files and saves NNEF; without it the crate
//! loads NNEF only, as a device runner does. `nnef-onnx-ops` (implied by `onnx`) adds the
//! NNEF registry of ONNX-only operators.

mod bench;
mod error;
mod fs;
pub mod int8;
mod model;
mod nnef;
mod npy;
mod profile;
pub mod stats;

pub use bench::{benchmark, BenchConfig, LatencyStats, LatencyUnit};
pub use error::{error_chain, panic_message, RuntimeError};
pub use fs::{write_atomic, write_atomic_executable};
pub use model::{CompiledModel, LoadTimings, RunOptions, Runner, TensorFact};
#[cfg(feature = "onnx")]
pub use nnef::save_nnef;
pub use nnef::{nnef_registries, ONNX_OPS_REGISTRY};
pub use npy::{encode_npy_f32, parse_npy_f32, read_npy_f32, write_npy_f32, TensorF32};
pub use profile::{profile_host, ModelProfile, NodeCost, NodeObserver, PlanNode};
