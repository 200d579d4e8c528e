//! One model to one artifact or one measurement: a genome emitted as ONNX
//! ([`pipeline`]), quantized with ranges measured in tract ([`quantization`]), bundled for
//! a target with its runner ([`bundle`]), measured on a target the way a search
//! measures its candidates ([`measure`]), or profiled layer by layer ([`profile`]).
//!
//! Architecture invariant: every operation here concerns one model; deciding which models
//! to try is `edgenas-search`'s. Processes are spawned only through `edgenas-targets`. It
//! is an API boundary: every error is a [`DeployError`]; nothing is printed, long steps
//! report through a `progress` callback ([`DeployProgress`]).

pub mod bundle;
pub mod engine;
mod error;
pub mod firmware;
pub mod measure;
pub mod pipeline;
pub mod profile;
pub mod quantization;

pub use bundle::{compile_bundle, Bundle, BundleRequest};
pub use engine::{compile_file_on_host, compile_on_host, int8_engine, Int8Engine};
pub use error::DeployError;
pub use firmware::{compile_firmware, FirmwareReport, FirmwareRequest, McuMeasurement, McuMeasurer};
pub use measure::{bench_model, BenchReport, DeviceMeasurer};
pub use pipeline::{emit_genome, BatchNormInit, EmittedModel};
pub use profile::{profile_model, LayerCost, ProfileReport, Profiler};
pub use quantization::{auto_format, quantize_for_target, quantize_model, QuantizeRequest, QuantizedModel};

use edgenas_targets::BuildProgress;

/// What a long step of this crate reports while it works.
#[derive(Debug, Clone)]
pub enum DeployProgress<'a> {
    /// A runner build is under way (the first build for a target takes minutes).
    Runner(&'a BuildProgress<'a>),
    /// A fact worth showing the user (why ONNX is shipped instead of NNEF, ...).
    Note(&'a str),
}
