/*
 * conv2d_f32.c - 2-D convolution, float32, channels-first, zero padding.
 *
 * Direct convolution (no im2col, no scratch). The valid kernel window of each
 * output position is computed once, so the inner loops carry no bounds tests
 * and no divisions.
 */
#include "bench_kernels.h"
#include "act_f32.h"

bench_status bench_conv2d_f32(const bench_conv_params *params,
                              const bench_dims *input_dims, const float *input,
                              const bench_dims *filter_dims, const float *filter,
                              const float *bias,
                              const bench_dims *output_dims, float *output)
{
    if (!params || !input_dims || !input || !filter_dims || !filter || !output_dims || !output) {
        return BENCH_ARG_ERROR;
    }
    const int32_t groups = params->groups;
    const int32_t in_c = input_dims->c, in_h = input_dims->h, in_w = input_dims->w;
    const int32_t out_c = output_dims->c, out_h = output_dims->h, out_w = output_dims->w;
    const int32_t k_c = filter_dims->c, k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t sh = params->stride_h, sw = params->stride_w;
    const int32_t ph = params->pad_h, pw = params->pad_w;
    const bench_activation act = params->activation;

    if (groups <= 0 || k_c <= 0 || k_c * groups != in_c || out_c <= 0 || out_c % groups != 0 ||
        !bench_act_valid(act) ||
        bench_window_out(in_h, k_h, sh, ph) != out_h || bench_window_out(in_w, k_w, sw, pw) != out_w) {
        return BENCH_ARG_ERROR;
    }
    const int32_t out_per_group = out_c / groups;
    const int32_t in_plane = in_h * in_w;
    const int32_t k_plane = k_h * k_w;
    const int32_t k_size = k_c * k_plane;

    float *out = output;
    for (int32_t oc = 0; oc < out_c; oc++) {
        const int32_t g = oc / out_per_group; /* once per output channel */
        const float *in_g = input + (int32_t)(g * k_c * in_plane);
        const float *w_oc = filter + (int32_t)(oc * k_size);
        const float b = bias ? bias[oc] : 0.0f;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t iy0 = oy * sh - ph;
            const int32_t ky0 = bench_max_i32(0, -iy0);
            const int32_t ky1 = bench_min_i32(k_h, in_h - iy0);
            for (int32_t ox = 0; ox < out_w; ox++) {
                const int32_t ix0 = ox * sw - pw;
                const int32_t kx0 = bench_max_i32(0, -ix0);
                const int32_t kx1 = bench_min_i32(k_w, in_w - ix0);
                float acc = b;
                for (int32_t ic = 0; ic < k_c; ic++) {
                    const float *in_ch = in_g + ic * in_plane;
                    const float *w_ic = w_oc + ic * k_plane;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        /* Index arithmetic stays inside the arrays (no pointer
                         * before the start for padded rows/columns). */
                        const float *in_row = in_ch + (iy0 + ky) * in_w;
                        const float *w_row = w_ic + ky * k_w;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            acc += in_row[ix0 + kx] * w_row[kx];
                        }
                    }
                }
                *out++ = bench_act_f32(acc, act);
            }
        }
    }
    return BENCH_OK;
}
