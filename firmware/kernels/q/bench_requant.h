/*
 * bench_requant.h - integer rescaling shared by the int8/int16 kernels.
 *
 * Power-of-two: a right shift with round-half-up (a negative shift is a
 * left shift). Affine: gemmlowp's SaturatingRoundingDoublingHighMul and
 * RoundingDivideByPOT, composed as tflite::MultiplyByQuantizedMultiplier.
 * Mirrored bit for bit by harness/quant/reference.py.
 */
#ifndef BENCH_REQUANT_H
#define BENCH_REQUANT_H

#include <stdint.h>
#include <string.h>

#include "bench_qkernels.h"

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#endif

/* Adds that wrap like the hardware's SMLAD, without signed overflow in C. */
static inline int32_t bench_wrap_add(int32_t a, int32_t b)
{
    return (int32_t)((uint32_t)a + (uint32_t)b);
}

/* a + b saturated to int32 (QADD). */
static inline int32_t bench_sat_add(int32_t a, int32_t b)
{
#if defined(__ARM_FEATURE_DSP)
    return __qadd(a, b);
#else
    const int64_t v = (int64_t)a + b;
    return v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : (int32_t)v);
#endif
}

/* Round half up, then shift; the rounding add saturates. A negative shift
 * is a saturating left shift. */
static inline int32_t bench_shift_round(int32_t acc, int32_t shift)
{
    if (shift > 0) {
        return bench_sat_add(acc, (int32_t)(1u << (shift - 1))) >> shift;
    }
    const int64_t v = (int64_t)acc * ((int64_t)1 << -shift);
    return v > INT32_MAX ? INT32_MAX : (v < INT32_MIN ? INT32_MIN : (int32_t)v);
}

static inline int32_t bench_srdhm(int32_t a, int32_t b)
{
    if (a == INT32_MIN && b == INT32_MIN) {
        return INT32_MAX;
    }
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static inline int32_t bench_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)((1u << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static inline int32_t bench_mul_by_multiplier(int32_t x, int32_t mult, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    return bench_rounding_divide_by_pot(
        bench_srdhm((int32_t)((uint32_t)x << left), mult), right);
}

/* bench_mul_by_multiplier for mult != INT32_MIN (every multiplier that
 * quantize_multiplier makes is in [0, 2**31)): then the doubling high
 * multiply with its sign-dependent nudge is exactly
 * floor((x * mult + 2**30) / 2**31), one SMULL and a few shifts. */
static inline int32_t bench_mul_by_multiplier_fast(int32_t x, int32_t mult, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    const int32_t v = (int32_t)((uint32_t)x << left);
    const int32_t h = (int32_t)(((int64_t)v * mult + ((int64_t)1 << 30)) >> 31);
    return bench_rounding_divide_by_pot(h, right);
}

/* (a * b + 2**31) >> 32: SMMULR. */
static inline int32_t bench_smmulr(int32_t a, int32_t b)
{
#if defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
#else
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
#endif
}

/* Whether bench_requant_s8_fast serves a channel: multiplier >= 0 and a
 * right shift r = -shift in [1, 21]. */
static inline int32_t bench_requant_s8_fast_ok(int32_t mult, int32_t shift)
{
    return mult >= 0 && shift <= -1 && shift >= -21;
}

/* MultiplyByQuantizedMultiplier(acc, mult, -right) + offset for an int8
 * output (clamped by the caller), in 7 instructions: SRDHM(acc, mult) is
 * SMMULR(2 acc, mult) (QADD doubles: it saturates only where |acc| >=
 * 2**30, and then the exact result and this one both lie beyond int8's
 * range on the same side once r <= 21), and RoundingDivideByPOT(h, r) is
 * (h + 2**(r-1) - (h < 0)) >> r (|h| <= 2**30: no overflow). */
static inline int32_t bench_requant_s8_fast(int32_t acc, int32_t mult, int32_t right,
                                            int32_t offset)
{
    const int32_t h = bench_smmulr(bench_sat_add(acc, acc), mult);
    return ((int32_t)((uint32_t)h + (1u << (right - 1)) + (uint32_t)(h >> 31)) >> right) +
           offset;
}

static inline int32_t bench_clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* Accumulator of output channel ch -> clamped output value. */
static inline int32_t bench_requantize(const bench_qparams *q, int32_t acc, int32_t ch)
{
    if (!q->mult) {
        /* Power-of-two formats are per tensor: one shift for the layer. */
        return bench_clamp(bench_shift_round(acc, q->shift[0]), q->act_min, q->act_max);
    }
    return bench_clamp(bench_mul_by_multiplier(acc, q->mult[ch], q->shift[ch]) + q->output_offset,
                       q->act_min, q->act_max);
}

/* Unaligned-safe loads of packed pairs/quads: one LDR on the M4. */
static inline int32_t bench_read_s32(const void *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#endif /* BENCH_REQUANT_H */
