/*
 * conv_s8.c - int8 convolution (groups == 1), channels-last, im2col + GEMM.
 *
 * Two output pixels at a time: their receptive fields, plus input_offset,
 * are widened to int16 into two interleaved scratch columns (bench_mac.h
 * layout, K padded to a multiple of 8), then every pair of output channels
 * is one 2 x 2 block of dot products. Weights come in two layouts, chosen
 * by the generator: int8 ("packed", the smallest flash) or int8 values
 * stored as int16 ("wide": no unpacking in the inner loop, 2 MACs per SMLAD
 * at one load per 4 MACs, at twice the flash).
 */
#include <string.h>

#include "bench_mac.h"
#include "bench_qkernels.h"
#include "bench_requant.h"

#if defined(__ARM_FEATURE_DSP)
static inline int32_t sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#endif

/* Slot of logical k in column j (0 or 1): groups of 4 k, x then y, each
 * group stored (0, 2, 1, 3). */
static inline int32_t slot(int32_t k, int32_t j)
{
    static const int8_t perm[4] = {0, 2, 1, 3};
    return (k >> 2) * 8 + j * 4 + perm[k & 3];
}

/* c values of one kernel tap, plus offset, into column j from logical k. */
static void widen_tap(const int8_t *src, int32_t c, int32_t offset, int16_t *cols, int32_t j,
                      int32_t k)
{
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
    if ((k & 3) == 0) {
        const int32_t offset2 = (int32_t)(((uint32_t)offset & 0xFFFFu) | ((uint32_t)offset << 16));
        for (; i + 4 <= c; i += 4) {
            const int32_t v = bench_read_s32(src + i);
            const int32_t even = __sadd16(__sxtb16(v), offset2); /* x0, x2 */
            const int32_t odd = __sadd16(sxtb16_ror8(v), offset2); /* x1, x3 */
            int16_t *dst = cols + ((k + i) >> 2) * 8 + j * 4;
            memcpy(dst, &even, 4);
            memcpy(dst + 2, &odd, 4);
        }
    }
#endif
    for (; i < c; i++) {
        cols[slot(k + i, j)] = (int16_t)(src[i] + offset);
    }
}

/* Column j <- receptive field of output pixel (oy, ox); padding and the
 * K..k_pad tail are zero (the input's zero point after the offset). */
static void im2col(const bench_window *win, const bench_dims *in, const int8_t *input,
                   int32_t offset, int32_t oy, int32_t ox, int16_t *cols, int32_t j, int32_t k_pad)
{
    const int32_t c = in->c, kh = win->kernel_h, kw = win->kernel_w;
    const int32_t y0 = oy * win->stride_h - win->pad_h, x0 = ox * win->stride_w - win->pad_w;
    const int32_t groups = (c & 3) == 0; /* every tap starts a group of four */
    int32_t k = 0;
    for (int32_t ky = 0; ky < kh; ky++) {
        const int32_t iy = y0 + ky;
        const int32_t row_inside = iy >= 0 && iy < in->h;
        const int8_t *row = input + (iy * in->w) * c;
        for (int32_t kx = 0; kx < kw; kx++, k += c) {
            const int32_t ix = x0 + kx;
            if (row_inside && ix >= 0 && ix < in->w) {
                widen_tap(row + ix * c, c, offset, cols, j, k);
            } else if (groups) {
                int16_t *dst = cols + (k >> 2) * 8 + j * 4;
                for (int32_t i = 0; i < c; i += 4, dst += 8) {
                    memset(dst, 0, 4 * sizeof(int16_t));
                }
            } else {
                for (int32_t i = 0; i < c; i++) {
                    cols[slot(k + i, j)] = 0;
                }
            }
        }
    }
    for (; k < k_pad; k++) {
        cols[slot(k, j)] = 0;
    }
}

/* The four outputs of one 2 x 2 block: (co, pixel 0/1), (co + 1, pixel 0/1). */
static inline void store_block(const bench_qparams *q, const int32_t acc[4], int32_t co,
                               int32_t cout, int32_t two, int8_t *out0, int8_t *out1)
{
    const int32_t second = co + 1 < cout;
    if (!q->mult) {
        /* Power of two: one shift for the whole layer. */
        const int32_t s = q->shift[0], lo = q->act_min, hi = q->act_max;
        out0[co] = (int8_t)bench_clamp(bench_shift_round(acc[0], s), lo, hi);
        if (two) {
            out1[co] = (int8_t)bench_clamp(bench_shift_round(acc[1], s), lo, hi);
        }
        if (second) {
            out0[co + 1] = (int8_t)bench_clamp(bench_shift_round(acc[2], s), lo, hi);
            if (two) {
                out1[co + 1] = (int8_t)bench_clamp(bench_shift_round(acc[3], s), lo, hi);
            }
        }
        return;
    }
    out0[co] = (int8_t)bench_requantize(q, acc[0], co);
    if (two) {
        out1[co] = (int8_t)bench_requantize(q, acc[1], co);
    }
    if (second) {
        out0[co + 1] = (int8_t)bench_requantize(q, acc[2], co + 1);
        if (two) {
            out1[co + 1] = (int8_t)bench_requantize(q, acc[3], co + 1);
        }
    }
}

static bench_status conv(const bench_window *win, const bench_qparams *q,
                         const bench_dims *in_dims, const int8_t *input,
                         const bench_dims *out_dims, const void *weight, int32_t wide,
                         const int32_t *bias, int16_t *scratch, int8_t *output)
{
    if (!win || !q || !in_dims || !input || !out_dims || !weight || !bias || !scratch ||
        !output) {
        return BENCH_ARG_ERROR;
    }
    const int32_t k_pad = bench_conv_k_pad(win, in_dims);
    const int32_t cout = out_dims->c;
    const int32_t pixels = out_dims->h * out_dims->w;
    int32_t oy = 0, ox = 0; /* output pixel p, walked without divisions */

    for (int32_t p = 0; p < pixels; p += 2) {
        const int32_t two = p + 1 < pixels;
        im2col(win, in_dims, input, q->input_offset, oy, ox, scratch, 0, k_pad);
        if (++ox == out_dims->w) {
            ox = 0;
            oy++;
        }
        if (two) {
            im2col(win, in_dims, input, q->input_offset, oy, ox, scratch, 1, k_pad);
            if (++ox == out_dims->w) {
                ox = 0;
                oy++;
            }
        } else {
            for (int32_t k = 0; k < k_pad; k++) {
                scratch[slot(k, 1)] = 0;
            }
        }
        int8_t *out0 = output + p * cout;
        int8_t *out1 = out0 + cout;
        for (int32_t co = 0; co < cout; co += 2) {
            /* An odd last channel pairs with a zero row; its sums are dropped. */
            const int32_t b1 = co + 1 < cout ? bias[co + 1] : 0;
            int32_t acc[4] = {bias[co], bias[co], b1, b1};
            if (wide) {
                bench_mac_2x2_q15((const int16_t *)weight + co * k_pad, scratch, k_pad, acc);
            } else {
                bench_mac_2x2_s8((const int8_t *)weight + co * k_pad, scratch, k_pad, acc);
            }
            store_block(q, acc, co, cout, two, out0, out1);
        }
    }
    return BENCH_OK;
}

bench_status bench_conv_s8(const bench_window *win, const bench_qparams *q,
                           const bench_dims *in_dims, const int8_t *input,
                           const bench_dims *out_dims, const int8_t *weight,
                           const int32_t *bias, int16_t *scratch, int8_t *output)
{
    return conv(win, q, in_dims, input, out_dims, weight, 0, bias, scratch, output);
}

bench_status bench_conv_s8_wide(const bench_window *win, const bench_qparams *q,
                                const bench_dims *in_dims, const int8_t *input,
                                const bench_dims *out_dims, const int16_t *weight,
                                const int32_t *bias, int16_t *scratch, int8_t *output)
{
    return conv(win, q, in_dims, input, out_dims, weight, 1, bias, scratch, output);
}
