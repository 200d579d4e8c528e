use super::{expect_rank, saturating_product, spatial_out, OpDef};
use crate::ir::{DType, TensorType};

/// 2-D convolution, NCHW, square kernel, symmetric zero padding. `groups == in_channels`
/// is depthwise. Parameters: weight `[out, in/groups, k, k]`, then bias `[out]` if `bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct Conv {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
    pub groups: usize,
    pub bias: bool,
}

impl Conv {
    /// A `k x k` convolution with "same" padding for odd `k`, no bias.
    pub fn new(in_channels: usize, out_channels: usize, kernel: usize, stride: usize) -> Self {
        Conv { in_channels, out_channels, kernel, stride, padding: kernel / 2, groups: 1, bias: false }
    }

    pub fn depthwise(channels: usize, kernel: usize, stride: usize) -> Self {
        Conv { groups: channels, ..Conv::new(channels, channels, kernel, stride) }
    }

    /// Weight elements, saturating (a graph whose weights overflow fails
    /// [`crate::ir::Graph::infer_types`]).
    fn weight_numel(&self) -> u64 {
        saturating_product(&[self.out_channels, self.in_channels / self.groups.max(1), self.kernel, self.kernel])
    }
}

impl OpDef for Conv {
    fn name(&self) -> &'static str {
        "Conv"
    }
    fn arity(&self) -> usize {
        1
    }
    fn output_type(&self, inputs: &[&TensorType]) -> Result<TensorType, String> {
        let x = inputs[0];
        expect_rank(x, 4, "Conv")?;
        if self.groups == 0
            || !self.in_channels.is_multiple_of(self.groups)
            || !self.out_channels.is_multiple_of(self.groups)
        {
            return Err(format!(
                "groups {} must divide in_channels {} and out_channels {}",
                self.groups, self.in_channels, self.out_channels
            ));
        }
        if x.shape[1] != self.in_channels {
            return Err(format!("Conv expects {} input channels, got {}", self.in_channels, x.shape[1]));
        }
        let h = spatial_out(x.shape[2], self.kernel, self.stride, self.padding)?;
        let w = spatial_out(x.shape[3], self.kernel, self.stride, self.padding)?;
        Ok(TensorType { shape: vec![x.shape[0], self.out_channels, h, w], dtype: x.dtype })
    }
    fn macs(&self, _inputs: &[&TensorType], output: &TensorType) -> u64 {
        saturating_product(&[output.numel(), self.in_channels / self.groups.max(1), self.kernel, self.kernel])
    }
    fn param_shapes(&self) -> Vec<Vec<usize>> {
        let mut shapes = vec![vec![self.out_channels, self.in_channels / self.groups.max(1), self.kernel, self.kernel]];
        if self.bias {
            shapes.push(vec![self.out_channels]);
        }
        shapes
    }
    fn trainable_params(&self) -> u64 {
        self.weight_numel().saturating_add(if self.bias { self.out_channels as u64 } else { 0 })
    }
    fn weight_bytes(&self, dtype: DType) -> u64 {
        let bias = if self.bias { (self.out_channels as u64).saturating_mul(dtype.bias_size() as u64) } else { 0 };
        self.weight_numel().saturating_mul(dtype.size() as u64).saturating_add(bias)
    }
}
