/*
 * add_f32.c - element-wise add with fused activation, float32.
 * The output may alias either input (the planner runs residual adds in place).
 */
#include "bench_kernels.h"
#include "act_f32.h"

bench_status bench_add_f32(bench_activation activation, int32_t size,
                           const float *input1, const float *input2, float *output)
{
    if (!input1 || !input2 || !output || size < 0 || !bench_act_valid(activation)) {
        return BENCH_ARG_ERROR;
    }
    for (int32_t i = 0; i < size; i++) {
        output[i] = bench_act_f32(input1[i] + input2[i], activation);
    }
    return BENCH_OK;
}
