/*
 * frame_loop_fuzz.c - libFuzzer target: the firmware's frame loop
 * (firmware/runtime/main.c) compiled for the host, fed arbitrary bytes.
 *
 * Built and run by `make fuzz` (clang -fsanitize=fuzzer,address,undefined).
 * main.c is compiled unchanged, its main() renamed by -Dmain=...; this file
 * stands in for the board (bench_board.h), the link (bench_link.h) and a
 * model (bench_model.h). The link hands over the fuzzer's bytes; when they
 * are used up, link_idle() (the firmware would sleep) ends the run.
 *
 * What is checked, beyond the sanitizers (out-of-bounds, overflow, UB):
 * every byte the firmware sends forms whole frames with the sync bytes, a
 * reply type, a length no larger than any reply, and a correct CRC, and the
 * firmware never sends more than a bounded amount per input byte.
 *
 * Input, first byte:
 *   even: the rest is the raw byte stream (noise, damaged frames);
 *   odd:  the rest is a list of frames the harness builds with correct CRCs,
 *         so the fuzzer gets past the CRC to every message handler:
 *         [type][damage][len][len bytes of payload] ..., where damage bit 0
 *         puts the next two bytes in the length field instead of len, bit 1
 *         spoils the CRC, bit 2 puts one stray byte before the frame.
 */
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench_board.h"
#include "bench_link.h"
#include "bench_model.h"
#include "bench_protocol.h"

int bench_firmware_main(void); /* main.c's main() */

#define FUZZ_INPUT_BYTES 16u /* the model's input: 4 floats */
#define FUZZ_OUTPUT_BYTES BENCH_OUTPUT_BYTES
#define MAX_REPLY_PAYLOAD                                                                   \
    (BENCH_MAX_PAYLOAD > BENCH_HELLO_ACK_BYTES ? BENCH_MAX_PAYLOAD : BENCH_HELLO_ACK_BYTES)
#define OUT_CAP (1u << 20)

/* The painted stack the high-water mark is read from: _sstack and _estack
 * are this array's ends (linker --defsym, see the Makefile). */
uint32_t fuzz_stack[16] = {
    BENCH_STACK_PAINT, BENCH_STACK_PAINT, BENCH_STACK_PAINT, BENCH_STACK_PAINT,
    BENCH_STACK_PAINT, BENCH_STACK_PAINT, BENCH_STACK_PAINT, BENCH_STACK_PAINT,
    BENCH_STACK_PAINT, BENCH_STACK_PAINT, BENCH_STACK_PAINT, BENCH_STACK_PAINT,
    BENCH_STACK_PAINT, BENCH_STACK_PAINT, 0, 0,
};

static const uint8_t *in_data;
static size_t in_len;
static size_t in_pos;
static jmp_buf input_done;
static uint8_t *out;
static size_t out_len;

/* -- the link -------------------------------------------------------------- */

int32_t link_getc(void)
{
    return in_pos < in_len ? (int32_t)in_data[in_pos++] : -1;
}

void link_idle(void)
{
    longjmp(input_done, 1); /* nothing more will arrive: this run is over */
}

void link_write(const uint8_t *data, uint32_t len)
{
    if (len > OUT_CAP - out_len) {
        abort(); /* replies out of all proportion to the input */
    }
    memcpy(out + out_len, data, len);
    out_len += len;
}

/* -- the board ------------------------------------------------------------- */

void board_init(void) {}
uint32_t board_clock_hz(void) { return 80000000u; }
const char *board_name(void) { return "fuzz"; }
void board_trigger(int32_t level) { (void)level; }
void board_timer_start(void) {}

uint64_t board_timer_stop(bench_timer_kind *kind)
{
    *kind = BENCH_TIMER_SYSTICK;
    return 1234u;
}

/* -- the model ------------------------------------------------------------- */

const bench_model_info_t bench_model_info = {
    .input_bytes = FUZZ_INPUT_BYTES,
    .output_bytes = FUZZ_OUTPUT_BYTES,
    .arena_bytes = 0,
    .input_dtype = BENCH_DTYPE_FLOAT32,
    .output_dtype = BENCH_DTYPE_FLOAT32,
    .model_hash = {1, 2, 3, 4, 5, 6, 7, 8},
    .engine = "fuzz",
};

int32_t bench_model_run(const void *input, void *output)
{
    const uint8_t *x = input;
    if (x[0] == 0xEEu) {
        return 1; /* a model that fails: the ERROR 4 path */
    }
    for (uint32_t i = 0; i < FUZZ_OUTPUT_BYTES; i++) {
        ((uint8_t *)output)[i] = x[i % FUZZ_INPUT_BYTES];
    }
    return 0;
}

/* -- the checks ------------------------------------------------------------ */

static uint32_t get_u16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }

static void check_replies(void)
{
    size_t pos = 0;
    while (pos < out_len) {
        if (out_len - pos < BENCH_HEADER_BYTES + BENCH_CRC_BYTES) {
            abort(); /* a frame cut short */
        }
        const uint8_t *f = out + pos;
        uint32_t len = get_u16(&f[6]);
        if (f[0] != BENCH_SYNC0 || f[1] != BENCH_SYNC1 || f[3] != 0 || len > MAX_REPLY_PAYLOAD ||
            out_len - pos < BENCH_HEADER_BYTES + len + BENCH_CRC_BYTES) {
            abort();
        }
        if (f[2] != BENCH_MSG_HELLO_ACK && f[2] != BENCH_MSG_RESULT && f[2] != BENCH_MSG_PONG &&
            f[2] != BENCH_MSG_ERROR) {
            abort();
        }
        if (f[2] == BENCH_MSG_RESULT && len != BENCH_RESULT_HEADER_BYTES + FUZZ_OUTPUT_BYTES) {
            abort();
        }
        const uint8_t *c = &f[BENCH_HEADER_BYTES + len];
        uint32_t crc = (uint32_t)c[0] | ((uint32_t)c[1] << 8) | ((uint32_t)c[2] << 16) |
                       ((uint32_t)c[3] << 24);
        if (crc != bench_crc32(0, &f[2], BENCH_HEADER_BYTES - 2u + len)) {
            abort();
        }
        pos += BENCH_HEADER_BYTES + len + BENCH_CRC_BYTES;
    }
}

/* Frames with correct CRCs from [type][damage][len][payload] records. */
static size_t build_frames(const uint8_t *d, size_t n, uint8_t *buf)
{
    size_t o = 0;
    uint32_t seq = 0;
    size_t i = 0;
    while (i + 3 <= n) {
        uint8_t type = d[i], damage = d[i + 1];
        uint32_t len = d[i + 2];
        i += 3;
        uint32_t field = len;
        if ((damage & 1u) && i + 2 <= n) {
            field = get_u16(&d[i]);
            i += 2;
        }
        if (len > n - i) {
            len = (uint32_t)(n - i);
        }
        if (damage & 4u) {
            buf[o++] = (uint8_t)seq;
        }
        uint8_t *h = &buf[o];
        h[0] = BENCH_SYNC0;
        h[1] = BENCH_SYNC1;
        h[2] = type;
        h[3] = 0;
        h[4] = (uint8_t)seq;
        h[5] = (uint8_t)(seq >> 8);
        h[6] = (uint8_t)field;
        h[7] = (uint8_t)(field >> 8);
        memcpy(&h[8], &d[i], len);
        uint32_t crc = bench_crc32(0, &h[2], BENCH_HEADER_BYTES - 2u + len);
        if (damage & 2u) {
            crc ^= 1u;
        }
        for (uint32_t k = 0; k < 4; k++) {
            h[8 + len + k] = (uint8_t)(crc >> (8u * k));
        }
        o += BENCH_HEADER_BYTES + len + BENCH_CRC_BYTES;
        i += len;
        seq++;
    }
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    uint8_t *built = NULL;
    if (data[0] & 1u) {
        /* at most one stray byte + 12 bytes of framing per 3 input bytes */
        built = malloc(size * 5u + 16u);
        in_len = build_frames(data + 1, size - 1, built);
        in_data = built;
    } else {
        in_data = data + 1;
        in_len = size - 1;
    }
    in_pos = 0;
    out_len = 0;
    if (out == NULL) {
        out = malloc(OUT_CAP);
    }
    if (setjmp(input_done) == 0) {
        bench_firmware_main();
        abort(); /* main() never returns */
    }
    check_replies();
    free(built);
    return 0;
}
