/*
 * host_main.c - run a generated model on the host, for tests.
 *
 * stdin:  uint32 n, then n inputs of bench_model_info.input_bytes each.
 * stdout: a header (uint32 input_bytes, output_bytes, arena_bytes; uint8
 *         input_dtype, output_dtype; 8 bytes model_hash; 16 bytes engine name,
 *         zero padded), then n outputs of output_bytes each, each followed by
 *         a spiking model's spike_layers uint32 spike counts.
 * Checks on the way: bench_model_run returns 0, leaves the input untouched
 * and writes nothing past output_bytes. Exit code 0 only if all hold.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_model.h"

#define GUARD_BYTES 64u
#define GUARD_VALUE 0xA5u

int main(void)
{
    const bench_model_info_t *info = &bench_model_info;
    uint32_t n = 0;
    if (fread(&n, sizeof n, 1, stdin) != 1) {
        fprintf(stderr, "host_main: no sample count\n");
        return 2;
    }
    char engine[16] = {0};
    strncpy(engine, info->engine, sizeof engine - 1);
    fwrite(&info->input_bytes, sizeof(uint32_t), 1, stdout);
    fwrite(&info->output_bytes, sizeof(uint32_t), 1, stdout);
    fwrite(&info->arena_bytes, sizeof(uint32_t), 1, stdout);
    fwrite(&info->input_dtype, 1, 1, stdout);
    fwrite(&info->output_dtype, 1, 1, stdout);
    fwrite(info->model_hash, 1, sizeof info->model_hash, stdout);
    fwrite(engine, 1, sizeof engine, stdout);

    /* float arrays: the runtime guarantees 4-byte aligned buffers too. */
    float *input = malloc(info->input_bytes + 4u);
    float *saved = malloc(info->input_bytes + 4u);
    unsigned char *out_raw = malloc(info->output_bytes + GUARD_BYTES + 4u);
    if (!input || !saved || !out_raw) {
        return 2;
    }
    float *output = (float *)(void *)out_raw;
    for (uint32_t i = 0; i < n; i++) {
        if (fread(input, 1, info->input_bytes, stdin) != info->input_bytes) {
            fprintf(stderr, "host_main: short input %u\n", (unsigned)i);
            return 2;
        }
        memcpy(saved, input, info->input_bytes);
        memset(out_raw, GUARD_VALUE, info->output_bytes + GUARD_BYTES);
        int32_t rc = bench_model_run(input, output);
        if (rc != 0) {
            fprintf(stderr, "host_main: bench_model_run returned %d\n", (int)rc);
            return 3;
        }
        if (memcmp(saved, input, info->input_bytes) != 0) {
            fprintf(stderr, "host_main: the model wrote to its input\n");
            return 4;
        }
        for (uint32_t g = 0; g < GUARD_BYTES; g++) {
            if (out_raw[info->output_bytes + g] != GUARD_VALUE) {
                fprintf(stderr, "host_main: the model wrote past output_bytes\n");
                return 5;
            }
        }
        fwrite(output, 1, info->output_bytes, stdout);
        if (info->spike_layers > 0u) {
            fwrite(info->spike_counts, sizeof(uint32_t), info->spike_layers, stdout);
        }
    }
    free(input);
    free(saved);
    free(out_raw);
    return 0;
}
