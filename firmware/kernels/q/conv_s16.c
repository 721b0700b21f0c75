/*
 * conv_s16.c - int16 convolution (groups == 1), channels-last, im2col + GEMM.
 *
 * Power-of-two formats only (input_offset must be 0). Two output pixels at a
 * time are copied into two scratch columns; every pair of output channels is
 * a 2 x 2 block of dot products. int16 pairs feed SMLAD directly: two MACs
 * per instruction with no unpacking.
 */
#include <string.h>

#include "bench_qkernels.h"
#include "bench_requant.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

static void im2col(const bench_window *win, const bench_dims *in, const int16_t *input,
                   int32_t oy, int32_t ox, int16_t *col)
{
    const int32_t c = in->c;
    const size_t tap = (size_t)c * sizeof(int16_t);
    for (int32_t ky = 0; ky < win->kernel_h; ky++) {
        const int32_t iy = oy * win->stride_h - win->pad_h + ky;
        for (int32_t kx = 0; kx < win->kernel_w; kx++, col += c) {
            const int32_t ix = ox * win->stride_w - win->pad_w + kx;
            if (iy < 0 || iy >= in->h || ix < 0 || ix >= in->w) {
                memset(col, 0, tap);
            } else {
                memcpy(col, input + (iy * in->w + ix) * c, tap);
            }
        }
    }
}

static void dot_2x2(const int16_t *r0, const int16_t *r1, const int16_t *c0,
                    const int16_t *c1, int32_t k_len, int32_t acc[4])
{
    int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3];
    int32_t k = 0;
#if defined(__ARM_FEATURE_DSP)
    const int32_t k4 = k_len & ~3;
    if (c1) {
        for (; k < k4; k += 4) {
            const int32_t x0 = bench_read_s32(c0 + k), x1 = bench_read_s32(c0 + k + 2);
            const int32_t y0 = bench_read_s32(c1 + k), y1 = bench_read_s32(c1 + k + 2);
            const int32_t v0 = bench_read_s32(r0 + k), v1 = bench_read_s32(r0 + k + 2);
            const int32_t u0 = bench_read_s32(r1 + k), u1 = bench_read_s32(r1 + k + 2);
            a00 = __smlad(v0, x0, a00);
            a00 = __smlad(v1, x1, a00);
            a01 = __smlad(v0, y0, a01);
            a01 = __smlad(v1, y1, a01);
            a10 = __smlad(u0, x0, a10);
            a10 = __smlad(u1, x1, a10);
            a11 = __smlad(u0, y0, a11);
            a11 = __smlad(u1, y1, a11);
        }
    } else {
        for (; k < k4; k += 4) {
            const int32_t x0 = bench_read_s32(c0 + k), x1 = bench_read_s32(c0 + k + 2);
            a00 = __smlad(bench_read_s32(r0 + k), x0, a00);
            a00 = __smlad(bench_read_s32(r0 + k + 2), x1, a00);
            a10 = __smlad(bench_read_s32(r1 + k), x0, a10);
            a10 = __smlad(bench_read_s32(r1 + k + 2), x1, a10);
        }
    }
#endif
    for (; k < k_len; k++) {
        a00 = bench_wrap_add(a00, r0[k] * c0[k]);
        a10 = bench_wrap_add(a10, r1[k] * c0[k]);
        if (c1) {
            a01 = bench_wrap_add(a01, r0[k] * c1[k]);
            a11 = bench_wrap_add(a11, r1[k] * c1[k]);
        }
    }
    acc[0] = a00;
    acc[1] = a01;
    acc[2] = a10;
    acc[3] = a11;
}

bench_status bench_conv_s16(const bench_window *win, const bench_qparams *q,
                            const bench_dims *in_dims, const int16_t *input,
                            const bench_dims *out_dims, const int16_t *weight,
                            const int32_t *bias, int16_t *scratch, int16_t *output)
{
    if (!win || !q || !in_dims || !input || !out_dims || !weight || !bias || !scratch ||
        !output || q->input_offset != 0) {
        return BENCH_ARG_ERROR;
    }
    const int32_t k_len = win->kernel_h * win->kernel_w * in_dims->c;
    const int32_t stride = (k_len + 1) & ~1;
    const int32_t cout = out_dims->c;
    const int32_t pixels = out_dims->h * out_dims->w;
    int16_t *col0 = scratch;
    int16_t *col1 = scratch + stride;

    for (int32_t p = 0; p < pixels; p += 2) {
        const int32_t two = p + 1 < pixels;
        im2col(win, in_dims, input, p / out_dims->w, p % out_dims->w, col0);
        if (two) {
            im2col(win, in_dims, input, (p + 1) / out_dims->w, (p + 1) % out_dims->w, col1);
        }
        int16_t *out0 = output + p * cout;
        int16_t *out1 = out0 + cout;
        for (int32_t co = 0; co < cout; co += 2) {
            const int32_t co1 = co + 1 < cout ? co + 1 : co;
            int32_t acc[4] = {bias[co], bias[co], bias[co1], bias[co1]};
            dot_2x2(weight + co * k_len, weight + co1 * k_len, col0, two ? col1 : NULL, k_len,
                    acc);
            out0[co] = (int16_t)bench_requantize(q, acc[0], co);
            out0[co1] = (int16_t)bench_requantize(q, acc[2], co1);
            if (two) {
                out1[co] = (int16_t)bench_requantize(q, acc[1], co);
                out1[co1] = (int16_t)bench_requantize(q, acc[3], co1);
            }
        }
    }
    return BENCH_OK;
}
