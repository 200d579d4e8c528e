//! The x86-64 AVX2 path of [`super::FastConv`]: weights widened to i16 and packed 16
//! output channels by 2 patch values (two 256-bit vectors per pair), patches held as
//! i16 pairs, and `vpmaddwd` accumulating 4 output pixels × 16 channels in 8 registers.
//! With AVX-512 VNNI (256-bit forms, `vpdpwssd`) the multiply and the add are one
//! instruction.

use std::arch::x86_64::*;

/// Output channels per packed block.
pub(crate) const LANES: usize = 16;

/// Weights of every filter, packed for [`accumulate`]: block `b` (channels `16b..16b+16`,
/// zero past the last channel), pair `q` (patch values `2q`, `2q+1`, zero past the end)
/// holds 32 i16: for each channel its two weights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackedWeights {
    pub(crate) blocks: usize,
    pub(crate) pairs: usize,
    data: Vec<i16>,
}

impl PackedWeights {
    /// Packs `weights` (`out_channels` filters of `k` values each, contiguous).
    pub(crate) fn new(weights: &[i8], out_channels: usize, k: usize) -> Self {
        let blocks = out_channels.div_ceil(LANES);
        let pairs = k.div_ceil(2);
        let mut data = vec![0i16; blocks * pairs * 2 * LANES];
        for oc in 0..out_channels {
            let (b, lane) = (oc / LANES, oc % LANES);
            for (i, &w) in weights[oc * k..(oc + 1) * k].iter().enumerate() {
                data[((b * pairs + i / 2) * LANES + lane) * 2 + i % 2] = i16::from(w);
            }
        }
        PackedWeights { blocks, pairs, data }
    }
}

/// Writes `patch` as i16 pairs, each packed in an i32 (low half the even value), the last
/// high half 0 for an odd length.
pub(crate) fn to_pairs(patch: &[i8], pairs: &mut [i32]) {
    for (q, pair) in pairs.iter_mut().enumerate() {
        let lo = patch.get(2 * q).copied().unwrap_or(0);
        let hi = patch.get(2 * q + 1).copied().unwrap_or(0);
        *pair = i32::from(lo as i16 as u16) | (i32::from(hi as i16 as u16) << 16);
    }
}

/// The sums of block `block` for `P` pixels (their patches as pairs): `out[p][lane]`.
///
/// # Safety
/// The CPU has AVX2 (and AVX-512 VNNI with VL when `VNNI`); every `patches[p]` holds
/// `w.pairs` values.
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn accumulate<const P: usize>(
    w: &PackedWeights,
    block: usize,
    patches: [&[i32]; P],
    out: &mut [[i32; LANES]; P],
) {
    let base = w.data.as_ptr().add(block * w.pairs * 2 * LANES) as *const __m256i;
    let mut lo = [_mm256_setzero_si256(); P];
    let mut hi = [_mm256_setzero_si256(); P];
    for q in 0..w.pairs {
        let w0 = _mm256_loadu_si256(base.add(2 * q));
        let w1 = _mm256_loadu_si256(base.add(2 * q + 1));
        for p in 0..P {
            let x = _mm256_set1_epi32(*patches[p].get_unchecked(q));
            lo[p] = _mm256_add_epi32(lo[p], _mm256_madd_epi16(x, w0));
            hi[p] = _mm256_add_epi32(hi[p], _mm256_madd_epi16(x, w1));
        }
    }
    for p in 0..P {
        _mm256_storeu_si256(out[p].as_mut_ptr() as *mut __m256i, lo[p]);
        _mm256_storeu_si256(out[p].as_mut_ptr().add(8) as *mut __m256i, hi[p]);
    }
}

/// [`accumulate`] with `vpdpwssd`.
///
/// # Safety
/// The CPU has AVX-512 VNNI and VL; every `patches[p]` holds `w.pairs` values.
#[target_feature(enable = "avx2,avx512vnni,avx512vl")]
#[inline]
pub(crate) unsafe fn accumulate_vnni<const P: usize>(
    w: &PackedWeights,
    block: usize,
    patches: [&[i32]; P],
    out: &mut [[i32; LANES]; P],
) {
    let base = w.data.as_ptr().add(block * w.pairs * 2 * LANES) as *const __m256i;
    let mut lo = [_mm256_setzero_si256(); P];
    let mut hi = [_mm256_setzero_si256(); P];
    for q in 0..w.pairs {
        let w0 = _mm256_loadu_si256(base.add(2 * q));
        let w1 = _mm256_loadu_si256(base.add(2 * q + 1));
        for p in 0..P {
            let x = _mm256_set1_epi32(*patches[p].get_unchecked(q));
            lo[p] = _mm256_dpwssd_epi32(lo[p], x, w0);
            hi[p] = _mm256_dpwssd_epi32(hi[p], x, w1);
        }
    }
    for p in 0..P {
        _mm256_storeu_si256(out[p].as_mut_ptr() as *mut __m256i, lo[p]);
        _mm256_storeu_si256(out[p].as_mut_ptr().add(8) as *mut __m256i, hi[p]);
    }
}
