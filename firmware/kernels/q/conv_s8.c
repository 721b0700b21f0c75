/*
 * conv_s8.c - int8 convolution (groups == 1), channels-last, im2col + GEMM.
 *
 * Two output pixels at a time: their receptive fields, plus input_offset,
 * are widened to int16 into two interleaved scratch columns (bench_mac.h
 * layout), then every pair of output channels is one 2 x 2 block of dot
 * products. Weights come in two layouts, chosen by the generator: int8
 * ("packed", the smallest flash) or int8 values stored as int16 ("wide":
 * no unpacking in the inner loop, at twice the flash).
 *
 * im2col: each kernel row (kw * C_in values, contiguous channels-last) starts
 * a group of four k (bench_qkernels.h), so a row whose taps are all inside
 * the image is widened four values per LDR + 2 SXTB16, whatever C_in is; the
 * up to three values read past the row's end meet zero weights. Border taps
 * take a per-tap path. Requantization is fixed per entry point: _pot is
 * QADD + ASR + SSAT (and a BIC for a ReLU), _affine gemmlowp's multiplier
 * with one SMULL, the plain entry points take any layer.
 */
#include <string.h>

#include "bench_mac.h"
#include "bench_qkernels.h"
#include "bench_requant.h"

enum { OUT_POT, OUT_AFFINE, OUT_GENERIC };

typedef struct {
    const int8_t *input, *end; /* end: one past the input tensor */
    int32_t c, h, w, kh, kw, sh, sw, ph, pw;
    int32_t row_len, row_groups; /* kw * c values; groups of four per padded row */
    int32_t offset;
} geometry;

#if defined(__ARM_FEATURE_DSP)
static inline int32_t sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#endif

static inline void write_s32(int16_t *dst, int32_t v)
{
    memcpy(dst, &v, sizeof v);
}

#if defined(__ARM_FEATURE_DSP)
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
static void widen_groups(const int8_t *src, int32_t n, int32_t offset, int16_t *dst)
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

static void widen_values(const int8_t *src, int32_t r, int32_t n, int32_t offset, int16_t *dst)
{
    for (int32_t i = 0; i < n; i++) {
        dst[row_slot(r + i)] = (int16_t)(src[i] + offset);
    }
}

static void zero_values(int32_t r, int32_t n, int16_t *dst)
{
    for (int32_t i = 0; i < n; i++) {
        dst[row_slot(r + i)] = 0;
    }
}

static void zero_groups(int32_t n, int16_t *dst)
{
    for (; n > 0; n--, dst += 8) {
        memset(dst, 0, 4 * sizeof(int16_t));
    }
}

/* Column j (0 or 1) of the pair at cols <- receptive field of pixel (oy, ox);
 * padding taps are zero (the zero point after the offset). */
static void im2col(const geometry *g, int32_t oy, int32_t ox, int16_t *cols, int32_t j)
{
    const int32_t y0 = oy * g->sh - g->ph, x0 = ox * g->sw - g->pw;
    const int32_t c = g->c, stride = g->w * c, row_groups = g->row_groups;
    const int8_t *src = g->input + (y0 * g->w + x0) * c;
    int16_t *dst = cols + j * 4;
    if (x0 >= 0 && x0 + g->kw <= g->w) {
        /* Every kernel row lies inside horizontally: whole rows at a time. */
        for (int32_t ky = 0; ky < g->kh; ky++, src += stride, dst += 8 * row_groups) {
            const int32_t iy = y0 + ky;
            if (iy < 0 || iy >= g->h) {
                zero_groups(row_groups, dst);
            } else if ((g->row_len & 3) == 0 || src + 4 * row_groups <= g->end) {
                widen_groups(src, row_groups, g->offset, dst);
            } else {
                widen_values(src, 0, g->row_len, g->offset, dst);
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
                    widen_groups(src + r, c >> 2, g->offset, dst + (r >> 2) * 8);
                } else {
                    zero_groups(c >> 2, dst + (r >> 2) * 8);
                }
            } else if (inside) {
                widen_values(src + r, r, c, g->offset, dst);
            } else {
                zero_values(r, c, dst);
            }
        }
    }
}

static inline int32_t affine_scale(int32_t acc, int32_t mult, int32_t shift)
{
    return bench_mul_by_multiplier_fast(acc, mult, shift);
}

typedef struct {
    const bench_qparams *q;
    const int32_t *bias;
    const void *weight;
    int32_t cout, k_pad;
    int32_t half, shift, relu; /* OUT_POT: rounding, shift, -1 for a ReLU clamp */
} block_args;

static inline int32_t out_value(const block_args *b, int32_t mode, int32_t acc, int32_t ch)
{
    const bench_qparams *q = b->q;
    if (mode == OUT_POT) {
#if defined(__ARM_FEATURE_DSP)
        const int32_t v = __ssat(__qadd(acc, b->half) >> b->shift, 8);
        return v & ~((v >> 31) & b->relu); /* BIC: max(v, 0) under a ReLU */
#else
        return bench_clamp(bench_sat_add(acc, b->half) >> b->shift, q->act_min, q->act_max);
#endif
    }
    if (mode == OUT_AFFINE) {
        return bench_clamp(affine_scale(acc, q->mult[ch], q->shift[ch]) + q->output_offset,
                           q->act_min, q->act_max);
    }
    return bench_requantize(q, acc, ch);
}

/* An odd last output channel co, in portable C (rare: kept small). Row co
 * of its pair; int8 columns hold each group as (0, 2, 1, 3), as wide rows. */
static __attribute__((noinline)) void odd_channel(const block_args *b, int32_t wide, int32_t co,
                                                  const int16_t *cols, int8_t *out0,
                                                  int8_t *out1)
{
    static const int8_t pos[4] = {0, 2, 1, 3};
    const int8_t *w8 = (const int8_t *)b->weight + co * b->k_pad;
    const int16_t *w16 = (const int16_t *)b->weight + co * b->k_pad;
    int32_t acc0 = b->bias[co], acc1 = acc0;
    for (int32_t g = 0; g < b->k_pad; g += 4) {
        for (int32_t i = 0; i < 4; i++) {
            const int32_t w = wide ? w16[2 * g + i] : w8[2 * g + i];
            const int32_t p = 2 * g + (wide ? i : pos[i]);
            acc0 = bench_wrap_add(acc0, w * cols[p]);
            acc1 = bench_wrap_add(acc1, w * cols[p + 4]);
        }
    }
    out0[co] = (int8_t)bench_requantize(b->q, acc0, co);
    out1[co] = (int8_t)bench_requantize(b->q, acc1, co);
}

/* Every output channel of the two pixels whose columns are at cols, a pair
 * of channels per 2 x 2 block. Each entry point has its own copy (noinline,
 * so the block's registers are free). */
static inline __attribute__((always_inline)) void
channels(const block_args *args, int32_t wide, int32_t mode, const int16_t *cols, int8_t *out0,
         int8_t *out1)
{
    /* A private copy: its fields stay in registers (or one reload each)
     * instead of being re-read after every store through out0/out1. */
    const block_args copy = *args, *b = &copy;
    const int32_t cout = b->cout, k_pad = b->k_pad;
    const int32_t *bias = b->bias;
    const int8_t *w8 = (const int8_t *)b->weight;
    const int16_t *w16 = (const int16_t *)b->weight;
    if (wide) {
        /* The odd channel inside the loop (pairing with the zero row
         * gemm_rows() pads with): GCC 12 cannot place the pinned LDM
         * operands of the q15 block in the other loop shape. */
        for (int32_t co = 0; co < cout; co += 2, w16 += 2 * k_pad) {
            const int32_t pair = co + 1 < cout;
            const int32_t b1 = pair ? bias[co + 1] : 0;
            int32_t acc[4] = {bias[co], bias[co], b1, b1};
            bench_mac_2x2_q15(w16, cols, k_pad, acc);
            out0[co] = (int8_t)out_value(b, mode, acc[0], co);
            out1[co] = (int8_t)out_value(b, mode, acc[1], co);
            if (pair) {
                out0[co + 1] = (int8_t)out_value(b, mode, acc[2], co + 1);
                out1[co + 1] = (int8_t)out_value(b, mode, acc[3], co + 1);
            }
        }
        return;
    }
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
        odd_channel(b, 0, co, cols, out0, out1);
    }
}

typedef void (*channels_fn)(const block_args *b, const int16_t *cols, int8_t *out0,
                            int8_t *out1);

/* Power-of-two layers the OUT_POT path serves: a right shift, and the
 * int8 range or a ReLU as the clamp. */
static int32_t pot_fits(const bench_qparams *q)
{
    return !q->mult && q->shift[0] >= 0 && q->act_max == 127 &&
           (q->act_min == -128 || q->act_min == 0);
}

static inline __attribute__((always_inline)) bench_status
conv(const bench_window *win, const bench_qparams *q, const bench_dims *in_dims,
     const int8_t *input, const bench_dims *out_dims, const void *weight, channels_fn fn,
     int32_t mode, const int32_t *bias, int16_t *scratch, int8_t *output)
{
    if (!win || !q || !in_dims || !input || !out_dims || !weight || !bias || !scratch ||
        !output || (mode == OUT_POT && !pot_fits(q)) || (mode == OUT_AFFINE && !q->mult)) {
        return BENCH_ARG_ERROR;
    }
    const geometry g = {
        .input = input, .end = input + in_dims->h * in_dims->w * in_dims->c,
        .c = in_dims->c, .h = in_dims->h, .w = in_dims->w,
        .kh = win->kernel_h, .kw = win->kernel_w, .sh = win->stride_h, .sw = win->stride_w,
        .ph = win->pad_h, .pw = win->pad_w, .row_len = win->kernel_w * in_dims->c,
        .row_groups = bench_conv_row_pad(win, in_dims) >> 2, .offset = q->input_offset,
    };
    const int32_t shift = q->mult ? 0 : q->shift[0];
    const block_args b = {
        .q = q, .bias = bias, .weight = weight, .cout = out_dims->c,
        .k_pad = bench_conv_k_pad(win, in_dims),
        .half = shift > 0 ? (int32_t)(1u << (shift - 1)) : 0, .shift = shift,
        .relu = q->act_min == 0 ? -1 : 0,
    };
    const int32_t pixels = out_dims->h * out_dims->w, cout = out_dims->c;
    const int32_t k_pad = b.k_pad;
    /* The values past a row's end that im2col never writes: zero once. */
    memset(scratch, 0, (size_t)k_pad * 2 * sizeof(int16_t));
    int32_t oy = 0, ox = 0; /* output pixel p, walked without divisions */
    for (int32_t p = 0; p < pixels; p += 2) {
        int8_t *out0 = output + p * cout;
        int8_t *out1 = out0 + cout;
        im2col(&g, oy, ox, scratch, 0);
        if (p + 1 == pixels) {
            /* A last odd pixel is computed twice into the same outputs. */
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
        fn(&b, scratch, out0, out1);
    }
    return BENCH_OK;
}

/* One entry point per weight layout and requantization, so a firmware links
 * only the ones its generator picked (bench_qkernels.h). */
#define CONV_ENTRY(name, wtype, wide, mode)                                                    \
    static __attribute__((noinline)) void name##_channels(const block_args *b,                 \
                                                          const int16_t *cols, int8_t *out0,   \
                                                          int8_t *out1)                        \
    {                                                                                          \
        channels(b, wide, mode, cols, out0, out1);                                             \
    }                                                                                          \
    bench_status name(const bench_window *win, const bench_qparams *q,                         \
                      const bench_dims *in_dims, const int8_t *input,                          \
                      const bench_dims *out_dims, const wtype *weight, const int32_t *bias,    \
                      int16_t *scratch, int8_t *output)                                        \
    {                                                                                          \
        return conv(win, q, in_dims, input, out_dims, weight, name##_channels, mode, bias,     \
                    scratch, output);                                                          \
    }

CONV_ENTRY(bench_conv_s8, int8_t, 0, OUT_GENERIC)
CONV_ENTRY(bench_conv_s8_pot, int8_t, 0, OUT_POT)
CONV_ENTRY(bench_conv_s8_affine, int8_t, 0, OUT_AFFINE)
CONV_ENTRY(bench_conv_s8_wide, int16_t, 1, OUT_GENERIC)
CONV_ENTRY(bench_conv_s8_wide_pot, int16_t, 1, OUT_POT)
CONV_ENTRY(bench_conv_s8_wide_affine, int16_t, 1, OUT_AFFINE)
