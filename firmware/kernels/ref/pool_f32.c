/*
 * pool_f32.c - max / average pooling (1-D and 2-D) and global average, float32.
 *
 * 1-D tensors are 2-D tensors with h = 1, so the 1-D entry points check that
 * and share the 2-D loops. Padded positions: max pooling ignores them (as
 * PyTorch's -inf padding does); average pooling counts them as zeros when
 * count_include_pad is set, else divides by the number of real inputs.
 */
#include "bench_kernels.h"
#include "act_f32.h"

static int pool_args_ok(const bench_pool_params *p, const bench_dims *in, const bench_dims *out)
{
    return p && in && out && in->c > 0 && out->c == in->c &&
           2 * p->pad_h <= p->kernel_h && 2 * p->pad_w <= p->kernel_w &&
           bench_window_out(in->h, p->kernel_h, p->stride_h, p->pad_h) == out->h &&
           bench_window_out(in->w, p->kernel_w, p->stride_w, p->pad_w) == out->w;
}

static int pool_1d_ok(const bench_pool_params *p, const bench_dims *in, const bench_dims *out)
{
    return p && in && out && in->h == 1 && out->h == 1 && p->kernel_h == 1 &&
           p->stride_h == 1 && p->pad_h == 0;
}

/* 2x2 / stride 2 (2-D) or 2 / stride 2 (1-D: one row), no padding. */
static int max_pool_by_2(const bench_pool_params *p)
{
    return p->kernel_w == 2 && p->stride_w == 2 && p->pad_w == 0 && p->pad_h == 0 &&
           (p->kernel_h == 1 || p->kernel_h == 2) && p->stride_h == p->kernel_h;
}

/* The common pool by 2 without window arithmetic: most of the general
 * loop's cost per output was clipping a window that never clips. Same
 * comparison order as the general loop (row by row), so the same result
 * for any input, NaN included. */
static void max_pool_by_2_f32(int32_t rows, int32_t channels, int32_t in_h, int32_t in_w,
                              int32_t out_h, int32_t out_w, const float *input, float *out)
{
    for (int32_t c = 0; c < channels; c++) {
        const float *in_ch = input + c * in_h * in_w;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const float *r0 = in_ch + rows * oy * in_w;
            const float *r1 = rows == 2 ? r0 + in_w : r0;  /* 1-D: not read */
            for (int32_t ox = 0; ox < out_w; ox++) {
                float best = r0[0];
                best = r0[1] > best ? r0[1] : best;
                if (rows == 2) {
                    best = r1[0] > best ? r1[0] : best;
                    best = r1[1] > best ? r1[1] : best;
                }
                *out++ = best;
                r0 += 2;
                r1 += 2;
            }
        }
    }
}

bench_status bench_max_pool2d_f32(const bench_pool_params *params,
                                  const bench_dims *input_dims, const float *input,
                                  const bench_dims *output_dims, float *output)
{
    if (!input || !output || !pool_args_ok(params, input_dims, output_dims)) {
        return BENCH_ARG_ERROR;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t in_plane = in_h * in_w;
    float *out = output;
    if (max_pool_by_2(params)) {
        max_pool_by_2_f32(params->kernel_h, input_dims->c, in_h, in_w, out_h, out_w, input,
                          output);
        return BENCH_OK;
    }
    for (int32_t c = 0; c < input_dims->c; c++) {
        const float *in_ch = input + c * in_plane;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t iy0 = oy * params->stride_h - params->pad_h;
            const int32_t y0 = bench_max_i32(0, iy0);
            const int32_t y1 = bench_min_i32(in_h, iy0 + params->kernel_h);
            for (int32_t ox = 0; ox < out_w; ox++) {
                const int32_t ix0 = ox * params->stride_w - params->pad_w;
                const int32_t x0 = bench_max_i32(0, ix0);
                const int32_t x1 = bench_min_i32(in_w, ix0 + params->kernel_w);
                /* pad <= kernel / 2 guarantees one real input per window. */
                float best = in_ch[y0 * in_w + x0];
                for (int32_t y = y0; y < y1; y++) {
                    const float *row = in_ch + y * in_w;
                    for (int32_t x = x0; x < x1; x++) {
                        best = row[x] > best ? row[x] : best;
                    }
                }
                *out++ = best;
            }
        }
    }
    return BENCH_OK;
}

bench_status bench_avg_pool2d_f32(const bench_pool_params *params,
                                  const bench_dims *input_dims, const float *input,
                                  const bench_dims *output_dims, float *output)
{
    if (!input || !output || !pool_args_ok(params, input_dims, output_dims)) {
        return BENCH_ARG_ERROR;
    }
    const int32_t in_h = input_dims->h, in_w = input_dims->w;
    const int32_t out_h = output_dims->h, out_w = output_dims->w;
    const int32_t in_plane = in_h * in_w;
    const float full_scale = 1.0f / (float)(params->kernel_h * params->kernel_w);
    float *out = output;
    for (int32_t c = 0; c < input_dims->c; c++) {
        const float *in_ch = input + c * in_plane;
        for (int32_t oy = 0; oy < out_h; oy++) {
            const int32_t iy0 = oy * params->stride_h - params->pad_h;
            const int32_t y0 = bench_max_i32(0, iy0);
            const int32_t y1 = bench_min_i32(in_h, iy0 + params->kernel_h);
            for (int32_t ox = 0; ox < out_w; ox++) {
                const int32_t ix0 = ox * params->stride_w - params->pad_w;
                const int32_t x0 = bench_max_i32(0, ix0);
                const int32_t x1 = bench_min_i32(in_w, ix0 + params->kernel_w);
                float sum = 0.0f;
                for (int32_t y = y0; y < y1; y++) {
                    const float *row = in_ch + y * in_w;
                    for (int32_t x = x0; x < x1; x++) {
                        sum += row[x];
                    }
                }
                /* One division per output only when the window is clipped. */
                *out++ = params->count_include_pad
                             ? sum * full_scale
                             : sum / (float)((y1 - y0) * (x1 - x0));
            }
        }
    }
    return BENCH_OK;
}

bench_status bench_max_pool1d_f32(const bench_pool_params *params,
                                  const bench_dims *input_dims, const float *input,
                                  const bench_dims *output_dims, float *output)
{
    if (!pool_1d_ok(params, input_dims, output_dims)) {
        return BENCH_ARG_ERROR;
    }
    return bench_max_pool2d_f32(params, input_dims, input, output_dims, output);
}

bench_status bench_avg_pool1d_f32(const bench_pool_params *params,
                                  const bench_dims *input_dims, const float *input,
                                  const bench_dims *output_dims, float *output)
{
    if (!pool_1d_ok(params, input_dims, output_dims)) {
        return BENCH_ARG_ERROR;
    }
    return bench_avg_pool2d_f32(params, input_dims, input, output_dims, output);
}

bench_status bench_global_avg_pool_f32(const bench_dims *input_dims, const float *input,
                                       float *output)
{
    if (!input_dims || !input || !output || input_dims->c <= 0 || input_dims->h <= 0 ||
        input_dims->w <= 0) {
        return BENCH_ARG_ERROR;
    }
    const int32_t plane = input_dims->h * input_dims->w;
    const float scale = 1.0f / (float)plane;
    for (int32_t c = 0; c < input_dims->c; c++) {
        const float *in_ch = input + c * plane;
        float sum = 0.0f;
        for (int32_t i = 0; i < plane; i++) {
            sum += in_ch[i];
        }
        output[c] = sum * scale;
    }
    return BENCH_OK;
}
