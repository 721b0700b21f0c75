/*
 * ops_s16.c - int16 depthwise conv, linear, pools, add and clamp (ops_q.inc).
 *
 * Depthwise conv, linear and max pool have Cortex-M4 DSP paths here.
 * Depthwise and linear take power-of-two formats only, as conv_s16.c:
 * input_offset must be 0 (BENCH_ARG_ERROR).
 *   depthwise: four channels per pass (two LDR of input and of (kh, kw, C)
 *     weights per tap), SMLABB/SMLATT; the window is clipped once per pixel.
 *   linear: input pairs feed SMLAD directly, two output rows per pass.
 *   max pool: two channels per SSUB16 + SEL (any format).
 * The portable paths (ops_q.inc) give the same bits.
 */
#include <string.h>

#include "bench_qkernels.h"
#include "bench_requant.h"

#define QT int16_t
#define QMIN (-32768)
#define QMAX 32767
#define SUFFIX s16
#include "ops_q.inc"

bench_status bench_depthwise_s16(const bench_window *win, const bench_qparams *q,
                                 const bench_dims *in_dims, const int16_t *input,
                                 const bench_dims *out_dims, const int16_t *weight,
                                 const int32_t *bias, int16_t *output)
{
    if (!win || !q || !in_dims || !input || !out_dims || !weight || !bias || !output ||
        in_dims->c != out_dims->c || q->input_offset != 0) {
        return BENCH_ARG_ERROR;
    }
#if defined(__ARM_FEATURE_DSP)
    {
        const int32_t c = in_dims->c, in_row = in_dims->w * c, w_row = win->kernel_w * c;
        int16_t *out = output;
        for (int32_t oy = 0; oy < out_dims->h; oy++) {
            const int32_t y0 = oy * win->stride_h - win->pad_h;
            const int32_t ky0 = y0 < 0 ? -y0 : 0;
            const int32_t ky1 =
                y0 + win->kernel_h > in_dims->h ? in_dims->h - y0 : win->kernel_h;
            const int32_t nky = ky1 - ky0;
            for (int32_t ox = 0; ox < out_dims->w; ox++, out += c) {
                const int32_t x0 = ox * win->stride_w - win->pad_w;
                const int32_t kx0 = x0 < 0 ? -x0 : 0;
                const int32_t kx1 =
                    x0 + win->kernel_w > in_dims->w ? in_dims->w - x0 : win->kernel_w;
                const int32_t nkx = kx1 - kx0;
                const int16_t *src = input + ((y0 + ky0) * in_dims->w + x0 + kx0) * c;
                const int16_t *wgt = weight + (ky0 * win->kernel_w + kx0) * c;
                /* Four channels per pass, then one at a time; one
                 * requantization loop for both (less flash). */
                for (int32_t ch = 0, n; ch < c; ch += n) {
                    int32_t acc[4];
                    if (ch + 4 <= c) {
                        int32_t a0 = bias[ch], a1 = bias[ch + 1];
                        int32_t a2 = bias[ch + 2], a3 = bias[ch + 3];
                        const int16_t *s_row = src + ch, *w_row_p = wgt + ch;
                        for (int32_t ky = 0; ky < nky;
                             ky++, s_row += in_row, w_row_p += w_row) {
                            const int16_t *s = s_row, *w = w_row_p;
                            for (int32_t kx = 0; kx < nkx; kx++, s += c, w += c) {
                                const int32_t x01 = bench_read_s32(s);
                                const int32_t x23 = bench_read_s32(s + 2);
                                const int32_t w01 = bench_read_s32(w);
                                const int32_t w23 = bench_read_s32(w + 2);
                                a0 = __smlabb(x01, w01, a0);
                                a1 = __smlatt(x01, w01, a1);
                                a2 = __smlabb(x23, w23, a2);
                                a3 = __smlatt(x23, w23, a3);
                            }
                        }
                        acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
                        n = 4;
                    } else {
                        acc[0] = dw_channel_s16(src + ch, wgt + ch, nky, nkx, in_row, w_row,
                                                c, 0, bias[ch]);
                        n = 1;
                    }
                    for (int32_t i = 0; i < n; i++) {
                        out[ch + i] = (int16_t)bench_requantize(q, acc[i], ch + i);
                    }
                }
            }
        }
        return BENCH_OK;
    }
#else
    return depthwise_portable_s16(win, q, in_dims, input, out_dims, weight, bias, output);
#endif
}

bench_status bench_linear_s16(const bench_qparams *q, int32_t in_features,
                              int32_t out_features, const int16_t *input,
                              const int16_t *weight, const int32_t *bias, int16_t *output)
{
    if (!q || !input || !weight || !bias || !output || in_features <= 0 || out_features <= 0 ||
        q->input_offset != 0) {
        return BENCH_ARG_ERROR;
    }
#if defined(__ARM_FEATURE_DSP)
    {
        const int32_t pairs = in_features >> 1, odd = in_features & 1;
        /* Two rows per pass; an odd last row pairs with itself (computed
         * twice, stored once). One requantization loop. */
        for (int32_t o = 0, n; o < out_features; o += n) {
            n = o + 1 < out_features ? 2 : 1;
            const int16_t *r0 = weight + o * in_features, *r1 = r0 + (n - 1) * in_features;
            const int16_t *x = input;
            int32_t acc[2] = {bias[o], bias[o + n - 1]};
            int32_t a0 = acc[0], a1 = acc[1];
            for (int32_t k = 0; k < pairs; k++, r0 += 2, r1 += 2, x += 2) {
                const int32_t xv = bench_read_s32(x);
                a0 = __smlad(bench_read_s32(r0), xv, a0);
                a1 = __smlad(bench_read_s32(r1), xv, a1);
            }
            if (odd) {
                a0 = bench_wrap_add(a0, r0[0] * x[0]);
                a1 = bench_wrap_add(a1, r1[0] * x[0]);
            }
            acc[0] = a0, acc[1] = a1;
            for (int32_t i = 0; i < n; i++) {
                output[o + i] = (int16_t)bench_requantize(q, acc[i], o + i);
            }
        }
        return BENCH_OK;
    }
#else
    return linear_portable_s16(q, in_features, out_features, input, weight, bias, output);
#endif
}

/* Max pool: the window is clipped once per pixel; SIMD over 2 channels
 * (SSUB16 sets the GE flags lane by lane, SEL keeps the larger), then
 * one channel at a time. A group of channels' whole window is read before
 * the group is written, which is all pool_overlap() relies on (a write
 * never lands where a later read of the same pixel goes). */
bench_status bench_maxpool_s16(const bench_window *win, const bench_dims *in_dims,
                               const QT *input, const bench_dims *out_dims, QT *output)
{
    if (!win || !in_dims || !input || !out_dims || !output) {
        return BENCH_ARG_ERROR;
    }
#if defined(__ARM_FEATURE_DSP)
    const int32_t c = in_dims->c, in_row = in_dims->w * c;
    QT *out = output;
    for (int32_t oy = 0; oy < out_dims->h; oy++) {
        const int32_t y0 = oy * win->stride_h - win->pad_h;
        const int32_t ky0 = y0 < 0 ? -y0 : 0;
        const int32_t ky1 = y0 + win->kernel_h > in_dims->h ? in_dims->h - y0 : win->kernel_h;
        for (int32_t ox = 0; ox < out_dims->w; ox++, out += c) {
            const int32_t x0 = ox * win->stride_w - win->pad_w;
            const int32_t kx0 = x0 < 0 ? -x0 : 0;
            const int32_t kx1 = x0 + win->kernel_w > in_dims->w ? in_dims->w - x0 : win->kernel_w;
            const QT *src = input + ((y0 + ky0) * in_dims->w + x0 + kx0) * c;
            int32_t ch = 0;
            for (; ch + 2 <= c; ch += 2) {
                int32_t m = (int32_t)0x80008000, t;
                const QT *s_row = src + ch;
                for (int32_t ky = ky0; ky < ky1; ky++, s_row += in_row) {
                    const QT *s = s_row;
                    for (int32_t kx = kx0; kx < kx1; kx++, s += c) {
                        const int32_t v = bench_read_s32(s);
                        __asm("ssub16 %[t], %[v], %[m]\n\t"
                              "sel  %[m], %[v], %[m]"
                              : [m] "+r"(m), [t] "=&r"(t)
                              : [v] "r"(v)
                              : "cc");
                    }
                }
                memcpy(out + ch, &m, sizeof m);
            }
            for (; ch < c; ch++) {
                int32_t m = QMIN;
                const QT *s_row = src + ch;
                for (int32_t ky = ky0; ky < ky1; ky++, s_row += in_row) {
                    for (int32_t kx = 0; kx < kx1 - kx0; kx++) {
                        m = s_row[kx * c] > m ? s_row[kx * c] : m;
                    }
                }
                out[ch] = (QT)m;
            }
        }
    }
    return BENCH_OK;
#else
    return maxpool_portable_s16(win, in_dims, input, out_dims, output);
#endif
}
