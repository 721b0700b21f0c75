/*
 * bench_qkernels.h - int8 and int16 kernels of the native engine.
 *
 * Layout is channels-last, without the batch dimension: (H, W, C), 1-D
 * tensors (L, C) as h = 1, w = L. Channels-last keeps the C_in values of
 * one kernel tap contiguous, so im2col copies rows instead of gathering.
 *
 * Dense conv weights: per output channel, kh kernel rows of kw * C_in values
 * in (kx, c_in) order (contiguous in a channels-last input), each row
 * zero-padded to a multiple of 4 values: k_pad (bench_conv_k_pad) values,
 * laid out in pairs of output channels as bench_mac.h describes (an odd
 * last channel pairs with a zero row). Padding rows, not K, keeps every
 * kernel row on a group of four, so im2col copies whole rows four values
 * at a time whatever C_in is. int8 weights are stored as int8
 * ("packed") or int16 ("wide", in the (0, 2, 1, 3) group order). Grouped
 * and linear weights are plain rows; depthwise weights are channels-last
 * too, (kh, kw, C), so one tap of neighbouring channels is contiguous.
 *
 * Arithmetic: 32-bit accumulators; requantization per output channel by
 * bench_requant.h (shift only for power-of-two formats, a Q31 multiplier
 * and shift for affine ones, as TFLite). harness/quant/reference.py is the
 * bit-exact model of every kernel here.
 *
 * The Cortex-M4 DSP paths (ACLE intrinsics, arm_acle.h) are compiled when
 * __ARM_FEATURE_DSP is set; elsewhere the portable paths give the same bits.
 */
#ifndef BENCH_QKERNELS_H
#define BENCH_QKERNELS_H

#include <stdint.h>

#include "bench_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Requantization of a conv/linear output channel and the fused clamp. */
typedef struct {
    const int32_t *mult;  /* per output channel Q31 multipliers; NULL: power-of-two */
    const int32_t *shift; /* affine: per output channel TFLite exponents; pot: shift[0] */
    int32_t input_offset; /* -zero_point of the input (0 for pot) */
    int32_t output_offset; /* zero_point of the output */
    int32_t act_min;      /* clamp, carries a fused ReLU / ReLU6 */
    int32_t act_max;
} bench_qparams;

/* Conv and pool window (bench_kernels.h). */
typedef struct {
    BENCH_WINDOW_FIELDS
} bench_window;

/* A compile-time check, usable at file scope: C11's _Static_assert, which
 * GCC accepts in C99 too (__extension__ keeps -Wpedantic quiet; glibc's
 * headers swap in a bit-field trick whose error quotes the message only in
 * a note). Generated models check their arena plan with it. */
#if defined(__GNUC__)
#define BENCH_STATIC_ASSERT(cond, msg) __extension__ _Static_assert(cond, msg)
#else
#define BENCH_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/*
 * Working memory ("scratch"), as in CMSIS-NN: the caller owns it (the
 * generator plans it into the arena, 4-byte aligned) and the kernel's
 * header says how big it is, beside each kernel that takes one: a macro
 * (a constant expression, so a generated model can check its plan at
 * compile time) and a function of the kernel's own arguments. The Python
 * planner (harness/engines/native/integer.py, scratch_bytes) must agree;
 * tests/test_kernel_scratch.py compares the two.
 */

/* kh kernel rows of kw * C_in values, each rounded up to a multiple of 4. */
#define BENCH_CONV_ROW_PAD(kernel_w, c_in) (((kernel_w) * (c_in) + 3) & ~3)
#define BENCH_CONV_K_PAD(kernel_h, kernel_w, c_in) \
    ((kernel_h) * BENCH_CONV_ROW_PAD(kernel_w, c_in))

static inline int32_t bench_conv_row_pad(const bench_window *win, const bench_dims *in_dims)
{
    return BENCH_CONV_ROW_PAD(win->kernel_w, in_dims->c);
}

static inline int32_t bench_conv_k_pad(const bench_window *win, const bench_dims *in_dims)
{
    return BENCH_CONV_K_PAD(win->kernel_h, win->kernel_w, in_dims->c);
}

/*
 * Convolution, groups == 1. scratch: two int16 im2col columns of k_pad
 * values, BENCH_CONV_S8/S16_SCRATCH_BYTES (every variant below: packed,
 * wide, _pot, _affine), 4-byte aligned; weights 4-byte aligned.
 *
 * bench_conv_s8 / _s8_wide / _s16 requantize any layer. The _pot and
 * _affine variants are the same kernels with the requantization fixed, so
 * a firmware links only what it uses: _pot needs a power-of-two layer with
 * a right shift (shift[0] >= 0) clamped to the full range or to a ReLU
 * ([0, max]); _affine needs mult. Other layers get BENCH_ARG_ERROR.
 */
#define BENCH_CONV_DECL(name, xtype, wtype)                                                    \
    bench_status name(const bench_window *win, const bench_qparams *q,                         \
                      const bench_dims *in_dims, const xtype *input,                           \
                      const bench_dims *out_dims, const wtype *weight, const int32_t *bias,    \
                      int16_t *scratch, xtype *output)
BENCH_CONV_DECL(bench_conv_s8, int8_t, int8_t);
BENCH_CONV_DECL(bench_conv_s8_pot, int8_t, int8_t);
BENCH_CONV_DECL(bench_conv_s8_affine, int8_t, int8_t);
BENCH_CONV_DECL(bench_conv_s8_wide, int8_t, int16_t);
BENCH_CONV_DECL(bench_conv_s8_wide_pot, int8_t, int16_t);
BENCH_CONV_DECL(bench_conv_s8_wide_affine, int8_t, int16_t);
BENCH_CONV_DECL(bench_conv_s16, int16_t, int16_t);
BENCH_CONV_DECL(bench_conv_s16_pot, int16_t, int16_t);

#define BENCH_CONV_S8_SCRATCH_BYTES(kernel_h, kernel_w, c_in) \
    (2 * BENCH_CONV_K_PAD(kernel_h, kernel_w, c_in) * (int32_t)sizeof(int16_t))
#define BENCH_CONV_S16_SCRATCH_BYTES(kernel_h, kernel_w, c_in) \
    BENCH_CONV_S8_SCRATCH_BYTES(kernel_h, kernel_w, c_in)

static inline int32_t bench_conv_s8_scratch_bytes(const bench_window *win,
                                                  const bench_dims *in_dims)
{
    return BENCH_CONV_S8_SCRATCH_BYTES(win->kernel_h, win->kernel_w, in_dims->c);
}

static inline int32_t bench_conv_s16_scratch_bytes(const bench_window *win,
                                                   const bench_dims *in_dims)
{
    return BENCH_CONV_S16_SCRATCH_BYTES(win->kernel_h, win->kernel_w, in_dims->c);
}

/* Depthwise convolution: groups == C_in == C_out; weights (kh, kw, C). */
bench_status bench_depthwise_s8(const bench_window *win, const bench_qparams *q,
                                const bench_dims *in_dims, const int8_t *input,
                                const bench_dims *out_dims, const int8_t *weight,
                                const int32_t *bias, int8_t *output);
bench_status bench_depthwise_s16(const bench_window *win, const bench_qparams *q,
                                 const bench_dims *in_dims, const int16_t *input,
                                 const bench_dims *out_dims, const int16_t *weight,
                                 const int32_t *bias, int16_t *output);

/* Any other group count (plain loops); weights (C_out, kh, kw, C_in / groups). */
bench_status bench_conv_grouped_s8(const bench_window *win, const bench_qparams *q,
                                   int32_t groups, const bench_dims *in_dims,
                                   const int8_t *input, const bench_dims *out_dims,
                                   const int8_t *weight, const int32_t *bias, int8_t *output);
bench_status bench_conv_grouped_s16(const bench_window *win, const bench_qparams *q,
                                    int32_t groups, const bench_dims *in_dims,
                                    const int16_t *input, const bench_dims *out_dims,
                                    const int16_t *weight, const int32_t *bias,
                                    int16_t *output);

/* Fully connected: out[o] = requant(bias[o] + sum_k (in[k] + offset) * w[o][k]).
 * int8 scratch: in_features int16 (the input plus offset, widened once on
 * the DSP path), BENCH_LINEAR_S8_SCRATCH_BYTES, 4-byte aligned. int16 needs
 * none. */
bench_status bench_linear_s8(const bench_qparams *q, int32_t in_features,
                             int32_t out_features, const int8_t *input, const int8_t *weight,
                             const int32_t *bias, int16_t *scratch, int8_t *output);

#define BENCH_LINEAR_S8_SCRATCH_BYTES(in_features) ((in_features) * (int32_t)sizeof(int16_t))

static inline int32_t bench_linear_s8_scratch_bytes(int32_t in_features)
{
    return BENCH_LINEAR_S8_SCRATCH_BYTES(in_features);
}

bench_status bench_linear_s16(const bench_qparams *q, int32_t in_features,
                              int32_t out_features, const int16_t *input,
                              const int16_t *weight, const int32_t *bias, int16_t *output);

/* Pools keep the input's format; average pools divide with rounding (TFLite). */
bench_status bench_maxpool_s8(const bench_window *win, const bench_dims *in_dims,
                              const int8_t *input, const bench_dims *out_dims, int8_t *output);
bench_status bench_maxpool_s16(const bench_window *win, const bench_dims *in_dims,
                               const int16_t *input, const bench_dims *out_dims,
                               int16_t *output);
/* count_include_pad: padded taps count, holding pad_value (the zero point). */
bench_status bench_avgpool_s8(const bench_window *win, int32_t count_include_pad,
                              int32_t pad_value, const bench_dims *in_dims, const int8_t *input,
                              const bench_dims *out_dims, int8_t *output);
bench_status bench_avgpool_s16(const bench_window *win, int32_t count_include_pad,
                               int32_t pad_value, const bench_dims *in_dims, const int16_t *input,
                               const bench_dims *out_dims, int16_t *output);
/* Mean over h and w; scratch: in_dims->c int32 sums,
 * BENCH_GLOBAL_AVGPOOL_S8/S16_SCRATCH_BYTES. */
bench_status bench_global_avgpool_s8(const bench_dims *in_dims, const int8_t *input,
                                     int32_t *scratch, int8_t *output);
bench_status bench_global_avgpool_s16(const bench_dims *in_dims, const int16_t *input,
                                      int32_t *scratch, int16_t *output);

#define BENCH_GLOBAL_AVGPOOL_S8_SCRATCH_BYTES(c) ((c) * (int32_t)sizeof(int32_t))
#define BENCH_GLOBAL_AVGPOOL_S16_SCRATCH_BYTES(c) BENCH_GLOBAL_AVGPOOL_S8_SCRATCH_BYTES(c)

static inline int32_t bench_global_avgpool_s8_scratch_bytes(const bench_dims *in_dims)
{
    return BENCH_GLOBAL_AVGPOOL_S8_SCRATCH_BYTES(in_dims->c);
}

static inline int32_t bench_global_avgpool_s16_scratch_bytes(const bench_dims *in_dims)
{
    return BENCH_GLOBAL_AVGPOOL_S16_SCRATCH_BYTES(in_dims->c);
}

/*
 * Residual add, both inputs rescaled to the output's format; in place allowed.
 * Power-of-two: out = shift_round((a << a_left) + (b << b_left), shift).
 * Affine (TFLite ADD): mult != 0.
 */
typedef struct {
    int32_t a_offset, b_offset, output_offset;
    int32_t left_shift;
    int32_t a_mult, a_shift, b_mult, b_shift, out_mult, out_shift; /* affine */
    int32_t a_left, b_left, shift;                                 /* power-of-two */
    int32_t act_min, act_max;
} bench_qadd_params;

bench_status bench_add_s8(const bench_qadd_params *p, int32_t size, const int8_t *a,
                          const int8_t *b, int8_t *output);
bench_status bench_add_s16(const bench_qadd_params *p, int32_t size, const int16_t *a,
                           const int16_t *b, int16_t *output);

/* A lone ReLU / ReLU6: clamp to [lo, hi]; in place allowed. */
bench_status bench_clamp_s8(int32_t lo, int32_t hi, int32_t size, const int8_t *input,
                            int8_t *output);
bench_status bench_clamp_s16(int32_t lo, int32_t hi, int32_t size, const int16_t *input,
                             int16_t *output);

/*
 * Spiking neurons on integers (harness/quant/lif.py is the same step in
 * numpy). The potential is stored in the layer's dtype with the layer's
 * state format; threshold, v_reset and offset are in that format. A step
 * computes as in 64 bits (in 32 where the input's range proves that exact)
 * and saturates the potential to the dtype:
 *   r = pre_reset ? fire(v) : 0
 *   base = reset zero && r ? v_reset : v
 *   h = leak(base) + ((current * in_mult) >> in_shift, rounded) + offset
 *       - (reset subtract && r ? threshold : 0)                (saturated)
 *   s = fire(h); d = post_reset ? s - r : 0
 *   v = subtract: h - d * threshold; zero: v_reset if d = 1, h + (h - v_reset)
 *       if d = -1, else h; none: h                              (saturated)
 * leak: decay_mode 0 none, 1 base - (base >> decay_shift), 2 (base *
 * decay_mult + 2^14) >> 15 (Q15). Spikes are written as 0/1.
 */
typedef struct {
    int32_t decay_mode, decay_shift, decay_mult;
    int32_t in_mult, in_shift; /* in_shift < 0: a left shift */
    int32_t offset, threshold, v_reset;
    int32_t reset; /* bench_reset */
    int32_t fire_ge, pre_reset, post_reset;
} bench_lif_qparams;

bench_status bench_lif_s8(const bench_lif_qparams *p, int32_t size, const int8_t *current,
                          int8_t *state, int8_t *spikes, uint32_t *count);
bench_status bench_lif_s16(const bench_lif_qparams *p, int32_t size, const int16_t *current,
                           int16_t *state, int16_t *spikes, uint32_t *count);

/* Leaky integrators (NIR LI, a readout): the step above with reset none, no
 * pre/post reset and a threshold the saturated potential never passes; the
 * new potential is also the output. */
bench_status bench_li_s8(const bench_lif_qparams *p, int32_t size, const int8_t *current,
                         int8_t *state, int8_t *output);
bench_status bench_li_s16(const bench_lif_qparams *p, int32_t size, const int16_t *current,
                          int16_t *state, int16_t *output);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_QKERNELS_H */
