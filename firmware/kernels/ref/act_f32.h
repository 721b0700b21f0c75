/*
 * act_f32.h - private helpers shared by the float32 reference kernels.
 */
#ifndef BENCH_ACT_F32_H
#define BENCH_ACT_F32_H

#include "bench_kernels.h"

/* Fused activation; the switch is hoisted out of loops by the callers. */
static inline float bench_act_f32(float v, bench_activation act)
{
    if (act == BENCH_ACT_RELU) {
        return v > 0.0f ? v : 0.0f;
    }
    if (act == BENCH_ACT_RELU6) {
        return v > 0.0f ? (v < 6.0f ? v : 6.0f) : 0.0f;
    }
    return v;
}

/* a * b + c: one fused VFMA where the FPU has it (Cortex-M4F: one
 * instruction, one rounding), a multiply and an add elsewhere (the host build
 * of the tests); both stay within the tests' tolerance of PyTorch. */
#if defined(__ARM_FEATURE_FMA)
#define BENCH_FMA(a, b, c) __builtin_fmaf((a), (b), (c))
#else
#define BENCH_FMA(a, b, c) ((a) * (b) + (c))
#endif

/* Inlined into each specialised kernel, so its constant arguments fold. */
#define BENCH_INLINE static inline __attribute__((always_inline))

static inline int bench_act_valid(bench_activation act)
{
    return act == BENCH_ACT_NONE || act == BENCH_ACT_RELU || act == BENCH_ACT_RELU6;
}

/* Output length of a zero-padded window sweep, or -1 if it does not fit. */
static inline int32_t bench_window_out(int32_t size, int32_t kernel, int32_t stride, int32_t pad)
{
    int32_t span = size + 2 * pad - kernel;
    if (kernel <= 0 || stride <= 0 || pad < 0 || span < 0) {
        return -1;
    }
    return span / stride + 1;
}

static inline int32_t bench_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static inline int32_t bench_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }

#endif /* BENCH_ACT_F32_H */
