/*
 * bench_protocol.h - frame layout of the host link (docs/protocol.md).
 *
 *   offset 0  u8   sync0 = 0xA5
 *          1  u8   sync1 = 0x5A
 *          2  u8   type
 *          3  u8   flags (0)
 *          4  u16  seq     (little endian; a reply echoes its request's seq)
 *          6  u16  length  (payload bytes)
 *          8  ...  payload
 *   8+length  u32  crc32 (IEEE 802.3) over bytes 2 .. 8+length-1
 *
 * The 8-byte header keeps the payload 4-byte aligned in the receive buffer,
 * so an input tensor is used where it lands, without a copy.
 */
#ifndef BENCH_PROTOCOL_H
#define BENCH_PROTOCOL_H

#include <stdint.h>

#define BENCH_PROTOCOL_VERSION 1u
#define BENCH_SYNC0 0xA5u
#define BENCH_SYNC1 0x5Au
#define BENCH_HEADER_BYTES 8u
#define BENCH_CRC_BYTES 4u

enum {
    BENCH_MSG_HELLO = 0x01,    /* host: empty;            device: BENCH_MSG_HELLO_ACK */
    BENCH_MSG_INFER = 0x02,    /* host: input tensor;     device: BENCH_MSG_RESULT */
    BENCH_MSG_PING = 0x03,     /* host: any bytes;        device: BENCH_MSG_PONG (echo) */
    BENCH_MSG_HELLO_ACK = 0x81,
    BENCH_MSG_RESULT = 0x82,
    BENCH_MSG_PONG = 0x83,
    BENCH_MSG_ERROR = 0xFF,    /* u8 code, u8 reserved, u16 offending seq */
};

enum {
    BENCH_ERR_CRC = 1,         /* frame failed its CRC: resend */
    BENCH_ERR_LENGTH = 2,      /* payload too long, or wrong input size */
    BENCH_ERR_TYPE = 3,        /* unknown message type */
    BENCH_ERR_MODEL = 4,       /* bench_model_run() returned non-zero */
};

/* Payload of BENCH_MSG_HELLO_ACK, little endian, packed by hand. */
#define BENCH_HELLO_ACK_BYTES 84u

/* Payload of BENCH_MSG_RESULT before the output tensor. */
#define BENCH_RESULT_HEADER_BYTES 16u

uint32_t bench_crc32(uint32_t crc, const uint8_t *data, uint32_t len);

#endif /* BENCH_PROTOCOL_H */
