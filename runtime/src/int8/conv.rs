//! Convolutions: regular (pointwise and fully connected included) and depthwise, on the
//! fast kernels of `edgenas_kernels::fast`.

use std::sync::Arc;

use edgenas_kernels::fast::{FastConv, FastDepthwise, Isa};
use edgenas_kernels::{Hwc, Int8Conv, Int8DepthwiseConv};
use tract_nnef::tract_core::internal::*;

use super::scratch::with_scratch;
use super::{hwc_fact, int8_map, int8_tract_op, int8s, Int8Kernel};

/// A regular int8 convolution: per-channel requantization, bias, input zero point and
/// activation clamp fused into its output loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgenasInt8Conv {
    kernel: Arc<FastConv>,
    input: Hwc,
    output: Hwc,
    macs: u64,
}

impl EdgenasInt8Conv {
    /// `None` when the input zero point is not an int8.
    pub fn new(conv: &Int8Conv, input: Hwc, output: Hwc, isa: Isa) -> Option<Self> {
        let macs = (output.len() * conv.window.taps() * conv.in_channels) as u64;
        Some(EdgenasInt8Conv { kernel: Arc::new(FastConv::new(conv, isa)?), input, output, macs })
    }
}

impl Int8Kernel for EdgenasInt8Conv {
    const NAME: &'static str = "EdgenasInt8Conv";

    fn output_fact(&self) -> TypedFact {
        hwc_fact(self.output)
    }

    fn macs(&self) -> u64 {
        self.macs
    }

    fn compute(&self, inputs: &[TValue]) -> TractResult<Tensor> {
        let x = int8s(&inputs[0])?;
        int8_map(self.output, |y| with_scratch(|s| self.kernel.run(x, self.input, y, self.output, &mut s.conv)))
    }
}

int8_tract_op!(EdgenasInt8Conv);

/// An int8 depthwise convolution, requantization fused as in [`EdgenasInt8Conv`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgenasInt8Depthwise {
    kernel: Arc<FastDepthwise>,
    input: Hwc,
    output: Hwc,
    macs: u64,
}

impl EdgenasInt8Depthwise {
    /// `None` when the input zero point is not an int8.
    pub fn new(conv: &Int8DepthwiseConv, input: Hwc, output: Hwc, isa: Isa) -> Option<Self> {
        let macs = (output.len() * conv.window.taps()) as u64;
        Some(EdgenasInt8Depthwise { kernel: Arc::new(FastDepthwise::new(conv, isa)?), input, output, macs })
    }
}

impl Int8Kernel for EdgenasInt8Depthwise {
    const NAME: &'static str = "EdgenasInt8Depthwise";

    fn output_fact(&self) -> TypedFact {
        hwc_fact(self.output)
    }

    fn macs(&self) -> u64 {
        self.macs
    }

    fn compute(&self, inputs: &[TValue]) -> TractResult<Tensor> {
        let x = int8s(&inputs[0])?;
        int8_map(self.output, |y| {
            with_scratch(|s| self.kernel.run(x, self.input, y, self.output, &mut s.padded, &mut s.acc))
        })
    }
}

int8_tract_op!(EdgenasInt8Depthwise);
