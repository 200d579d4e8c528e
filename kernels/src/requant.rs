//! Integer requantization: a real multiplier `m > 0` held as a Q31 mantissa and a power of
//! two (the constants TFLite Micro and CMSIS-NN use), applied with one rounding: the 64-bit
//! product `x · multiplier` plus half, shifted right by `31 − shift` (to nearest, ties up;
//! TFLite's and CMSIS-NN's single-rounding mode).
//!
//! TFLite Micro's default rounds twice (a rounding doubling high multiply, then a rounding shift); against
//! onnxruntime's float `QuantizeLinear` that double rounding puts 14% of average-pool and
//! 19% of global-average-pool outputs one step off (their shifts are small, so the first
//! rounding often decides the second), and the differences compound end to end. One
//! rounding costs the same on a Cortex-M (SMULL, a 64-bit add, a shift).
//! The generated C (`mcu/c/edgenas_kernels.h`, `edgenas_requantize`) computes exactly the
//! same function; the two are checked against each other bit for bit.

/// `m ≈ multiplier · 2^(shift − 31)` with `multiplier` in `[2^30, 2^31)` (or 0 for `m = 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct QuantizedMultiplier {
    pub multiplier: i32,
    /// Left shift (positive) or right shift (negative) applied around the multiply.
    pub shift: i32,
}

/// Largest right shift kept; smaller multipliers are 0 (their products round to 0 anyway).
const MIN_SHIFT: i32 = -31;
/// Largest left shift: a multiplier of 2^30 or more is not a requantization.
const MAX_SHIFT: i32 = 30;

impl QuantizedMultiplier {
    pub const ZERO: QuantizedMultiplier = QuantizedMultiplier { multiplier: 0, shift: 0 };

    /// The multiplier for a real `m`; `None` when `m` is negative, not finite, or 2^30 or
    /// more. Multipliers below 2^-32 become [`QuantizedMultiplier::ZERO`].
    pub fn from_real(m: f64) -> Option<Self> {
        if !m.is_finite() || m < 0.0 {
            return None;
        }
        if m == 0.0 {
            return Some(Self::ZERO);
        }
        let mut shift = m.log2().floor() as i32 + 1;
        let mut mantissa = (m / 2f64.powi(shift) * 2f64.powi(31)).round() as i64;
        if mantissa < 1 << 30 {
            mantissa *= 2;
            shift -= 1;
        }
        if mantissa == 1 << 31 {
            mantissa /= 2;
            shift += 1;
        }
        if shift < MIN_SHIFT {
            return Some(Self::ZERO);
        }
        if shift > MAX_SHIFT {
            return None;
        }
        Some(QuantizedMultiplier { multiplier: mantissa as i32, shift })
    }

    /// Whether this is a multiplier [`QuantizedMultiplier::from_real`] can make (what
    /// [`QuantizedMultiplier::apply`] relies on: its shifts stay in range).
    pub fn is_valid(&self) -> bool {
        *self == Self::ZERO
            || ((1 << 30..=i32::MAX).contains(&self.multiplier) && (MIN_SHIFT..=MAX_SHIFT).contains(&self.shift))
    }

    /// The real value this multiplier stands for.
    pub fn real(&self) -> f64 {
        f64::from(self.multiplier) * 2f64.powi(self.shift - 31)
    }

    /// `round(x · m)` to nearest, ties up (toward +∞), saturated to int32: the product
    /// `x · multiplier` (exact in 64 bits) plus half, shifted right by `31 − shift` (TFLite's
    /// and CMSIS-NN's single-rounding mode).
    pub fn apply(&self, x: i32) -> i32 {
        let n = 31 - self.shift;
        let rounded = (i64::from(x) * i64::from(self.multiplier) + (1i64 << (n - 1))) >> n;
        saturate_i32(rounded)
    }
}

fn saturate_i32(x: i64) -> i32 {
    x.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Clamps to `[lo, hi]` and narrows to int8 (`lo`, `hi` within int8).
pub fn clamp_i8(x: i32, lo: i8, hi: i8) -> i8 {
    x.clamp(i32::from(lo), i32::from(hi)) as i8
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ops::Add;

    #[test]
    fn multipliers_hold_their_real_value_to_31_bits() {
        for m in [1e-9, 3.1e-5, 0.000123, 0.25, 0.5, 0.7072, 0.999_999_999, 1.0, 1.5, 3.75, 1000.0] {
            let q = QuantizedMultiplier::from_real(m).unwrap();
            assert!((1 << 30..=i32::MAX).contains(&q.multiplier), "{m}: {q:?}");
            assert!((q.real() - m).abs() <= m * 2f64.powi(-30), "{m}: {}", q.real());
        }
        assert_eq!(QuantizedMultiplier::from_real(0.0), Some(QuantizedMultiplier::ZERO));
        assert_eq!(QuantizedMultiplier::from_real(1e-12), Some(QuantizedMultiplier::ZERO));
        assert_eq!(QuantizedMultiplier::from_real(-1.0), None);
        assert_eq!(QuantizedMultiplier::from_real(f64::NAN), None);
        assert_eq!(QuantizedMultiplier::from_real(2f64.powi(31)), None);
    }

    #[test]
    fn apply_rounds_to_nearest_with_ties_up() {
        let half = QuantizedMultiplier::from_real(0.5).unwrap();
        assert_eq!([3, -3, 5, -5, 4].map(|x| half.apply(x)), [2, -1, 3, -2, 2]);
        let one = QuantizedMultiplier::from_real(1.0).unwrap();
        for x in [i32::MIN, -7, 0, 7, i32::MAX] {
            assert_eq!(one.apply(x), x);
        }
        let m = 0.0123456;
        let q = QuantizedMultiplier::from_real(m).unwrap();
        for x in (-100_000..100_000).step_by(37) {
            let exact = f64::from(x) * m;
            assert!((f64::from(q.apply(x)) - exact).abs() <= 0.5 + 1e-6, "{x}");
        }
        for (x, m) in [(3, 0.25), (-3, 0.25), (5, 0.1), (-5, 0.1), (10, 0.15)] {
            let q = QuantizedMultiplier::from_real(m).unwrap();
            let exact = f64::from(x) * q.real();
            assert_eq!(f64::from(q.apply(x)), exact.add(0.5).floor(), "{x} * {m}");
        }
        let big = QuantizedMultiplier::from_real(8.0).unwrap();
        assert_eq!(big.apply(i32::MAX / 2), i32::MAX);
    }
}
