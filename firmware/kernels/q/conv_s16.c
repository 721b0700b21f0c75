/*
 * conv_s16.c - int16 convolution (groups == 1), channels-last, im2col + GEMM.
 *
 * Power-of-two formats only (input_offset must be 0). The walk over output
 * pixels, im2col, the 2 x 2 blocks and requantization are shared with int8
 * (conv_q.inc); what is int16 is here: column values are the input values,
 * copied in plain order, two words per group of four; int16 pairs feed
 * SMLAD with no unpacking. Requantization: one shift for the layer, SSAT
 * when the clamp is the int16 range or a ReLU.
 */
#include <string.h>

#include "bench_mac.h"
#include "bench_qkernels.h"
#include "bench_requant.h"

#define QT int16_t
#define QMIN (-32768)
#define QMAX 32767
#define QBITS 16
#define CONV_SCRATCH_BYTES bench_conv_s16_scratch_bytes
#define QHAS_OFFSET 0

/* n groups of four int16 -> column groups, 8 int16 apart (no offset: pot). */
static void column_groups(const int16_t *src, int32_t n, int32_t offset, int16_t *dst)
{
    (void)offset;
    for (; n > 0; n--, src += 4, dst += 8) {
        const int32_t lo = bench_read_s32(src), hi = bench_read_s32(src + 2);
        memcpy(dst, &lo, 4);
        memcpy(dst + 2, &hi, 4);
    }
}

static inline int32_t row_slot(int32_t r)
{
    return (r >> 2) * 8 + (r & 3);
}

static void column_values(const int16_t *src, int32_t r, int32_t n, int32_t offset,
                          int16_t *dst)
{
    (void)offset;
    for (int32_t i = 0; i < n; i++) {
        dst[row_slot(r + i)] = src[i];
    }
}

#include "conv_q.inc"

CONV_ENTRY(bench_conv_s16, int16_t, channels_q15, OUT_GENERIC)
CONV_ENTRY(bench_conv_s16_pot, int16_t, channels_q15, OUT_POT)
