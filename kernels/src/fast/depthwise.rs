//! Depthwise convolutions (channel multiplier 1) on int8 HWC maps.

use super::Isa;
#[cfg(not(target_arch = "aarch64"))]
use super::{dispatch, requantize};
use crate::{Hwc, Int8DepthwiseConv, QuantizedMultiplier, Window};

/// An [`Int8DepthwiseConv`] prepared for fast evaluation: the input offset folded into
/// the bias, the input copied once into a map padded with its zero point, and every
/// channel of a pixel accumulated together (the inner loop runs over channels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastDepthwise {
    window: Window,
    channels: usize,
    /// HWC: `[kh][kw][c]`.
    weights: Vec<i8>,
    /// `bias + input_offset · Σ taps`.
    bias: Vec<i32>,
    requant: Vec<QuantizedMultiplier>,
    pad: i8,
    output_offset: i32,
    act_min: i8,
    act_max: i8,
    isa: Isa,
    #[cfg(target_arch = "aarch64")]
    vector: super::aarch64::ChannelRequant,
    /// The weights with 16 zeros after them, and the bias padded to whole 16-channel
    /// chunks: the NEON path reads whole chunks.
    #[cfg(target_arch = "aarch64")]
    weights_padded: Vec<i8>,
    #[cfg(target_arch = "aarch64")]
    bias_padded: Vec<i32>,
}

impl FastDepthwise {
    /// Prepares `conv` for `isa`; `None` when the input zero point is not an int8.
    pub fn new(conv: &Int8DepthwiseConv, isa: Isa) -> Option<Self> {
        let pad = i8::try_from(-conv.input_offset).ok()?;
        let c = conv.channels;
        let bias: Vec<i32> = (0..c)
            .map(|ch| {
                let sum: i32 = conv.weights.iter().skip(ch).step_by(c.max(1)).map(|&w| i32::from(w)).sum();
                conv.bias[ch].wrapping_add(conv.input_offset.wrapping_mul(sum))
            })
            .collect();
        Some(FastDepthwise {
            #[cfg(target_arch = "aarch64")]
            vector: super::aarch64::ChannelRequant::new(&conv.requant),
            #[cfg(target_arch = "aarch64")]
            weights_padded: conv.weights.iter().copied().chain([0; 16]).collect(),
            #[cfg(target_arch = "aarch64")]
            bias_padded: {
                let mut b: Vec<i32> = bias.clone();
                b.resize(c.div_ceil(16) * 16, 0);
                b
            },
            window: conv.window,
            channels: c,
            weights: conv.weights.clone(),
            bias,
            requant: conv.requant.clone(),
            pad,
            output_offset: conv.output_offset,
            act_min: conv.act_min,
            act_max: conv.act_max,
            isa: if isa.is_available() { isa } else { Isa::Baseline },
        })
    }

    fn padded(&self, xs: Hwc) -> Hwc {
        let w = &self.window;
        Hwc::new(xs.h + w.pad_top + w.pad_bottom, xs.w + w.pad_left + w.pad_right, xs.c)
    }

    /// Computes `y` from `x` as [`Int8DepthwiseConv::eval`] does; `padded` (the padded
    /// input copy) and `acc` (one pixel's accumulators) are grown as needed.
    pub fn run(&self, x: &[i8], xs: Hwc, y: &mut [i8], ys: Hwc, padded: &mut Vec<i8>, acc: &mut Vec<i32>) {
        let ps = self.padded(xs);
        #[cfg(target_arch = "aarch64")]
        {
            let _ = acc;
            self.pad_input(x, xs, ps, padded, 16);
            // SAFETY: NEON is part of aarch64; `padded` is the padded map `ps` and 16 more.
            unsafe { self.run_neon(padded, ps, y, ys) }
        }
        #[cfg(not(target_arch = "aarch64"))]
        {
            acc.resize(self.channels, 0);
            let src: &[i8] = if self.window.has_padding() {
                self.pad_input(x, xs, ps, padded, 0);
                padded
            } else {
                x
            };
            dispatch!(self.isa, || self.run_portable(src, ps, y, ys, acc))
        }
    }

    /// Copies `x` into `padded` (shape `ps`, every padded value the zero point), with
    /// `slack` more values after it.
    fn pad_input(&self, x: &[i8], xs: Hwc, ps: Hwc, padded: &mut Vec<i8>, slack: usize) {
        padded.clear();
        padded.resize(ps.len() + slack, self.pad);
        let c = xs.c;
        for iy in 0..xs.h {
            let dst = ((iy + self.window.pad_top) * ps.w + self.window.pad_left) * c;
            padded[dst..dst + xs.w * c].copy_from_slice(&x[iy * xs.w * c..(iy + 1) * xs.w * c]);
        }
    }

    /// The NEON path: 16 channels at a time ([`super::aarch64::depthwise16`]), the last
    /// chunk through a 16-value buffer.
    ///
    /// # Safety
    /// `x` is the padded input of shape `ps` followed by at least 16 values.
    #[cfg(target_arch = "aarch64")]
    unsafe fn run_neon(&self, x: &[i8], ps: Hwc, y: &mut [i8], ys: Hwc) {
        let win = &self.window;
        let c = self.channels;
        let params = (self.output_offset, (self.act_min, self.act_max));
        for oy in 0..ys.h {
            for ox in 0..ys.w {
                let taps = super::aarch64::DepthwiseTaps {
                    origin: x.as_ptr().add((oy * win.stride_h * ps.w + ox * win.stride_w) * c),
                    pixel_stride: c,
                    row_stride: ps.w * c,
                    kernel_h: win.kernel_h,
                    kernel_w: win.kernel_w,
                    weights: self.weights_padded.as_ptr(),
                };
                let out = &mut y[(oy * ys.w + ox) * c..][..c];
                for c0 in (0..c).step_by(16) {
                    let bias = &self.bias_padded[c0..c0 + 16];
                    if c0 + 16 <= c {
                        super::aarch64::depthwise16(&taps, c0, bias, &self.vector, params, &mut out[c0..c0 + 16]);
                    } else {
                        let mut last = [0i8; 16];
                        super::aarch64::depthwise16(&taps, c0, bias, &self.vector, params, &mut last);
                        out[c0..].copy_from_slice(&last[..c - c0]);
                    }
                }
            }
        }
    }

    #[cfg(not(target_arch = "aarch64"))]
    #[inline(always)]
    fn run_portable(&self, x: &[i8], ps: Hwc, y: &mut [i8], ys: Hwc, acc: &mut [i32]) {
        let win = &self.window;
        let c = self.channels;
        for oy in 0..ys.h {
            for ox in 0..ys.w {
                acc.copy_from_slice(&self.bias);
                for ky in 0..win.kernel_h {
                    let iy = oy * win.stride_h + ky;
                    for kx in 0..win.kernel_w {
                        let ix = ox * win.stride_w + kx;
                        let pixel = &x[(iy * ps.w + ix) * c..][..c];
                        let taps = &self.weights[(ky * win.kernel_w + kx) * c..][..c];
                        for ((a, &xv), &wv) in acc.iter_mut().zip(pixel).zip(taps) {
                            *a = a.wrapping_add(i32::from(xv) * i32::from(wv));
                        }
                    }
                }
                let out = &mut y[(oy * ys.w + ox) * c..][..c];
                for (ch, (o, &a)) in out.iter_mut().zip(acc.iter()).enumerate() {
                    *o = requantize(a, self.requant[ch], self.output_offset, self.act_min, self.act_max);
                }
            }
        }
    }
}
