//! Pooling: average (any window; global average pooling is the window of the whole map)
//! and max, each followed by a rescale to the output's quantization.

use super::conv::tap;
use crate::program::{Hwc, Int8Program, TensorId, Window};
use crate::requant::{clamp_i8, QuantizedMultiplier};

/// Average pooling: `y = clamp(m[count](Σ (x + input_offset)) + output_offset)`, where
/// `count` is the number of taps inside the input (or every tap, with
/// `count_include_pad`) and `m[count] = input scale / (output scale · count)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Int8AvgPool {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub window: Window,
    /// One multiplier (every output averages `kernel_h · kernel_w` values), or one per
    /// count, index `count − 1`.
    pub count_multipliers: Vec<QuantizedMultiplier>,
    pub input_offset: i32,
    pub output_offset: i32,
    pub act_min: i8,
    pub act_max: i8,
}

impl Int8AvgPool {
    pub fn output_shape(&self, input: Hwc) -> Option<Hwc> {
        let n = self.count_multipliers.len();
        if n != 1 && n != self.window.taps() {
            return None;
        }
        let (h, w) = self.window.output_size(input.h, input.w)?;
        Some(Hwc::new(h, w, input.c))
    }

    /// The window covers the whole input: one output pixel.
    pub fn is_global(&self, program: &Int8Program) -> bool {
        let s = program.tensor(self.input).shape;
        self.window.kernel_h == s.h && self.window.kernel_w == s.w && !self.window.has_padding()
    }

    pub fn eval(&self, x: &[i8], xs: Hwc, y: &mut [i8], ys: Hwc) {
        let win = &self.window;
        for oy in 0..ys.h {
            for ox in 0..ys.w {
                for ch in 0..xs.c {
                    let (mut sum, mut count) = (0i32, 0usize);
                    for ky in 0..win.kernel_h {
                        let Some(iy) = tap(oy, ky, win.stride_h, win.pad_top, xs.h) else { continue };
                        for kx in 0..win.kernel_w {
                            let Some(ix) = tap(ox, kx, win.stride_w, win.pad_left, xs.w) else { continue };
                            sum += i32::from(x[(iy * xs.w + ix) * xs.c + ch]) + self.input_offset;
                            count += 1;
                        }
                    }
                    let m = match self.count_multipliers.as_slice() {
                        [one] => one,
                        per_count => &per_count[count - 1],
                    };
                    let v = m.apply(sum) + self.output_offset;
                    y[(oy * ys.w + ox) * ys.c + ch] = clamp_i8(v, self.act_min, self.act_max);
                }
            }
        }
    }
}

/// Max pooling over the taps inside the input (padding never wins), then
/// `y = clamp(requant(max + input_offset) + output_offset)`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Int8MaxPool {
    pub name: String,
    pub input: TensorId,
    pub output: TensorId,
    pub window: Window,
    pub requant: QuantizedMultiplier,
    pub input_offset: i32,
    pub output_offset: i32,
    pub act_min: i8,
    pub act_max: i8,
}

impl Int8MaxPool {
    pub fn output_shape(&self, input: Hwc) -> Option<Hwc> {
        let (h, w) = self.window.output_size(input.h, input.w)?;
        (h > 0 && w > 0).then_some(Hwc::new(h, w, input.c))
    }

    pub fn eval(&self, x: &[i8], xs: Hwc, y: &mut [i8], ys: Hwc) {
        let win = &self.window;
        for oy in 0..ys.h {
            for ox in 0..ys.w {
                for ch in 0..xs.c {
                    let mut max = i8::MIN;
                    for ky in 0..win.kernel_h {
                        let Some(iy) = tap(oy, ky, win.stride_h, win.pad_top, xs.h) else { continue };
                        for kx in 0..win.kernel_w {
                            let Some(ix) = tap(ox, kx, win.stride_w, win.pad_left, xs.w) else { continue };
                            max = max.max(x[(iy * xs.w + ix) * xs.c + ch]);
                        }
                    }
                    let v = self.requant.apply(i32::from(max) + self.input_offset) + self.output_offset;
                    y[(oy * ys.w + ox) * ys.c + ch] = clamp_i8(v, self.act_min, self.act_max);
                }
            }
        }
    }
}
