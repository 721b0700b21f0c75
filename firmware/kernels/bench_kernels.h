/*
 * bench_kernels.h - float32 neural-network kernels used by generated models.
 *
 * Layout is channels-first, as in PyTorch, without the batch dimension:
 *   2-D tensors (C, H, W), 1-D tensors (C, L) stored as dims {c, 1, L},
 *   features (F,) stored as a flat array.
 * Conv weights are (C_out, C_in / groups, kH, kW) in C order (PyTorch's),
 * linear weights (out_features, in_features).
 *
 * Conventions (after CMSIS-NN): small parameter structs instead of long
 * argument lists; order is params, then (dims, data) pairs, output last;
 * inputs are const; every kernel returns a bench_status and never allocates.
 * Output buffers must not overlap inputs, except for the element-wise kernels
 * (relu, relu6, add), which may run in place.
 *
 * The plain-C versions live in kernels/ref/; an optimized variant for a core
 * (kernels/m4/...) keeps the same names and replaces the file at build time.
 */
#ifndef BENCH_KERNELS_H
#define BENCH_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    BENCH_OK = 0,
    BENCH_ARG_ERROR = -1,
} bench_status;

/* Activation fused into the producing kernel. */
typedef enum {
    BENCH_ACT_NONE = 0,
    BENCH_ACT_RELU = 1,
    BENCH_ACT_RELU6 = 2,
} bench_activation;

/* Tensor dims without batch; 1-D tensors use h = 1, w = length. */
typedef struct {
    int32_t c;
    int32_t h;
    int32_t w;
} bench_dims;

/* Convolution: zero padding on both sides, dilation 1. 1-D: stride_h = 1, pad_h = 0. */
typedef struct {
    int32_t stride_h;
    int32_t stride_w;
    int32_t pad_h;
    int32_t pad_w;
    int32_t groups;
    bench_activation activation;
} bench_conv_params;

/* A sliding window: kernel, stride and zero padding per dim; 1-D:
 * kernel_h = stride_h = 1, pad_h = 0. One field list for the float pools'
 * params and the integer kernels' bench_window, so the two cannot drift. */
#define BENCH_WINDOW_FIELDS \
    int32_t kernel_h;       \
    int32_t kernel_w;       \
    int32_t stride_h;       \
    int32_t stride_w;       \
    int32_t pad_h;          \
    int32_t pad_w;

/* Pooling (float32). */
typedef struct {
    BENCH_WINDOW_FIELDS
    int32_t count_include_pad; /* avg pool: 1 = divide by the full kernel area */
} bench_pool_params;

typedef struct {
    int32_t in_features;
    int32_t out_features;
    bench_activation activation;
} bench_linear_params;

/**
 * @brief 2-D convolution, float32 (includes grouped and depthwise).
 * @param[in]  params       strides, zero padding, groups, fused activation
 * @param[in]  input_dims   {C_in, H, W}
 * @param[in]  input        C_in * H * W values
 * @param[in]  filter_dims  {C_in / groups, kH, kW}
 * @param[in]  filter       C_out * C_in/groups * kH * kW values
 * @param[in]  bias         C_out values, or NULL
 * @param[in]  output_dims  {C_out, H_out, W_out}, H_out = (H + 2 pad_h - kH) / stride_h + 1
 * @param[out] output       C_out * H_out * W_out values
 * @return BENCH_OK, or BENCH_ARG_ERROR for inconsistent dims
 */
bench_status bench_conv2d_f32(const bench_conv_params *params,
                              const bench_dims *input_dims, const float *input,
                              const bench_dims *filter_dims, const float *filter,
                              const float *bias,
                              const bench_dims *output_dims, float *output);

/** @brief 1-D convolution, float32; dims {C, 1, L}, filter_dims {C_in / groups, 1, k}. */
bench_status bench_conv1d_f32(const bench_conv_params *params,
                              const bench_dims *input_dims, const float *input,
                              const bench_dims *filter_dims, const float *filter,
                              const float *bias,
                              const bench_dims *output_dims, float *output);

/* The (kernel width, stride) pairs with a specialised 1-D convolution,
 * bench_conv1d_f32_k<K>s<S>: same arguments and result as bench_conv1d_f32,
 * ARG_ERROR for another width or stride. Faster (constant load offsets, fully
 * unrolled window); the code generator reads this list and calls the variant
 * a layer matches, so only the variants a model uses are linked. */
#define BENCH_CONV1D_VARIANTS(X) X(1, 1) X(3, 1) X(3, 2) X(5, 1) X(5, 2) X(7, 1) X(7, 2)

#define BENCH_CONV1D_DECLARE(K, S)                                                        \
    bench_status bench_conv1d_f32_k##K##s##S(                                            \
        const bench_conv_params *params, const bench_dims *input_dims, const float *input, \
        const bench_dims *filter_dims, const float *filter, const float *bias,            \
        const bench_dims *output_dims, float *output);
BENCH_CONV1D_VARIANTS(BENCH_CONV1D_DECLARE)

/** @brief Fully connected: output = weight * input + bias, weight (out, in). bias may be NULL. */
bench_status bench_linear_f32(const bench_linear_params *params,
                              const float *input, const float *weight, const float *bias,
                              float *output);

/** @brief Max pooling; padded positions never win (PyTorch's -inf padding). */
bench_status bench_max_pool2d_f32(const bench_pool_params *params,
                                  const bench_dims *input_dims, const float *input,
                                  const bench_dims *output_dims, float *output);
bench_status bench_max_pool1d_f32(const bench_pool_params *params,
                                  const bench_dims *input_dims, const float *input,
                                  const bench_dims *output_dims, float *output);

/** @brief Average pooling; divisor per count_include_pad, as in PyTorch. */
bench_status bench_avg_pool2d_f32(const bench_pool_params *params,
                                  const bench_dims *input_dims, const float *input,
                                  const bench_dims *output_dims, float *output);
bench_status bench_avg_pool1d_f32(const bench_pool_params *params,
                                  const bench_dims *input_dims, const float *input,
                                  const bench_dims *output_dims, float *output);

/** @brief Mean over all spatial positions: output has input_dims->c values. */
bench_status bench_global_avg_pool_f32(const bench_dims *input_dims, const float *input,
                                       float *output);

/** @brief Element-wise max(x, 0); may run in place. */
bench_status bench_relu_f32(int32_t size, const float *input, float *output);

/** @brief Element-wise min(max(x, 0), 6); may run in place. */
bench_status bench_relu6_f32(int32_t size, const float *input, float *output);

/** @brief Element-wise input1 + input2 then activation; output may alias an input. */
bench_status bench_add_f32(bench_activation activation, int32_t size,
                           const float *input1, const float *input2, float *output);

/* Spiking neurons (harness/model/neuron.py has the same step in numpy). */
typedef enum {
    BENCH_RESET_SUBTRACT = 0, /* v -= threshold on a spike */
    BENCH_RESET_ZERO = 1,     /* v = v_reset on a spike (a hard reset) */
    BENCH_RESET_NONE = 2,
} bench_reset;

typedef struct {
    float decay;      /* multiplies the potential every step */
    float gain;       /* multiplies the input current */
    float offset;     /* added every step */
    float threshold;
    float v_reset;    /* BENCH_RESET_ZERO: the potential after a spike */
    bench_reset reset;
    int32_t fire_ge;    /* 1: spike when v >= threshold (SpikingJelly); 0: v > threshold */
    int32_t pre_reset;  /* 1: a step first resets the last step's spike (snnTorch) */
    int32_t post_reset; /* 1: a spike resets the potential in the step it fires */
} bench_lif_params;

/**
 * @brief One timestep of a layer of spiking neurons, float32.
 *        r = pre_reset ? fire(v) : 0
 *        h = decay * (reset zero && r ? v_reset : v) + gain * current + offset
 *            - (reset subtract && r ? threshold : 0)
 *        s = fire(h); d = post_reset ? s - r : 0
 *        v = h - d * threshold (subtract); zero: v_reset if d = 1, h + (h - v_reset)
 *            if d = -1, else h; none: h
 * @param[in]     params   the layer's neuron
 * @param[in]     size     neurons in the layer
 * @param[in]     current  size input currents
 * @param[in,out] state    size membrane potentials, kept between steps
 * @param[out]    spikes   size values 0.0f / 1.0f; may be current (in place)
 * @param[in,out] count    spikes fired are added to it
 */
bench_status bench_lif_f32(const bench_lif_params *params, int32_t size, const float *current,
                           float *state, float *spikes, uint32_t *count);

/**
 * @brief Fully connected layer on spikes, event-driven: only the active
 *        inputs are visited, each adding its weight row. Its cost grows with
 *        the input's spikes, not with in_features x out_features. Same
 *        result, bit for bit, as bench_linear_f32 on a 0/1 input (the same
 *        additions in the same order).
 * @param[in]  params    in/out features, fused activation
 * @param[in]  input     in_features spikes, 0.0f or 1.0f
 * @param[in]  weight_t  the weight transposed: (in_features, out_features)
 * @param[in]  bias      out_features values, or NULL
 * @param[out] output    out_features values
 */
bench_status bench_linear_events_f32(const bench_linear_params *params, const float *input,
                                     const float *weight_t, const float *bias, float *output);

typedef struct {
    float decay;  /* multiplies the potential every step */
    float gain;   /* multiplies the input current */
    float offset; /* added every step */
} bench_li_params;

/**
 * @brief One timestep of a layer of leaky integrators (never fire), float32.
 *        v = decay * v + gain * current + offset; output = v
 * @param[in]     params   the layer's integrator
 * @param[in]     size     neurons in the layer
 * @param[in]     current  size input currents
 * @param[in,out] state    size potentials, kept between steps
 * @param[out]    output   size values (the potentials); may be current (in place)
 */
bench_status bench_li_f32(const bench_li_params *params, int32_t size, const float *current,
                          float *state, float *output);

#ifdef __cplusplus
}
#endif

#endif /* BENCH_KERNELS_H */
