//! Regular convolutions (fully connected layers included) on int8 HWC maps.

#[cfg(target_arch = "aarch64")]
use super::aarch64;
#[cfg(target_arch = "x86_64")]
use super::x86;

/// Output channels per block of the micro-kernels (both paths use 16).
const LANES: usize = 16;
/// Output pixels per micro-kernel call (both paths use 4).
const PIXELS: usize = 4;
use super::{dispatch, dots, requantize, Isa};
use crate::ops::conv::tap;
use crate::{Hwc, Int8Conv, QuantizedMultiplier, Window};

/// Output channels computed together over one pass of the input patch.
const BLOCK: usize = 4;

/// An [`Int8Conv`] prepared for fast evaluation: the input offset folded into the bias,
/// padding materialized as the input's zero point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FastConv {
    window: Window,
    in_channels: usize,
    out_channels: usize,
    /// OHWI, as the op holds them: one contiguous filter of `taps · in_channels` per output
    /// channel.
    weights: Vec<i8>,
    /// `bias + input_offset · Σ filter`.
    bias: Vec<i32>,
    requant: Vec<QuantizedMultiplier>,
    /// The input's zero point: the value of a padded tap.
    pad: i8,
    output_offset: i32,
    act_min: i8,
    act_max: i8,
    isa: Isa,
    #[cfg(target_arch = "x86_64")]
    packed: Option<x86::PackedWeights>,
    #[cfg(target_arch = "aarch64")]
    packed: Option<aarch64::PackedWeights>,
}

/// Reusable buffers of [`FastConv::run`].
#[derive(Debug, Default, Clone)]
pub struct ConvScratch {
    patch: Vec<i8>,
    #[cfg(target_arch = "x86_64")]
    pairs: Vec<i32>,
    #[cfg(target_arch = "aarch64")]
    padded: Vec<i8>,
}

impl FastConv {
    /// Prepares `conv` for the instruction set `isa` (see [`Isa::detect`]; an unavailable
    /// one falls back to the baseline). `None` when the input zero point is not an int8.
    pub fn new(conv: &Int8Conv, isa: Isa) -> Option<Self> {
        let pad = i8::try_from(-conv.input_offset).ok()?;
        let bias: Vec<i32> = conv
            .bias
            .iter()
            .zip(conv.weight_sums())
            .map(|(&b, sum)| b.wrapping_add(conv.input_offset.wrapping_mul(sum)))
            .collect();
        let isa = if isa.is_available() { isa } else { Isa::Baseline };
        let k = conv.window.taps() * conv.in_channels;
        Some(FastConv {
            #[cfg(target_arch = "x86_64")]
            packed: matches!(isa, Isa::Avx2 | Isa::Avx512Vnni)
                .then(|| x86::PackedWeights::new(&conv.weights, conv.out_channels, k)),
            #[cfg(target_arch = "aarch64")]
            packed: (isa == Isa::DotProd).then(|| aarch64::PackedWeights::new(conv, &bias, k)),
            window: conv.window,
            in_channels: conv.in_channels,
            out_channels: conv.out_channels,
            weights: conv.weights.clone(),
            bias,
            requant: conv.requant.clone(),
            pad,
            output_offset: conv.output_offset,
            act_min: conv.act_min,
            act_max: conv.act_max,
            isa,
        })
    }

    /// Bytes of scratch [`FastConv::run`] needs: one input patch.
    pub fn scratch_len(&self) -> usize {
        self.window.taps() * self.in_channels
    }

    /// Computes `y` (shape `ys`) from `x` (shape `xs`), as [`Int8Conv::eval`] does.
    /// `scratch` is grown as needed.
    pub fn run(&self, x: &[i8], xs: Hwc, y: &mut [i8], ys: Hwc, scratch: &mut ConvScratch) {
        scratch.patch.resize(self.scratch_len(), 0);
        #[cfg(target_arch = "x86_64")]
        if let Some(packed) = &self.packed {
            // SAFETY: `packed` is only made for an available AVX2 or VNNI `isa`.
            unsafe { self.run_x86(packed, x, xs, y, ys, scratch) };
            return;
        }
        #[cfg(target_arch = "aarch64")]
        if let Some(packed) = &self.packed {
            // SAFETY: `packed` is only made for an available dot-product `isa`.
            unsafe { self.run_dotprod(packed, x, xs, y, ys, scratch) };
            return;
        }
        dispatch!(self.isa, || self.run_portable(x, xs, y, ys, &mut scratch.patch))
    }

    /// A 1×1 convolution with stride 1 and no padding reads its patches straight from the
    /// input.
    fn is_direct(&self) -> bool {
        let win = &self.window;
        win.taps() == 1 && win.stride_h == 1 && win.stride_w == 1 && !win.has_padding()
    }

    /// The blocked driver shared by the micro-kernels: `stage(p, dst)` writes the patch of
    /// output pixel `p` (`per_pixel` values) for up to [`PIXELS`] pixels at a time, then for
    /// each of the `blocks` blocks of [`LANES`] channels `acc(block, staged, pixels, sums)`
    /// sums them into `sums[..pixels]`, and `finish(block, sums, row)` requantizes one
    /// pixel's sums into its output row.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn run_blocked<T: Copy + Default>(
        &self,
        y: &mut [i8],
        ys: Hwc,
        buf: &mut Vec<T>,
        per_pixel: usize,
        blocks: usize,
        mut stage: impl FnMut(usize, &mut [T]),
        mut acc: impl FnMut(usize, &[T], usize, &mut [[i32; LANES]; PIXELS]),
        finish: impl Fn(usize, &[i32; LANES], &mut [i8]),
    ) {
        buf.clear();
        buf.resize(PIXELS * per_pixel, T::default());
        let n = ys.h * ys.w;
        let mut sums = [[0i32; LANES]; PIXELS];
        let mut p0 = 0;
        while p0 < n {
            let count = (n - p0).min(PIXELS);
            for i in 0..count {
                stage(p0 + i, &mut buf[i * per_pixel..(i + 1) * per_pixel]);
            }
            for b in 0..blocks {
                acc(b, buf, count, &mut sums);
                for (i, sum) in sums.iter().enumerate().take(count) {
                    finish(b, sum, &mut y[(p0 + i) * ys.c..(p0 + i + 1) * ys.c]);
                }
            }
            p0 += count;
        }
    }

    /// # Safety
    /// `self.isa` is `Avx2` or `Avx512Vnni` and available.
    #[cfg(target_arch = "x86_64")]
    unsafe fn run_x86(
        &self,
        packed: &x86::PackedWeights,
        x: &[i8],
        xs: Hwc,
        y: &mut [i8],
        ys: Hwc,
        s: &mut ConvScratch,
    ) {
        let vnni = self.isa == Isa::Avx512Vnni;
        let (pairs, k, direct) = (packed.pairs, self.scratch_len(), self.is_direct());
        let ConvScratch { patch, pairs: buf, .. } = s;
        let stage = |p: usize, dst: &mut [i32]| {
            if direct {
                x86::to_pairs(&x[p * xs.c..(p + 1) * xs.c], dst);
            } else {
                self.gather(x, xs, p / ys.w, p % ys.w, &mut patch[..k]);
                x86::to_pairs(&patch[..k], dst);
            }
        };
        self.run_blocked(
            y,
            ys,
            buf,
            pairs,
            packed.blocks,
            stage,
            |b, buf, count, sums| {
                let at = |i: usize| &buf[i * pairs..(i + 1) * pairs];
                // SAFETY: the caller guarantees the instruction set; every patch has `pairs` values.
                unsafe {
                    if count == PIXELS {
                        let ps: [&[i32]; PIXELS] = std::array::from_fn(at);
                        if vnni {
                            x86::accumulate_vnni(packed, b, ps, sums)
                        } else {
                            x86::accumulate(packed, b, ps, sums)
                        }
                    } else {
                        for (i, sum) in sums.iter_mut().enumerate().take(count) {
                            let mut one = [[0i32; LANES]; 1];
                            if vnni {
                                x86::accumulate_vnni(packed, b, [at(i)], &mut one)
                            } else {
                                x86::accumulate(packed, b, [at(i)], &mut one)
                            }
                            *sum = one[0];
                        }
                    }
                }
            },
            |b, sums, out| self.finish_lanes(b, sums, out),
        )
    }

    /// # Safety
    /// `self.isa` is `DotProd` and available.
    #[cfg(target_arch = "aarch64")]
    unsafe fn run_dotprod(
        &self,
        packed: &aarch64::PackedWeights,
        x: &[i8],
        xs: Hwc,
        y: &mut [i8],
        ys: Hwc,
        s: &mut ConvScratch,
    ) {
        let (len, k, direct) = (packed.padded_k, self.scratch_len(), self.is_direct());
        let stage = |p: usize, dst: &mut [i8]| {
            if direct {
                dst[..k].copy_from_slice(&x[p * xs.c..(p + 1) * xs.c]);
            } else {
                self.gather(x, xs, p / ys.w, p % ys.w, &mut dst[..k]);
            }
            dst[k..].fill(0);
        };
        let ConvScratch { padded: buf, .. } = s;
        self.run_blocked(
            y,
            ys,
            buf,
            len,
            packed.blocks,
            stage,
            |b, buf, count, sums| {
                let at = |i: usize| &buf[i * len..(i + 1) * len];
                // SAFETY: the caller guarantees the instruction set; every patch has `len` values.
                unsafe {
                    if count == PIXELS {
                        aarch64::accumulate(packed, b, std::array::from_fn(at), sums)
                    } else {
                        for (i, sum) in sums.iter_mut().enumerate().take(count) {
                            let mut one = [[0i32; LANES]; 1];
                            aarch64::accumulate(packed, b, [at(i)], &mut one);
                            *sum = one[0];
                        }
                    }
                }
            },
            |b, sums, out| {
                let oc = b * LANES;
                if oc + LANES <= self.out_channels {
                    // SAFETY: `out` has `oc + LANES` values; NEON is part of aarch64.
                    unsafe { aarch64::finish_block(packed, b, sums, &mut out[oc..oc + LANES]) }
                } else {
                    for (lane, oc) in (oc..self.out_channels).enumerate() {
                        let m = self.requant[oc];
                        out[oc] = requantize(sums[lane], m, self.output_offset, self.act_min, self.act_max);
                    }
                }
            },
        )
    }

    #[inline(always)]
    fn run_portable(&self, x: &[i8], xs: Hwc, y: &mut [i8], ys: Hwc, patch: &mut [i8]) {
        let direct = self.is_direct();
        let k = self.scratch_len();
        for oy in 0..ys.h {
            for ox in 0..ys.w {
                let p = oy * ys.w + ox;
                let patch: &[i8] = if direct {
                    &x[p * xs.c..(p + 1) * xs.c]
                } else {
                    self.gather(x, xs, oy, ox, patch);
                    patch
                };
                let out = &mut y[p * ys.c..(p + 1) * ys.c];
                self.filters(patch, k, out);
            }
        }
    }

    /// Copies the taps of output pixel `(oy, ox)` into `patch`, the zero point where a tap
    /// falls in the padding.
    #[inline(always)]
    fn gather(&self, x: &[i8], xs: Hwc, oy: usize, ox: usize, patch: &mut [i8]) {
        let win = &self.window;
        let c = self.in_channels;
        let row = win.kernel_w * c;
        // The taps of one kernel row inside the input are consecutive input pixels.
        let first = win.pad_left.saturating_sub(ox * win.stride_w).min(win.kernel_w);
        let last = (xs.w + win.pad_left).saturating_sub(ox * win.stride_w).clamp(first, win.kernel_w);
        for ky in 0..win.kernel_h {
            let dst = &mut patch[ky * row..(ky + 1) * row];
            match tap(oy, ky, win.stride_h, win.pad_top, xs.h) {
                Some(iy) if first < last => {
                    let ix = ox * win.stride_w + first - win.pad_left;
                    dst[..first * c].fill(self.pad);
                    copy(&mut dst[first * c..last * c], &x[(iy * xs.w + ix) * c..][..(last - first) * c]);
                    dst[last * c..].fill(self.pad);
                }
                _ => dst.fill(self.pad),
            }
        }
    }

    /// Every output channel of one pixel from its patch of `k` values.
    #[inline(always)]
    fn filters(&self, patch: &[i8], k: usize, out: &mut [i8]) {
        let w = &self.weights;
        let mut oc = 0;
        while oc + BLOCK <= self.out_channels {
            let f = |j: usize| &w[(oc + j) * k..(oc + j + 1) * k];
            let acc = dots(patch, [f(0), f(1), f(2), f(3)]);
            for (j, a) in acc.into_iter().enumerate() {
                out[oc + j] = self.finish(oc + j, a);
            }
            oc += BLOCK;
        }
        while oc < self.out_channels {
            let [a] = dots(patch, [&w[oc * k..(oc + 1) * k]]);
            out[oc] = self.finish(oc, a);
            oc += 1;
        }
    }

    /// Requantizes the sums of block `block` into `out` (one pixel's channels), lane by lane.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn finish_lanes(&self, block: usize, sums: &[i32; LANES], out: &mut [i8]) {
        for (lane, oc) in (block * LANES..self.out_channels.min((block + 1) * LANES)).enumerate() {
            out[oc] = self.finish(oc, sums[lane]);
        }
    }

    #[inline(always)]
    fn finish(&self, oc: usize, acc: i32) -> i8 {
        requantize(self.bias[oc].wrapping_add(acc), self.requant[oc], self.output_offset, self.act_min, self.act_max)
    }
}

/// `dst.copy_from_slice(src)` in 16-byte pieces (a few loads and stores instead of a call
/// to `memcpy` for the short rows of a patch).
#[inline(always)]
fn copy(dst: &mut [i8], src: &[i8]) {
    let mut d = dst.chunks_exact_mut(16);
    let mut s = src.chunks_exact(16);
    for (d, s) in (&mut d).zip(&mut s) {
        d.copy_from_slice(s);
    }
    for (d, &s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = s;
    }
}
