/*
 * bench_cortexm.h - the reset work every Cortex-M board does the same way:
 * copy .data, zero .bss, paint the stack for the high-water mark, enable the
 * FPU, call main(). A board's startup.c keeps what differs (vector table,
 * interrupt names, early clock or VTOR set-up) and calls bench_cortexm_start().
 */
#ifndef BENCH_CORTEXM_H
#define BENCH_CORTEXM_H

#include <stdint.h>

#include "bench_board.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss;
extern int main(void);

#define BENCH_SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)

/* Runs on the reset stack before .data/.bss exist: registers and linker
 * symbols only. */
static inline __attribute__((noreturn, always_inline)) void bench_cortexm_start(void)
{
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    /* Paint up to a little below the current frame. */
    uintptr_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *p = &_sstack; (uintptr_t)p < sp - 64u; p++) {
        *p = BENCH_STACK_PAINT;
    }
    BENCH_SCB_CPACR |= 0xFu << 20; /* CP10, CP11 full access: the FPU */
    __asm volatile("dsb\n isb");
    (void)main();
    for (;;) {
    }
}

#endif /* BENCH_CORTEXM_H */
