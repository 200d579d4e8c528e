//! Fast kernels: the same functions as the reference `eval`s of [`crate::ops`], bit for bit,
//! computed with the input zero point folded into the bias offline, padding materialized
//! with the zero point, and inner loops shaped for the compiler's vectorizer. The
//! instruction set is picked once at run time ([`Isa::detect`]): AVX2 on x86-64, the
//! dot-product extension on aarch64, the baseline otherwise (SSE2, NEON, scalar).
//!
//! Why the folding is exact: the reference sums `w · (x + input_offset)` over the taps
//! inside the input. With every padded tap holding the input's zero point
//! (`−input_offset`), `Σ_all w · x + input_offset · Σ_all w` is the same sum; the int32
//! arithmetic wraps, so it equals the reference whenever the reference's accumulator
//! fits in int32, which `Int8Program::check` guarantees.

#[cfg(target_arch = "aarch64")]
mod aarch64;
mod conv;
mod depthwise;
mod elementwise;
mod pool;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use conv::{ConvScratch, FastConv};
pub use depthwise::FastDepthwise;
pub use elementwise::{FastAdd, FastRequantize};
pub use pool::FastAvgPool;

/// The instruction set the kernels were compiled for and run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// The target's baseline (SSE2 on x86-64, NEON on aarch64, scalar elsewhere).
    Baseline,
    /// x86-64 with AVX2 (256-bit `vpmaddwd`).
    Avx2,
    /// x86-64 with AVX2 and AVX-512 VNNI (256-bit `vpdpwssd`).
    Avx512Vnni,
    /// aarch64 with the dot-product extension (`sdot`).
    DotProd,
}

impl Isa {
    /// The best instruction set this CPU has, unless `EDGENAS_KERNELS_BASELINE` is set
    /// (to compare the paths on one machine).
    pub fn detect() -> Isa {
        if std::env::var_os("EDGENAS_KERNELS_BASELINE").is_some() {
            return Isa::Baseline;
        }
        #[cfg(target_arch = "x86_64")]
        if Isa::Avx512Vnni.is_available() {
            return Isa::Avx512Vnni;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Isa::Avx2;
        }
        #[cfg(target_arch = "aarch64")]
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            return Isa::DotProd;
        }
        Isa::Baseline
    }

    /// Whether this CPU can run kernels compiled for `self`.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Vnni => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
                    && std::arch::is_x86_feature_detected!("avx512vl")
            }
            #[cfg(target_arch = "aarch64")]
            Isa::DotProd => std::arch::is_aarch64_feature_detected!("dotprod"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

/// Runs `body` compiled for `isa` (the body is inlined into a function with that target
/// feature enabled, so the vectorizer may use it). `isa` must be available.
macro_rules! dispatch {
    ($isa:expr, $body:expr) => {{
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        #[cfg(target_arch = "aarch64")]
        #[target_feature(enable = "dotprod")]
        unsafe fn with_dotprod<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        match $isa {
            // SAFETY: an `Isa` other than `Baseline` is only used where `is_available`.
            #[cfg(target_arch = "x86_64")]
            $crate::fast::Isa::Avx2 | $crate::fast::Isa::Avx512Vnni => unsafe { with_avx2($body) },
            // SAFETY: as above.
            #[cfg(target_arch = "aarch64")]
            $crate::fast::Isa::DotProd => unsafe { with_dotprod($body) },
            _ => ($body)(),
        }
    }};
}
pub(crate) use dispatch;

/// `Σ (x[i] · w_j[i])` for `N` filters at once (one pass over `x`, `N` accumulators), in
/// wrapping int32 arithmetic. Every `w_j` is at least as long as `x`.
#[inline(always)]
pub(crate) fn dots<const N: usize>(x: &[i8], w: [&[i8]; N]) -> [i32; N] {
    let n = x.len();
    let w: [&[i8]; N] = w.map(|wj| &wj[..n]);
    let mut acc = [0i32; N];
    for i in 0..n {
        let a = i32::from(x[i]);
        for j in 0..N {
            acc[j] = acc[j].wrapping_add(a * i32::from(w[j][i]));
        }
    }
    acc
}

/// `clamp(requant(acc) + output_offset, act_min, act_max)` as int8: the reference's
/// output step.
#[inline(always)]
pub(crate) fn requantize(acc: i32, m: crate::QuantizedMultiplier, output_offset: i32, lo: i8, hi: i8) -> i8 {
    crate::clamp_i8(m.apply(acc).wrapping_add(output_offset), lo, hi)
}
