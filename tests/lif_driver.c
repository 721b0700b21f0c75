/*
 * lif_driver.c - drives bench_lif_s8/s16 (firmware/kernels/q/lif_q.c) on the
 * host for tests/test_snn.py: reads cases from stdin, runs each for its
 * steps and writes every step's potentials, spikes and the final count.
 * Input, all little-endian int32: cases; per case 12 parameters
 * (bench_lif_qparams order), bits (8 or 16), size, steps, the initial
 * potentials [size], the currents [steps][size]. Output, int32: per step
 * potentials [size] then spikes [size]; then the count.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench_qkernels.h"

#define MAX_SIZE 256

static int32_t next(void)
{
    int32_t v;
    if (fread(&v, sizeof v, 1, stdin) != 1) {
        exit(2);
    }
    return v;
}

static void put(int32_t v)
{
    fwrite(&v, sizeof v, 1, stdout);
}

int main(void)
{
    const int32_t cases = next();
    for (int32_t c = 0; c < cases; c++) {
        int32_t f[12];
        for (int k = 0; k < 12; k++) {
            f[k] = next();
        }
        const bench_lif_qparams p = {f[0], f[1], f[2], f[3], f[4], f[5],
                                     f[6], f[7], f[8], f[9], f[10], f[11]};
        const int32_t bits = next(), size = next(), steps = next();
        if (size > MAX_SIZE) {
            return 3;
        }
        int8_t s8[MAX_SIZE], c8[MAX_SIZE], k8[MAX_SIZE];
        int16_t s16[MAX_SIZE], c16[MAX_SIZE], k16[MAX_SIZE];
        for (int32_t i = 0; i < size; i++) {
            const int32_t v = next();
            s8[i] = (int8_t)v;
            s16[i] = (int16_t)v;
        }
        uint32_t count = 0;
        for (int32_t t = 0; t < steps; t++) {
            for (int32_t i = 0; i < size; i++) {
                const int32_t v = next();
                c8[i] = (int8_t)v;
                c16[i] = (int16_t)v;
            }
            const bench_status st = bits == 8 ? bench_lif_s8(&p, size, c8, s8, k8, &count)
                                              : bench_lif_s16(&p, size, c16, s16, k16, &count);
            if (st != BENCH_OK) {
                return 4;
            }
            for (int32_t i = 0; i < size; i++) {
                put(bits == 8 ? s8[i] : s16[i]);
            }
            for (int32_t i = 0; i < size; i++) {
                put(bits == 8 ? k8[i] : k16[i]);
            }
        }
        put((int32_t)count);
    }
    return 0;
}
