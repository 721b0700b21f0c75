/*
 * conv_s8.c - int8 convolution (groups == 1), channels-last, im2col + GEMM.
 *
 * Two output pixels at a time: their receptive fields are widened to int16
 * (input + input_offset) into two scratch columns, then every pair of
 * output channels is a 2 x 2 block of dot products over K. On the M4 one
 * SMLAD does two MACs; the columns are stored with each group of four as
 * (x0, x2, x1, x3), the order SXTB16 / SXTB16 ROR 8 give the weights, so no
 * repacking is needed in the inner loop.
 */
#include <string.h>

#include "bench_qkernels.h"
#include "bench_requant.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>

static inline int32_t sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#endif

/* Position of element k of a K-long column: groups of four are (0, 2, 1, 3). */
static inline int32_t column_pos(int32_t k, int32_t k4)
{
#if defined(__ARM_FEATURE_DSP)
    return k < k4 ? ((k & ~3) | ((k & 1) << 1) | ((k >> 1) & 1)) : k;
#else
    (void)k4;
    return k;
#endif
}

/* c values of one kernel tap, plus offset, widened to int16 at column index k. */
static void widen_tap(const int8_t *src, int32_t c, int32_t offset, int16_t *col, int32_t k,
                      int32_t k4)
{
    int32_t i = 0;
#if defined(__ARM_FEATURE_DSP)
    if ((k & 3) == 0) {
        const int32_t offset2 = (int32_t)(((uint32_t)offset & 0xFFFFu) | ((uint32_t)offset << 16));
        for (; i + 4 <= c && k + i + 4 <= k4; i += 4) {
            const int32_t v = bench_read_s32(src + i);
            const int32_t even = __sadd16(__sxtb16(v), offset2);
            const int32_t odd = __sadd16(sxtb16_ror8(v), offset2);
            memcpy(col + k + i, &even, 4);
            memcpy(col + k + i + 2, &odd, 4);
        }
    }
#endif
    for (; i < c; i++) {
        col[column_pos(k + i, k4)] = (int16_t)(src[i] + offset);
    }
}

static void im2col(const bench_window *win, const bench_dims *in, const int8_t *input,
                   int32_t offset, int32_t oy, int32_t ox, int16_t *col, int32_t k4)
{
    const int32_t c = in->c;
    int32_t k = 0;
    for (int32_t ky = 0; ky < win->kernel_h; ky++) {
        const int32_t iy = oy * win->stride_h - win->pad_h + ky;
        for (int32_t kx = 0; kx < win->kernel_w; kx++, k += c) {
            const int32_t ix = ox * win->stride_w - win->pad_w + kx;
            if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w) {
                /* Padding is the input's zero point: zero after the offset. */
                if (((k | c) & 3) == 0 || k >= k4) {
                    memset(col + k, 0, (size_t)c * sizeof(int16_t));
                } else {
                    for (int32_t i = 0; i < c; i++) {
                        col[column_pos(k + i, k4)] = 0;
                    }
                }
            } else {
                widen_tap(input + (iy * in->w + ix) * c, c, offset, col, k, k4);
            }
        }
    }
}

/* Dot products of weight rows r0, r1 with columns c0, c1 (c1 may be NULL). */
static void dot_2x2(const int8_t *r0, const int8_t *r1, const int16_t *c0, const int16_t *c1,
                    int32_t k_len, int32_t k4, int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t k = 0;
#if defined(__ARM_FEATURE_DSP)
    if (c1) {
        for (; k < k4; k += 4) {
            const int32_t x0 = bench_read_s32(c0 + k), x1 = bench_read_s32(c0 + k + 2);
            const int32_t y0 = bench_read_s32(c1 + k), y1 = bench_read_s32(c1 + k + 2);
            int32_t w = bench_read_s32(r0 + k);
            int32_t we = __sxtb16(w), wo = sxtb16_ror8(w);
            a00 = __smlad(we, x0, a00);
            a00 = __smlad(wo, x1, a00);
            a01 = __smlad(we, y0, a01);
            a01 = __smlad(wo, y1, a01);
            w = bench_read_s32(r1 + k);
            we = __sxtb16(w);
            wo = sxtb16_ror8(w);
            a10 = __smlad(we, x0, a10);
            a10 = __smlad(wo, x1, a10);
            a11 = __smlad(we, y0, a11);
            a11 = __smlad(wo, y1, a11);
        }
    } else {
        for (; k < k4; k += 4) {
            const int32_t x0 = bench_read_s32(c0 + k), x1 = bench_read_s32(c0 + k + 2);
            int32_t w = bench_read_s32(r0 + k);
            a00 = __smlad(__sxtb16(w), x0, a00);
            a00 = __smlad(sxtb16_ror8(w), x1, a00);
            w = bench_read_s32(r1 + k);
            a10 = __smlad(__sxtb16(w), x0, a10);
            a10 = __smlad(sxtb16_ror8(w), x1, a10);
        }
    }
#else
    (void)k4;
#endif
    for (; k < k_len; k++) {
        const int32_t p = column_pos(k, k4);
        a00 = bench_wrap_add(a00, r0[k] * c0[p]);
        a10 = bench_wrap_add(a10, r1[k] * c0[p]);
        if (c1) {
            a01 = bench_wrap_add(a01, r0[k] * c1[p]);
            a11 = bench_wrap_add(a11, r1[k] * c1[p]);
        }
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

bench_status bench_conv_s8(const bench_window *win, const bench_qparams *q,
                           const bench_dims *in_dims, const int8_t *input,
                           const bench_dims *out_dims, const int8_t *weight,
                           const int32_t *bias, int16_t *scratch, int8_t *output)
{
    if (!win || !q || !in_dims || !input || !out_dims || !weight || !bias || !scratch ||
        !output) {
        return BENCH_ARG_ERROR;
    }
    const int32_t k_len = win->kernel_h * win->kernel_w * in_dims->c;
    const int32_t k4 = k_len & ~3;
    const int32_t stride = (k_len + 1) & ~1; /* keeps the second column word-aligned */
    const int32_t cout = out_dims->c;
    const int32_t pixels = out_dims->h * out_dims->w;
    int16_t *col0 = scratch;
    int16_t *col1 = scratch + stride;

    for (int32_t p = 0; p < pixels; p += 2) {
        const int32_t two = p + 1 < pixels;
        im2col(win, in_dims, input, q->input_offset, p / out_dims->w, p % out_dims->w, col0, k4);
        if (two) {
            im2col(win, in_dims, input, q->input_offset, (p + 1) / out_dims->w,
                   (p + 1) % out_dims->w, col1, k4);
        }
        int8_t *out0 = output + p * cout;
        int8_t *out1 = out0 + cout;
        for (int32_t co = 0; co < cout; co += 2) {
            const int32_t co1 = co + 1 < cout ? co + 1 : co; /* odd count: repeat the last */
            int32_t acc[4] = {bias[co], bias[co], bias[co1], bias[co1]};
            dot_2x2(weight + co * k_len, weight + co1 * k_len, col0, two ? col1 : NULL, k_len,
                    k4, acc);
            out0[co] = (int8_t)bench_requantize(q, acc[0], co);
            out0[co1] = (int8_t)bench_requantize(q, acc[2], co1);
            if (two) {
                out1[co] = (int8_t)bench_requantize(q, acc[1], co);
                out1[co1] = (int8_t)bench_requantize(q, acc[3], co1);
            }
        }
    }
    return BENCH_OK;
}
