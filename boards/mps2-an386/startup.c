/*
 * Reset and vector table for the MPS2 AN386 (Cortex-M4F). The reset work
 * every Cortex-M board shares is bench_cortexm_start() (bench_cortexm.h).
 */
#include <stdint.h>

#include "bench_cortexm.h"

void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);
void UART0RX_IRQHandler(void);

void Default_Handler(void)
{
    for (;;) {
    }
}

void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void HardFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("Default_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));

/* 16 core exceptions + the AN386's 32 interrupts; UART0 RX is IRQ 0. */
#define IRQ_COUNT 32
typedef void (*vector_t)(void);

__attribute__((section(".isr_vector"), used)) const vector_t vector_table[16 + IRQ_COUNT] = {
    [0] = (vector_t)(uintptr_t)&_estack,
    [1] = Reset_Handler,
    [2] = NMI_Handler,
    [3] = HardFault_Handler,
    [4] = MemManage_Handler,
    [5] = BusFault_Handler,
    [6] = UsageFault_Handler,
    [11] = SVC_Handler,
    [12] = DebugMon_Handler,
    [14] = PendSV_Handler,
    [15] = SysTick_Handler,
    [16 + 0] = UART0RX_IRQHandler,
};

/* Runs before .data/.bss exist, so it touches only registers and linker symbols. */
__attribute__((noreturn, naked)) void Reset_Handler(void)
{
    __asm volatile(
        "ldr sp, =_estack\n"
        "b reset_c\n");
}

__attribute__((noreturn, used)) void reset_c(void);
__attribute__((noreturn, used)) void reset_c(void)
{
    bench_cortexm_start();
}
