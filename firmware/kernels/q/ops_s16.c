/*
 * ops_s16.c - int16 depthwise conv, linear, pools, add and clamp (ops_q.inc).
 *
 * Power-of-two formats only for depthwise and linear, as conv_s16.c:
 * input_offset must be 0 (BENCH_ARG_ERROR). What is int16-specific lives
 * here, the rest in ops_q.inc:
 *   depthwise (DSP): four channels per tap (two LDR of input and of
 *     (kh, kw, C) weights), SMLABB/SMLATT.
 *   linear: input pairs feed SMLAD directly, two output rows per pass.
 *   max pool (ops_q.inc): two channels per SSUB16 + SEL (any format).
 * The portable paths (ops_q.inc) give the same bits.
 */
#include <string.h>

#include "bench_qkernels.h"
#include "bench_requant.h"

#define QT int16_t
#define QMIN (-32768)
#define QMAX 32767
#define QBITS 16
#define QHAS_OFFSET 0
#define SUFFIX s16

#if defined(__ARM_FEATURE_DSP)
/* Depthwise, one tap of four neighbouring channels (ops_q.inc walks the
 * taps): acc[i] += x[i] * w[i], two int16 pairs per LDR; no offset (pot). */
static inline void dw_tap4_s16(const int16_t *x, const int16_t *w, int32_t offset, int32_t acc[4])
{
    const int32_t x01 = bench_read_s32(x), x23 = bench_read_s32(x + 2);
    const int32_t w01 = bench_read_s32(w), w23 = bench_read_s32(w + 2);
    (void)offset;
    acc[0] = __smlabb(x01, w01, acc[0]);
    acc[1] = __smlatt(x01, w01, acc[1]);
    acc[2] = __smlabb(x23, w23, acc[2]);
    acc[3] = __smlatt(x23, w23, acc[3]);
}

static inline int32_t dw_tap4_offset_s16(int32_t offset)
{
    return offset;
}
#endif

#include "ops_q.inc"

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
            requantize_n_s16(q, acc, n, o, output);
        }
        return BENCH_OK;
    }
#else
    return linear_portable_s16(q, in_features, out_features, input, weight, bias, output);
#endif
}
