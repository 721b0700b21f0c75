/*
 * lif_f32.c - spiking neurons, float32: one timestep of a layer, counting
 * its spikes. The arithmetic, in this order, is harness/model/neuron.py's.
 */
#include "bench_kernels.h"

static inline int32_t fires(float v, float threshold, int32_t ge)
{
    return ge ? (v >= threshold) : (v > threshold);
}

/* One neuron: the new potential; *spike gets 0 or 1. pre and post are
 * literals at each call below, so each loop is compiled without them. */
static inline __attribute__((always_inline)) float
lif_one(const bench_lif_params *p, float v, float current, int32_t pre, int32_t post,
        int32_t *spike)
{
    const int32_t ge = p->fire_ge;
    const int32_t r = pre ? fires(v, p->threshold, ge) : 0;
    const float base = (p->reset == BENCH_RESET_ZERO && r) ? p->v_reset : v;
    float h = p->decay * base + p->gain * current + p->offset;
    if (p->reset == BENCH_RESET_SUBTRACT && r) {
        h = h - p->threshold;
    }
    const int32_t s = fires(h, p->threshold, ge);
    if (post && s != r) {
        /* d = s - r is +1 (a spike to reset) or -1 (snnTorch undoing a
         * reset its next step would apply twice) */
        if (p->reset == BENCH_RESET_SUBTRACT) {
            h = s ? h - p->threshold : h + p->threshold;
        } else if (p->reset == BENCH_RESET_ZERO) {
            h = s ? p->v_reset : h + (h - p->v_reset);
        }
    }
    *spike = s;
    return h;
}

#define LIF_LOOP(PRE, POST)                                                   \
    for (int32_t i = 0; i < size; i++) {                                      \
        int32_t s;                                                            \
        state[i] = lif_one(&p, state[i], current[i], PRE, POST, &s);          \
        spikes[i] = s ? 1.0f : 0.0f;                                          \
        fired += (uint32_t)s;                                                 \
    }

bench_status bench_lif_f32(const bench_lif_params *params, int32_t size, const float *current,
                           float *state, float *spikes, uint32_t *count)
{
    if (!params || !current || !state || !spikes || !count || size < 0 ||
        params->reset > BENCH_RESET_NONE) {
        return BENCH_ARG_ERROR;
    }
    /* a copy the stores to state[] cannot alias: its fields stay in registers */
    const bench_lif_params p = *params;
    uint32_t fired = 0;
    if (p.pre_reset && p.post_reset) {
        LIF_LOOP(1, 1)
    } else if (p.pre_reset) {
        LIF_LOOP(1, 0)
    } else if (p.post_reset) {
        LIF_LOOP(0, 1)
    } else {
        LIF_LOOP(0, 0)
    }
    *count += fired;
    return BENCH_OK;
}
