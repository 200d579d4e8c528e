//! Average pooling with the sum of each output pixel accumulated over all its channels at
//! once (the inner loop runs over channels), and the rescale of every channel of a pixel
//! done with the one multiplier its tap count selects.

use super::requantize;
use crate::ops::conv::tap;
use crate::{Hwc, Int8AvgPool};

/// An [`Int8AvgPool`] prepared for fast evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastAvgPool {
    pool: Int8AvgPool,
    #[cfg(target_arch = "aarch64")]
    vectors: Vec<super::aarch64::Broadcast>,
}

impl FastAvgPool {
    pub fn new(pool: &Int8AvgPool) -> Self {
        FastAvgPool {
            #[cfg(target_arch = "aarch64")]
            vectors: pool.count_multipliers.iter().map(|&m| super::aarch64::Broadcast::new(m)).collect(),
            pool: pool.clone(),
        }
    }

    /// Computes `y` from `x` as [`Int8AvgPool::eval`] does; `acc` (one pixel's sums) is
    /// grown as needed.
    pub fn run(&self, x: &[i8], xs: Hwc, y: &mut [i8], ys: Hwc, acc: &mut Vec<i32>) {
        let (p, win, c) = (&self.pool, &self.pool.window, xs.c);
        acc.clear();
        acc.resize(c, 0);
        for oy in 0..ys.h {
            for ox in 0..ys.w {
                acc.fill(0);
                let mut count = 0usize;
                for ky in 0..win.kernel_h {
                    let Some(iy) = tap(oy, ky, win.stride_h, win.pad_top, xs.h) else { continue };
                    for kx in 0..win.kernel_w {
                        let Some(ix) = tap(ox, kx, win.stride_w, win.pad_left, xs.w) else { continue };
                        let pixel = &x[(iy * xs.w + ix) * c..][..c];
                        for (a, &v) in acc.iter_mut().zip(pixel) {
                            *a = a.wrapping_add(i32::from(v));
                        }
                        count += 1;
                    }
                }
                let offset = (count as i32).wrapping_mul(p.input_offset);
                let which = if p.count_multipliers.len() == 1 { 0 } else { count - 1 };
                let m = p.count_multipliers[which];
                let out = &mut y[(oy * ys.w + ox) * c..][..c];
                for a in acc.iter_mut() {
                    *a = a.wrapping_add(offset);
                }
                #[allow(unused_mut)]
                let mut done = 0;
                #[cfg(target_arch = "aarch64")]
                while done + 16 <= c {
                    let clamp = (p.act_min, p.act_max);
                    // SAFETY: both ranges have 16 values; NEON is part of aarch64.
                    unsafe {
                        self.vectors[which].run(
                            &acc[done..done + 16],
                            p.output_offset,
                            clamp,
                            &mut out[done..done + 16],
                        )
                    };
                    done += 16;
                }
                for (o, &a) in out[done..].iter_mut().zip(&acc[done..]) {
                    *o = requantize(a, m, p.output_offset, p.act_min, p.act_max);
                }
            }
        }
    }
}
