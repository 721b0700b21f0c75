/*
 * bench_board.h - what the runtime needs from a board. One implementation per
 * board folder (boards/<board>/board.c); the runtime is portable C above it.
 */
#ifndef BENCH_BOARD_H
#define BENCH_BOARD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What the timed-region counter counts; the host turns it into a unit. */
typedef enum {
    BENCH_TIMER_NONE = 0,
    BENCH_TIMER_DWT_CYCLES = 1,   /* core clock cycles (DWT CYCCNT) */
    BENCH_TIMER_SYSTICK = 2,      /* SysTick ticks at the core clock */
} bench_timer_kind;

/* Clocks, console UART, timer. Called once before anything else. */
void board_init(void);

/* Core clock after board_init(), in Hz. */
uint32_t board_clock_hz(void);

/* Lower-case board name, e.g. "stm32l452". */
const char *board_name(void);

/* Send bytes on the console UART; blocks until queued. */
void board_uart_write(const uint8_t *data, uint32_t len);

/*
 * Take one received byte, if any. Receive is interrupt driven into a ring
 * buffer, so nothing is lost while the core sleeps.
 */
int32_t board_uart_getc(void);

/* Sleep until an interrupt arrives, unless a byte is already waiting. */
void board_idle(void);

/*
 * Timed region. board_timer_start() masks interrupts that could steal time
 * from the measured code; board_timer_stop() returns the count since start
 * and unmasks them. *kind says what the count means.
 */
void board_timer_start(void);
uint64_t board_timer_stop(bench_timer_kind *kind);

/* Timed-region trigger pin, for power meters (no-op where not wired). */
void board_trigger(int32_t level);

/* Stack bounds for the high-water mark: reset code fills the stack with
 * BENCH_STACK_PAINT, the runtime finds the deepest overwritten word. */
#define BENCH_STACK_PAINT 0xC0DEC0DEu
extern uint32_t _sstack;
extern uint32_t _estack;

#ifdef __cplusplus
}
#endif

#endif /* BENCH_BOARD_H */
