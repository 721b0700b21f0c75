/*
 * lif_q.c - spiking neurons, int8 and int16: one timestep of a layer,
 * counting its spikes (bench_qkernels.h has the arithmetic; it is
 * harness/quant/lif.py's, bit for bit).
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

bench_status bench_lif_s8(const bench_lif_qparams *p, int32_t size, const int8_t *current,
                          int8_t *state, int8_t *spikes, uint32_t *count)
{
    if (!valid(p, size, current, state, spikes, count)) {
        return BENCH_ARG_ERROR;
    }
    uint32_t fired = 0;
    for (int32_t i = 0; i < size; i++) {
        int32_t s;
        state[i] = (int8_t)lif_one(p, -128, 127, state[i], current[i], &s);
        spikes[i] = (int8_t)s;
        fired += (uint32_t)s;
    }
    *count += fired;
    return BENCH_OK;
}

bench_status bench_lif_s16(const bench_lif_qparams *p, int32_t size, const int16_t *current,
                           int16_t *state, int16_t *spikes, uint32_t *count)
{
    if (!valid(p, size, current, state, spikes, count)) {
        return BENCH_ARG_ERROR;
    }
    uint32_t fired = 0;
    for (int32_t i = 0; i < size; i++) {
        int32_t s;
        state[i] = (int16_t)lif_one(p, -32768, 32767, state[i], current[i], &s);
        spikes[i] = (int16_t)s;
        fired += (uint32_t)s;
    }
    *count += fired;
    return BENCH_OK;
}
