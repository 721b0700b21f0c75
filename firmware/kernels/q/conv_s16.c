/*
 * conv_s16.c - int16 convolution (groups == 1), channels-last, im2col + GEMM.
 *
 * Power-of-two formats only (input_offset must be 0). Two output pixels at
 * a time are copied into two interleaved scratch columns (bench_mac.h
 * layout, plain order, K padded to a multiple of 8); every pair of output
 * channels is one 2 x 2 block: int16 pairs feed SMLAD with no unpacking.
 */
#include <string.h>

#include "bench_mac.h"
#include "bench_qkernels.h"
#include "bench_requant.h"

static inline int32_t slot(int32_t k, int32_t j)
{
    return (k >> 2) * 8 + j * 4 + (k & 3);
}

static void im2col(const bench_window *win, const bench_dims *in, const int16_t *input,
                   int32_t oy, int32_t ox, int16_t *cols, int32_t j, int32_t k_pad)
{
    const int32_t c = in->c;
    int32_t k = 0;
    for (int32_t ky = 0; ky < win->kernel_h; ky++) {
        const int32_t iy = oy * win->stride_h - win->pad_h + ky;
        for (int32_t kx = 0; kx < win->kernel_w; kx++, k += c) {
            const int32_t ix = ox * win->stride_w - win->pad_w + kx;
            const int32_t inside = iy >= 0 && iy < in->h && ix >= 0 && ix < in->w;
            const int16_t *src = input + (iy * in->w + ix) * c;
            int32_t i = 0;
            if ((k & 3) == 0) {
                for (; i + 4 <= c; i += 4) {
                    int16_t *dst = cols + ((k + i) >> 2) * 8 + j * 4;
                    if (inside) {
                        memcpy(dst, src + i, 4 * sizeof(int16_t));
                    } else {
                        memset(dst, 0, 4 * sizeof(int16_t));
                    }
                }
            }
            for (; i < c; i++) {
                cols[slot(k + i, j)] = inside ? src[i] : 0;
            }
        }
    }
    for (; k < k_pad; k++) {
        cols[slot(k, j)] = 0;
    }
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
    const int32_t k_pad = bench_conv_k_pad(win, in_dims);
    const int32_t cout = out_dims->c;
    const int32_t pixels = out_dims->h * out_dims->w;

    for (int32_t p = 0; p < pixels; p += 2) {
        const int32_t two = p + 1 < pixels;
        im2col(win, in_dims, input, p / out_dims->w, p % out_dims->w, scratch, 0, k_pad);
        if (two) {
            im2col(win, in_dims, input, (p + 1) / out_dims->w, (p + 1) % out_dims->w, scratch, 1,
                   k_pad);
        } else {
            for (int32_t k = 0; k < k_pad; k++) {
                scratch[slot(k, 1)] = 0;
            }
        }
        int16_t *out0 = output + p * cout;
        int16_t *out1 = out0 + cout;
        for (int32_t co = 0; co < cout; co += 2) {
            const int32_t b1 = co + 1 < cout ? bias[co + 1] : 0;
            int32_t acc[4] = {bias[co], bias[co], b1, b1};
            bench_mac_2x2_q15(weight + co * k_pad, scratch, k_pad, acc);
            out0[co] = (int16_t)bench_requantize(q, acc[0], co);
            if (two) {
                out1[co] = (int16_t)bench_requantize(q, acc[1], co);
            }
            if (co + 1 < cout) {
                out0[co + 1] = (int16_t)bench_requantize(q, acc[2], co + 1);
                if (two) {
                    out1[co + 1] = (int16_t)bench_requantize(q, acc[3], co + 1);
                }
            }
        }
    }
    return BENCH_OK;
}
