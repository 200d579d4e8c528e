//! Device side of edgenas: load an ONNX model with tract, optimize it for one input shape, run
//! it on `.npy` tensors and measure its latency.

mod bench;
mod error;
mod model;
mod npy;

pub use bench::{benchmark, BenchConfig, LatencyStats, LatencyUnit};
pub use error::RuntimeError;
pub use model::{CompiledModel, LoadTimings, RunOptions, Runner};
pub use npy::{encode_npy_f32, parse_npy_f32, read_npy_f32, write_npy_f32, TensorF32};
