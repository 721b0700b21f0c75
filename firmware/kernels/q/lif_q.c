/*
 * lif_q.c - spiking neurons and leaky integrators, int8 and int16: one
 * timestep of a layer, counting its spikes (bench_qkernels.h has the
 * arithmetic; it is harness/quant/lif.py's, bit for bit).
 */
#include "bench_qkernels.h"

static inline int64_t sat(int64_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

static inline int32_t fires(const bench_lif_qparams *p, int64_t v)
{
    return p->fire_ge ? (v >= p->threshold) : (v > p->threshold);
}

/* One neuron: the new potential; *spike gets 0 or 1. */
static inline int32_t lif_one(const bench_lif_qparams *p, int32_t lo, int32_t hi, int32_t v,
                              int32_t current, int32_t *spike)
{
    const int32_t r = p->pre_reset ? fires(p, v) : 0;
    const int64_t base = (p->reset == BENCH_RESET_ZERO && r) ? p->v_reset : v;
    int64_t decayed = base;
    if (p->decay_mode == 1) {
        decayed = base - (base >> p->decay_shift);
    } else if (p->decay_mode == 2) {
        decayed = (base * p->decay_mult + (1 << 14)) >> 15;
    }
    int64_t in = (int64_t)current * p->in_mult;
    in = p->in_shift > 0 ? (in + ((int64_t)1 << (p->in_shift - 1))) >> p->in_shift
                         : in * ((int64_t)1 << -p->in_shift);
    int64_t h = decayed + in + p->offset;
    if (p->reset == BENCH_RESET_SUBTRACT && r) {
        h -= p->threshold;
    }
    h = sat(h, lo, hi);
    const int32_t s = fires(p, h);
    if (p->post_reset && s != r) {
        /* d = s - r: +1 a spike to reset, -1 snnTorch undoing a double reset */
        if (p->reset == BENCH_RESET_SUBTRACT) {
            h = sat(s ? h - p->threshold : h + p->threshold, lo, hi);
        } else if (p->reset == BENCH_RESET_ZERO) {
            h = s ? p->v_reset : sat(h + (h - p->v_reset), lo, hi);
        }
    }
    *spike = s;
    return (int32_t)h;
}

static int valid(const bench_lif_qparams *p, int32_t size, const void *current,
                 const void *state, const void *spikes, const uint32_t *count)
{
    return p && current && state && spikes && count && size >= 0 && p->decay_mode >= 0 &&
           p->decay_mode <= 2 && p->decay_shift >= 0 && p->decay_shift < 32 &&
           p->in_shift > -32 && p->in_shift < 48 && p->reset >= BENCH_RESET_SUBTRACT &&
           p->reset <= BENCH_RESET_NONE;
}

/*
 * The fast path: the same step in 32-bit arithmetic, with the reset timing
 * (pre/post) fixed at compile time and "v >= thr" folded into "v > thr - 1".
 * 32 bits are exact when |current| * multiplier stays below 2**30 (checked
 * once per call in fast_input): then every sum below is under 2**31.
 */
typedef struct {
    int32_t mult;  /* the input multiplier, left shift folded in */
    int32_t shift; /* right shift, 0..30 */
    int32_t round;
    int32_t fire_above; /* fires when v > fire_above */
} fast_params;

static int fast_input(const bench_lif_qparams *p, int32_t max_current, fast_params *f)
{
    int64_t mult = p->in_mult;
    int32_t shift = p->in_shift;
    if (shift < 0) {
        mult <<= -shift;
        shift = 0;
    }
    if (mult < 0 || shift > 30 || mult * max_current >= ((int64_t)1 << 30) ||
        p->threshold <= INT32_MIN) {
        return 0;
    }
    f->mult = (int32_t)mult;
    f->shift = shift;
    f->round = shift > 0 ? (int32_t)1 << (shift - 1) : 0;
    f->fire_above = p->fire_ge ? p->threshold - 1 : p->threshold;
    return 1;
}

static inline __attribute__((always_inline)) int32_t
lif_fast(const bench_lif_qparams *p, const fast_params *f, int32_t lo, int32_t hi, int32_t v,
         int32_t current, int32_t pre, int32_t post, int32_t *spike)
{
    const int32_t r = pre ? (v > f->fire_above) : 0;
    const int32_t base = (p->reset == BENCH_RESET_ZERO && r) ? p->v_reset : v;
    int32_t decayed = base;
    if (p->decay_mode == 1) {
        decayed = base - (base >> p->decay_shift);
    } else if (p->decay_mode == 2) {
        decayed = (base * p->decay_mult + (1 << 14)) >> 15;
    }
    int32_t h = decayed + ((current * f->mult + f->round) >> f->shift) + p->offset;
    if (pre && p->reset == BENCH_RESET_SUBTRACT && r) {
        h -= p->threshold;
    }
    h = h < lo ? lo : (h > hi ? hi : h);
    const int32_t s = h > f->fire_above;
    if (post && s != r) {
        if (p->reset == BENCH_RESET_SUBTRACT) {
            h = s ? h - p->threshold : h + p->threshold;
            h = h < lo ? lo : (h > hi ? hi : h);
        } else if (p->reset == BENCH_RESET_ZERO) {
            h = s ? p->v_reset : h + (h - p->v_reset);
            h = h < lo ? lo : (h > hi ? hi : h);
        }
    }
    *spike = s;
    return h;
}

/* One loop per dtype and reset timing: pre and post are literals, so each
 * expansion is a loop without their branches. */
#define LIF_LOOP(T, LO, HI, PRE, POST)                                                      \
    for (int32_t i = 0; i < size; i++) {                                                    \
        int32_t s;                                                                          \
        state[i] = (T)lif_fast(p, &f, LO, HI, state[i], current[i], PRE, POST, &s);         \
        spikes[i] = (T)s;                                                                   \
        fired += (uint32_t)s;                                                               \
    }

#define LIF_KERNEL(NAME, T, LO, HI)                                                         \
    bench_status NAME(const bench_lif_qparams *params, int32_t size, const T *current,      \
                      T *state, T *spikes, uint32_t *count)                                 \
    {                                                                                       \
        if (!valid(params, size, current, state, spikes, count)) {                          \
            return BENCH_ARG_ERROR;                                                         \
        }                                                                                   \
        /* a copy the (char-typed) stores cannot alias: fields stay in registers */          \
        const bench_lif_qparams copy = *params;                                             \
        const bench_lif_qparams *p = &copy;                                                 \
        uint32_t fired = 0;                                                                 \
        fast_params f;                                                                      \
        if (!fast_input(p, -(LO), &f)) {                                                    \
            for (int32_t i = 0; i < size; i++) {                                            \
                int32_t s;                                                                  \
                state[i] = (T)lif_one(p, LO, HI, state[i], current[i], &s);                 \
                spikes[i] = (T)s;                                                           \
                fired += (uint32_t)s;                                                       \
            }                                                                               \
        } else if (p->pre_reset && p->post_reset) {                                         \
            LIF_LOOP(T, LO, HI, 1, 1)                                                       \
        } else if (p->pre_reset) {                                                          \
            LIF_LOOP(T, LO, HI, 1, 0)                                                       \
        } else if (p->post_reset) {                                                         \
            LIF_LOOP(T, LO, HI, 0, 1)                                                       \
        } else {                                                                            \
            LIF_LOOP(T, LO, HI, 0, 0)                                                       \
        }                                                                                   \
        *count += fired;                                                                    \
        return BENCH_OK;                                                                    \
    }

LIF_KERNEL(bench_lif_s8, int8_t, -128, 127)
LIF_KERNEL(bench_lif_s16, int16_t, -32768, 32767)

/* A leaky integrator is a neuron without reset whose threshold is never
 * crossed (the generator sets it to the dtype's top): lif_one's step, and
 * the potential is the output. A readout layer: the general step is enough. */
#define LI_KERNEL(NAME, T, LO, HI)                                                          \
    bench_status NAME(const bench_lif_qparams *params, int32_t size, const T *current,      \
                      T *state, T *output)                                                  \
    {                                                                                       \
        uint32_t unused = 0;                                                                \
        if (!valid(params, size, current, state, output, &unused) ||                        \
            params->reset != BENCH_RESET_NONE || params->pre_reset || params->post_reset) {   \
            return BENCH_ARG_ERROR;                                                         \
        }                                                                                   \
        const bench_lif_qparams copy = *params;                                             \
        for (int32_t i = 0; i < size; i++) {                                                \
            int32_t s;                                                                      \
            const int32_t h = lif_one(&copy, LO, HI, state[i], current[i], &s);             \
            state[i] = (T)h;                                                                \
            output[i] = (T)h;                                                               \
        }                                                                                   \
        return BENCH_OK;                                                                    \
    }

LI_KERNEL(bench_li_s8, int8_t, -128, 127)
LI_KERNEL(bench_li_s16, int16_t, -32768, 32767)
