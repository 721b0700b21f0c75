/*
 * conv1d_f32.c - 1-D convolution, float32, channels-first (C, L), zero padding.
 *
 * Tensors use bench_dims {c, 1, L}; only the w fields of params are used
 * (stride_h must be 1 and pad_h 0).
 */
#include "bench_kernels.h"
#include "act_f32.h"

bench_status bench_conv1d_f32(const bench_conv_params *params,
                              const bench_dims *input_dims, const float *input,
                              const bench_dims *filter_dims, const float *filter,
                              const float *bias,
                              const bench_dims *output_dims, float *output)
{
    if (!params || !input_dims || !input || !filter_dims || !filter || !output_dims || !output) {
        return BENCH_ARG_ERROR;
    }
    const int32_t groups = params->groups;
    const int32_t in_c = input_dims->c, in_l = input_dims->w;
    const int32_t out_c = output_dims->c, out_l = output_dims->w;
    const int32_t k_c = filter_dims->c, k_l = filter_dims->w;
    const int32_t stride = params->stride_w, pad = params->pad_w;
    const bench_activation act = params->activation;

    if (input_dims->h != 1 || output_dims->h != 1 || filter_dims->h != 1 ||
        params->stride_h != 1 || params->pad_h != 0 ||
        groups <= 0 || k_c <= 0 || k_c * groups != in_c || out_c <= 0 || out_c % groups != 0 ||
        !bench_act_valid(act) || bench_window_out(in_l, k_l, stride, pad) != out_l) {
        return BENCH_ARG_ERROR;
    }
    const int32_t out_per_group = out_c / groups;
    const int32_t k_size = k_c * k_l;

    float *out = output;
    for (int32_t oc = 0; oc < out_c; oc++) {
        const int32_t g = oc / out_per_group; /* once per output channel */
        const float *in_g = input + (int32_t)(g * k_c * in_l);
        const float *w_oc = filter + (int32_t)(oc * k_size);
        const float b = bias ? bias[oc] : 0.0f;
        for (int32_t ox = 0; ox < out_l; ox++) {
            const int32_t ix0 = ox * stride - pad;
            const int32_t kx0 = bench_max_i32(0, -ix0);
            const int32_t kx1 = bench_min_i32(k_l, in_l - ix0);
            float acc = b;
            for (int32_t ic = 0; ic < k_c; ic++) {
                const float *in_ch = in_g + ic * in_l;
                const float *w_ic = w_oc + ic * k_l;
                for (int32_t kx = kx0; kx < kx1; kx++) {
                    acc += in_ch[ix0 + kx] * w_ic[kx];
                }
            }
            *out++ = bench_act_f32(acc, act);
        }
    }
    return BENCH_OK;
}
