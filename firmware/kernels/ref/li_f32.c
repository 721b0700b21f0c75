/*
 * li_f32.c - leaky integrators, float32: one timestep of a layer of neurons
 * that never fire (NIR LI, a readout); the potential is the output. The
 * arithmetic, in this order, is harness/model/neuron.py's integrate().
 */
#include "bench_kernels.h"

bench_status bench_li_f32(const bench_li_params *params, int32_t size, const float *current,
                          float *state, float *output)
{
    if (!params || !current || !state || !output || size < 0) {
        return BENCH_ARG_ERROR;
    }
    const float decay = params->decay;
    const float gain = params->gain;
    const float offset = params->offset;
    for (int32_t i = 0; i < size; i++) {
        const float h = decay * state[i] + gain * current[i] + offset;
        state[i] = h;
        output[i] = h;
    }
    return BENCH_OK;
}
