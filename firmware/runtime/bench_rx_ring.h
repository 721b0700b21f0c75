/*
 * bench_rx_ring.h - the console's receive ring, shared by every board.
 *
 * One producer (the UART interrupt) and one consumer (the main loop): the
 * ISR writes only head, the main loop only tail, so neither needs a lock.
 * A full ring drops the byte; the frame CRC catches it and the host resends.
 */
#ifndef BENCH_RX_RING_H
#define BENCH_RX_RING_H

#include <stdint.h>

#define BENCH_RX_RING_BYTES 1024u

typedef struct {
    volatile uint8_t data[BENCH_RX_RING_BYTES];
    volatile uint32_t head; /* written by the ISR */
    uint32_t tail;          /* written by the main loop */
} bench_rx_ring;

/* From the UART interrupt. */
static inline void bench_rx_push(bench_rx_ring *ring, uint8_t byte)
{
    uint32_t next = (ring->head + 1u) % BENCH_RX_RING_BYTES;
    if (next != ring->tail) {
        ring->data[ring->head] = byte;
        ring->head = next;
    }
}

/* From the main loop: the next byte, or -1 when the ring is empty. */
static inline int32_t bench_rx_pop(bench_rx_ring *ring)
{
    if (ring->tail == ring->head) {
        return -1;
    }
    uint8_t byte = ring->data[ring->tail];
    ring->tail = (ring->tail + 1u) % BENCH_RX_RING_BYTES;
    return byte;
}

/*
 * Sleep until an interrupt, unless a byte is already waiting. Interrupts are
 * masked around the check, so one arriving between the check and WFI still
 * wakes the core (WFI wakes on a pending interrupt even when masked).
 */
static inline void bench_rx_idle(const bench_rx_ring *ring)
{
    __asm volatile("cpsid i" ::: "memory");
    if (ring->tail == ring->head) {
        __asm volatile("wfi");
    }
    __asm volatile("cpsie i" ::: "memory");
}

#endif /* BENCH_RX_RING_H */
