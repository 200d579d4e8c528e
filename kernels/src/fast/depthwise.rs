//! Depthwise convolutions (channel multiplier 1) on int8 HWC maps.

use super::{dispatch, requantize, Isa};
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
}

impl FastDepthwise {
    /// Prepares `conv` for `isa`; `None` when the input zero point is not an int8.
    pub fn new(conv: &Int8DepthwiseConv, isa: Isa) -> Option<Self> {
        let pad = i8::try_from(-conv.input_offset).ok()?;
        let c = conv.channels;
        let bias = (0..c)
            .map(|ch| {
                let sum: i32 = conv.weights.iter().skip(ch).step_by(c.max(1)).map(|&w| i32::from(w)).sum();
                conv.bias[ch].wrapping_add(conv.input_offset.wrapping_mul(sum))
            })
            .collect();
        Some(FastDepthwise {
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
        acc.resize(self.channels, 0);
        let ps = self.padded(xs);
        let src: &[i8] = if self.window.has_padding() {
            padded.clear();
            padded.resize(ps.len(), self.pad);
            let c = xs.c;
            for iy in 0..xs.h {
                let dst = ((iy + self.window.pad_top) * ps.w + self.window.pad_left) * c;
                padded[dst..dst + xs.w * c].copy_from_slice(&x[iy * xs.w * c..(iy + 1) * xs.w * c]);
            }
            padded
        } else {
            x
        };
        dispatch!(self.isa, || self.run_portable(src, ps, y, ys, acc))
    }

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
