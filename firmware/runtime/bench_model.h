/*
 * bench_model.h - the contract between the runtime and a generated model.
 *
 * Every engine (native, and later qualia, tflm, stm32cubeai) emits one
 * model.c that defines bench_model_info and bench_model_run(). The runtime
 * never looks inside: it receives the input into its own frame buffer,
 * calls bench_model_run() inside the timed region and sends the output back.
 */
#ifndef BENCH_MODEL_H
#define BENCH_MODEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element types, as carried in the handshake. */
typedef enum {
    BENCH_DTYPE_FLOAT32 = 0,
    BENCH_DTYPE_INT16 = 1,
    BENCH_DTYPE_INT8 = 2,
} bench_dtype;

typedef struct {
    uint32_t input_bytes;   /* bytes the host sends per inference */
    uint32_t output_bytes;  /* bytes the device returns per inference */
    uint32_t arena_bytes;   /* activation memory planned by the generator */
    uint8_t input_dtype;    /* bench_dtype */
    uint8_t output_dtype;   /* bench_dtype */
    uint16_t spike_layers;  /* spiking models: layers whose spikes are counted; else 0 */
    uint8_t model_hash[8];  /* first 8 bytes of the model's sha256 */
    const char *engine;     /* "native", ... */
    /* spike_layers counters, summed over the last inference's timesteps
     * (bench_model_run() zeroes them); NULL when spike_layers is 0. */
    const uint32_t *spike_counts;
} bench_model_info_t;

extern const bench_model_info_t bench_model_info;

/*
 * Run one inference. input is 4-byte aligned and holds input_bytes; output
 * is 4-byte aligned and has room for output_bytes. Returns 0 on success.
 * Must not allocate from the heap.
 */
int32_t bench_model_run(const void *input, void *output);

/*
 * Optional (main.c has weak defaults). bench_model_setup() runs once at
 * boot, before the first handshake and outside every timed region (an
 * interpreter building itself and allocating its tensors); nonzero means
 * the model cannot run and every inference answers with an error.
 * bench_model_arena_bytes() is the activation memory the model actually
 * uses, for the handshake; the default is bench_model_info.arena_bytes.
 */
int32_t bench_model_setup(void);
uint32_t bench_model_arena_bytes(void);

/*
 * Region markers (bench_marks.c): empty functions whose addresses bench's
 * QEMU plugin reads from the ELF to count instructions exactly. The
 * runtime brackets bench_model_run() with start/stop; generated code calls
 * BENCH_LAYER_MARK() once after every layer listed in the build's manifest
 * ("layers"), in that order, and nowhere else. It expands to a call only in
 * -DBENCH_PER_LAYER builds, so normal builds carry no overhead.
 */
void bench_mark_start(void);
void bench_mark_stop(void);
void bench_mark_layer(void);

#ifdef BENCH_PER_LAYER
#define BENCH_LAYER_MARK() bench_mark_layer()
#else
#define BENCH_LAYER_MARK() ((void)0)
#endif

#ifdef __cplusplus
}
#endif

#endif /* BENCH_MODEL_H */
