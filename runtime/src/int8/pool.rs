//! int8 pooling: average (global included) on `edgenas_kernels::fast`, and max on its
//! reference semantics.

use std::sync::Arc;

use edgenas_kernels::fast::FastAvgPool;
use edgenas_kernels::{Hwc, Int8AvgPool, Int8MaxPool};
use tract_nnef::tract_core::internal::*;

use super::scratch::with_scratch;
use super::{hwc_fact, int8_map, int8_tract_op, int8s, Int8Kernel};

/// Average pooling with the rescale to the output's quantization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgenasInt8AvgPool {
    pool: Arc<FastAvgPool>,
    input: Hwc,
    output: Hwc,
}

impl EdgenasInt8AvgPool {
    pub fn new(pool: &Int8AvgPool, input: Hwc, output: Hwc) -> Self {
        EdgenasInt8AvgPool { pool: Arc::new(FastAvgPool::new(pool)), input, output }
    }
}

impl Int8Kernel for EdgenasInt8AvgPool {
    const NAME: &'static str = "EdgenasInt8AvgPool";

    fn output_fact(&self) -> TypedFact {
        hwc_fact(self.output)
    }

    fn compute(&self, inputs: &[TValue]) -> TractResult<Tensor> {
        let x = int8s(&inputs[0])?;
        int8_map(self.output, |y| with_scratch(|s| self.pool.run(x, self.input, y, self.output, &mut s.acc)))
    }
}

int8_tract_op!(EdgenasInt8AvgPool);

/// Max pooling with the rescale to the output's quantization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgenasInt8MaxPool {
    pool: Arc<Int8MaxPool>,
    input: Hwc,
    output: Hwc,
}

impl EdgenasInt8MaxPool {
    pub fn new(pool: &Int8MaxPool, input: Hwc, output: Hwc) -> Self {
        EdgenasInt8MaxPool { pool: Arc::new(pool.clone()), input, output }
    }
}

impl Int8Kernel for EdgenasInt8MaxPool {
    const NAME: &'static str = "EdgenasInt8MaxPool";

    fn output_fact(&self) -> TypedFact {
        hwc_fact(self.output)
    }

    fn compute(&self, inputs: &[TValue]) -> TractResult<Tensor> {
        let x = int8s(&inputs[0])?;
        int8_map(self.output, |y| self.pool.eval(x, self.input, y, self.output))
    }
}

int8_tract_op!(EdgenasInt8MaxPool);
