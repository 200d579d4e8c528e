//! Element-wise int8 ops: the residual add with rescale, and requantization (ReLU, ReLU6,
//! Clip, a change of scale), through the lookup tables of `edgenas_kernels::fast`.

use std::sync::Arc;

use edgenas_kernels::fast::{FastAdd, FastRequantize};
use edgenas_kernels::{Hwc, Int8Add, Int8Requantize};
use tract_nnef::tract_core::internal::*;

use super::{hwc_fact, int8_map, int8_tract_op, int8s, Int8Kernel};

/// `y = clamp(requant(a' + b') + offset)` with both inputs rescaled to a common scale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgenasInt8Add {
    add: Arc<FastAdd>,
    output: Hwc,
}

impl EdgenasInt8Add {
    pub fn new(add: &Int8Add, output: Hwc) -> Self {
        EdgenasInt8Add { add: Arc::new(FastAdd::new(add)), output }
    }
}

impl Int8Kernel for EdgenasInt8Add {
    const NAME: &'static str = "EdgenasInt8Add";

    fn output_fact(&self) -> TypedFact {
        hwc_fact(self.output)
    }

    fn compute(&self, inputs: &[TValue]) -> TractResult<Tensor> {
        let (a, b) = (int8s(&inputs[0])?, int8s(&inputs[1])?);
        int8_map(self.output, |y| self.add.run(a, b, y))
    }
}

int8_tract_op!(EdgenasInt8Add);

/// `y = clamp(requant(x + input_offset) + output_offset)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgenasInt8Requantize {
    op: Arc<FastRequantize>,
    output: Hwc,
}

impl EdgenasInt8Requantize {
    pub fn new(op: &Int8Requantize, output: Hwc) -> Self {
        EdgenasInt8Requantize { op: Arc::new(FastRequantize::new(op)), output }
    }
}

impl Int8Kernel for EdgenasInt8Requantize {
    const NAME: &'static str = "EdgenasInt8Requantize";

    fn output_fact(&self) -> TypedFact {
        hwc_fact(self.output)
    }

    fn compute(&self, inputs: &[TValue]) -> TractResult<Tensor> {
        let x = int8s(&inputs[0])?;
        int8_map(self.output, |y| self.op.run(x, y))
    }
}

int8_tract_op!(EdgenasInt8Requantize);
