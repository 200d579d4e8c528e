use super::{expect_rank, saturating_product, OpDef};
use crate::ir::{DType, TensorType};

/// Fully connected layer `y = x W^T + b` on `[n, in]` inputs, lowered to ONNX Gemm
/// (`transB = 1`), or MatMul when there is no bias. Parameters: weight `[out, in]`, then
/// bias `[out]` if `bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct Linear {
    pub in_features: usize,
    pub out_features: usize,
    pub bias: bool,
}

impl OpDef for Linear {
    fn name(&self) -> &'static str {
        if self.bias {
            "Gemm"
        } else {
            "MatMul"
        }
    }
    fn arity(&self) -> usize {
        1
    }
    fn output_type(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        let x = inputs[0];
        expect_rank(x, 2, self.name())?;
        if x.shape[1] != self.in_features {
            return Err(format!("{} expects {} features, got {}", self.name(), self.in_features, x.shape[1]));
        }
        Ok(TensorType { shape: vec![x.shape[0], self.out_features], dtype: x.dtype })
    }
    fn macs(&self, inputs: &[&TensorType], _output: &TensorType) -> u64 {
        saturating_product(&[inputs[0].shape[0], self.in_features, self.out_features])
    }
    fn param_shapes(&self) -> Vec<Vec<usize>> {
        let mut shapes = vec![vec![self.out_features, self.in_features]];
        if self.bias {
            shapes.push(vec![self.out_features]);
        }
        shapes
    }
    fn trainable_params(&self) -> u64 {
        saturating_product(&[self.in_features, self.out_features]).saturating_add(if self.bias {
            self.out_features as u64
        } else {
            0
        })
    }
    fn weight_bytes(&self, dtype: DType) -> u64 {
        let bias = if self.bias { saturating_product(&[self.out_features, dtype.bias_size()]) } else { 0 };
        saturating_product(&[self.in_features, self.out_features, dtype.size()]).saturating_add(bias)
    }
}
