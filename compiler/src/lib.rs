//! Model side of edgenas: the graph IR, cost analysis, search spaces, lowering and
//! ONNX emission/import.
//!
//! Data flow: [`space`] samples a [`space::Genome`] → [`space::build`] turns it into an
//! [`ir::Graph`] → [`cost::CostReport`] analyses it → [`lower::lower`] initializes weights
//! and applies the deploy rewrites → [`onnx::emit`] writes an ONNX `ModelProto`.
//!
//! Architecture invariant: this crate never spawns processes, never touches the network
//! and never runs a model; it is pure data transformation. It is an API boundary: errors
//! are `thiserror` types ([`ir::IrError`], [`space::SpaceError`], [`onnx::OnnxError`]).

pub mod cost;
pub mod ir;
pub mod lower;
pub mod mcu;
pub mod names;
pub mod onnx;
pub mod quantize;
pub mod rng;
pub mod space;
