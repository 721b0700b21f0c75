/*
 * conv_s16.c - int16 convolution (groups == 1), channels-last, im2col + GEMM.
 *
 * Power-of-two formats only (input_offset must be 0). Two output pixels at
 * a time are copied into two interleaved scratch columns (bench_mac.h
 * layout, plain order); every pair of output channels is one 2 x 2 block:
 * int16 pairs feed SMLAD with no unpacking. As in conv_s8.c, each kernel
 * row starts a group of four k, so rows inside the image are copied four
 * values (two words) at a time; the up to three values read past a row's
 * end meet zero weights. Requantization: one shift for the layer, SSAT or
 * USAT when the clamp is the int16 range or a ReLU.
 */
#include <string.h>

#include "bench_mac.h"
#include "bench_qkernels.h"
#include "bench_requant.h"

enum { OUT_POT, OUT_GENERIC };

typedef struct {
    const int16_t *input, *end;
    int32_t c, h, w, kh, kw, sh, sw, ph, pw;
    int32_t row_len, row_groups;
} geometry;

static void copy_groups(const int16_t *src, int32_t n, int16_t *dst)
{
    for (; n > 0; n--, src += 4, dst += 8) {
        const int32_t lo = bench_read_s32(src), hi = bench_read_s32(src + 2);
        memcpy(dst, &lo, 4);
        memcpy(dst + 2, &hi, 4);
    }
}

static void zero_groups(int32_t n, int16_t *dst)
{
    for (; n > 0; n--, dst += 8) {
        memset(dst, 0, 4 * sizeof(int16_t));
    }
}

static inline int32_t row_slot(int32_t r)
{
    return (r >> 2) * 8 + (r & 3);
}

static void copy_values(const int16_t *src, int32_t r, int32_t n, int16_t *dst)
{
    for (int32_t i = 0; i < n; i++) {
        dst[row_slot(r + i)] = src[i];
    }
}

static void zero_values(int32_t r, int32_t n, int16_t *dst)
{
    for (int32_t i = 0; i < n; i++) {
        dst[row_slot(r + i)] = 0;
    }
}

static void im2col(const geometry *g, int32_t oy, int32_t ox, int16_t *cols, int32_t j)
{
    const int32_t y0 = oy * g->sh - g->ph, x0 = ox * g->sw - g->pw;
    const int32_t c = g->c, stride = g->w * c, row_groups = g->row_groups;
    const int16_t *src = g->input + (y0 * g->w + x0) * c;
    int16_t *dst = cols + j * 4;
    if (x0 >= 0 && x0 + g->kw <= g->w) {
        for (int32_t ky = 0; ky < g->kh; ky++, src += stride, dst += 8 * row_groups) {
            const int32_t iy = y0 + ky;
            if (iy < 0 || iy >= g->h) {
                zero_groups(row_groups, dst);
            } else if ((g->row_len & 3) == 0 || src + 4 * row_groups <= g->end) {
                copy_groups(src, row_groups, dst);
            } else {
                copy_values(src, 0, g->row_len, dst);
            }
        }
        return;
    }
    for (int32_t ky = 0; ky < g->kh; ky++, src += stride, dst += 8 * row_groups) {
        const int32_t iy = y0 + ky;
        if (iy < 0 || iy >= g->h) {
            zero_groups(row_groups, dst);
            continue;
        }
        for (int32_t kx = 0, r = 0; kx < g->kw; kx++, r += c) {
            const int32_t ix = x0 + kx;
            const int32_t inside = ix >= 0 && ix < g->w;
            if ((c & 3) == 0) {
                if (inside) {
                    copy_groups(src + r, c >> 2, dst + (r >> 2) * 8);
                } else {
                    zero_groups(c >> 2, dst + (r >> 2) * 8);
                }
            } else if (inside) {
                copy_values(src + r, r, c, dst);
            } else {
                zero_values(r, c, dst);
            }
        }
    }
}

typedef struct {
    const bench_qparams *q;
    const int32_t *bias;
    const int16_t *weight;
    int32_t cout, k_pad, half, shift, relu;
} block_args;

static inline int32_t out_value(const block_args *b, int32_t mode, int32_t acc, int32_t ch)
{
    if (mode == OUT_POT) {
#if defined(__ARM_FEATURE_DSP)
        const int32_t v = __ssat(__qadd(acc, b->half) >> b->shift, 16);
        return v & ~((v >> 31) & b->relu);
#else
        return bench_clamp(bench_sat_add(acc, b->half) >> b->shift, b->q->act_min,
                           b->q->act_max);
#endif
    }
    return bench_requantize(b->q, acc, ch);
}

/* Every output channel of the two pixels whose columns are at cols, a pair
 * of channels per 2 x 2 block; an odd last channel pairs with the zero row
 * the weights are padded with, and only its half is stored. Not inlined into
 * conv(): the block needs nearly every register. */
static inline __attribute__((always_inline)) void
channels(const block_args *args, int32_t mode, const int16_t *cols, int16_t *out0, int16_t *out1)
{
    /* A private copy: its fields stay in registers (or one reload each)
     * instead of being re-read after every store through out0/out1. */
    const block_args copy = *args, *b = &copy;
    const int32_t cout = b->cout, k_pad = b->k_pad;
    const int32_t *bias = b->bias;
    const int16_t *w = b->weight;
    for (int32_t co = 0; co < cout; co += 2, w += 2 * k_pad) {
        const int32_t pair = co + 1 < cout;
        const int32_t b1 = pair ? bias[co + 1] : 0;
        int32_t acc[4] = {bias[co], bias[co], b1, b1};
        bench_mac_2x2_q15(w, cols, k_pad, acc);
        out0[co] = (int16_t)out_value(b, mode, acc[0], co);
        out1[co] = (int16_t)out_value(b, mode, acc[1], co);
        if (pair) {
            out0[co + 1] = (int16_t)out_value(b, mode, acc[2], co + 1);
            out1[co + 1] = (int16_t)out_value(b, mode, acc[3], co + 1);
        }
    }
}

static __attribute__((noinline)) void channels_generic(const block_args *b, const int16_t *cols,
                                                       int16_t *out0, int16_t *out1)
{
    channels(b, OUT_GENERIC, cols, out0, out1);
}

static __attribute__((noinline)) void channels_pot(const block_args *b, const int16_t *cols,
                                                   int16_t *out0, int16_t *out1)
{
    channels(b, OUT_POT, cols, out0, out1);
}

static inline __attribute__((always_inline)) bench_status
conv(const bench_window *win, const bench_qparams *q, const bench_dims *in_dims,
     const int16_t *input, const bench_dims *out_dims, const int16_t *weight, int32_t mode,
     const int32_t *bias, int16_t *scratch, int16_t *output)
{
    if (!win || !q || !in_dims || !input || !out_dims || !weight || !bias || !scratch ||
        !output || q->input_offset != 0) {
        return BENCH_ARG_ERROR;
    }
    if (mode == OUT_POT && (q->mult || q->shift[0] < 0 || q->act_max != 32767 ||
                            (q->act_min != -32768 && q->act_min != 0))) {
        return BENCH_ARG_ERROR;
    }
    const geometry g = {
        .input = input, .end = input + in_dims->h * in_dims->w * in_dims->c,
        .c = in_dims->c, .h = in_dims->h, .w = in_dims->w,
        .kh = win->kernel_h, .kw = win->kernel_w, .sh = win->stride_h, .sw = win->stride_w,
        .ph = win->pad_h, .pw = win->pad_w, .row_len = win->kernel_w * in_dims->c,
        .row_groups = bench_conv_row_pad(win, in_dims) >> 2,
    };
    const int32_t shift = q->mult ? 0 : q->shift[0];
    const block_args b = {
        .q = q, .bias = bias, .weight = weight, .cout = out_dims->c,
        .k_pad = bench_conv_k_pad(win, in_dims),
        .half = shift > 0 ? (int32_t)(1u << (shift - 1)) : 0, .shift = shift,
        .relu = q->act_min == 0 ? -1 : 0,
    };
    const int32_t pixels = out_dims->h * out_dims->w, cout = out_dims->c, k_pad = b.k_pad;
    memset(scratch, 0, (size_t)k_pad * 2 * sizeof(int16_t));
    int32_t oy = 0, ox = 0;
    for (int32_t p = 0; p < pixels; p += 2) {
        int16_t *out0 = output + p * cout;
        int16_t *out1 = out0 + cout;
        im2col(&g, oy, ox, scratch, 0);
        if (p + 1 == pixels) {
            im2col(&g, oy, ox, scratch, 1);
            out1 = out0;
        } else {
            if (++ox == out_dims->w) {
                ox = 0;
                oy++;
            }
            im2col(&g, oy, ox, scratch, 1);
        }
        if (++ox == out_dims->w) {
            ox = 0;
            oy++;
        }
        if (mode == OUT_POT) {
            channels_pot(&b, scratch, out0, out1);
        } else {
            channels_generic(&b, scratch, out0, out1);
        }
    }
    return BENCH_OK;
}

bench_status bench_conv_s16(const bench_window *win, const bench_qparams *q,
                            const bench_dims *in_dims, const int16_t *input,
                            const bench_dims *out_dims, const int16_t *weight,
                            const int32_t *bias, int16_t *scratch, int16_t *output)
{
    return conv(win, q, in_dims, input, out_dims, weight, OUT_GENERIC, bias, scratch, output);
}

bench_status bench_conv_s16_pot(const bench_window *win, const bench_qparams *q,
                                const bench_dims *in_dims, const int16_t *input,
                                const bench_dims *out_dims, const int16_t *weight,
                                const int32_t *bias, int16_t *scratch, int16_t *output)
{
    return conv(win, q, in_dims, input, out_dims, weight, OUT_POT, bias, scratch, output);
}
