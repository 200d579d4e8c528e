/*
 * edgenas int8 kernels for microcontrollers, generated alongside model.c.
 *
 * Contract: every function computes exactly what the op of the same name computes in
 * edgenas_compiler::mcu (the Rust reference), bit for bit, for every input. Activations
 * are int8, channels last (HWC); weights int8 with zero zero points; biases int32;
 * requantization by a Q31 multiplier and a shift per output channel, rounded once
 * (edgenas_requantize).
 * No allocation, no libc beyond memcpy/memset, no floating point.
 *
 * All functions are static inline so that model.c's per-layer calls, whose shapes are
 * literals, compile to code specialized for each layer.
 *
 * EDGENAS_USE_DSP (set by model.h when the target has the Cortex-M DSP extension) selects
 * kernels that pack two 16-bit values per register and multiply-accumulate both with one
 * SMLAD. They give the same results as the portable ones.
 */
#ifndef EDGENAS_KERNELS_H
#define EDGENAS_KERNELS_H

#include <stdint.h>
#include <string.h>

#if EDGENAS_USE_DSP
#include <arm_acle.h>
#endif

#define EDGENAS_INLINE static inline __attribute__((always_inline))

/* Largest kernel side of the DSP depthwise path (larger ones take the scalar loop). */
#define EDGENAS_DW_MAX_KERNEL 8

/* Bits an add's inputs are shifted left by before rescaling (edgenas_compiler::mcu::ADD_LEFT_SHIFT). */
#define EDGENAS_ADD_LEFT_SHIFT 20

/* round(x * m) for m = mult * 2^(shift - 31), ties up, saturated: the 64-bit product plus
 * half, shifted right by 31 - shift (edgenas_compiler::mcu::requant; one rounding). */
EDGENAS_INLINE int32_t edgenas_requantize(int32_t x, int32_t mult, int32_t shift)
{
    int32_t n = 31 - shift;
    int64_t rounded = ((int64_t)x * (int64_t)mult + ((int64_t)1 << (n - 1))) >> n;
    return rounded > INT32_MAX ? INT32_MAX : (rounded < INT32_MIN ? INT32_MIN : (int32_t)rounded);
}

/* edgenas_requantize for shift <= -1 (m < 1/2, every convolution of a well-scaled model):
 * the same value from the high word of one SMLAL and one arithmetic shift, never
 * saturating (|x * m| < 2^30). */
EDGENAS_INLINE int32_t edgenas_requantize_small(int32_t x, int32_t mult, int32_t shift)
{
    int32_t r = -1 - shift;
    uint32_t lo = r == 0 ? 0x80000000u : 0u;
    int32_t hi = r == 0 ? 0 : (int32_t)(1u << (r - 1));
    int64_t p = (int64_t)(((uint64_t)(uint32_t)hi << 32) | lo) + (int64_t)x * (int64_t)mult;
    return (int32_t)(p >> 32) >> r;
}

EDGENAS_INLINE int8_t edgenas_clamp(int32_t v, int32_t lo, int32_t hi)
{
#if EDGENAS_USE_DSP
    if (lo == -128 && hi == 127) {
        return (int8_t)__ssat(v, 8);
    }
#endif
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

/* edgenas_requantize_small for shift <= -2 (m < 1/4): with DSP one SMMLA adds the rounding
 * half (2^(r-1) in the high word, r = -1 - shift = ~shift) to the product and keeps the
 * high word. */
EDGENAS_INLINE int32_t edgenas_requantize_smaller(int32_t x, int32_t mult, int32_t shift)
{
#if EDGENAS_USE_DSP
    int32_t high;
    __asm("smmla %0, %1, %2, %3" : "=r"(high) : "r"(x), "r"(mult), "r"((int32_t)(0x40000000u >> (32 + shift))));
    return high >> ~shift;
#else
    return edgenas_requantize_small(x, mult, shift);
#endif
}

/* Output value of a convolution-like op from its accumulator; `small` (a literal) selects
 * the requantization: 2 when every shift of the layer is <= -2 (edgenas_requantize_smaller),
 * 1 when every shift is <= -1 (edgenas_requantize_small), 0 otherwise. */
EDGENAS_INLINE int8_t edgenas_output(int32_t acc, int32_t mult, int32_t shift, int32_t small, int32_t out_offset,
                                      int32_t act_min, int32_t act_max)
{
    int32_t v = small == 2   ? edgenas_requantize_smaller(acc, mult, shift)
                : small == 1 ? edgenas_requantize_small(acc, mult, shift)
                             : edgenas_requantize(acc, mult, shift);
    return edgenas_clamp(v + out_offset, act_min, act_max);
}

#if EDGENAS_USE_DSP
/* Two int8 pairs of a word, sign-extended to int16 lanes: bytes 0 and 2 (even), 1 and 3
 * (odd). Products of two words unpacked alike pair up lane by lane. */
EDGENAS_INLINE uint32_t edgenas_even_lanes(uint32_t w)
{
    return __sxtb16(w);
}
/* One SXTB16 with its rotate (gcc 12 does not fold a separate rotate into it). */
EDGENAS_INLINE uint32_t edgenas_odd_lanes(uint32_t w)
{
    uint32_t r;
    __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
    return r;
}
/* offset2 + the odd bytes of w, sign-extended: one SXTAB16 with its rotate. */
EDGENAS_INLINE uint32_t edgenas_add_odd_lanes(uint32_t offset2, uint32_t w)
{
    uint32_t r;
    __asm("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(offset2), "r"(w));
    return r;
}
EDGENAS_INLINE uint32_t edgenas_load32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/*
 * Two pixels' columns for edgenas_dot_2x2, interleaved: per group of four values, four
 * words [pixel 0 even pair, pixel 0 odd pair, pixel 1 even pair, pixel 1 odd pair] (one
 * post-incremented pointer walks both pixels). edgenas_widen writes the q15 pairs of n
 * values of `src` plus the offset into one pixel's words, from `cols` on (cols: the
 * pixel's first word); a last group of fewer than four values has its missing lanes zero.
 */
EDGENAS_INLINE void edgenas_widen(const int8_t *src, int32_t n, uint32_t offset2, uint32_t *cols)
{
    int32_t i = 0;
#pragma GCC unroll 8
    for (; i + 4 <= n; i += 4) {
        uint32_t v, even, odd;
        __asm volatile("ldr %[v], [%[src]], #4\n\t"
                       "sxtab16 %[even], %[offset2], %[v]\n\t"
                       "sxtab16 %[odd], %[offset2], %[v], ror #8\n\t"
                       "strd %[even], %[odd], [%[cols]], #16\n\t"
                       : [v] "=&r"(v), [even] "=&r"(even), [odd] "=&r"(odd), [src] "+r"(src), [cols] "+r"(cols)
                       : [offset2] "r"(offset2)
                       : "memory");
    }
    if (i < n) {
        /* src and cols have moved past the whole groups */
        int8_t tail[4] = {0, 0, 0, 0};
        for (int32_t k = 0; i + k < n; k++) {
            tail[k] = src[k];
        }
        uint32_t v = edgenas_load32(tail);
        int32_t left = n - i;
        uint32_t even_mask = left >= 3 ? 0xffffffffu : 0x0000ffffu;
        uint32_t odd_mask = left >= 4 ? 0xffffffffu : (left >= 2 ? 0x0000ffffu : 0u);
        cols[0] = __sxtab16(offset2, v) & even_mask;
        cols[1] = edgenas_add_odd_lanes(offset2, v) & odd_mask;
    }
}
/* offset2: the offset in both 16-bit lanes. */
EDGENAS_INLINE uint32_t edgenas_offset2(int32_t offset)
{
    return ((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset;
}
#endif

#if EDGENAS_USE_DSP
/* One group of four values in edgenas_dot_2x2: two LDRD of both pixels' pairs, then per
 * filter a word load, two SXTB16 and four SMLAD (sixteen multiply-accumulates in sixteen
 * instructions). */
#define EDGENAS_DOT_GROUP                                   \
    "ldrd %[x0e], %[x0o], [%[c]], #8\n\t"                   \
    "ldrd %[x1e], %[x1o], [%[c]], #8\n\t"                   \
    "ldr %[w], [%[f0]], #4\n\t"                             \
    "sxtb16 %[we], %[w]\n\t"                                \
    "sxtb16 %[w], %[w], ror #8\n\t"                         \
    "smlad %[a00], %[we], %[x0e], %[a00]\n\t"               \
    "smlad %[a01], %[we], %[x1e], %[a01]\n\t"               \
    "smlad %[a00], %[w], %[x0o], %[a00]\n\t"                \
    "smlad %[a01], %[w], %[x1o], %[a01]\n\t"                \
    "ldr %[w], [%[f0], %[f1]]\n\t"                         \
    "sxtb16 %[we], %[w]\n\t"                                \
    "sxtb16 %[w], %[w], ror #8\n\t"                         \
    "smlad %[a10], %[we], %[x0e], %[a10]\n\t"               \
    "smlad %[a11], %[we], %[x1e], %[a11]\n\t"               \
    "smlad %[a10], %[w], %[x0o], %[a10]\n\t"                \
    "smlad %[a11], %[w], %[x1o], %[a11]\n\t"

/* Largest f1_offset of edgenas_dot_2x2's assembly (LDR's 12-bit immediate offset, less
 * the 4 that f0 has advanced by then). */
#define EDGENAS_DOT_MAX_OFFSET 4099

#define EDGENAS_DOT_OPERANDS                                                                                  \
    : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [c] "+r"(c), [f0] "+r"(f0),       \
      [x0e] "=&r"(x0e), [x0o] "=&r"(x0o), [x1e] "=&r"(x1e), [x1o] "=&r"(x1o), [w] "=&r"(w), [we] "=&r"(we)    \
    : [f1] "i"(f1_offset - 4)

/* Dot products of filters f0 and f1 (k int8 each) with two pixels' columns c (the
 * interleaved q15 pairs of edgenas_widen), added to acc = {f0.p0, f0.p1, f1.p0, f1.p1}.
 * All groups run in assembly, two per loop turn, with every value in a register (f1's
 * words are read at a literal offset from f0's). A last group of fewer than four values
 * reads up to three bytes past its filter (the next filter's, or the weight array's zero
 * padding), which meet the zero lanes of its columns.
 * f1_offset: a literal, k (the next filter) or 0 (f1 is f0). */
EDGENAS_INLINE void edgenas_dot_2x2(const int8_t *f0, int32_t f1_offset, const uint32_t *c, int32_t k, int32_t *acc)
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t groups = (k + 3) / 4;
    uint32_t x0e, x0o, x1e, x1o, w, we;
    if (f1_offset > EDGENAS_DOT_MAX_OFFSET) {
        for (int32_t g = 0; g < groups; g++) {
            uint32_t v = edgenas_load32(f0), u = edgenas_load32(f0 + f1_offset);
            uint32_t ve = edgenas_even_lanes(v), vo = edgenas_odd_lanes(v);
            uint32_t ue = edgenas_even_lanes(u), uo = edgenas_odd_lanes(u);
            a00 = __smlad(vo, c[1], __smlad(ve, c[0], a00));
            a01 = __smlad(vo, c[3], __smlad(ve, c[2], a01));
            a10 = __smlad(uo, c[1], __smlad(ue, c[0], a10));
            a11 = __smlad(uo, c[3], __smlad(ue, c[2], a11));
            f0 += 4;
            c += 4;
        }
    } else {
        if (groups & 1) {
            __asm volatile(EDGENAS_DOT_GROUP EDGENAS_DOT_OPERANDS : "memory");
        }
        if (groups >= 2) {
            const uint32_t *end = c + 4 * (groups & ~1);
            __asm volatile("1:\n\t" EDGENAS_DOT_GROUP EDGENAS_DOT_GROUP "cmp %[c], %[end]\n\t"
                           "bne 1b\n\t" EDGENAS_DOT_OPERANDS, [end] "r"(end)
                           : "cc", "memory");
        }
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* One group of four values in edgenas_dot_2x2_wide: two LDRD of both pixels' pairs, then
 * per filter one LDRD of its q15 pairs and four SMLAD (sixteen multiply-accumulates in
 * twelve instructions). */
#define EDGENAS_DOT_WIDE_GROUP                              \
    "ldrd %[x0e], %[x0o], [%[c]], #8\n\t"                   \
    "ldrd %[x1e], %[x1o], [%[c]], #8\n\t"                   \
    "ldrd %[we], %[wo], [%[f]], #8\n\t"                     \
    "smlad %[a00], %[we], %[x0e], %[a00]\n\t"               \
    "smlad %[a01], %[we], %[x1e], %[a01]\n\t"               \
    "smlad %[a00], %[wo], %[x0o], %[a00]\n\t"               \
    "smlad %[a01], %[wo], %[x1o], %[a01]\n\t"               \
    "ldrd %[we], %[wo], [%[f]], #8\n\t"                     \
    "smlad %[a10], %[we], %[x0e], %[a10]\n\t"               \
    "smlad %[a11], %[we], %[x1e], %[a11]\n\t"               \
    "smlad %[a10], %[wo], %[x0o], %[a10]\n\t"               \
    "smlad %[a11], %[wo], %[x1o], %[a11]\n\t"

#define EDGENAS_DOT_WIDE_OPERANDS                                                                              \
    : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11), [c] "+r"(c), [f] "+r"(f),          \
      [x0e] "=&r"(x0e), [x0o] "=&r"(x0o), [x1e] "=&r"(x1e), [x1o] "=&r"(x1o), [we] "=&r"(we), [wo] "=&r"(wo) \
    :

/* edgenas_dot_2x2 with the two filters' weights pre-widened (twice the flash, no SXTB16 in
 * the loop): f holds, per group of four values, filter 0's q15 pairs (w0, w2), (w1, w3),
 * then filter 1's (edgenas_compiler::mcu::codegen writes them; zero past k). */
EDGENAS_INLINE void edgenas_dot_2x2_wide(const int16_t *f, const uint32_t *c, int32_t k, int32_t *acc)
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t groups = (k + 3) / 4;
    uint32_t x0e, x0o, x1e, x1o, we, wo;
    if (groups & 1) {
        __asm volatile(EDGENAS_DOT_WIDE_GROUP EDGENAS_DOT_WIDE_OPERANDS : "memory");
    }
    if (groups >= 2) {
        const uint32_t *end = c + 4 * (groups & ~1);
        __asm volatile("1:\n\t" EDGENAS_DOT_WIDE_GROUP EDGENAS_DOT_WIDE_GROUP "cmp %[c], %[end]\n\t"
                       "bne 1b\n\t" EDGENAS_DOT_WIDE_OPERANDS [end] "r"(end)
                       : "cc", "memory");
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* The output channels of two pixels (y0, and y1 unless null; channel oc at y[oc * ycs])
 * from their interleaved columns, two filters at a time. w: [yc][k]; or, unless null, wq:
 * the same weights pre-widened, filter pair by filter pair (edgenas_dot_2x2_wide; an odd
 * last filter paired with zeros). */
EDGENAS_INLINE void edgenas_matmul_2px(const uint32_t *cols, int32_t k, const int8_t *w, const int16_t *wq,
                                       const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t small,
                                       int8_t *y0, int8_t *y1, int32_t yc, int32_t ycs, int32_t out_offset,
                                       int32_t act_min, int32_t act_max)
{
    int32_t oc = 0;
    int32_t pair_values = (k + 3) / 4 * 8;
    for (; oc + 2 <= yc; oc += 2) {
        int32_t acc[4] = {bias[oc], bias[oc], bias[oc + 1], bias[oc + 1]};
        if (wq) {
            edgenas_dot_2x2_wide(wq + oc / 2 * pair_values, cols, k, acc);
        } else {
            edgenas_dot_2x2(w + oc * k, k, cols, k, acc);
        }
        y0[oc * ycs] = edgenas_output(acc[0], mult[oc], shift[oc], small, out_offset, act_min, act_max);
        y0[(oc + 1) * ycs] = edgenas_output(acc[2], mult[oc + 1], shift[oc + 1], small, out_offset, act_min, act_max);
        if (y1) {
            y1[oc * ycs] = edgenas_output(acc[1], mult[oc], shift[oc], small, out_offset, act_min, act_max);
            y1[(oc + 1) * ycs] =
                edgenas_output(acc[3], mult[oc + 1], shift[oc + 1], small, out_offset, act_min, act_max);
        }
    }
    if (oc < yc) {
        int32_t acc[4] = {bias[oc], bias[oc], bias[oc], bias[oc]};
        if (wq) {
            edgenas_dot_2x2_wide(wq + oc / 2 * pair_values, cols, k, acc);
        } else {
            edgenas_dot_2x2(w + oc * k, 0, cols, k, acc);
        }
        y0[oc * ycs] = edgenas_output(acc[0], mult[oc], shift[oc], small, out_offset, act_min, act_max);
        if (y1) {
            y1[oc * ycs] = edgenas_output(acc[1], mult[oc], shift[oc], small, out_offset, act_min, act_max);
        }
    }
}
#endif

/*
 * Regular convolution. x: [xh][xw][xc]; w: [yc][kh][kw][xc] (or wq, as edgenas_matmul_2px
 * takes it; DSP only); y: [yh][yw][yc]. `small`: the requantization mode (edgenas_output).
 * Scratch (DSP only): 5 * round4(kh * kw * xc) bytes, 4-aligned: two pixels' q15 columns
 * and one int8 patch (used when xc is not a multiple of 4).
 */
EDGENAS_INLINE void edgenas_conv(const int8_t *x, int32_t xh, int32_t xw, int32_t xc, const int8_t *w,
                                 const int16_t *wq, const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                 int32_t small, int8_t *y, int32_t yh, int32_t yw, int32_t yc, int32_t kh, int32_t kw,
                                 int32_t sh, int32_t sw, int32_t pt, int32_t pl, int32_t in_offset, int32_t out_offset,
                                 int32_t act_min, int32_t act_max, void *scratch)
{
#if EDGENAS_USE_DSP
    int32_t k = kh * kw * xc;
    int32_t k4 = (k + 3) / 4 * 4;
    uint32_t *cols = (uint32_t *)scratch;
    int8_t *patch = (int8_t *)(cols + k4);
    uint32_t offset2 = edgenas_offset2(in_offset);
    int32_t pixels = yh * yw;
    for (int32_t p = 0; p < pixels; p += 2) {
        int32_t two = p + 1 < pixels;
        for (int32_t j = 0; j < 2; j++) {
            int32_t q = two ? p + j : p;
            int32_t oy = q / yw, ox = q % yw;
            uint32_t *col = cols + 2 * j;
            if (xc % 4 == 0) {
                /* whole groups per tap: widened straight from the input, pads as zeros */
                for (int32_t ky = 0; ky < kh; ky++) {
                    int32_t iy = oy * sh + ky - pt;
                    for (int32_t kx = 0; kx < kw; kx++) {
                        int32_t ix = ox * sw + kx - pl;
                        if (iy < 0 || iy >= xh || ix < 0 || ix >= xw) {
                            for (int32_t g = 0; g < xc / 4; g++) {
                                col[4 * g] = 0;
                                col[4 * g + 1] = 0;
                            }
                        } else {
                            edgenas_widen(x + (iy * xw + ix) * xc, xc, offset2, col);
                        }
                        col += xc;
                    }
                }
            } else {
                int32_t n = 0;
                for (int32_t ky = 0; ky < kh; ky++) {
                    int32_t iy = oy * sh + ky - pt;
                    for (int32_t kx = 0; kx < kw; kx++) {
                        int32_t ix = ox * sw + kx - pl;
                        if (iy < 0 || iy >= xh || ix < 0 || ix >= xw) {
                            memset(patch + n, (int8_t)(-in_offset), (size_t)xc);
                        } else {
                            memcpy(patch + n, x + (iy * xw + ix) * xc, (size_t)xc);
                        }
                        n += xc;
                    }
                }
                edgenas_widen(patch, k, offset2, col);
            }
        }
        edgenas_matmul_2px(cols, k, w, wq, bias, mult, shift, small, y + p * yc, two ? y + (p + 1) * yc : 0, yc, 1,
                           out_offset, act_min, act_max);
    }
#else
    (void)scratch;
    (void)wq;
    int32_t k = kh * kw * xc;
    for (int32_t oy = 0; oy < yh; oy++) {
        for (int32_t ox = 0; ox < yw; ox++) {
            for (int32_t oc = 0; oc < yc; oc++) {
                const int8_t *f = w + oc * k;
                int32_t acc = bias[oc];
                for (int32_t ky = 0; ky < kh; ky++) {
                    int32_t iy = oy * sh + ky - pt;
                    if (iy < 0 || iy >= xh) {
                        continue;
                    }
                    for (int32_t kx = 0; kx < kw; kx++) {
                        int32_t ix = ox * sw + kx - pl;
                        if (ix < 0 || ix >= xw) {
                            continue;
                        }
                        const int8_t *px = x + (iy * xw + ix) * xc;
                        const int8_t *fw = f + (ky * kw + kx) * xc;
                        for (int32_t ci = 0; ci < xc; ci++) {
                            acc += fw[ci] * (px[ci] + in_offset);
                        }
                    }
                }
                y[(oy * yw + ox) * yc + oc] =
                    edgenas_output(acc, mult[oc], shift[oc], small, out_offset, act_min, act_max);
            }
        }
    }
#endif
}

/*
 * 1x1 convolution, stride 1, no padding, over `pixels` pixels. w: [yc][xc] (or wq, as
 * edgenas_matmul_2px takes it; DSP only). Output channel oc of pixel p at
 * y[p * yps + oc * ycs] (HWC: yps = yc, ycs = 1).
 * Scratch (DSP only): 2 * 2 * round4(xc) bytes, 4-aligned.
 */
EDGENAS_INLINE void edgenas_pointwise_strided(const int8_t *x, int32_t pixels, int32_t xc, const int8_t *w,
                                              const int16_t *wq, const int32_t *bias, const int32_t *mult,
                                              const int32_t *shift, int32_t small, int8_t *y, int32_t yc,
                                              int32_t yps, int32_t ycs, int32_t in_offset, int32_t out_offset,
                                              int32_t act_min, int32_t act_max, void *scratch)
{
#if EDGENAS_USE_DSP
    uint32_t *cols = (uint32_t *)scratch;
    uint32_t offset2 = edgenas_offset2(in_offset);
    for (int32_t p = 0; p < pixels; p += 2) {
        int32_t two = p + 1 < pixels;
        edgenas_widen(x + p * xc, xc, offset2, cols);
        edgenas_widen(x + (two ? p + 1 : p) * xc, xc, offset2, cols + 2);
        edgenas_matmul_2px(cols, xc, w, wq, bias, mult, shift, small, y + p * yps, two ? y + (p + 1) * yps : 0, yc,
                           ycs, out_offset, act_min, act_max);
    }
#else
    (void)scratch;
    (void)wq;
    for (int32_t p = 0; p < pixels; p++) {
        const int8_t *px = x + p * xc;
        for (int32_t oc = 0; oc < yc; oc++) {
            const int8_t *f = w + oc * xc;
            int32_t acc = bias[oc];
            for (int32_t ci = 0; ci < xc; ci++) {
                acc += f[ci] * (px[ci] + in_offset);
            }
            y[p * yps + oc * ycs] = edgenas_output(acc, mult[oc], shift[oc], small, out_offset, act_min, act_max);
        }
    }
#endif
}

/* edgenas_pointwise_strided writing HWC. */
EDGENAS_INLINE void edgenas_pointwise(const int8_t *x, int32_t pixels, int32_t xc, const int8_t *w,
                                      const int16_t *wq, const int32_t *bias, const int32_t *mult,
                                      const int32_t *shift, int32_t small, int8_t *y, int32_t yc, int32_t in_offset,
                                      int32_t out_offset, int32_t act_min, int32_t act_max, void *scratch)
{
    edgenas_pointwise_strided(x, pixels, xc, w, wq, bias, mult, shift, small, y, yc, yc, 1, in_offset, out_offset,
                              act_min, act_max, scratch);
}

/* One channel's depthwise filter (kh x kw int8 taps) as the row helper reads it: with DSP,
 * per window row the q15 pairs (w0, w2) and w1 of a 3-wide filter, or pairs of four taps
 * (zero past kw) of a wider one. */
typedef struct {
    int32_t start;
#if EDGENAS_USE_DSP
    uint32_t outer[EDGENAS_DW_MAX_KERNEL];
    int32_t middle[EDGENAS_DW_MAX_KERNEL];
    uint32_t pairs[EDGENAS_DW_MAX_KERNEL * 2 * 2];
#endif
} edgenas_dw_filter;

/* The filter f of one channel, its accumulator start bias + in_offset * (sum of taps): the
 * input offset folded in, which the pads (holding -in_offset) cancel exactly. */
EDGENAS_INLINE void edgenas_dw_prepare(const int8_t *f, int32_t bias, int32_t in_offset, int32_t kh, int32_t kw,
                                       edgenas_dw_filter *filter)
{
    int32_t start = bias;
    for (int32_t t = 0; t < kh * kw; t++) {
        start += in_offset * f[t];
    }
    filter->start = start;
#if EDGENAS_USE_DSP
    if (kh > EDGENAS_DW_MAX_KERNEL || kw > EDGENAS_DW_MAX_KERNEL) {
        return;
    }
    if (kw == 3) {
#pragma GCC unroll 8
        for (int32_t ky = 0; ky < kh; ky++) {
            filter->outer[ky] = (uint32_t)(uint16_t)f[ky * 3] | ((uint32_t)(uint16_t)f[ky * 3 + 2] << 16);
            filter->middle[ky] = f[ky * 3 + 1];
        }
    }
    int32_t groups = (kw + 3) / 4;
#pragma GCC unroll 8
    for (int32_t ky = 0; ky < kh; ky++) {
#pragma GCC unroll 2
        for (int32_t g = 0; g < groups; g++) {
            int32_t t[4];
            for (int32_t q = 0; q < 4; q++) {
                int32_t kx = 4 * g + q;
                t[q] = kx < kw ? f[ky * kw + kx] : 0;
            }
            filter->pairs[(ky * groups + g) * 2] = (uint32_t)(uint16_t)t[0] | ((uint32_t)(uint16_t)t[2] << 16);
            filter->pairs[(ky * groups + g) * 2 + 1] = (uint32_t)(uint16_t)t[1] | ((uint32_t)(uint16_t)t[3] << 16);
        }
    }
#endif
}

/*
 * One output row (yw values, the x-th at out[x * out_step]) of one channel: the window of
 * output x starts at rows[ky] + x * sw for window row ky (rows padded with -in_offset).
 * With DSP, 3-wide kernels at stride 1 give two outputs per window-row word; other kernels
 * up to EDGENAS_DW_MAX_KERNEL go four taps per word: a row's last word may reach 3 bytes
 * past the window.
 */
EDGENAS_INLINE void edgenas_dw_row(const int8_t *const *rows, const int8_t *f, const edgenas_dw_filter *filter,
                                   int32_t kh, int32_t kw, int32_t sw, int8_t *out, int32_t out_step, int32_t yw,
                                   int32_t mult, int32_t shift, int32_t small, int32_t out_offset, int32_t act_min,
                                   int32_t act_max)
{
    int32_t start = filter->start;
#if EDGENAS_USE_DSP
    if (kw == 3 && sw == 1 && kh <= EDGENAS_DW_MAX_KERNEL) {
        /* from one word (bytes b0..b3) per window row: the left output takes
         * (b0, b2).(w0, w2) + b1 * w1, the right one (b1, b3).(w0, w2) + b2 * w1; rows
         * and taps copied to locals, which the unrolled loops keep in registers */
        const int8_t *row[EDGENAS_DW_MAX_KERNEL];
        uint32_t outer[EDGENAS_DW_MAX_KERNEL];
        int32_t middle[EDGENAS_DW_MAX_KERNEL];
#pragma GCC unroll 8
        for (int32_t ky = 0; ky < kh; ky++) {
            row[ky] = rows[ky];
            outer[ky] = filter->outer[ky];
            middle[ky] = filter->middle[ky];
        }
        int32_t ox = 0;
        for (; ox + 2 <= yw; ox += 2) {
            int32_t left = start, right = start;
#pragma GCC unroll 8
            for (int32_t ky = 0; ky < kh; ky++) {
                uint32_t v = edgenas_load32(row[ky]);
                row[ky] += 2;
                uint32_t even = edgenas_even_lanes(v), odd = edgenas_odd_lanes(v);
                left = __smlad(even, outer[ky], left);
                left = __smlabb((int32_t)odd, middle[ky], left);
                right = __smlad(odd, outer[ky], right);
                right = __smlatb((int32_t)even, middle[ky], right);
            }
            out[0] = edgenas_output(left, mult, shift, small, out_offset, act_min, act_max);
            out[out_step] = edgenas_output(right, mult, shift, small, out_offset, act_min, act_max);
            out += 2 * out_step;
        }
        if (ox < yw) {
            int32_t acc = start;
#pragma GCC unroll 8
            for (int32_t ky = 0; ky < kh; ky++) {
                uint32_t v = edgenas_load32(row[ky]);
                acc = __smlad(edgenas_even_lanes(v), outer[ky], acc);
                acc = __smlabb((int32_t)edgenas_odd_lanes(v), middle[ky], acc);
            }
            *out = edgenas_output(acc, mult, shift, small, out_offset, act_min, act_max);
        }
        return;
    }
    if (kh <= EDGENAS_DW_MAX_KERNEL && kw <= EDGENAS_DW_MAX_KERNEL) {
        int32_t groups = (kw + 3) / 4;
        const int8_t *row[EDGENAS_DW_MAX_KERNEL];
        uint32_t pairs[EDGENAS_DW_MAX_KERNEL * 2 * 2];
#pragma GCC unroll 8
        for (int32_t ky = 0; ky < kh; ky++) {
            row[ky] = rows[ky];
        }
#pragma GCC unroll 32
        for (int32_t q = 0; q < kh * groups * 2; q++) {
            pairs[q] = filter->pairs[q];
        }
        for (int32_t ox = 0; ox < yw; ox++) {
            int32_t acc = start;
#pragma GCC unroll 8
            for (int32_t ky = 0; ky < kh; ky++) {
#pragma GCC unroll 2
                for (int32_t g = 0; g < groups; g++) {
                    uint32_t v = edgenas_load32(row[ky] + 4 * g);
                    acc = __smlad(edgenas_even_lanes(v), pairs[(ky * groups + g) * 2], acc);
                    acc = __smlad(edgenas_odd_lanes(v), pairs[(ky * groups + g) * 2 + 1], acc);
                }
                row[ky] += sw;
            }
            *out = edgenas_output(acc, mult, shift, small, out_offset, act_min, act_max);
            out += out_step;
        }
        return;
    }
#endif
    for (int32_t ox = 0; ox < yw; ox++) {
        int32_t acc = start;
        for (int32_t ky = 0; ky < kh; ky++) {
            const int8_t *row = rows[ky] + ox * sw;
            const int8_t *fk = f + ky * kw;
#pragma GCC unroll 7
            for (int32_t kx = 0; kx < kw; kx++) {
                acc += fk[kx] * row[kx];
            }
        }
        *out = edgenas_output(acc, mult, shift, small, out_offset, act_min, act_max);
        out += out_step;
    }
}

/*
 * Depthwise convolution, channel by channel: channel c's plane is copied into the
 * zero-padded scratch plane (pads hold -in_offset), then its outputs are written to channel
 * c's places in y, row by row (edgenas_dw_row). y may be x: it only overwrites values of
 * channels already copied. w: [c][kh][kw]. A window row's last word may reach 3 bytes past
 * the plane, hence the 4 more bytes of scratch. Kernels taller than EDGENAS_DW_MAX_KERNEL
 * run tap by tap.
 * Scratch: round4((xh + pt + pb) * (xw + pl + pr)) + 4 bytes.
 */
EDGENAS_INLINE void edgenas_depthwise(const int8_t *x, int32_t xh, int32_t xw, int32_t c, const int8_t *w,
                                      const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t small,
                                      int8_t *y, int32_t yh, int32_t yw, int32_t kh, int32_t kw, int32_t sh,
                                      int32_t sw, int32_t pt, int32_t pl, int32_t pb, int32_t pr, int32_t in_offset,
                                      int32_t out_offset, int32_t act_min, int32_t act_max, void *scratch)
{
    int8_t *plane = (int8_t *)scratch;
    int32_t ph = xh + pt + pb, pw = xw + pl + pr;
    int8_t pad = (int8_t)(-in_offset);
    for (int32_t ch = 0; ch < c; ch++) {
        if (pt + pb + pl + pr > 0) {
            memset(plane, pad, (size_t)(ph * pw));
        }
        for (int32_t iy = 0; iy < xh; iy++) {
            int8_t *row = plane + (iy + pt) * pw + pl;
            const int8_t *src = x + iy * xw * c + ch;
#pragma GCC unroll 4
            for (int32_t ix = 0; ix < xw; ix++) {
                *row++ = *src;
                src += c;
            }
        }
        const int8_t *f = w + ch * kh * kw;
        edgenas_dw_filter filter;
        edgenas_dw_prepare(f, bias[ch], in_offset, kh, kw, &filter);
        if (kh > EDGENAS_DW_MAX_KERNEL) {
            for (int32_t oy = 0; oy < yh; oy++) {
                for (int32_t ox = 0; ox < yw; ox++) {
                    const int8_t *win = plane + oy * sh * pw + ox * sw;
                    int32_t acc = filter.start;
                    for (int32_t t = 0; t < kh * kw; t++) {
                        acc += f[t] * win[(t / kw) * pw + t % kw];
                    }
                    y[(oy * yw + ox) * c + ch] =
                        edgenas_output(acc, mult[ch], shift[ch], small, out_offset, act_min, act_max);
                }
            }
            continue;
        }
        for (int32_t oy = 0; oy < yh; oy++) {
            const int8_t *rows[EDGENAS_DW_MAX_KERNEL];
#pragma GCC unroll 8
            for (int32_t ky = 0; ky < kh; ky++) {
                rows[ky] = plane + (oy * sh + ky) * pw;
            }
            edgenas_dw_row(rows, f, &filter, kh, kw, sw, y + oy * yw * c + ch, c, yw, mult[ch], shift[ch], small,
                           out_offset, act_min, act_max);
        }
    }
}

/*
 * A pointwise expansion and the depthwise convolution that reads it, fused so that the
 * expanded tensor (xh x xw x ec) is never stored whole: the same values as
 * edgenas_pointwise into it, then edgenas_depthwise from it. Expanded rows are computed
 * once each, in order, when an output row's window first needs them, into a ring of kh
 * rows stored channel-planar (row r, channel ch: xw + pl + pr bytes at slot r % kh) and
 * padded left and right with the depthwise's pad value; window rows above or below the map
 * read a row of pad values. Each output row is then computed channel by channel
 * (edgenas_dw_row). e_*: the pointwise (weights [ec][xc]); d_*: the depthwise (weights
 * [ec][kh][kw]). kh, kw <= EDGENAS_DW_MAX_KERNEL, sh <= kh.
 * Scratch: round4((kh * ec + 1) * (xw + pl + pr) + 4) bytes (the ring, the pad row and the
 * 3 bytes a window row's last word may reach past them), then edgenas_pointwise's scratch
 * for xc input channels.
 */
EDGENAS_INLINE void edgenas_expand_depthwise(const int8_t *x, int32_t xh, int32_t xw, int32_t xc, const int8_t *e_w,
                                             const int16_t *e_wq, const int32_t *e_bias, const int32_t *e_mult,
                                             const int32_t *e_shift, int32_t e_small, int32_t ec, int32_t e_in_offset,
                                             int32_t e_out_offset, int32_t e_act_min, int32_t e_act_max,
                                             const int8_t *d_w,
                                             const int32_t *d_bias, const int32_t *d_mult, const int32_t *d_shift,
                                             int32_t d_small, int8_t *y, int32_t yh, int32_t yw, int32_t kh,
                                             int32_t kw, int32_t sh, int32_t sw, int32_t pt, int32_t pl, int32_t pr,
                                             int32_t d_in_offset, int32_t d_out_offset, int32_t d_act_min,
                                             int32_t d_act_max, void *scratch)
{
    int32_t pw = xw + pl + pr;
    int8_t *ring = (int8_t *)scratch;
    int8_t *pad_row = ring + kh * ec * pw;
    void *pointwise_scratch = ring + ((kh * ec + 1) * pw + 4 + 3) / 4 * 4;
    memset(ring, (int8_t)(-d_in_offset), (size_t)((kh * ec + 1) * pw + 4));
    int32_t computed = 0;
    for (int32_t oy = 0; oy < yh; oy++) {
        const int8_t *slots[EDGENAS_DW_MAX_KERNEL];
        for (int32_t ky = 0; ky < kh; ky++) {
            int32_t iy = oy * sh + ky - pt;
            if (iy < 0 || iy >= xh) {
                slots[ky] = 0;
                continue;
            }
            for (; computed <= iy; computed++) {
                edgenas_pointwise_strided(x + computed * xw * xc, xw, xc, e_w, e_wq, e_bias, e_mult, e_shift, e_small,
                                          ring + (computed % kh) * ec * pw + pl, ec, 1, pw, e_in_offset,
                                          e_out_offset, e_act_min, e_act_max, pointwise_scratch);
            }
            slots[ky] = ring + (iy % kh) * ec * pw;
        }
        for (int32_t ch = 0; ch < ec; ch++) {
            const int8_t *f = d_w + ch * kh * kw;
            edgenas_dw_filter filter;
            edgenas_dw_prepare(f, d_bias[ch], d_in_offset, kh, kw, &filter);
            const int8_t *rows[EDGENAS_DW_MAX_KERNEL];
#pragma GCC unroll 8
            for (int32_t ky = 0; ky < kh; ky++) {
                rows[ky] = slots[ky] ? slots[ky] + ch * pw : pad_row;
            }
            edgenas_dw_row(rows, f, &filter, kh, kw, sw, y + oy * yw * ec + ch, ec, yw, d_mult[ch], d_shift[ch],
                           d_small, d_out_offset, d_act_min, d_act_max);
        }
    }
}

/* Element-wise add of n values (TFLite's quantized add); y may be a or b. */
EDGENAS_INLINE void edgenas_add(const int8_t *a, const int8_t *b, int8_t *y, int32_t n, int32_t a_offset,
                                int32_t a_mult, int32_t a_shift, int32_t b_offset, int32_t b_mult, int32_t b_shift,
                                int32_t out_mult, int32_t out_shift, int32_t out_offset, int32_t act_min,
                                int32_t act_max)
{
    for (int32_t i = 0; i < n; i++) {
        int32_t av = edgenas_requantize((a[i] + a_offset) * (1 << EDGENAS_ADD_LEFT_SHIFT), a_mult, a_shift);
        int32_t bv = edgenas_requantize((b[i] + b_offset) * (1 << EDGENAS_ADD_LEFT_SHIFT), b_mult, b_shift);
        y[i] = edgenas_output(av + bv, out_mult, out_shift, 0, out_offset, act_min, act_max);
    }
}

/* Element-wise rescale with a clamp (ReLU, ReLU6, Clip, requantize); y may be x. */
EDGENAS_INLINE void edgenas_requantize_n(const int8_t *x, int8_t *y, int32_t n, int32_t in_offset, int32_t mult,
                                         int32_t shift, int32_t out_offset, int32_t act_min, int32_t act_max)
{
    for (int32_t i = 0; i < n; i++) {
        y[i] = edgenas_output(x[i] + in_offset, mult, shift, 0, out_offset, act_min, act_max);
    }
}

/*
 * Average pooling, channel by channel through a scratch plane (y may be x). mult/shift
 * hold one multiplier (counts == 1: every window averages kh * kw values) or one per
 * count, index count - 1. Scratch: round4(xh * xw) bytes.
 */
EDGENAS_INLINE void edgenas_avg_pool(const int8_t *x, int32_t xh, int32_t xw, int32_t c, int8_t *y, int32_t yh,
                                     int32_t yw, int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t pt,
                                     int32_t pl, const int32_t *mult, const int32_t *shift, int32_t counts,
                                     int32_t in_offset, int32_t out_offset, int32_t act_min, int32_t act_max,
                                     void *scratch)
{
    int8_t *plane = (int8_t *)scratch;
    for (int32_t ch = 0; ch < c; ch++) {
        for (int32_t i = 0; i < xh * xw; i++) {
            plane[i] = x[i * c + ch];
        }
        for (int32_t oy = 0; oy < yh; oy++) {
            for (int32_t ox = 0; ox < yw; ox++) {
                int32_t sum = 0, count = 0;
                for (int32_t ky = 0; ky < kh; ky++) {
                    int32_t iy = oy * sh + ky - pt;
                    if (iy < 0 || iy >= xh) {
                        continue;
                    }
                    for (int32_t kx = 0; kx < kw; kx++) {
                        int32_t ix = ox * sw + kx - pl;
                        if (ix < 0 || ix >= xw) {
                            continue;
                        }
                        sum += plane[iy * xw + ix] + in_offset;
                        count++;
                    }
                }
                int32_t m = counts == 1 ? 0 : count - 1;
                y[(oy * yw + ox) * c + ch] = edgenas_output(sum, mult[m], shift[m], 0, out_offset, act_min, act_max);
            }
        }
    }
}

/* Max pooling over the taps inside the input, channel by channel (y may be x).
 * Scratch: round4(xh * xw) bytes. */
EDGENAS_INLINE void edgenas_max_pool(const int8_t *x, int32_t xh, int32_t xw, int32_t c, int8_t *y, int32_t yh,
                                     int32_t yw, int32_t kh, int32_t kw, int32_t sh, int32_t sw, int32_t pt,
                                     int32_t pl, int32_t mult, int32_t shift, int32_t in_offset, int32_t out_offset,
                                     int32_t act_min, int32_t act_max, void *scratch)
{
    int8_t *plane = (int8_t *)scratch;
    for (int32_t ch = 0; ch < c; ch++) {
        for (int32_t i = 0; i < xh * xw; i++) {
            plane[i] = x[i * c + ch];
        }
        for (int32_t oy = 0; oy < yh; oy++) {
            for (int32_t ox = 0; ox < yw; ox++) {
                int32_t max = -128;
                for (int32_t ky = 0; ky < kh; ky++) {
                    int32_t iy = oy * sh + ky - pt;
                    if (iy < 0 || iy >= xh) {
                        continue;
                    }
                    for (int32_t kx = 0; kx < kw; kx++) {
                        int32_t ix = ox * sw + kx - pl;
                        if (ix < 0 || ix >= xw) {
                            continue;
                        }
                        int32_t v = plane[iy * xw + ix];
                        max = v > max ? v : max;
                    }
                }
                y[(oy * yw + ox) * c + ch] = edgenas_output(max + in_offset, mult, shift, 0, out_offset, act_min, act_max);
            }
        }
    }
}

/* Global average pooling: y[ch] from all pixels of channel ch; y may be x (y[ch] lands on
 * pixel 0's channel ch, read already). */
EDGENAS_INLINE void edgenas_global_avg_pool(const int8_t *x, int32_t pixels, int32_t c, int8_t *y, int32_t mult,
                                            int32_t shift, int32_t in_offset, int32_t out_offset, int32_t act_min,
                                            int32_t act_max)
{
    for (int32_t ch = 0; ch < c; ch++) {
        int32_t sum = 0;
        for (int32_t p = 0; p < pixels; p++) {
            sum += x[p * c + ch] + in_offset;
        }
        y[ch] = edgenas_output(sum, mult, shift, 0, out_offset, act_min, act_max);
    }
}

#endif
