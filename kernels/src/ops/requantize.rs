//! Element-wise rescale with a clamp: ReLU, ReLU6 and Clip (the clamp bounds), and any
//! change of quantization between two tensors of one shape.

use crate::program::TensorId;
use crate::requant::{clamp_i8, QuantizedMultiplier};

/// `y = clamp(requant(x + input_offset) + output_offset, act_min, act_max)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Int8Requantize {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub requant: QuantizedMultiplier,
    pub input_offset: i32,
    pub output_offset: i32,
    pub act_min: i8,
    pub act_max: i8,
}

impl Int8Requantize {
    pub fn value(&self, x: i8) -> i8 {
        clamp_i8(self.requant.apply(i32::from(x) + self.input_offset) + self.output_offset, self.act_min, self.act_max)
    }

    pub fn eval(&self, x: &[i8], y: &mut [i8]) {
        for (y, &x) in y.iter_mut().zip(x) {
            *y = self.value(x);
        }
    }
}
