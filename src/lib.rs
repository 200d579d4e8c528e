//! The `edgenas` CLI and the glue that runs one candidate through the pipeline:
//! genome → IR → cost → lowered graph → ONNX bytes → compiled model → latency.
//!
//! Architecture invariant: this crate orchestrates; it owns no model math (that is
//! `edgenas-compiler`), no inference (`edgenas-runtime`) and no device access
//! (`edgenas-targets`). Errors are `anyhow` with context on every step.

pub mod cli;
pub mod commands;
pub mod deploy;
pub mod pipeline;
pub mod quantization;
pub mod search;
