use super::{expect_rank, spatial_out, OpDef};
use crate::ir::TensorType;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolKind {
    /// Average pooling; `count_include_pad == false` divides by the number of real pixels
    /// under the window (NAS-Bench-201's avg_pool_3x3).
    Avg {
        count_include_pad: bool,
    },
    Max,
}

/// Square-window spatial pooling with symmetric padding.
#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl OpDef for Pool {
    fn name(&self) -> &'static str {
        match self.kind {
            PoolKind::Avg { .. } => "AveragePool",
            PoolKind::Max => "MaxPool",
        }
    }
    fn arity(&self) -> usize {
        1
    }
    fn output_type(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        let x = inputs[0];
        expect_rank(x, 4, self.name())?;
        if self.padding > self.kernel / 2 {
            return Err(format!("padding {} too large for kernel {}", self.padding, self.kernel));
        }
        let h = spatial_out(x.shape[2], self.kernel, self.stride, self.padding)?;
        let w = spatial_out(x.shape[3], self.kernel, self.stride, self.padding)?;
        Ok(TensorType { shape: vec![x.shape[0], x.shape[1], h, w], dtype: x.dtype })
    }
}

/// Mean over the spatial axes, keeping them as size 1: `[n, c, h, w] -> [n, c, 1, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GlobalAvgPool;

impl OpDef for GlobalAvgPool {
    fn name(&self) -> &'static str {
        "GlobalAveragePool"
    }
    fn arity(&self) -> usize {
        1
    }
    fn output_type(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        let x = inputs[0];
        expect_rank(x, 4, "GlobalAveragePool")?;
        Ok(TensorType { shape: vec![x.shape[0], x.shape[1], 1, 1], dtype: x.dtype })
    }
}
