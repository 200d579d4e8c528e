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
}

impl PackedWeights {
    pub(crate) fn new(weights: &[i8], out_channels: usize, k: usize) -> Self {
        let blocks = out_channels.div_ceil(LANES);
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
        PackedWeights { blocks, padded_k, data }
    }
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
/// `patches`: `out[p][lane]`.
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
    let mut acc = [[vdupq_n_s32(0); 4]; P];
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
