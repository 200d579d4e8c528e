//! Convolutions: regular (any kernel, stride and padding; fully connected layers are 1×1
//! convolutions of a 1×1 map) and depthwise (one filter per channel).
//!
//! Both compute, per output value, `acc = bias[c] + Σ w · (x + input_offset)` over the taps
//! inside the input (padding contributes nothing), then
//! `y = clamp(requant[c](acc) + output_offset, act_min, act_max)`.

use crate::program::{Hwc, Int8Program, TensorId, Window};
use crate::requant::{clamp_i8, QuantizedMultiplier};

/// A regular convolution, weights OHWI (`[out][kh][kw][in]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Int8Conv {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub window: Window,
    pub in_channels: usize,
    pub out_channels: usize,
    pub weights: Vec<i8>,
    pub bias: Vec<i32>,
    pub requant: Vec<QuantizedMultiplier>,
    /// `−zero_point` of the input.
    pub input_offset: i32,
    /// `zero_point` of the output.
    pub output_offset: i32,
    pub act_min: i8,
    pub act_max: i8,
}

impl Int8Conv {
    pub fn output_shape(&self, input: Hwc) -> Option<Hwc> {
        if input.c != self.in_channels
            || self.weights.len() != self.out_channels * self.window.taps() * self.in_channels
            || self.bias.len() != self.out_channels
            || self.requant.len() != self.out_channels
        {
            return None;
        }
        let (h, w) = self.window.output_size(input.h, input.w)?;
        Some(Hwc::new(h, w, self.out_channels))
    }

    /// A 1×1 convolution of a 1×1 map: a fully connected layer.
    pub fn is_fully_connected(&self, program: &Int8Program) -> bool {
        let s = program.tensor(self.input).shape;
        self.window.taps() == 1 && s.h == 1 && s.w == 1
    }

    /// Weight sum per output channel (what a kernel that adds the input offset after the
    /// multiply, instead of to every input, subtracts).
    pub fn weight_sums(&self) -> Vec<i32> {
        let k = self.window.taps() * self.in_channels;
        self.weights.chunks_exact(k).map(|f| f.iter().map(|&w| i32::from(w)).sum()).collect()
    }

    pub fn eval(&self, x: &[i8], xs: Hwc, y: &mut [i8], ys: Hwc) {
        let win = &self.window;
        let k = win.taps() * self.in_channels;
        for oy in 0..ys.h {
            for ox in 0..ys.w {
                for oc in 0..self.out_channels {
                    let filter = &self.weights[oc * k..(oc + 1) * k];
                    let mut acc = self.bias[oc];
                    for ky in 0..win.kernel_h {
                        let Some(iy) = tap(oy, ky, win.stride_h, win.pad_top, xs.h) else { continue };
                        for kx in 0..win.kernel_w {
                            let Some(ix) = tap(ox, kx, win.stride_w, win.pad_left, xs.w) else { continue };
                            let pixel = &x[(iy * xs.w + ix) * xs.c..][..xs.c];
                            let taps = &filter[(ky * win.kernel_w + kx) * self.in_channels..][..self.in_channels];
                            for (&xv, &wv) in pixel.iter().zip(taps) {
                                acc += i32::from(wv) * (i32::from(xv) + self.input_offset);
                            }
                        }
                    }
                    let v = self.requant[oc].apply(acc) + self.output_offset;
                    y[(oy * ys.w + ox) * ys.c + oc] = clamp_i8(v, self.act_min, self.act_max);
                }
            }
        }
    }
}

/// A depthwise convolution (channel multiplier 1), weights HWC (`[kh][kw][c]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Int8DepthwiseConv {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub window: Window,
    pub channels: usize,
    pub weights: Vec<i8>,
    pub bias: Vec<i32>,
    pub requant: Vec<QuantizedMultiplier>,
    pub input_offset: i32,
    pub output_offset: i32,
    pub act_min: i8,
    pub act_max: i8,
}

impl Int8DepthwiseConv {
    pub fn output_shape(&self, input: Hwc) -> Option<Hwc> {
        if input.c != self.channels
            || self.weights.len() != self.window.taps() * self.channels
            || self.bias.len() != self.channels
            || self.requant.len() != self.channels
        {
            return None;
        }
        let (h, w) = self.window.output_size(input.h, input.w)?;
        Some(Hwc::new(h, w, self.channels))
    }

    pub fn eval(&self, x: &[i8], xs: Hwc, y: &mut [i8], ys: Hwc) {
        let win = &self.window;
        let c = self.channels;
        for oy in 0..ys.h {
            for ox in 0..ys.w {
                for ch in 0..c {
                    let mut acc = self.bias[ch];
                    for ky in 0..win.kernel_h {
                        let Some(iy) = tap(oy, ky, win.stride_h, win.pad_top, xs.h) else { continue };
                        for kx in 0..win.kernel_w {
                            let Some(ix) = tap(ox, kx, win.stride_w, win.pad_left, xs.w) else { continue };
                            let xv = i32::from(x[(iy * xs.w + ix) * c + ch]);
                            let wv = i32::from(self.weights[(ky * win.kernel_w + kx) * c + ch]);
                            acc += wv * (xv + self.input_offset);
                        }
                    }
                    let v = self.requant[ch].apply(acc) + self.output_offset;
                    y[(oy * ys.w + ox) * c + ch] = clamp_i8(v, self.act_min, self.act_max);
                }
            }
        }
    }
}

/// The input row (or column) tap `k` of output `o` reads, if it lies inside the input.
pub(crate) fn tap(o: usize, k: usize, stride: usize, pad: usize, size: usize) -> Option<usize> {
    (o * stride + k).checked_sub(pad).filter(|&i| i < size)
}
