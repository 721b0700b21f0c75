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

static int32_t dw_quads_s8(const bench_window *win, const bench_qparams *q,
                           const bench_dims *in_dims, const int8_t *input,
                           const bench_dims *out_dims, const int8_t *weight, const int32_t *bias,
                           int8_t *output);
#define QDW_QUADS dw_quads_s8
static int32_t add_affine_s8(const bench_qadd_params *p, int32_t size, const int8_t *a,
                             const int8_t *b, int8_t *output);
#define QADD_AFFINE_FAST add_affine_s8

#include "ops_q.inc"

/*
 * Depthwise, quads of channels, the channel quad outermost (dw_quads_s8).
 * Per quad the weights are unpacked once (SXTB16, kept on the stack) and,
 * for windows wholly inside the image, the input offset is folded into the
 * bias: sum (x + offset) * w = sum x * w + offset * sum w, so the quad's
 * bias + offset * sum(w) is added once and each tap is one LDR, two SXTB16,
 * two weight loads and four 16 x 16 multiply-accumulates (exact: int32
 * arithmetic wraps alike in any order). Windows the padding clips visit
 * only their inside taps, adding the offset per tap (SADD16) to the plain
 * bias. 3 x 3 windows are unrolled.
 */
#define DW_TAPS 9 /* kernels up to 3 x 3 (DS-CNN, MobileNet) take this path */
#define DW_FAST_MAX_RIGHT 21

typedef struct {
    int32_t w02, w13; /* channels (0, 2) and (1, 3) of one tap, int16 halves */
} dw_w4;

static inline dw_w4 dw_unpack(const int8_t *w)
{
#if defined(__ARM_FEATURE_DSP)
    const int32_t u = bench_read_s32(w);
    const dw_w4 r = {__sxtb16(u), sxtb16_ror8(u)};
#else
    const dw_w4 r = {(int32_t)(((uint32_t)w[0] & 0xFFFFu) | ((uint32_t)w[2] << 16)),
                     (int32_t)(((uint32_t)w[1] & 0xFFFFu) | ((uint32_t)w[3] << 16))};
#endif
    return r;
}

/* The quad's four accumulators (a struct, so they stay in registers). */
typedef struct {
    int32_t a0, a1, a2, a3;
} dw_acc;

/* acc.i += (x[i] + offset) * w[i] for the quad's four channels; with_off = 0
 * leaves the offset out (the folded-bias case), else off2 is
 * offset_pair(offset). */
static inline __attribute__((always_inline)) dw_acc dw_tap(const int8_t *x, dw_w4 w,
                                                           int32_t with_off, int32_t off2,
                                                           dw_acc a)
{
#if defined(__ARM_FEATURE_DSP)
    const int32_t v = bench_read_s32(x);
    int32_t x02 = __sxtb16(v), x13 = sxtb16_ror8(v);
    if (with_off) {
        x02 = __sadd16(x02, off2), x13 = __sadd16(x13, off2);
    }
    a.a0 = __smlabb(x02, w.w02, a.a0);
    a.a2 = __smlatt(x02, w.w02, a.a2);
    a.a1 = __smlabb(x13, w.w13, a.a1);
    a.a3 = __smlatt(x13, w.w13, a.a3);
#else
    const int32_t off = with_off ? (int16_t)off2 : 0;
    a.a0 = bench_wrap_add(a.a0, (x[0] + off) * (int16_t)w.w02);
    a.a2 = bench_wrap_add(a.a2, (x[2] + off) * (w.w02 >> 16));
    a.a1 = bench_wrap_add(a.a1, (x[1] + off) * (int16_t)w.w13);
    a.a3 = bench_wrap_add(a.a3, (x[3] + off) * (w.w13 >> 16));
#endif
    return a;
}

/* Taps [0, nky) x [0, nkx) from src (rows in_row apart, taps c apart) with
 * weights w (rows kw apart). */
static inline __attribute__((always_inline)) dw_acc dw_window(const int8_t *src, int32_t in_row,
                                                              int32_t c, const dw_w4 *w,
                                                              int32_t kw, int32_t nky,
                                                              int32_t nkx, int32_t with_off,
                                                              int32_t off2, dw_acc a)
{
#pragma GCC unroll 3
    for (int32_t ky = 0; ky < nky; ky++, src += in_row, w += kw) {
#pragma GCC unroll 3
        for (int32_t kx = 0; kx < nkx; kx++) {
            a = dw_tap(src + kx * c, w[kx], with_off, off2, a);
        }
    }
    return a;
}

/* The quad's requantization. fast: TFLite's affine requantization for a
 * right shift r in [1, DW_FAST_MAX_RIGHT], as SRDHM(x, m) = SMMULR(2x, m)
 * (QADD doubles: a saturated 2x only where |x| >= 2**30, and then both the
 * exact and this result clamp to the same end of int8 when r <= 21), then
 * RoundingDivideByPOT(h, r) + offset = (h + 2**(r-1) - (h < 0) + (offset
 * << r)) >> r, round holding the constant part. Else bench_requantize. */
typedef struct {
    int32_t mult[4], round[4], right[4];
    int32_t fast, lo, hi;
} dw_rq;

static void dw_rq_init(const bench_qparams *q, int32_t ch, dw_rq *r)
{
    r->fast = q->mult != NULL;
    r->lo = q->act_min, r->hi = q->act_max;
    for (int32_t i = 0; r->fast && i < 4; i++) {
        const int32_t right = -q->shift[ch + i];
        r->fast = right >= 1 && right <= DW_FAST_MAX_RIGHT && q->mult[ch + i] >= 0;
        r->mult[i] = q->mult[ch + i];
        r->right[i] = right;
        r->round[i] = r->fast ? (int32_t)((1u << (right - 1)) +
                                          ((uint32_t)q->output_offset << right))
                              : 0;
    }
}

static inline __attribute__((always_inline)) void dw_store(const dw_rq *r, const bench_qparams *q,
                                                           int32_t ch, dw_acc a, int8_t *out)
{
    const int32_t acc[4] = {a.a0, a.a1, a.a2, a.a3};
    if (!r->fast) {
        for (int32_t i = 0; i < 4; i++) {
            out[i] = (int8_t)bench_requantize(q, acc[i], ch + i);
        }
        return;
    }
#pragma GCC unroll 4
    for (int32_t i = 0; i < 4; i++) {
        const int32_t h = bench_smmulr(bench_sat_add(acc[i], acc[i]), r->mult[i]);
        const int32_t v = (int32_t)((uint32_t)h + (uint32_t)r->round[i] - ((uint32_t)h >> 31));
        out[i] = (int8_t)bench_clamp(v >> r->right[i], r->lo, r->hi);
    }
}

/* n interior pixels of one quad, step input values apart. */
static inline __attribute__((always_inline)) void
dw_interior(const int8_t *src, int32_t n, int32_t step, int32_t in_row, int32_t c,
            const dw_w4 *w, int32_t kh, int32_t kw, const int32_t *bias4, const dw_rq *r,
            const bench_qparams *q, int32_t ch, int8_t *out)
{
    for (int32_t i = 0; i < n; i++, src += step, out += c) {
        const dw_acc a = {bias4[0], bias4[1], bias4[2], bias4[3]};
        dw_store(r, q, ch, dw_window(src, in_row, c, w, kw, kh, kw, 0, 0, a), out);
    }
}

/* First and one-past-last output position whose window lies inside n inputs. */
static inline window_span dw_inside(int32_t out_n, int32_t stride, int32_t pad, int32_t kernel,
                                    int32_t n)
{
    const int32_t first = (pad + stride - 1) / stride, reach = n + pad - kernel;
    const int32_t lo = first < out_n ? first : out_n;
    const int32_t end = reach < 0 ? 0 : reach / stride + 1;
    const int32_t hi = end < lo ? lo : (end > out_n ? out_n : end);
    const window_span s = {0, lo, hi};
    return s;
}

/* Returns the channels done: C rounded down to a multiple of 4, or 0 when
 * the kernel has more than DW_TAPS taps (then the general path runs). */
static int32_t dw_quads_s8(const bench_window *win, const bench_qparams *q,
                           const bench_dims *in_dims, const int8_t *input,
                           const bench_dims *out_dims, const int8_t *weight, const int32_t *bias,
                           int8_t *output)
{
    const int32_t kh = win->kernel_h, kw = win->kernel_w, taps = kh * kw;
    if (taps > DW_TAPS) {
        return 0;
    }
    const int32_t c = in_dims->c, in_row = in_dims->w * c;
    const int32_t offset = q->input_offset;
#if defined(__ARM_FEATURE_DSP)
    const int32_t off2 = offset_pair(offset);
#else
    const int32_t off2 = offset; /* dw_tap's portable path reads the low half */
#endif
    const int32_t sh = win->stride_h, sw = win->stride_w;
    const window_span ys = dw_inside(out_dims->h, sh, win->pad_h, kh, in_dims->h);
    const window_span xs = dw_inside(out_dims->w, sw, win->pad_w, kw, in_dims->w);
    const int32_t out_row = out_dims->w * c;
    for (int32_t ch = 0; ch + 4 <= c; ch += 4) {
        dw_w4 w[DW_TAPS];
        int32_t b4[4] = {bias[ch], bias[ch + 1], bias[ch + 2], bias[ch + 3]};
        for (int32_t t = 0; t < taps; t++) {
            const int8_t *wt = weight + t * c + ch;
            w[t] = dw_unpack(wt);
            for (int32_t i = 0; i < 4; i++) {
                b4[i] = bench_wrap_add(b4[i], offset * wt[i]);
            }
        }
        dw_rq rq;
        dw_rq_init(q, ch, &rq);
        for (int32_t oy = 0; oy < out_dims->h; oy++) {
            int8_t *out = output + oy * out_row + ch;
            const window_span y = clip_window(oy, sh, win->pad_h, kh, in_dims->h);
            const int32_t inside_y = oy >= ys.k0 && oy < ys.k1;
            const int32_t x_lo = inside_y ? xs.k0 : out_dims->w;
            const int32_t x_hi = inside_y ? xs.k1 : out_dims->w;
            /* The first kernel row inside the image. */
            const int8_t *src_row = input + (y.i0 + y.k0) * in_row + ch;
            for (int32_t ox = 0; ox < out_dims->w; ox++) {
                if (ox == x_lo && x_lo < x_hi) {
                    const int8_t *src = src_row + (ox * sw - win->pad_w) * c;
                    if (kh == 3 && kw == 3) {
                        dw_interior(src, x_hi - x_lo, sw * c, in_row, c, w, 3, 3, b4, &rq, q,
                                    ch, out + ox * c);
                    } else {
                        dw_interior(src, x_hi - x_lo, sw * c, in_row, c, w, kh, kw, b4, &rq, q,
                                    ch, out + ox * c);
                    }
                    ox = x_hi - 1;
                    continue;
                }
                const window_span x = clip_window(ox, sw, win->pad_w, kw, in_dims->w);
                const dw_acc a = {bias[ch], bias[ch + 1], bias[ch + 2], bias[ch + 3]};
                dw_store(&rq, q, ch,
                         dw_window(src_row + (x.i0 + x.k0) * c, in_row, c,
                                   w + y.k0 * kw + x.k0, kw, y.k1 - y.k0, x.k1 - x.k0, 1, off2,
                                   a),
                         out + ox * c);
            }
        }
    }
    return c & ~3;
}

/*
 * Affine add (TFLite ADD), int8, per element: each input's
 * MultiplyByQuantizedMultiplier((x + offset) << left_shift) and the sum's,
 * with SRDHM(v, m) = SMMULR(2v, m) (exact for m != INT32_MIN while 2v fits,
 * which |x + offset| <= 255 and left_shift <= 21 ensure) and
 * RoundingDivideByPOT(h, r) = (h + 2**(r-1) - (h < 0)) >> r (exact while
 * the sum fits). The output offset rides in the last rounding constant as
 * offset << r. Where a shift is outside these bounds the general loop runs.
 */
typedef struct {
    int32_t base, mult, round, right; /* base = 2 * (offset << left_shift) */
} add_in;

static inline int32_t add_rdbp(int32_t h, int32_t round, int32_t right)
{
    return (int32_t)((uint32_t)h + (uint32_t)round + (uint32_t)(h >> 31)) >> right;
}

/* One input scaled. half: the input with the larger scale, whose multiplier
 * TFLite makes exactly 0.5 (m = 2**30, shift 0): SRDHM(v, 2**30) of an even
 * v is v / 2, so it is (x + offset) << (left_shift - 1), base holding the
 * offset part. */
static inline __attribute__((always_inline)) int32_t add_scaled(int8_t x, int32_t left1,
                                                                const add_in *in,
                                                                int32_t half)
{
    const int32_t v = (int32_t)(((uint32_t)(int32_t)x << left1) + (uint32_t)in->base);
    return half ? v : add_rdbp(bench_smmulr(v, in->mult), in->round, in->right);
}

static inline __attribute__((always_inline)) void
add_loop(int32_t size, const int8_t *a, const int8_t *b, int8_t *output, int32_t left1,
         const add_in *ia, int32_t ha, const add_in *ib, int32_t hb, int32_t om, int32_t oround,
         int32_t ro, int32_t lo, int32_t hi)
{
    const add_in ca = *ia, cb = *ib; /* in registers, not re-read after each store */
    for (int32_t i = 0; i < size; i++) {
        /* |sa + sb| < 2**29: doubling it never saturates. */
        const int32_t s = add_scaled(a[i], ha ? left1 - 2 : left1, &ca, ha) +
                          add_scaled(b[i], hb ? left1 - 2 : left1, &cb, hb);
        const int32_t v = add_rdbp(bench_smmulr(s * 2, om), oround, ro);
        output[i] = (int8_t)bench_clamp(v, lo, hi);
    }
}

/* An input's constants; returns 1 (half), 0 (general) or -1 (not served). */
static int32_t add_input(int32_t offset, int32_t mult, int32_t shift, int32_t ls, add_in *in)
{
    const int32_t r = -shift;
    if (mult == (1 << 30) && r == 0) {
        in->base = (int32_t)((uint32_t)offset << (ls - 1));
        return 1;
    }
    if (r < 1 || r > 30 || mult < 0) {
        return -1;
    }
    in->base = (int32_t)((uint32_t)offset << (ls + 1));
    in->mult = mult, in->round = (int32_t)(1u << (r - 1)), in->right = r;
    return 0;
}

static int32_t add_affine_s8(const bench_qadd_params *p, int32_t size, const int8_t *a,
                             const int8_t *b, int8_t *output)
{
    const int32_t ls = p->left_shift, ro = -p->out_shift;
    add_in ia = {0, 0, 0, 0}, ib = {0, 0, 0, 0};
    if (ls < 1 || ls > 21 || ro < 1 || ro > 22 || p->out_mult < 0) {
        return 0;
    }
    const int32_t ha = add_input(p->a_offset, p->a_mult, p->a_shift, ls, &ia);
    const int32_t hb = add_input(p->b_offset, p->b_mult, p->b_shift, ls, &ib);
    if (ha < 0 || hb < 0) {
        return 0;
    }
    const int32_t om = p->out_mult, left1 = ls + 1;
    const int32_t oround = (int32_t)((1u << (ro - 1)) + ((uint32_t)p->output_offset << ro));
    const int32_t lo = p->act_min, hi = p->act_max;
    if (ha && !hb) {
        add_loop(size, a, b, output, left1, &ia, 1, &ib, 0, om, oround, ro, lo, hi);
    } else if (hb && !ha) {
        add_loop(size, a, b, output, left1, &ia, 0, &ib, 1, om, oround, ro, lo, hi);
    } else if (ha && hb) {
        add_loop(size, a, b, output, left1, &ia, 1, &ib, 1, om, oround, ro, lo, hi);
    } else {
        add_loop(size, a, b, output, left1, &ia, 0, &ib, 0, om, oround, ro, lo, hi);
    }
    return 1;
}

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
