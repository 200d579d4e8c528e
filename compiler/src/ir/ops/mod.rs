//! Op vocabulary of the IR, one file per op family. Each op states its arity, output
//! type, MACs and parameters; lowering to ONNX lives in [`crate::onnx`], one file per
//! family as well.

mod activation;
mod binary;
mod conv;
mod edge;
mod linear;
mod norm;
mod pool;
mod shape;
mod source;

pub use activation::Activation;
pub use binary::Add;
pub use conv::Conv;
pub use edge::{Identity, Zero};
pub use linear::Linear;
pub use norm::BatchNorm;
pub use pool::{GlobalAvgPool, Pool, PoolKind};
pub use shape::Flatten;
pub use source::{Input, ZeroConst};

use super::{DType, TensorType};

/// What every op family tells the graph and the cost model.
pub trait OpDef {
    /// ONNX-like name used in messages and reports.
    fn name(&self) -> &'static str;
    /// Number of input tensors.
    fn arity(&self) -> usize;
    /// Output type from input types; `Err(reason)` on any mismatch.
    fn output_type(&self, inputs: &[&TensorType]) -> Result<TensorType, String>;
    /// Multiply-accumulates of one inference (only Conv and Linear count, as in the papers).
    fn macs(&self, _inputs: &[&TensorType], _output: &TensorType) -> u64 {
        0
    }
    /// Shapes of the parameter tensors this op carries once weights are initialized.
    fn param_shapes(&self) -> Vec<Vec<usize>> {
        Vec::new()
    }
    /// Trainable parameters as a training framework counts them (BN: scale and shift).
    fn trainable_params(&self) -> u64 {
        0
    }
    /// Bytes of the deployed weights when stored at `dtype` (biases per [`DType::bias_size`]).
    fn weight_bytes(&self, _dtype: DType) -> u64 {
        0
    }
}

/// An IR operation. See each family's file for its contract.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Input(Input),
    Conv(Conv),
    BatchNorm(BatchNorm),
    Activation(Activation),
    Add(Add),
    Pool(Pool),
    GlobalAvgPool(GlobalAvgPool),
    Flatten(Flatten),
    Linear(Linear),
    Zero(Zero),
    Identity(Identity),
    ZeroConst(ZeroConst),
}

impl Op {
    pub fn def(&self) -> &dyn OpDef {
        match self {
            Op::Input(op) => op,
            Op::Conv(op) => op,
            Op::BatchNorm(op) => op,
            Op::Activation(op) => op,
            Op::Add(op) => op,
            Op::Pool(op) => op,
            Op::GlobalAvgPool(op) => op,
            Op::Flatten(op) => op,
            Op::Linear(op) => op,
            Op::Zero(op) => op,
            Op::Identity(op) => op,
            Op::ZeroConst(op) => op,
        }
    }

    pub fn name(&self) -> &'static str {
        self.def().name()
    }

    /// True for ops whose output is all zeros whatever their input.
    pub fn is_zero(&self) -> bool {
        matches!(self, Op::Zero(_) | Op::ZeroConst(_))
    }
}

/// The product of `dims` as u64, saturating: for MAC, parameter and byte counts, which
/// cannot overflow on a validated graph.
pub(crate) fn saturating_product(dims: &[usize]) -> u64 {
    dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d as u64))
}

pub(crate) fn expect_rank(t: &TensorType, rank: usize, what: &str) -> Result<(), String> {
    if t.shape.len() == rank {
        Ok(())
    } else {
        Err(format!("{what} expects a rank-{rank} input, got shape {:?}", t.shape))
    }
}

pub(crate) fn spatial_out(size: usize, kernel: usize, stride: usize, pad: usize) -> Result<usize, String> {
    if stride == 0 || kernel == 0 {
        return Err("kernel and stride must be positive".into());
    }
    let padded =
        pad.checked_mul(2).and_then(|p| p.checked_add(size)).ok_or_else(|| format!("padding {pad} is too large"))?;
    if padded < kernel {
        return Err(format!("kernel {kernel} larger than padded input {padded}"));
    }
    Ok((padded - kernel) / stride + 1)
}
