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

/* Output value of a convolution-like op from its accumulator; `small` (a literal: every
 * shift of the layer is <= -1) selects edgenas_requantize_small. */
EDGENAS_INLINE int8_t edgenas_output(int32_t acc, int32_t mult, int32_t shift, int32_t small, int32_t out_offset,
                                      int32_t act_min, int32_t act_max)
{
    int32_t v = small ? edgenas_requantize_small(acc, mult, shift) : edgenas_requantize(acc, mult, shift);
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
/* Value q (0..3) of a group of four held as [even pair, odd pair]. */
EDGENAS_INLINE int32_t edgenas_lane(const uint32_t *pair, int32_t q)
{
    uint32_t word = pair[q & 1];
    return (int16_t)(uint16_t)((q >> 1) ? (word >> 16) : (word & 0xffffu));
}

/* q15 pairs of x + offset for four int8 values of `src`: [even pair, odd pair]. */
EDGENAS_INLINE void edgenas_widen4(const int8_t *src, uint32_t offset2, uint32_t *dst)
{
    uint32_t v = edgenas_load32(src);
    dst[0] = __sxtab16(offset2, v);
    dst[1] = edgenas_add_odd_lanes(offset2, v);
}
/* q15 pairs for n values (n a multiple of 4 after zero padding: the tail is zero). */
EDGENAS_INLINE void edgenas_widen(const int8_t *src, int32_t n, int32_t offset, uint32_t *dst)
{
    uint32_t offset2 = ((uint32_t)(uint16_t)offset << 16) | (uint16_t)offset;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        edgenas_widen4(src + i, offset2, dst);
        dst += 2;
    }
    if (i < n) {
        int8_t tail[4] = {0, 0, 0, 0};
        int32_t k;
        for (k = 0; i + k < n; k++) {
            tail[k] = src[i + k];
        }
        uint32_t v = edgenas_load32(tail);
        uint32_t even = __sxtab16(offset2, v);
        uint32_t odd = edgenas_add_odd_lanes(offset2, v);
        /* zero the padded lanes: values beyond n contribute nothing */
        int32_t left = n - i;
        uint32_t even_mask = left >= 3 ? 0xffffffffu : 0x0000ffffu;
        uint32_t odd_mask = left >= 4 ? 0xffffffffu : (left >= 2 ? 0x0000ffffu : 0u);
        dst[0] = even & even_mask;
        dst[1] = odd & odd_mask;
    }
}
#endif

#if EDGENAS_USE_DSP
/* Dot products of filters f0 and f1 (k int8 each) with columns c0 and c1 (q15 pairs from
 * edgenas_widen), added to acc = {f0.c0, f0.c1, f1.c0, f1.c1}: per four values two weight
 * loads, four SXTB16 and eight SMLAD for sixteen multiply-accumulates. */
EDGENAS_INLINE void edgenas_dot_2x2(const int8_t *f0, const int8_t *f1, const uint32_t *c0, const uint32_t *c1,
                                    int32_t k, int32_t *acc)
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t i = 0;
    for (; i + 4 <= k; i += 4) {
        uint32_t x0e = c0[0], x0o = c0[1], x1e = c1[0], x1o = c1[1];
        uint32_t w = edgenas_load32(f0 + i);
        uint32_t we = edgenas_even_lanes(w), wo = edgenas_odd_lanes(w);
        a00 = __smlad(we, x0e, a00);
        a00 = __smlad(wo, x0o, a00);
        a01 = __smlad(we, x1e, a01);
        a01 = __smlad(wo, x1o, a01);
        w = edgenas_load32(f1 + i);
        we = edgenas_even_lanes(w);
        wo = edgenas_odd_lanes(w);
        a10 = __smlad(we, x0e, a10);
        a10 = __smlad(wo, x0o, a10);
        a11 = __smlad(we, x1e, a11);
        a11 = __smlad(wo, x1o, a11);
        c0 += 2;
        c1 += 2;
    }
    for (; i < k; i++) {
        int32_t x0 = edgenas_lane(c0, i & 3), x1 = edgenas_lane(c1, i & 3);
        a00 += f0[i] * x0;
        a01 += f0[i] * x1;
        a10 += f1[i] * x0;
        a11 += f1[i] * x1;
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

/* The output channels of two pixels (y0, and y1 unless null) from their q15 columns, two
 * filters at a time. w: [yc][k]. */
EDGENAS_INLINE void edgenas_matmul_2px(const uint32_t *col0, const uint32_t *col1, int32_t k, const int8_t *w,
                                       const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t small,
                                       int8_t *y0, int8_t *y1, int32_t yc, int32_t out_offset, int32_t act_min,
                                       int32_t act_max)
{
    int32_t oc = 0;
    for (; oc + 2 <= yc; oc += 2) {
        int32_t acc[4] = {bias[oc], bias[oc], bias[oc + 1], bias[oc + 1]};
        edgenas_dot_2x2(w + oc * k, w + (oc + 1) * k, col0, col1, k, acc);
        y0[oc] = edgenas_output(acc[0], mult[oc], shift[oc], small, out_offset, act_min, act_max);
        y0[oc + 1] = edgenas_output(acc[2], mult[oc + 1], shift[oc + 1], small, out_offset, act_min, act_max);
        if (y1) {
            y1[oc] = edgenas_output(acc[1], mult[oc], shift[oc], small, out_offset, act_min, act_max);
            y1[oc + 1] = edgenas_output(acc[3], mult[oc + 1], shift[oc + 1], small, out_offset, act_min, act_max);
        }
    }
    if (oc < yc) {
        int32_t acc[4] = {bias[oc], bias[oc], bias[oc], bias[oc]};
        edgenas_dot_2x2(w + oc * k, w + oc * k, col0, col1, k, acc);
        y0[oc] = edgenas_output(acc[0], mult[oc], shift[oc], small, out_offset, act_min, act_max);
        if (y1) {
            y1[oc] = edgenas_output(acc[1], mult[oc], shift[oc], small, out_offset, act_min, act_max);
        }
    }
}
#endif

/*
 * Regular convolution. x: [xh][xw][xc]; w: [yc][kh][kw][xc]; y: [yh][yw][yc]. `small`: every
 * shift <= -1 (edgenas_output).
 * Scratch (DSP only): 5 * round4(kh * kw * xc) bytes, 4-aligned: two q15 columns and
 * one int8 patch.
 */
EDGENAS_INLINE void edgenas_conv(const int8_t *x, int32_t xh, int32_t xw, int32_t xc, const int8_t *w,
                                 const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t small,
                                 int8_t *y, int32_t yh, int32_t yw, int32_t yc, int32_t kh, int32_t kw, int32_t sh,
                                 int32_t sw, int32_t pt, int32_t pl, int32_t in_offset, int32_t out_offset,
                                 int32_t act_min, int32_t act_max, void *scratch)
{
#if EDGENAS_USE_DSP
    int32_t k = kh * kw * xc;
    int32_t k4 = (k + 3) / 4 * 4;
    uint32_t *col0 = (uint32_t *)scratch;
    uint32_t *col1 = col0 + k4 / 2;
    int8_t *patch = (int8_t *)(col1 + k4 / 2);
    int32_t pixels = yh * yw;
    for (int32_t p = 0; p < pixels; p += 2) {
        int32_t two = p + 1 < pixels;
        for (int32_t j = 0; j <= two; j++) {
            int32_t oy = (p + j) / yw, ox = (p + j) % yw;
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
            edgenas_widen(patch, k, in_offset, j == 0 ? col0 : col1);
        }
        if (!two) {
            memcpy(col1, col0, (size_t)k4 * 2);
        }
        edgenas_matmul_2px(col0, col1, k, w, bias, mult, shift, small, y + p * yc, two ? y + (p + 1) * yc : 0, yc,
                           out_offset, act_min, act_max);
    }
#else
    (void)scratch;
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
 * 1x1 convolution, stride 1, no padding, over `pixels` pixels. w: [yc][xc].
 * Scratch (DSP only): 2 * 2 * round4(xc) bytes, 4-aligned.
 */
EDGENAS_INLINE void edgenas_pointwise(const int8_t *x, int32_t pixels, int32_t xc, const int8_t *w,
                                      const int32_t *bias, const int32_t *mult, const int32_t *shift, int32_t small,
                                      int8_t *y, int32_t yc, int32_t in_offset, int32_t out_offset, int32_t act_min,
                                      int32_t act_max, void *scratch)
{
#if EDGENAS_USE_DSP
    int32_t k4 = (xc + 3) / 4 * 4;
    uint32_t *col0 = (uint32_t *)scratch;
    uint32_t *col1 = col0 + k4 / 2;
    for (int32_t p = 0; p < pixels; p += 2) {
        int32_t two = p + 1 < pixels;
        edgenas_widen(x + p * xc, xc, in_offset, col0);
        edgenas_widen(x + (two ? p + 1 : p) * xc, xc, in_offset, col1);
        edgenas_matmul_2px(col0, col1, xc, w, bias, mult, shift, small, y + p * yc, two ? y + (p + 1) * yc : 0, yc,
                           out_offset, act_min, act_max);
    }
#else
    (void)scratch;
    for (int32_t p = 0; p < pixels; p++) {
        const int8_t *px = x + p * xc;
        for (int32_t oc = 0; oc < yc; oc++) {
            const int8_t *f = w + oc * xc;
            int32_t acc = bias[oc];
            for (int32_t ci = 0; ci < xc; ci++) {
                acc += f[ci] * (px[ci] + in_offset);
            }
            y[p * yc + oc] = edgenas_output(acc, mult[oc], shift[oc], small, out_offset, act_min, act_max);
        }
    }
#endif
}

/*
 * Depthwise convolution, channel by channel: channel c's plane is copied into the
 * zero-padded scratch plane (pads hold -in_offset), then its outputs are written to channel
 * c's places in y. y may be x: it only overwrites values of channels already copied.
 * The input offset is folded into the accumulator's start (in_offset * the filter's sum),
 * which pads cancel exactly. w: [c][kh][kw]. With DSP, window rows go four taps at a
 * time (kernels up to EDGENAS_DW_MAX_KERNEL): a row's last word may reach 3 bytes past
 * the plane, hence the 4 more bytes of scratch.
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
            for (int32_t ix = 0; ix < xw; ix++) {
                row[ix] = src[ix * c];
            }
        }
        const int8_t *f = w + ch * kh * kw;
        int32_t start = bias[ch];
        for (int32_t t = 0; t < kh * kw; t++) {
            start += in_offset * f[t];
        }
        int8_t *out = y + ch;
#if EDGENAS_USE_DSP
        if (kh <= EDGENAS_DW_MAX_KERNEL && kw <= EDGENAS_DW_MAX_KERNEL) {
            /* each window row in groups of four taps: one word load, two SXTB16, two
             * SMLAD with the row's weights as q15 pairs (zero past kw) */
            int32_t groups = (kw + 3) / 4;
            uint32_t pairs[EDGENAS_DW_MAX_KERNEL * 2 * 2];
            for (int32_t ky = 0; ky < kh; ky++) {
                for (int32_t g = 0; g < groups; g++) {
                    int32_t t[4];
                    for (int32_t q = 0; q < 4; q++) {
                        int32_t kx = 4 * g + q;
                        t[q] = kx < kw ? f[ky * kw + kx] : 0;
                    }
                    pairs[(ky * groups + g) * 2] = (uint32_t)(uint16_t)t[0] | ((uint32_t)(uint16_t)t[2] << 16);
                    pairs[(ky * groups + g) * 2 + 1] = (uint32_t)(uint16_t)t[1] | ((uint32_t)(uint16_t)t[3] << 16);
                }
            }
            for (int32_t oy = 0; oy < yh; oy++) {
                for (int32_t ox = 0; ox < yw; ox++) {
                    const int8_t *win = plane + oy * sh * pw + ox * sw;
                    int32_t acc = start;
                    for (int32_t ky = 0; ky < kh; ky++) {
                        const int8_t *row = win + ky * pw;
                        const uint32_t *wp = pairs + ky * groups * 2;
                        for (int32_t g = 0; g < groups; g++) {
                            uint32_t v = edgenas_load32(row + 4 * g);
                            acc = __smlad(edgenas_even_lanes(v), wp[2 * g], acc);
                            acc = __smlad(edgenas_odd_lanes(v), wp[2 * g + 1], acc);
                        }
                    }
                    *out = edgenas_output(acc, mult[ch], shift[ch], small, out_offset, act_min, act_max);
                    out += c;
                }
            }
            continue;
        }
#endif
        for (int32_t oy = 0; oy < yh; oy++) {
            for (int32_t ox = 0; ox < yw; ox++) {
                const int8_t *win = plane + oy * sh * pw + ox * sw;
                int32_t acc = start;
                for (int32_t ky = 0; ky < kh; ky++) {
                    const int8_t *row = win + ky * pw;
                    const int8_t *fk = f + ky * kw;
#pragma GCC unroll 7
                    for (int32_t kx = 0; kx < kw; kx++) {
                        acc += fk[kx] * row[kx];
                    }
                }
                *out = edgenas_output(acc, mult[ch], shift[ch], small, out_offset, act_min, act_max);
                out += c;
            }
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
