//! The aarch64 dot-product path of [`super::FastConv`]: weights packed 16 output channels
//! by groups of 4 patch values (four 128-bit vectors per group, 4 channels × 4 values
//! each), patches zero-padded to a multiple of 16, and `sdot` (the indexed form: one
//! 4-value group of a pixel's patch times 4 channels' groups) accumulating 4 output pixels
//! × 16 channels in 16 registers. `sdot` is written with `asm!`: its intrinsics are not
//! stable Rust yet.

use std::arch::aarch64::*;
use std::arch::asm;

/// Output channels per packed block.
pub(crate) const LANES: usize = 16;
/// Patch values per register of a patch.
const CHUNK: usize = 16;

/// Weights of every filter, packed for [`accumulate`]: block `b` (channels `16b..16b+16`,
/// zero past the last), group `g` (patch values `4g..4g+4`, zero past the end) holds 64
/// bytes: for each 4-channel vector `v`, channels `4v..4v+4`, their 4 values each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackedWeights {
    pub(crate) blocks: usize,
    /// Patch length rounded up to a multiple of 16.
    pub(crate) padded_k: usize,
    data: Vec<i8>,
    /// Per channel (padded to whole blocks): the folded bias, the Q31 multiplier, the
    /// rounding term `2^(n−1)` and `−n`, `n = 31 − shift` ([`crate::QuantizedMultiplier::apply`]).
    bias: Vec<i32>,
    rq: ChannelRequant,
    output_offset: i32,
    act_min: i8,
    act_max: i8,
}

impl PackedWeights {
    /// Packs `conv`'s weights and its requantization, with `bias` (folded) per channel.
    pub(crate) fn new(conv: &crate::Int8Conv, bias: &[i32], k: usize) -> Self {
        let (weights, out_channels) = (&conv.weights, conv.out_channels);
        let blocks = out_channels.div_ceil(LANES);
        let padded = blocks * LANES;
        let padded_k = k.div_ceil(CHUNK) * CHUNK;
        let groups = padded_k / 4;
        let mut data = vec![0i8; blocks * groups * 64];
        for oc in 0..out_channels {
            let (b, lane) = (oc / LANES, oc % LANES);
            let (v, j) = (lane / 4, lane % 4);
            for (i, &w) in weights[oc * k..(oc + 1) * k].iter().enumerate() {
                data[(b * groups + i / 4) * 64 + v * 16 + j * 4 + i % 4] = w;
            }
        }
        PackedWeights {
            blocks,
            padded_k,
            data,
            bias: (0..padded).map(|oc| bias.get(oc).copied().unwrap_or(0)).collect(),
            rq: ChannelRequant::new(&conv.requant),
            output_offset: conv.output_offset,
            act_min: conv.act_min,
            act_max: conv.act_max,
        }
    }
}

/// Requantizes 16 sums (channels `c0..c0+16` of `rq`) into `out`, exactly as the scalar
/// `requantize(sum)` does, then adds the output offset and clamps.
///
/// Two exact forms of `round(x · m · 2^(shift−31))` (ties up, saturated), picked per chunk
/// of 16 channels: when every channel's shift is negative, `sqdmulh` gives
/// `floor(x · m / 2^31)` and a rounding shift (`srshl`) by `−shift` finishes it — adding the
/// dropped low bits back cannot change a floor division by a power of two, so this is the
/// single rounding of the reference; otherwise the int64 product plus the rounding term,
/// shifted (`smlal`, `sshl`) and saturated (`sqxtn`).
///
/// # Safety
/// `sums` and `out` have 16 values; `rq` covers `c0 + 16` channels.
#[inline(always)]
pub(crate) unsafe fn requantize16(
    sums: &[i32],
    rq: &ChannelRequant,
    c0: usize,
    (output_offset, (act_min, act_max)): (i32, (i8, i8)),
    out: &mut [i8],
) {
    let offset = vdupq_n_s32(output_offset);
    let (lo, hi) = (vdupq_n_s32(i32::from(act_min)), vdupq_n_s32(i32::from(act_max)));
    let fast = rq.fast[c0 / 16];
    let mut clamped = [vdupq_n_s32(0); 4];
    for (v, c) in clamped.iter_mut().enumerate() {
        let at = c0 + 4 * v;
        let s = vld1q_s32(sums.as_ptr().add(4 * v));
        let m = vld1q_s32(rq.multiplier.as_ptr().add(at));
        let r = if fast {
            vrshlq_s32(vqdmulhq_s32(s, m), vld1q_s32(rq.shift.as_ptr().add(at)))
        } else {
            let p0 = vmlal_s32(vld1q_s64(rq.round.as_ptr().add(at)), vget_low_s32(s), vget_low_s32(m));
            let p1 = vmlal_high_s32(vld1q_s64(rq.round.as_ptr().add(at + 2)), s, m);
            let p0 = vshlq_s64(p0, vld1q_s64(rq.neg_shift.as_ptr().add(at)));
            let p1 = vshlq_s64(p1, vld1q_s64(rq.neg_shift.as_ptr().add(at + 2)));
            vcombine_s32(vqmovn_s64(p0), vqmovn_s64(p1))
        };
        *c = vminq_s32(vmaxq_s32(vaddq_s32(r, offset), lo), hi);
    }
    let h0 = vcombine_s16(vmovn_s32(clamped[0]), vmovn_s32(clamped[1]));
    let h1 = vcombine_s16(vmovn_s32(clamped[2]), vmovn_s32(clamped[3]));
    vst1q_s8(out.as_mut_ptr(), vcombine_s8(vmovn_s16(h0), vmovn_s16(h1)));
}

/// Requantizes the 16 sums of block `block` (biases included, see [`accumulate`]) into
/// `out` (16 channels) with each channel's multiplier.
///
/// # Safety
/// `out` has 16 values; `block < w.blocks`.
#[inline]
pub(crate) unsafe fn finish_block(w: &PackedWeights, block: usize, sums: &[i32; LANES], out: &mut [i8]) {
    requantize16(sums, &w.rq, block * LANES, (w.output_offset, (w.act_min, w.act_max)), out);
}

/// One requantization for all 16 lanes, as [`requantize16`] takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Broadcast(ChannelRequant);

impl Broadcast {
    pub(crate) fn new(m: crate::QuantizedMultiplier) -> Self {
        Broadcast(ChannelRequant::new(&[m; 16]))
    }

    /// `requantize(sums[i])` for 16 sums.
    ///
    /// # Safety
    /// `sums` and `out` have 16 values.
    #[inline]
    pub(crate) unsafe fn run(&self, sums: &[i32], output_offset: i32, clamp: (i8, i8), out: &mut [i8]) {
        requantize16(sums, &self.0, 0, (output_offset, clamp), out);
    }
}

/// `table[x as u8]` for 16 values of `x`: four 64-entry `tbl` lookups, each giving 0 for
/// indices outside its quarter, or-ed together.
///
/// # Safety
/// `x` and `out` have 16 values.
#[inline]
pub(crate) unsafe fn lookup16(table: &[i8; 256], x: &[i8], out: &mut [i8]) {
    let idx = vreinterpretq_u8_s8(vld1q_s8(x.as_ptr()));
    let mut acc = vdupq_n_s8(0);
    for q in 0..4 {
        let t = table.as_ptr().add(64 * q);
        let quarter = int8x16x4_t(vld1q_s8(t), vld1q_s8(t.add(16)), vld1q_s8(t.add(32)), vld1q_s8(t.add(48)));
        let shifted = vsubq_u8(idx, vdupq_n_u8(64 * q as u8));
        acc = vorrq_s8(acc, vqtbl4q_s8(quarter, shifted));
    }
    vst1q_s8(out.as_mut_ptr(), acc);
}

/// `acc += w · x.4b[LANE]` (per 32-bit lane `j`: the dot product of `w`'s bytes `4j..4j+4`
/// with `x`'s group `LANE`).
#[inline(always)]
unsafe fn sdot<const LANE: i32>(acc: int32x4_t, w: int8x16_t, x: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    asm!(
        "sdot {acc:v}.4s, {w:v}.16b, {x:v}.4b[{lane}]",
        acc = inout(vreg) acc,
        w = in(vreg) w,
        x = in(vreg) x,
        lane = const LANE,
        options(pure, nomem, nostack),
    );
    acc
}

/// The sums of block `block` for `P` pixels whose patches (each `w.padded_k` values) are
/// `patches`, each starting from the channel's folded bias: `out[p][lane]`.
///
/// # Safety
/// The CPU has the dot-product extension; every `patches[p]` holds `w.padded_k` values.
#[target_feature(enable = "dotprod")]
pub(crate) unsafe fn accumulate<const P: usize>(
    w: &PackedWeights,
    block: usize,
    patches: [&[i8]; P],
    out: &mut [[i32; LANES]; P],
) {
    let groups = w.padded_k / 4;
    let base = w.data.as_ptr().add(block * groups * 64);
    let bias = w.bias.as_ptr().add(block * LANES);
    let init: [int32x4_t; 4] = std::array::from_fn(|v| vld1q_s32(bias.add(4 * v)));
    let mut acc = [init; P];
    for chunk in 0..w.padded_k / CHUNK {
        let x: [int8x16_t; P] = std::array::from_fn(|p| vld1q_s8(patches[p].as_ptr().add(chunk * CHUNK)));
        macro_rules! group {
            ($lane:literal) => {{
                let g = base.add((chunk * 4 + $lane) * 64);
                let wv: [int8x16_t; 4] = std::array::from_fn(|v| vld1q_s8(g.add(16 * v)));
                for p in 0..P {
                    for v in 0..4 {
                        acc[p][v] = sdot::<$lane>(acc[p][v], wv[v], x[p]);
                    }
                }
            }};
        }
        group!(0);
        group!(1);
        group!(2);
        group!(3);
    }
    for p in 0..P {
        for v in 0..4 {
            vst1q_s32(out[p].as_mut_ptr().add(4 * v), acc[p][v]);
        }
    }
}

/// Per-channel requantization constants in the layout [`requantize16`] reads, padded with
/// zero multipliers to a multiple of 16 channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelRequant {
    pub(crate) multiplier: Vec<i32>,
    /// `2^(n−1)` and `−n`, `n = 31 − shift`: the int64 form.
    pub(crate) round: Vec<i64>,
    pub(crate) neg_shift: Vec<i64>,
    /// The shift itself (negative) for the `sqdmulh` form; −1 for a zero multiplier.
    pub(crate) shift: Vec<i32>,
    /// Per chunk of 16 channels: every shift negative, so the `sqdmulh` form is exact.
    pub(crate) fast: Vec<bool>,
}

impl ChannelRequant {
    pub(crate) fn new(requant: &[crate::QuantizedMultiplier]) -> Self {
        let padded = requant.len().div_ceil(16) * 16;
        let at = |c: usize| requant.get(c).copied().unwrap_or(crate::QuantizedMultiplier::ZERO);
        let n = |c: usize| i64::from(31 - at(c).shift);
        let shift = |c: usize| if at(c) == crate::QuantizedMultiplier::ZERO { -1 } else { at(c).shift };
        ChannelRequant {
            multiplier: (0..padded).map(|c| at(c).multiplier).collect(),
            round: (0..padded).map(|c| 1i64 << (n(c) - 1)).collect(),
            neg_shift: (0..padded).map(|c| -n(c)).collect(),
            shift: (0..padded).map(shift).collect(),
            fast: (0..padded / 16).map(|chunk| (16 * chunk..16 * chunk + 16).all(|c| shift(c) < 0)).collect(),
        }
    }
}

/// Where one output pixel of a depthwise convolution reads: the input pixel of tap (0, 0)
/// and the strides between pixels (channels) and rows of the padded input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DepthwiseTaps {
    pub(crate) origin: *const i8,
    pub(crate) pixel_stride: usize,
    pub(crate) row_stride: usize,
    pub(crate) kernel_h: usize,
    pub(crate) kernel_w: usize,
    /// Weights `[kh][kw][c]` at channel 0; taps are `pixel_stride` apart.
    pub(crate) weights: *const i8,
}

/// One output pixel of a depthwise convolution for channels `c0..c0+16`: the bias plus
/// every tap's `x · w` (`vmull` to 16 bits, widened into 32-bit accumulators), requantized
/// into `out`.
///
/// # Safety
/// Input and weights are readable 16 values past `c0` at every tap; `bias` and `out` have
/// 16 values; `rq` covers `c0 + 16` channels.
#[inline]
pub(crate) unsafe fn depthwise16(
    t: &DepthwiseTaps,
    c0: usize,
    bias: &[i32],
    rq: &ChannelRequant,
    (output_offset, clamp): (i32, (i8, i8)),
    out: &mut [i8],
) {
    let mut acc: [int32x4_t; 4] = std::array::from_fn(|v| vld1q_s32(bias.as_ptr().add(4 * v)));
    for ky in 0..t.kernel_h {
        for kx in 0..t.kernel_w {
            let xv = vld1q_s8(t.origin.add(ky * t.row_stride + kx * t.pixel_stride + c0));
            let wv = vld1q_s8(t.weights.add((ky * t.kernel_w + kx) * t.pixel_stride + c0));
            let lo = vmull_s8(vget_low_s8(xv), vget_low_s8(wv));
            let hi = vmull_high_s8(xv, wv);
            acc[0] = vaddw_s16(acc[0], vget_low_s16(lo));
            acc[1] = vaddw_high_s16(acc[1], lo);
            acc[2] = vaddw_s16(acc[2], vget_low_s16(hi));
            acc[3] = vaddw_high_s16(acc[3], hi);
        }
    }
    let mut sums = [0i32; 16];
    for (v, a) in acc.iter().enumerate() {
        vst1q_s32(sums.as_mut_ptr().add(4 * v), *a);
    }
    requantize16(&sums, rq, c0, (output_offset, clamp), out);
}
