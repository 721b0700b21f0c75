/*
 * conv1d_f32.c - 1-D convolution, float32, channels-first (C, L), zero padding.
 *
 * Tensors use bench_dims {c, 1, L}; only the w fields of params are used
 * (stride_h must be 1 and pad_h 0).
 *
 * Speed on a Cortex-M4F: outputs are computed in tiles of 2 output channels
 * x 4 positions held in FPU registers, so one weight load feeds 4 fused
 * multiply-adds and one input load 2, with the kernel width unrolled. Only
 * the few outputs whose window crosses the padding take the clipped path:
 * the tiles carry no bounds tests and no per-element branches.
 * bench_conv1d_f32_k<K>s<S> are this kernel with width and stride fixed at
 * compile time (every load an immediate offset); the code generator calls the
 * one a layer matches, so a model links only the variants it uses.
 */
#include <stddef.h>

#include "bench_kernels.h"
#include "act_f32.h"

#define OCB 2 /* output channels per tile */
#define OXB 4 /* output positions per tile */

/* One output channel's (or a tile's first channel's) view of a layer. */
typedef struct {
    const float *input;  /* the group's first input channel */
    const float *filter; /* this channel's weights */
    const float *bias;   /* this channel's bias, or NULL */
    float *output;       /* this channel's output row */
    int32_t in_l, out_l, k_c, k_size;
    bench_activation act;
} conv1d_view;

/* ocb channels x oxb positions from ox on, the whole window inside the input. */
BENCH_INLINE void conv1d_tile(const conv1d_view *v, int32_t ox, int32_t ocb, int32_t oxb,
                              int32_t k, int32_t s, int32_t pad)
{
    float acc[OCB][OXB];
#pragma GCC unroll 2
    for (int32_t o = 0; o < ocb; o++) {
        const float b = v->bias ? v->bias[o] : 0.0f;
#pragma GCC unroll 4
        for (int32_t j = 0; j < oxb; j++) {
            acc[o][j] = b;
        }
    }
    const float *x = v->input + (ox * s - pad);
    const float *w = v->filter;
    for (int32_t ic = 0; ic < v->k_c; ic++) {
#pragma GCC unroll 7
        for (int32_t kx = 0; kx < k; kx++) {
            float xv[OXB];
#pragma GCC unroll 4
            for (int32_t j = 0; j < oxb; j++) {
                xv[j] = x[j * s + kx];
            }
#pragma GCC unroll 2
            for (int32_t o = 0; o < ocb; o++) {
                const float wv = w[o * v->k_size + kx];
#pragma GCC unroll 4
                for (int32_t j = 0; j < oxb; j++) {
                    acc[o][j] = BENCH_FMA(xv[j], wv, acc[o][j]);
                }
            }
        }
        x += v->in_l;
        w += k;
    }
#pragma GCC unroll 2
    for (int32_t o = 0; o < ocb; o++) {
#pragma GCC unroll 4
        for (int32_t j = 0; j < oxb; j++) {
            v->output[o * v->out_l + ox + j] = acc[o][j]; /* activation: conv1d_rest */
        }
    }
}

/* One output whose window may be clipped by the padding (shared by all
 * variants: the few outputs outside the tiles). */
static void conv1d_one(const conv1d_view *v, int32_t ox, int32_t k, int32_t s, int32_t pad)
{
    const int32_t ix0 = ox * s - pad;
    const int32_t kx0 = bench_max_i32(0, -ix0);
    const int32_t kx1 = bench_min_i32(k, v->in_l - ix0);
    float acc = v->bias ? v->bias[0] : 0.0f;
    for (int32_t ic = 0; ic < v->k_c; ic++) {
        const float *in_ch = v->input + ic * v->in_l;
        const float *w_ic = v->filter + ic * k;
        for (int32_t kx = kx0; kx < kx1; kx++) {
            acc = BENCH_FMA(in_ch[ix0 + kx], w_ic[kx], acc);
        }
    }
    v->output[ox] = acc; /* activation: conv1d_rest */
}

/* A layer's checked shape, computed once by conv1d_plan (one copy for all
 * variants, so each variant holds little more than its tile loops). */
typedef struct {
    int32_t out_c, out_per_group, k, s, pad, ox_lo, ox_hi;
} conv1d_shape;

/* Checks the arguments (k_fixed, s_fixed: a variant's width and stride, 0 =
 * any) and fills the view of output channel 0 and the shape. */
static __attribute__((noinline)) bench_status conv1d_plan(const bench_conv_params *params,
                                const bench_dims *input_dims, const float *input,
                                const bench_dims *filter_dims, const float *filter,
                                const float *bias, const bench_dims *output_dims, float *output,
                                int32_t k_fixed, int32_t s_fixed, conv1d_view *v,
                                conv1d_shape *sh)
{
    if (!params || !input_dims || !input || !filter_dims || !filter || !output_dims || !output) {
        return BENCH_ARG_ERROR;
    }
    const int32_t groups = params->groups, in_c = input_dims->c, in_l = input_dims->w;
    const int32_t out_c = output_dims->c, out_l = output_dims->w, k_c = filter_dims->c;
    const int32_t k = filter_dims->w, s = params->stride_w, pad = params->pad_w;
    if (input_dims->h != 1 || output_dims->h != 1 || filter_dims->h != 1 ||
        params->stride_h != 1 || params->pad_h != 0 ||
        (k_fixed && (k != k_fixed || s != s_fixed)) ||
        groups <= 0 || k_c <= 0 || k_c * groups != in_c || out_c <= 0 || out_c % groups != 0 ||
        !bench_act_valid(params->activation) || bench_window_out(in_l, k, s, pad) != out_l) {
        return BENCH_ARG_ERROR;
    }
    const conv1d_view view = {.input = input, .filter = filter, .bias = bias, .output = output,
                              .in_l = in_l, .out_l = out_l, .k_c = k_c, .k_size = k_c * k,
                              .act = params->activation};
    /* Outputs [ox_lo, ox_hi) see no padding. */
    const int32_t ox_lo = bench_min_i32(out_l, (pad + s - 1) / s);
    const int32_t reach = in_l + pad - k;
    const int32_t ox_hi = bench_max_i32(ox_lo, bench_min_i32(out_l, reach < 0 ? 0 : reach / s + 1));
    const conv1d_shape shape = {.out_c = out_c, .out_per_group = out_c / groups, .k = k, .s = s,
                                .pad = pad, .ox_lo = ox_lo, .ox_hi = ox_hi};
    *v = view;
    *sh = shape;
    return BENCH_OK;
}

/* The view of output channels [oc, oc + n) (one group). */
static conv1d_view conv1d_at(const conv1d_view *v0, const conv1d_shape *sh, int32_t oc)
{
    conv1d_view v = *v0;
    v.input += (oc / sh->out_per_group) * v.k_c * v.in_l;
    v.filter += oc * v.k_size;
    v.bias = v.bias ? v.bias + oc : v.bias;
    v.output += oc * v.out_l;
    return v;
}

/* Channels [oc, oc + n): every output the tiles left, [0, ox_lo) and
 * [tiles_end, out_l); then the fused activation over the channels' rows (a
 * pass of its own: one copy of it, not one per tile shape and variant). */
static __attribute__((noinline)) void conv1d_rest(const conv1d_view *v0, const conv1d_shape *sh, int32_t oc, int32_t n,
                        int32_t tiles_end)
{
    for (int32_t o = oc; o < oc + n; o++) {
        const conv1d_view v = conv1d_at(v0, sh, o);
        for (int32_t x = 0; x < sh->ox_lo; x++) {
            conv1d_one(&v, x, sh->k, sh->s, sh->pad);
        }
        for (int32_t x = tiles_end; x < v.out_l; x++) {
            conv1d_one(&v, x, sh->k, sh->s, sh->pad);
        }
        float *row = v.output;
        if (v.act == BENCH_ACT_RELU) {
            for (int32_t x = 0; x < v.out_l; x++) {
                row[x] = row[x] > 0.0f ? row[x] : 0.0f;
            }
        } else if (v.act == BENCH_ACT_RELU6) {
            for (int32_t x = 0; x < v.out_l; x++) {
                row[x] = bench_act_f32(row[x], BENCH_ACT_RELU6);
            }
        }
    }
}

/* k_fixed, s_fixed: the variant's width and stride, 0 = any. */
BENCH_INLINE bench_status conv1d_body(const bench_conv_params *params,
                                      const bench_dims *input_dims, const float *input,
                                      const bench_dims *filter_dims, const float *filter,
                                      const float *bias,
                                      const bench_dims *output_dims, float *output,
                                      int32_t k_fixed, int32_t s_fixed)
{
    conv1d_view v0;
    conv1d_shape sh;
    if (conv1d_plan(params, input_dims, input, filter_dims, filter, bias, output_dims, output,
                    k_fixed, s_fixed, &v0, &sh) != BENCH_OK) {
        return BENCH_ARG_ERROR;
    }
    const int32_t k = k_fixed ? k_fixed : sh.k, s = k_fixed ? s_fixed : sh.s;
    for (int32_t oc = 0; oc < sh.out_c;) {
        const int32_t left = (oc / sh.out_per_group + 1) * sh.out_per_group - oc;
        const int32_t ocb = left >= OCB ? OCB : 1; /* channels of one group per tile */
        const conv1d_view v = conv1d_at(&v0, &sh, oc);
        int32_t ox = sh.ox_lo;
        for (; ox + OXB <= sh.ox_hi; ox += OXB) {
            if (ocb == OCB) {
                conv1d_tile(&v, ox, OCB, OXB, k, s, sh.pad);
            } else {
                conv1d_tile(&v, ox, 1, OXB, k, s, sh.pad);
            }
        }
        for (int32_t o = 0; o < ocb; o++) { /* interior outputs left over: one at a time */
            const conv1d_view one = conv1d_at(&v0, &sh, oc + o);
            for (int32_t x = ox; x < sh.ox_hi; x++) {
                conv1d_tile(&one, x, 1, 1, k, s, sh.pad);
            }
        }
        conv1d_rest(&v0, &sh, oc, ocb, sh.ox_hi);
        oc += ocb;
    }
    return BENCH_OK;
}

bench_status bench_conv1d_f32(const bench_conv_params *params,
                              const bench_dims *input_dims, const float *input,
                              const bench_dims *filter_dims, const float *filter,
                              const float *bias,
                              const bench_dims *output_dims, float *output)
{
    return conv1d_body(params, input_dims, input, filter_dims, filter, bias, output_dims,
                       output, 0, 0);
}

#define BENCH_CONV1D_VARIANT(K, S)                                                             \
    bench_status bench_conv1d_f32_k##K##s##S(const bench_conv_params *params,                  \
                                             const bench_dims *input_dims, const float *input, \
                                             const bench_dims *filter_dims,                    \
                                             const float *filter, const float *bias,           \
                                             const bench_dims *output_dims, float *output)     \
    {                                                                                          \
        return conv1d_body(params, input_dims, input, filter_dims, filter, bias, output_dims,  \
                           output, K, S);                                                      \
    }

BENCH_CONV1D_VARIANTS(BENCH_CONV1D_VARIANT)
