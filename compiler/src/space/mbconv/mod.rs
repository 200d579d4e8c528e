//! MobileNetV2 / ProxylessNAS-style spaces of inverted-residual ("MBConv") networks.
//!
//! A network is a stem convolution, a sequence of stages of MBConv blocks, and a head
//! (1x1 convolution, global pooling, classifier). An [`MbconvSpace`] lists the choices
//! (input resolution, width multiplier, per stage a width and a depth, per block a kernel
//! and an expansion ratio or nothing at all); an [`MbconvGenome`] records one choice of
//! each and builds its graph on its own.
//!
//! Channel rounding follows torchvision's `_make_divisible` everywhere
//! ([`make_divisible`], [`scale_channels`], [`scale_head`]), so that
//! [`MbconvGenome::mobilenet_v2`] is torchvision's `mobilenet_v2` layer for layer.

mod genome;
mod space;
#[cfg(test)]
mod tests;

pub use genome::{BlockChoice, MbconvGenome, StageGenome};
pub use space::{MbconvSpace, StageSpec};

/// Bounds on every size a genome or a space definition may name: far beyond any edge
/// model, and small enough that no count of a network built from them overflows (a
/// network whose tensors still exceed [`crate::ir::MAX_TENSOR_ELEMENTS`] is rejected when
/// its types are inferred).
pub mod limits {
    pub const MAX_RESOLUTION: usize = 4096;
    pub const MAX_CHANNELS: usize = 1 << 16;
    pub const MAX_CLASSES: usize = 1 << 20;
    pub const MAX_KERNEL: usize = 31;
    pub const MAX_EXPANSION: usize = 64;
    pub const MAX_STRIDE: usize = 8;
    pub const MAX_STAGES: usize = 64;
    /// Block slots per stage.
    pub const MAX_BLOCKS: usize = 64;
    pub const MAX_WIDTH_MULT: f32 = 16.0;
}

/// Channel counts are rounded to multiples of this (torchvision's `round_nearest`).
pub const CHANNEL_DIVISOR: usize = 8;

/// torchvision's `_make_divisible(v, divisor)` with `min_value = divisor`: `v` rounded to
/// the nearest multiple of `divisor` (halves up), at least `divisor`, and bumped up by one
/// `divisor` when rounding lost more than 10% of `v`.
pub fn make_divisible(v: f64, divisor: usize) -> usize {
    let d = divisor as f64;
    let rounded = ((v + d / 2.0).floor() / d).floor() * d;
    let mut new_v = rounded.max(d);
    if new_v < 0.9 * v {
        new_v += d;
    }
    new_v as usize
}

/// Channels of a layer whose width before the multiplier is `base`:
/// `make_divisible(base * width_mult, 8)`. The multiplier is taken as the decimal it
/// prints as (`0.35f32` is 0.35, not 0.3499999940), as Python's float would be.
pub fn scale_channels(base: usize, width_mult: f32) -> usize {
    make_divisible(base as f64 * decimal(width_mult), CHANNEL_DIVISOR)
}

/// Channels of the head convolution whose width before the multiplier is `base`:
/// torchvision only widens the head, `make_divisible(base * max(1, width_mult), 8)`.
pub fn scale_head(base: usize, width_mult: f32) -> usize {
    make_divisible(base as f64 * decimal(width_mult).max(1.0), CHANNEL_DIVISOR)
}

/// Whether two width multipliers are the same choice (equal as decimals).
pub(crate) fn same_mult(a: f32, b: f32) -> bool {
    decimal(a) == decimal(b)
}

fn decimal(w: f32) -> f64 {
    w.to_string().parse().unwrap_or(f64::from(w))
}
