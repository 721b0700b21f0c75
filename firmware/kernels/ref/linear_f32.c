/*
 * linear_f32.c - fully connected layer, float32: out = W x + b.
 */
#include "bench_kernels.h"
#include "act_f32.h"

bench_status bench_linear_f32(const bench_linear_params *params,
                              const float *input, const float *weight, const float *bias,
                              float *output)
{
    if (!params || !input || !weight || !output || params->in_features <= 0 ||
        params->out_features <= 0 || !bench_act_valid(params->activation)) {
        return BENCH_ARG_ERROR;
    }
    const int32_t n_in = params->in_features;
    const int32_t n_out = params->out_features;
    const bench_activation act = params->activation;
    const float *w = weight;
    for (int32_t o = 0; o < n_out; o++) {
        float acc = bias ? bias[o] : 0.0f;
        for (int32_t i = 0; i < n_in; i++) {
            acc += w[i] * input[i];
        }
        w += n_in;
        output[o] = bench_act_f32(acc, act);
    }
    return BENCH_OK;
}

bench_status bench_linear_events_f32(const bench_linear_params *params, const float *input,
                                     const float *weight_t, const float *bias, float *output)
{
    if (!params || !input || !weight_t || !output || params->in_features <= 0 ||
        params->out_features <= 0 || !bench_act_valid(params->activation)) {
        return BENCH_ARG_ERROR;
    }
    const int32_t n_in = params->in_features;
    const int32_t n_out = params->out_features;
    for (int32_t o = 0; o < n_out; o++) {
        output[o] = bias ? bias[o] : 0.0f;
    }
    const float *row = weight_t;
    for (int32_t i = 0; i < n_in; i++, row += n_out) {
        if (input[i] == 0.0f) {
            continue;
        }
        for (int32_t o = 0; o < n_out; o++) {
            output[o] += row[o];
        }
    }
    if (params->activation != BENCH_ACT_NONE) {
        for (int32_t o = 0; o < n_out; o++) {
            output[o] = bench_act_f32(output[o], params->activation);
        }
    }
    return BENCH_OK;
}
