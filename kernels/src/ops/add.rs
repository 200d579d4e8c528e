//! Element-wise addition of two int8 tensors of one shape, each rescaled to a common
//! scale first (TFLite's quantized add): `a' = requant_a((a + a_offset) << LEFT_SHIFT)`,
//! the same for `b`, then `y = clamp(requant_out(a' + b') + output_offset)`.

use crate::program::TensorId;
use crate::requant::{clamp_i8, QuantizedMultiplier};

/// Bits the inputs are shifted left by before rescaling: room for the rescale's rounding.
pub const ADD_LEFT_SHIFT: i32 = 20;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Int8Add {
    pub name: String,
    pub a: TensorId,
    pub b: TensorId,
    pub output: TensorId,
    pub a_offset: i32,
    pub b_offset: i32,
    pub a_requant: QuantizedMultiplier,
    pub b_requant: QuantizedMultiplier,
    pub output_requant: QuantizedMultiplier,
    pub output_offset: i32,
    pub act_min: i8,
    pub act_max: i8,
}

impl Int8Add {
    /// The three multipliers for input scales `sa`, `sb` and output scale `sy`: both inputs
    /// go to `2 · max(sa, sb)` (multipliers ≤ 1/2), the sum to `sy`.
    pub fn multipliers(sa: f64, sb: f64, sy: f64) -> Option<[QuantizedMultiplier; 3]> {
        let twice_max = 2.0 * sa.max(sb);
        Some([
            QuantizedMultiplier::from_real(sa / twice_max)?,
            QuantizedMultiplier::from_real(sb / twice_max)?,
            QuantizedMultiplier::from_real(twice_max / (f64::from(1 << ADD_LEFT_SHIFT) * sy))?,
        ])
    }

    /// Both inputs rescaled to the common scale (before they are summed).
    pub fn rescaled(&self, a: i8, b: i8) -> (i32, i32) {
        (
            self.a_requant.apply((i32::from(a) + self.a_offset) << ADD_LEFT_SHIFT),
            self.b_requant.apply((i32::from(b) + self.b_offset) << ADD_LEFT_SHIFT),
        )
    }

    pub fn value(&self, a: i8, b: i8) -> i8 {
        let (a, b) = self.rescaled(a, b);
        clamp_i8(self.output_requant.apply(a + b) + self.output_offset, self.act_min, self.act_max)
    }

    pub fn eval(&self, a: &[i8], b: &[i8], y: &mut [i8]) {
        for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
            *y = self.value(a, b);
        }
    }
}
