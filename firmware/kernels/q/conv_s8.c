/*
 * conv_s8.c - int8 convolution (groups == 1), channels-last, im2col + GEMM.
 *
 * The walk over output pixels, im2col and requantization are shared with
 * int16 (conv_q.inc); what is int8 is here. Each column value is an input
 * value plus input_offset, widened to int16: four values per LDR + 2 SXTB16
 * (+ SADD16 for an offset), stored in (0, 2, 1, 3) order per group (the
 * order SXTB16 unpacks in, bench_mac.h). Weights come in two layouts, chosen
 * by the generator: int8 ("packed", the smallest flash) or int8 values
 * stored as int16 ("wide": no unpacking in the inner loop, at twice the
 * flash).
 */
#include <string.h>

#include "bench_mac.h"
#include "bench_qkernels.h"
#include "bench_requant.h"

#define QT int8_t
#define QMIN (-128)
#define QMAX 127
#define QBITS 8
#define CONV_SCRATCH_BYTES bench_conv_s8_scratch_bytes
#define QHAS_OFFSET 1

#if defined(__ARM_FEATURE_DSP)
static inline int32_t sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}

/* Two words at dst (4-byte aligned), dst advancing by one column group. */
static inline int16_t *store_group(int16_t *dst, int32_t lo, int32_t hi)
{
    __asm volatile("strd %[lo], %[hi], [%[d]], #16"
                   : [d] "+r"(dst)
                   : [lo] "r"(lo), [hi] "r"(hi)
                   : "memory");
    return dst;
}
#endif

/* n groups of four int8 (+ offset) -> column groups (0, 2, 1, 3), 8 int16 apart. */
static void column_groups(const int8_t *src, int32_t n, int32_t offset, int16_t *dst)
{
#if defined(__ARM_FEATURE_DSP)
    if (offset == 0) {
        for (; n > 1; n -= 2, src += 8) {
            const int32_t v = bench_read_s32(src), w = bench_read_s32(src + 4);
            dst = store_group(dst, __sxtb16(v), sxtb16_ror8(v));
            dst = store_group(dst, __sxtb16(w), sxtb16_ror8(w));
        }
        if (n) {
            const int32_t v = bench_read_s32(src);
            store_group(dst, __sxtb16(v), sxtb16_ror8(v));
        }
        return;
    }
    const int32_t offset2 = (int32_t)(((uint32_t)offset & 0xFFFFu) | ((uint32_t)offset << 16));
    for (; n > 0; n--, src += 4) {
        const int32_t v = bench_read_s32(src);
        dst = store_group(dst, __sadd16(__sxtb16(v), offset2), __sadd16(sxtb16_ror8(v), offset2));
    }
#else
    for (; n > 0; n--, src += 4, dst += 8) {
        dst[0] = (int16_t)(src[0] + offset);
        dst[1] = (int16_t)(src[2] + offset);
        dst[2] = (int16_t)(src[1] + offset);
        dst[3] = (int16_t)(src[3] + offset);
    }
#endif
}

/* Position of value r of a kernel row in its column (groups stored (0, 2, 1, 3)). */
static inline int32_t row_slot(int32_t r)
{
    static const int8_t perm[4] = {0, 2, 1, 3};
    return (r >> 2) * 8 + perm[r & 3];
}

static void column_values(const int8_t *src, int32_t r, int32_t n, int32_t offset,
                          int16_t *dst)
{
    for (int32_t i = 0; i < n; i++) {
        dst[row_slot(r + i)] = (int16_t)(src[i] + offset);
    }
}

#include "conv_q.inc"

/* An odd last output channel co of packed weights, in portable C (rare:
 * kept small). Row co of its pair; int8 columns hold each group as
 * (0, 2, 1, 3). */
static __attribute__((noinline)) void odd_channel(const block_args *b, int32_t co,
                                                  const int16_t *cols, int8_t *out0,
                                                  int8_t *out1)
{
    static const int8_t pos[4] = {0, 2, 1, 3};
    const int8_t *w8 = (const int8_t *)b->weight + co * b->k_pad;
    int32_t acc0 = b->bias[co], acc1 = acc0;
    for (int32_t g = 0; g < b->k_pad; g += 4) {
        for (int32_t i = 0; i < 4; i++) {
            const int32_t w = w8[2 * g + i];
            const int32_t p = 2 * g + pos[i];
            acc0 = bench_wrap_add(acc0, w * cols[p]);
            acc1 = bench_wrap_add(acc1, w * cols[p + 4]);
        }
    }
    out0[co] = (int8_t)bench_requantize(b->q, acc0, co);
    out1[co] = (int8_t)bench_requantize(b->q, acc1, co);
}

/* Every output channel of the two pixels whose columns are at cols, packed
 * (int8) weights: a pair of channels per 2 x 2 block, an odd last one apart.
 * Wide weights take channels_q15() (conv_q.inc). */
static inline __attribute__((always_inline)) void
channels_packed(const block_args *args, int32_t mode, const int16_t *cols, int8_t *out0,
                int8_t *out1)
{
    /* A private copy: its fields stay in registers (or one reload each)
     * instead of being re-read after every store through out0/out1. */
    const block_args copy = *args, *b = &copy;
    const int32_t cout = b->cout, k_pad = b->k_pad;
    const int32_t *bias = b->bias;
    const int8_t *w8 = (const int8_t *)b->weight;
    int32_t co = 0;
    for (; co + 1 < cout; co += 2, w8 += 2 * k_pad) {
        int32_t acc[4] = {bias[co], bias[co], bias[co + 1], bias[co + 1]};
        bench_mac_2x2_s8(w8, cols, k_pad, acc);
        out0[co] = (int8_t)out_value(b, mode, acc[0], co);
        out1[co] = (int8_t)out_value(b, mode, acc[1], co);
        out0[co + 1] = (int8_t)out_value(b, mode, acc[2], co + 1);
        out1[co + 1] = (int8_t)out_value(b, mode, acc[3], co + 1);
    }
    if (co < cout) {
        odd_channel(b, co, cols, out0, out1);
    }
}

CONV_ENTRY(bench_conv_s8, int8_t, channels_packed, OUT_GENERIC)
CONV_ENTRY(bench_conv_s8_pot, int8_t, channels_packed, OUT_POT)
CONV_ENTRY(bench_conv_s8_affine, int8_t, channels_packed, OUT_AFFINE)
CONV_ENTRY(bench_conv_s8_wide, int16_t, channels_q15, OUT_GENERIC)
CONV_ENTRY(bench_conv_s8_wide_pot, int16_t, channels_q15, OUT_POT)
CONV_ENTRY(bench_conv_s8_wide_affine, int16_t, channels_q15, OUT_AFFINE)
