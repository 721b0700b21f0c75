/*
 * bench_link.h - the byte stream the protocol runs over. Two implementations,
 * chosen at build time:
 *   link_uart.c      the board's console UART (every real board; Renode)
 *   link_semihost.c  Arm semihosting on QEMU: the ":tt" stream is QEMU's own
 *                    stdin/stdout, read in bulk by one trap. QEMU's STM32L4
 *                    USART model hands over one byte per main-loop turn
 *                    (~23 us/byte at best), about 200x slower.
 */
#ifndef BENCH_LINK_H
#define BENCH_LINK_H

#include <stdint.h>

/* One received byte, or -1 when none is waiting. */
int32_t link_getc(void);

/* Send bytes; blocks until they are queued. */
void link_write(const uint8_t *data, uint32_t len);

/* Wait for more input (sleep, or block in the host). */
void link_idle(void);

#endif /* BENCH_LINK_H */
