/*
 * ops_s8.c - int8 depthwise conv, linear, pools, add and clamp (ops_q.inc).
 *
 * Depthwise conv, linear and max pool have Cortex-M4 DSP paths here:
 *   depthwise: four channels per pass (channels-last input and (kh, kw, C)
 *     weights: one LDR each per tap), SXTB16 unpacks channels (0, 2) and
 *     (1, 3), SADD16 adds the input offset, SMLABB/SMLATT accumulate;
 *     the window is clipped to the image once per pixel, not per tap.
 *   linear: the input plus its offset is widened to q15 once, into scratch,
 *     in (0, 2, 1, 3) order per group of four (the order SXTB16 unpacks the
 *     int8 weights in); then two output rows per pass, SMLAD.
 *   max pool: four channels per SSUB8 + SEL.
 * The portable paths (ops_q.inc) give the same bits.
 */
#include <string.h>

#include "bench_qkernels.h"
#include "bench_requant.h"

#define QT int8_t
#define QMIN (-128)
#define QMAX 127
#define SUFFIX s8
#include "ops_q.inc"

static bench_status dw_args(const bench_window *win, const bench_qparams *q,
                            const bench_dims *in_dims, const void *input,
                            const bench_dims *out_dims, const void *weight, const int32_t *bias,
                            const void *output)
{
    return (!win || !q || !in_dims || !input || !out_dims || !weight || !bias || !output ||
            in_dims->c != out_dims->c)
               ? BENCH_ARG_ERROR
               : BENCH_OK;
}

#if defined(__ARM_FEATURE_DSP)
static inline int32_t sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* The offset in both halfwords, for SADD16. */
static inline int32_t offset_pair(int32_t offset)
{
    return (int32_t)(((uint32_t)offset & 0xFFFFu) | ((uint32_t)offset << 16));
}

static inline void write_s32(void *p, int32_t v)
{
    memcpy(p, &v, sizeof v);
}
#endif

bench_status bench_depthwise_s8(const bench_window *win, const bench_qparams *q,
                                const bench_dims *in_dims, const int8_t *input,
                                const bench_dims *out_dims, const int8_t *weight,
                                const int32_t *bias, int8_t *output)
{
    if (dw_args(win, q, in_dims, input, out_dims, weight, bias, output) != BENCH_OK) {
        return BENCH_ARG_ERROR;
    }
#if defined(__ARM_FEATURE_DSP)
    const int32_t c = in_dims->c, in_row = in_dims->w * c, w_row = win->kernel_w * c;
    const int32_t offset = q->input_offset, off2 = offset_pair(offset);
    int8_t *out = output;
    for (int32_t oy = 0; oy < out_dims->h; oy++) {
        const int32_t y0 = oy * win->stride_h - win->pad_h;
        const int32_t ky0 = y0 < 0 ? -y0 : 0;
        const int32_t ky1 = y0 + win->kernel_h > in_dims->h ? in_dims->h - y0 : win->kernel_h;
        const int32_t nky = ky1 - ky0;
        for (int32_t ox = 0; ox < out_dims->w; ox++, out += c) {
            const int32_t x0 = ox * win->stride_w - win->pad_w;
            const int32_t kx0 = x0 < 0 ? -x0 : 0;
            const int32_t kx1 = x0 + win->kernel_w > in_dims->w ? in_dims->w - x0 : win->kernel_w;
            const int32_t nkx = kx1 - kx0;
            const int8_t *src = input + ((y0 + ky0) * in_dims->w + x0 + kx0) * c;
            const int8_t *wgt = weight + (ky0 * win->kernel_w + kx0) * c;
            /* Four channels per pass, then one at a time; one requantization
             * loop for both (a single inlined copy: less flash). */
            for (int32_t ch = 0, n; ch < c; ch += n) {
                int32_t acc[4];
                if (ch + 4 <= c) {
                    int32_t a0 = bias[ch], a1 = bias[ch + 1], a2 = bias[ch + 2], a3 = bias[ch + 3];
                    const int8_t *s_row = src + ch, *w_row_p = wgt + ch;
                    for (int32_t ky = 0; ky < nky; ky++, s_row += in_row, w_row_p += w_row) {
                        const int8_t *s = s_row, *w = w_row_p;
                        for (int32_t kx = 0; kx < nkx; kx++, s += c, w += c) {
                            const int32_t v = bench_read_s32(s), u = bench_read_s32(w);
                            const int32_t x02 = __sadd16(__sxtb16(v), off2);
                            const int32_t x13 = __sadd16(sxtb16_ror8(v), off2);
                            const int32_t w02 = __sxtb16(u), w13 = sxtb16_ror8(u);
                            a0 = __smlabb(x02, w02, a0);
                            a2 = __smlatt(x02, w02, a2);
                            a1 = __smlabb(x13, w13, a1);
                            a3 = __smlatt(x13, w13, a3);
                        }
                    }
                    acc[0] = a0, acc[1] = a1, acc[2] = a2, acc[3] = a3;
                    n = 4;
                } else {
                    acc[0] = dw_channel_s8(src + ch, wgt + ch, nky, nkx, in_row, w_row, c,
                                           offset, bias[ch]);
                    n = 1;
                }
                for (int32_t i = 0; i < n; i++) {
                    out[ch + i] = (int8_t)bench_requantize(q, acc[i], ch + i);
                }
            }
        }
    }
    return BENCH_OK;
#else
    return depthwise_portable_s8(win, q, in_dims, input, out_dims, weight, bias, output);
#endif
}

#if defined(__ARM_FEATURE_DSP)
/* acc += row . x over n_in values: x widened by bench_linear_s8 (groups of
 * four in (0, 2, 1, 3) order, then the n_in % 4 tail plain). */
static inline int32_t dot_row(const int8_t *r, const int16_t *x, int32_t groups, int32_t tail,
                              int32_t acc)
{
    for (int32_t g = 0; g < groups; g++, r += 4, x += 4) {
        const int32_t u = bench_read_s32(r);
        acc = __smlad(__sxtb16(u), bench_read_s32(x), acc);
        acc = __smlad(sxtb16_ror8(u), bench_read_s32(x + 2), acc);
    }
    for (int32_t t = 0; t < tail; t++) {
        acc = bench_wrap_add(acc, r[t] * x[t]);
    }
    return acc;
}
#endif

bench_status bench_linear_s8(const bench_qparams *q, int32_t in_features,
                             int32_t out_features, const int8_t *input, const int8_t *weight,
                             const int32_t *bias, int16_t *scratch, int8_t *output)
{
    if (!q || !input || !weight || !bias || !scratch || !output || in_features <= 0 ||
        out_features <= 0) {
        return BENCH_ARG_ERROR;
    }
#if defined(__ARM_FEATURE_DSP)
    const int32_t groups = in_features >> 2, tail = in_features & 3;
    const int32_t offset = q->input_offset, off2 = offset_pair(offset);
    for (int32_t g = 0; g < groups; g++) {
        const int32_t v = bench_read_s32(input + 4 * g);
        write_s32(scratch + 4 * g, __sadd16(__sxtb16(v), off2));
        write_s32(scratch + 4 * g + 2, __sadd16(sxtb16_ror8(v), off2));
    }
    for (int32_t t = 0; t < tail; t++) {
        scratch[4 * groups + t] = (int16_t)(input[4 * groups + t] + offset);
    }
    /* Two rows per pass; an odd last row alone. One requantization loop. */
    for (int32_t o = 0, n; o < out_features; o += n) {
        const int8_t *r0 = weight + o * in_features;
        int32_t acc[2];
        if (o + 1 < out_features) {
            const int8_t *r1 = r0 + in_features;
            const int16_t *x = scratch;
            int32_t a0 = bias[o], a1 = bias[o + 1];
            for (int32_t g = 0; g < groups; g++, r0 += 4, r1 += 4, x += 4) {
                const int32_t xa = bench_read_s32(x), xb = bench_read_s32(x + 2);
                const int32_t u0 = bench_read_s32(r0), u1 = bench_read_s32(r1);
                a0 = __smlad(__sxtb16(u0), xa, a0);
                a0 = __smlad(sxtb16_ror8(u0), xb, a0);
                a1 = __smlad(__sxtb16(u1), xa, a1);
                a1 = __smlad(sxtb16_ror8(u1), xb, a1);
            }
            for (int32_t t = 0; t < tail; t++) {
                a0 = bench_wrap_add(a0, r0[t] * x[t]);
                a1 = bench_wrap_add(a1, r1[t] * x[t]);
            }
            acc[0] = a0, acc[1] = a1;
            n = 2;
        } else {
            acc[0] = dot_row(r0, scratch, groups, tail, bias[o]);
            n = 1;
        }
        for (int32_t i = 0; i < n; i++) {
            output[o + i] = (int8_t)bench_requantize(q, acc[i], o + i);
        }
    }
    return BENCH_OK;
#else
    /* The portable path reads the input directly; scratch is the DSP path's. */
    return linear_portable_s8(q, in_features, out_features, input, weight, bias, output);
#endif
}

/* Max pool: the window is clipped once per pixel; SIMD over 4 channels
 * (SSUB8 sets the GE flags lane by lane, SEL keeps the larger), then
 * one channel at a time. A group of channels' whole window is read before
 * the group is written, which is all pool_overlap() relies on (a write
 * never lands where a later read of the same pixel goes). */
bench_status bench_maxpool_s8(const bench_window *win, const bench_dims *in_dims,
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
            for (; ch + 4 <= c; ch += 4) {
                int32_t m = (int32_t)0x80808080, t;
                const QT *s_row = src + ch;
                for (int32_t ky = ky0; ky < ky1; ky++, s_row += in_row) {
                    const QT *s = s_row;
                    for (int32_t kx = kx0; kx < kx1; kx++, s += c) {
                        const int32_t v = bench_read_s32(s);
                        __asm("ssub8 %[t], %[v], %[m]\n\t"
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
    return maxpool_portable_s8(win, in_dims, input, out_dims, output);
#endif
}
