/*
 * lif_f32.c - spiking neurons, float32: one timestep of a layer, counting
 * its spikes. The arithmetic, in this order, is harness/model/neuron.py's.
 */
#include "bench_kernels.h"

static inline int32_t fires(float v, float threshold, int32_t ge)
{
    return ge ? (v >= threshold) : (v > threshold);
}

bench_status bench_lif_f32(const bench_lif_params *params, int32_t size, const float *current,
                           float *state, float *spikes, uint32_t *count)
{
    if (!params || !current || !state || !spikes || !count || size < 0 ||
        params->reset > BENCH_RESET_NONE) {
        return BENCH_ARG_ERROR;
    }
    const float decay = params->decay;
    const float gain = params->gain;
    const float offset = params->offset;
    const float thr = params->threshold;
    const float v_reset = params->v_reset;
    const bench_reset reset = params->reset;
    const int32_t ge = params->fire_ge;
    const int32_t pre = params->pre_reset;
    const int32_t post = params->post_reset;
    uint32_t fired = 0;
    for (int32_t i = 0; i < size; i++) {
        const float v = state[i];
        const int32_t r = pre ? fires(v, thr, ge) : 0;
        const float base = (reset == BENCH_RESET_ZERO && r) ? v_reset : v;
        float h = decay * base + gain * current[i] + offset;
        if (reset == BENCH_RESET_SUBTRACT && r) {
            h = h - thr;
        }
        const int32_t s = fires(h, thr, ge);
        if (post && s != r) {
            /* d = s - r is +1 (a spike to reset) or -1 (snnTorch undoing a
             * reset its next step would apply twice) */
            if (reset == BENCH_RESET_SUBTRACT) {
                h = s ? h - thr : h + thr;
            } else if (reset == BENCH_RESET_ZERO) {
                h = s ? v_reset : h + (h - v_reset);
            }
        }
        state[i] = h;
        spikes[i] = s ? 1.0f : 0.0f;
        fired += (uint32_t)s;
    }
    *count += fired;
    return BENCH_OK;
}
