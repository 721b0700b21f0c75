/*
 * main.c - the device side of the host link: receive a frame, act, reply.
 *
 * Single threaded. Bytes arrive through the link (bench_link.h); the loop
 * assembles frames and waits in link_idle() when there is none.
 * Only bench_model_run() sits inside the timed region, between the region
 * markers (bench_marks.c) that bench's QEMU plugin counts instructions by.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bench_board.h"
#include "bench_link.h"
#include "bench_model.h"
#include "bench_protocol.h"

#ifndef BENCH_MAX_PAYLOAD
#error "BENCH_MAX_PAYLOAD must be set by the build (largest input tensor, bytes)"
#endif
#ifndef BENCH_OUTPUT_BYTES
#error "BENCH_OUTPUT_BYTES must be set by the build"
#endif
#ifndef BENCH_BUILD_ID
#define BENCH_BUILD_ID 0ull
#endif
#ifndef BENCH_SPIKE_LAYERS
#define BENCH_SPIKE_LAYERS 0u /* spike counters a RESULT carries (spiking models) */
#endif

#define RX_FRAME_BYTES (BENCH_HEADER_BYTES + BENCH_MAX_PAYLOAD + BENCH_CRC_BYTES)

/* Read from flash, not folded into the code: an immediate's encoding depends
 * on its value, and the build id is a hash, so the code's size would too. */
static const uint64_t build_id_word = BENCH_BUILD_ID;

/* uint32_t storage keeps the payload (offset 8) 4-byte aligned. */
static uint32_t rx_words[(RX_FRAME_BYTES + 3u) / 4u];
static uint32_t out_words[(BENCH_RESULT_HEADER_BYTES + 4u * BENCH_SPIKE_LAYERS +
                           BENCH_OUTPUT_BYTES + 3u) / 4u];

static void put_u16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v)
{
    put_u16(p, v & 0xFFFFu);
    put_u16(p + 2, v >> 16);
}
static uint32_t get_u16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }

static void send_frame(uint8_t type, uint32_t seq, const uint8_t *payload, uint32_t len)
{
    uint8_t header[BENCH_HEADER_BYTES];
    uint8_t crc_bytes[BENCH_CRC_BYTES];
    header[0] = BENCH_SYNC0;
    header[1] = BENCH_SYNC1;
    header[2] = type;
    header[3] = 0;
    put_u16(&header[4], seq);
    put_u16(&header[6], len);
    uint32_t crc = bench_crc32(0, &header[2], BENCH_HEADER_BYTES - 2u);
    crc = bench_crc32(crc, payload, len);
    put_u32(crc_bytes, crc);
    link_write(header, sizeof header);
    link_write(payload, len);
    link_write(crc_bytes, sizeof crc_bytes);
}

static void send_error(uint32_t seq, uint8_t code)
{
    uint8_t p[4] = {code, 0, 0, 0};
    put_u16(&p[2], seq);
    send_frame(BENCH_MSG_ERROR, seq, p, sizeof p);
}

static void copy_name(uint8_t *dst, const char *src, uint32_t size)
{
    uint32_t i = 0;
    for (; src != NULL && src[i] != '\0' && i < size; i++) {
        dst[i] = (uint8_t)src[i];
    }
    for (; i < size; i++) {
        dst[i] = 0;
    }
}

/* Deepest stack use so far: stack grows down from _estack over painted words. */
static uint32_t stack_high_water(void)
{
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == BENCH_STACK_PAINT) {
        p++;
    }
    return (uint32_t)((uintptr_t)&_estack - (uintptr_t)p);
}

static void send_hello(uint32_t seq)
{
    uint8_t p[BENCH_HELLO_ACK_BYTES];
    const uint64_t *id = &build_id_word;
    __asm__("" : "+r"(id)); /* the compiler no longer knows the value: it loads it */
    uint64_t build_id = *id;
    memset(p, 0, sizeof p);
    put_u16(&p[0], BENCH_PROTOCOL_VERSION);
    p[2] = bench_model_info.input_dtype;
    p[3] = bench_model_info.output_dtype;
    put_u32(&p[4], board_clock_hz());
    /* Timer kind is known only after a measurement; report the board's. */
    bench_timer_kind kind = BENCH_TIMER_NONE;
    board_timer_start();
    (void)board_timer_stop(&kind);
    p[8] = (uint8_t)kind;
    put_u32(&p[12], bench_model_info.input_bytes);
    put_u32(&p[16], bench_model_info.output_bytes);
    put_u32(&p[20], bench_model_arena_bytes());
    put_u32(&p[24], (uint32_t)((uintptr_t)&_estack - (uintptr_t)&_sstack));
    put_u32(&p[28], BENCH_MAX_PAYLOAD);
    memcpy(&p[32], bench_model_info.model_hash, 8);
    for (uint32_t i = 0; i < 8u; i++) {
        p[40 + i] = (uint8_t)(build_id >> (8u * i));
    }
    copy_name(&p[48], board_name(), 16);
    copy_name(&p[64], bench_model_info.engine, 16);
    put_u32(&p[80], stack_high_water());
    send_frame(BENCH_MSG_HELLO_ACK, seq, p, sizeof p);
}

__attribute__((weak)) int32_t bench_model_setup(void)
{
    return 0;
}

__attribute__((weak)) uint32_t bench_model_arena_bytes(void)
{
    return bench_model_info.arena_bytes;
}

static int32_t model_status; /* bench_model_setup()'s: nonzero, no inference runs */

/* Paint again what the set-up used of the stack, up to a little below this
 * frame: the high-water mark then measures inferences, not the set-up. */
static __attribute__((noinline)) void repaint_stack(void)
{
    volatile uint32_t here = 0;
    const uintptr_t limit = (uintptr_t)&here - 64u;
    for (uint32_t *p = &_sstack; p < &_estack && (uintptr_t)p < limit; p++) {
        *p = BENCH_STACK_PAINT;
    }
}

static void run_inference(uint32_t seq, const uint8_t *input, uint32_t len)
{
    uint8_t *out = (uint8_t *)out_words;
    const uint32_t spike_layers = bench_model_info.spike_layers;
    if (len != bench_model_info.input_bytes) {
        send_error(seq, BENCH_ERR_LENGTH);
        return;
    }
    if (spike_layers > BENCH_SPIKE_LAYERS || model_status != 0) {
        send_error(seq, BENCH_ERR_MODEL); /* too small a RESULT buffer, or set-up failed */
        return;
    }
    /* Spike counters go between the header and the outputs. */
    uint8_t *outputs = out + BENCH_RESULT_HEADER_BYTES + 4u * spike_layers;
    bench_timer_kind kind = BENCH_TIMER_NONE;
    board_trigger(1);
    board_timer_start();
    /* Inside the timer's region, so no idle interrupt lands between the marks. */
    bench_mark_start();
    int32_t status = bench_model_run(input, outputs);
    bench_mark_stop();
    uint64_t count = board_timer_stop(&kind);
    board_trigger(0);
    if (status != 0) {
        send_error(seq, BENCH_ERR_MODEL);
        return;
    }
    put_u32(&out[0], (uint32_t)count);
    put_u32(&out[4], (uint32_t)(count >> 32));
    put_u32(&out[8], stack_high_water());
    out[12] = (uint8_t)kind;
    out[13] = (uint8_t)spike_layers;
    put_u16(&out[14], 0); /* per-layer counts: none yet */
    for (uint32_t k = 0; k < spike_layers; k++) {
        put_u32(&out[BENCH_RESULT_HEADER_BYTES + 4u * k], bench_model_info.spike_counts[k]);
    }
    send_frame(BENCH_MSG_RESULT, seq, out,
               BENCH_RESULT_HEADER_BYTES + 4u * spike_layers + bench_model_info.output_bytes);
}

static void dispatch(const uint8_t *frame)
{
    uint8_t type = frame[2];
    uint32_t seq = get_u16(&frame[4]);
    uint32_t len = get_u16(&frame[6]);
    const uint8_t *payload = &frame[BENCH_HEADER_BYTES];
    switch (type) {
    case BENCH_MSG_HELLO:
        send_hello(seq);
        break;
    case BENCH_MSG_INFER:
        run_inference(seq, payload, len);
        break;
    case BENCH_MSG_PING:
        send_frame(BENCH_MSG_PONG, seq, payload, len);
        break;
    default:
        send_error(seq, BENCH_ERR_TYPE);
        break;
    }
}

static uint8_t next_byte(void)
{
    int32_t c;
    while ((c = link_getc()) < 0) {
        link_idle();
    }
    return (uint8_t)c;
}

int main(void)
{
    uint8_t *frame = (uint8_t *)rx_words;
    board_init();
    model_status = bench_model_setup();
    repaint_stack();
    for (;;) {
        /* Hunt for sync; a corrupt frame costs at most its own bytes. */
        if (next_byte() != BENCH_SYNC0) {
            continue;
        }
        uint8_t b = next_byte();
        while (b == BENCH_SYNC0) {
            b = next_byte();
        }
        if (b != BENCH_SYNC1) {
            continue;
        }
        frame[0] = BENCH_SYNC0;
        frame[1] = BENCH_SYNC1;
        for (uint32_t i = 2; i < BENCH_HEADER_BYTES; i++) {
            frame[i] = next_byte();
        }
        uint32_t seq = get_u16(&frame[4]);
        uint32_t len = get_u16(&frame[6]);
        if (len > BENCH_MAX_PAYLOAD) {
            send_error(seq, BENCH_ERR_LENGTH);
            continue;
        }
        for (uint32_t i = 0; i < len + BENCH_CRC_BYTES; i++) {
            frame[BENCH_HEADER_BYTES + i] = next_byte();
        }
        const uint8_t *c = &frame[BENCH_HEADER_BYTES + len];
        uint32_t got = (uint32_t)c[0] | ((uint32_t)c[1] << 8) | ((uint32_t)c[2] << 16) |
                       ((uint32_t)c[3] << 24);
        if (got != bench_crc32(0, &frame[2], BENCH_HEADER_BYTES - 2u + len)) {
            send_error(seq, BENCH_ERR_CRC);
            continue;
        }
        dispatch(frame);
    }
}
