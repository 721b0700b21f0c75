/*
 * relu_f32.c - element-wise ReLU and ReLU6, float32; in place allowed.
 */
#include "bench_kernels.h"

bench_status bench_relu_f32(int32_t size, const float *input, float *output)
{
    if (!input || !output || size < 0) {
        return BENCH_ARG_ERROR;
    }
    for (int32_t i = 0; i < size; i++) {
        const float v = input[i];
        output[i] = v > 0.0f ? v : 0.0f;
    }
    return BENCH_OK;
}

bench_status bench_relu6_f32(int32_t size, const float *input, float *output)
{
    if (!input || !output || size < 0) {
        return BENCH_ARG_ERROR;
    }
    for (int32_t i = 0; i < size; i++) {
        const float v = input[i];
        output[i] = v > 0.0f ? (v < 6.0f ? v : 6.0f) : 0.0f;
    }
    return BENCH_OK;
}
