/*
 * bench_mac.h - the 2 x 2 dot-product blocks at the heart of conv and linear.
 *
 * Both compute, for two weight rows r0, r1 and two columns x, y over K
 * values: acc = {r0.x, r0.y, r1.x, r1.y} (added to acc's initial values).
 *
 * Memory layout (K padded with zeros to a multiple of 4, k_pad >= 4):
 *   columns: per group of four k, 4 values of x then 4 values of y (int16);
 *   rows:    per group of four k, 4 weights of r0 then 4 of r1.
 * int8 columns store each group as (x0, x2, x1, x3): that is the order
 * SXTB16 and SXTB16 ROR 8 unpack int8 weights in, and the order int16
 * ("wide") int8 weights are stored in, so no repacking happens per MAC.
 *
 * On the Cortex-M4 the loops are hand-scheduled (GCC 12 splits the 64-bit
 * loads and runs out of registers on this block): four (q15) or two (int8)
 * groups of four k per iteration, entered part-way through when the group
 * count is not a multiple (no separate prologue: less flash). Per group of
 * four k: q15 rows 1 LDM + 2 LDRD + 8 SMLAD, int8 rows 3 LDRD + 4 SXTB16
 * + 8 SMLAD. Portable C gives the same bits elsewhere.
 */
#ifndef BENCH_MAC_H
#define BENCH_MAC_H

#include <stdint.h>

#include "bench_requant.h"

#if defined(__ARM_FEATURE_DSP)
/* One group of four k, q15 rows: c and w advance by one group. The column
 * group (x0, x1, y0, y1) is one LDM, so those four operands are pinned to
 * r0..r3 (LDM fills registers in ascending order). */
#define BENCH_MAC_Q15_GROUP                                                                   \
    "ldmia  %[c]!, {%[x0], %[x1], %[y0], %[y1]}\n\t"                                          \
    "ldrd   %[u0], %[u1], [%[w]], #16\n\t"                                                     \
    "smlad  %[a00], %[u0], %[x0], %[a00]\n\t"                                                  \
    "smlad  %[a00], %[u1], %[x1], %[a00]\n\t"                                                  \
    "smlad  %[a01], %[u0], %[y0], %[a01]\n\t"                                                  \
    "smlad  %[a01], %[u1], %[y1], %[a01]\n\t"                                                  \
    "ldrd   %[u0], %[u1], [%[w], #-8]\n\t"                                                     \
    "smlad  %[a10], %[u0], %[x0], %[a10]\n\t"                                                  \
    "smlad  %[a10], %[u1], %[x1], %[a10]\n\t"                                                  \
    "smlad  %[a11], %[u0], %[y0], %[a11]\n\t"                                                  \
    "smlad  %[a11], %[u1], %[y1], %[a11]\n\t"

/* One group of four k, int8 rows (r0's four bytes then r1's: one LDRD). */
#define BENCH_MAC_S8_GROUP                                                                    \
    "ldrd   %[x0], %[x1], [%[c]], #16\n\t"                                                     \
    "ldrd   %[u1], %[t], [%[w]], #8\n\t"                                                       \
    "ldrd   %[y0], %[y1], [%[c], #-8]\n\t"                                                     \
    "sxtb16 %[u0], %[u1]\n\t"                                                                  \
    "sxtb16 %[u1], %[u1], ror #8\n\t"                                                          \
    "smlad  %[a00], %[u0], %[x0], %[a00]\n\t"                                                  \
    "smlad  %[a00], %[u1], %[x1], %[a00]\n\t"                                                  \
    "smlad  %[a01], %[u0], %[y0], %[a01]\n\t"                                                  \
    "smlad  %[a01], %[u1], %[y1], %[a01]\n\t"                                                  \
    "sxtb16 %[u0], %[t]\n\t"                                                                   \
    "sxtb16 %[u1], %[t], ror #8\n\t"                                                           \
    "smlad  %[a10], %[u0], %[x0], %[a10]\n\t"                                                  \
    "smlad  %[a10], %[u1], %[x1], %[a10]\n\t"                                                  \
    "smlad  %[a11], %[u0], %[y0], %[a11]\n\t"                                                  \
    "smlad  %[a11], %[u1], %[y1], %[a11]\n\t"

#define BENCH_MAC_OPERANDS                                                                    \
    : [a00] "+r"(acc[0]), [a01] "+r"(acc[1]), [a10] "+r"(acc[2]), [a11] "+r"(acc[3]),         \
      [c] "+r"(cols),                                                                         \
      [w] "+r"(rows), [x0] "=&r"(x0), [x1] "=&r"(x1), [y0] "=&r"(y0), [y1] "=&r"(y1),         \
      [u0] "=&r"(u0), [u1] "=&r"(u1)
#endif

/* q15 rows (int16 weights) x q15 columns. */
static inline void bench_mac_2x2_q15(const int16_t *rows, const int16_t *cols, int32_t k_pad,
                                     int32_t acc[4])
{
#if defined(__ARM_FEATURE_DSP)
    register int32_t x0 __asm("r0"), x1 __asm("r1"), y0 __asm("r2"), y1 __asm("r3");
    int32_t u0, u1;
    const int16_t *end = cols + 2 * k_pad;
    /* Four groups per iteration, entered Duff-style: groups % 4 (bits 4 and
     * 5 of the column bytes, 16 per group) picks the first group to run. */
    __asm volatile("sub    %[u0], %[end], %[c]\n\t"
                   "lsls   %[u0], %[u0], #27\n\t"
                   "bcc    5f\n\t"
                   "bmi    11f\n\t"
                   "b      12f\n\t"
                   "5:\n\t"
                   "bmi    13f\n\t"
                   "1:\n\t" BENCH_MAC_Q15_GROUP
                   "11:\n\t" BENCH_MAC_Q15_GROUP
                   "12:\n\t" BENCH_MAC_Q15_GROUP
                   "13:\n\t" BENCH_MAC_Q15_GROUP
                   "cmp    %[c], %[end]\n\t"
                   "bne    1b\n\t"
                   BENCH_MAC_OPERANDS
                   : [end] "r"(end)
                   : "cc", "memory");
#else
    for (int32_t g = 0; g < k_pad / 4; g++, rows += 8, cols += 8) {
        for (int32_t i = 0; i < 4; i++) {
            acc[0] = bench_wrap_add(acc[0], rows[i] * cols[i]);
            acc[1] = bench_wrap_add(acc[1], rows[i] * cols[4 + i]);
            acc[2] = bench_wrap_add(acc[2], rows[4 + i] * cols[i]);
            acc[3] = bench_wrap_add(acc[3], rows[4 + i] * cols[4 + i]);
        }
    }
#endif
}

/* int8 rows x q15 columns. */
static inline void bench_mac_2x2_s8(const int8_t *rows, const int16_t *cols, int32_t k_pad,
                                    int32_t acc[4])
{
#if defined(__ARM_FEATURE_DSP)
    int32_t x0, x1, y0, y1, u0, u1, t; /* 14 operands: no room to pin an LDM */
    const int16_t *end = cols + 2 * k_pad;
    /* Two groups per iteration; an odd group count enters at the second. */
    __asm volatile("sub    %[t], %[end], %[c]\n\t"
                   "lsls   %[t], %[t], #28\n\t"
                   "bcs    11f\n\t"
                   "1:\n\t" BENCH_MAC_S8_GROUP
                   "11:\n\t" BENCH_MAC_S8_GROUP
                   "cmp    %[c], %[end]\n\t"
                   "bne    1b\n\t"
                   BENCH_MAC_OPERANDS, [t] "=&r"(t)
                   : [end] "r"(end)
                   : "cc", "memory");
#else
    /* Each group of both rows widened in the columns' (0, 2, 1, 3) order is
     * a group of q15 rows: the same bits as the SXTB16 path. */
    for (const int8_t *end = rows + 2 * k_pad; rows < end; rows += 8, cols += 8) {
        const int16_t group[8] = {rows[0], rows[2], rows[1], rows[3],
                                  rows[4], rows[6], rows[5], rows[7]};
        bench_mac_2x2_q15(group, cols, 4, acc);
    }
#endif
}

#endif /* BENCH_MAC_H */
