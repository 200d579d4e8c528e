use super::{expect_rank, saturating_product, OpDef};
use crate::ir::{DType, TensorType};

/// Inference-mode batch normalization over channel axis 1. Parameters: scale, shift,
/// running mean, running variance, each `[channels]`. Folded into a preceding Conv when
/// lowering; a BatchNorm that follows no Conv is deployed as a per-channel scale and shift.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm {
    pub channels: usize,
    pub epsilon: f32,
}

impl BatchNorm {
    pub fn new(channels: usize) -> Self {
        BatchNorm { channels, epsilon: 1e-5 }
    }
}

impl OpDef for BatchNorm {
    fn name(&self) -> &'static str {
        "BatchNormalization"
    }
    fn arity(&self) -> usize {
        1
    }
    fn output_type(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        let x = inputs[0];
        expect_rank(x, 4, "BatchNormalization")?;
        if x.shape[1] != self.channels {
            return Err(format!("BatchNormalization over {} channels got {}", self.channels, x.shape[1]));
        }
        Ok(x.clone())
    }
    fn param_shapes(&self) -> Vec<Vec<usize>> {
        vec![vec![self.channels]; 4]
    }
    fn trainable_params(&self) -> u64 {
        saturating_product(&[2, self.channels])
    }
    fn weight_bytes(&self, dtype: DType) -> u64 {
        saturating_product(&[2, self.channels, dtype.bias_size()])
    }
}
