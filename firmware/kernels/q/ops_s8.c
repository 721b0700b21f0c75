/*
 * ops_s8.c - int8 depthwise conv, linear, pools, add and clamp (ops_q.inc).
 *
 * What is int8-specific lives here, the rest in ops_q.inc:
 *   depthwise (DSP): four channels per tap (channels-last input and
 *     (kh, kw, C) weights: one LDR each), SXTB16 unpacks channels (0, 2)
 *     and (1, 3), SADD16 adds the input offset, SMLABB/SMLATT accumulate.
 *   linear: the input plus its offset is widened to q15 once, into scratch,
 *     in (0, 2, 1, 3) order per group of four (the order SXTB16 unpacks the
 *     int8 weights in); then two output rows per pass, SMLAD.
 *   max pool (ops_q.inc): four channels per SSUB8 + SEL.
 * The portable paths (ops_q.inc) give the same bits.
 */
#include <string.h>

#include "bench_qkernels.h"
#include "bench_requant.h"

#define QT int8_t
#define QMIN (-128)
#define QMAX 127
#define QBITS 8
#define QHAS_OFFSET 1
#define SUFFIX s8

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

/* Depthwise, one tap of four neighbouring channels (ops_q.inc walks the
 * taps): acc[i] += (x[i] + offset) * w[i]; off2 is offset_pair(offset). */
static inline void dw_tap4_s8(const int8_t *x, const int8_t *w, int32_t off2, int32_t acc[4])
{
    const int32_t v = bench_read_s32(x), u = bench_read_s32(w);
    const int32_t x02 = __sadd16(__sxtb16(v), off2), x13 = __sadd16(sxtb16_ror8(v), off2);
    const int32_t w02 = __sxtb16(u), w13 = sxtb16_ror8(u);
    acc[0] = __smlabb(x02, w02, acc[0]);
    acc[2] = __smlatt(x02, w02, acc[2]);
    acc[1] = __smlabb(x13, w13, acc[1]);
    acc[3] = __smlatt(x13, w13, acc[3]);
}

/* The offset as dw_tap4_s8 takes it. */
static inline int32_t dw_tap4_offset_s8(int32_t offset)
{
    return offset_pair(offset);
}
#endif

#include "ops_q.inc"

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
        requantize_n_s8(q, acc, n, o, output);
    }
    return BENCH_OK;
#else
    /* The portable path reads the input directly; scratch is the DSP path's. */
    return linear_portable_s8(q, in_features, out_features, input, weight, bias, output);
#endif
}
