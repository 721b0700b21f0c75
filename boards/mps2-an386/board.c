/*
 * Board support for QEMU's mps2-an386 (Arm MPS2 FPGA board, AN386 image,
 * Cortex-M4F): compute-only comparisons with megabytes of RAM.
 *
 * Clock: SYSCLK 25 MHz, fixed. Console: CMSDK APB UART0 at 0x40004000, the
 * first -serial; receive by interrupt (RX IRQ 0) into the ring, idle in WFI.
 * Timer: SysTick on the core clock (QEMU has no DWT cycle counter); under
 * -icount its ticks are proportional to executed instructions. No trigger
 * pin: nobody measures this board's power.
 */
#include <stdint.h>

#include "bench_board.h"
#include "bench_rx_ring.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

#define UART0_BASE 0x40004000u
#define UART0_DATA REG(UART0_BASE + 0x00u)
#define UART0_STATE REG(UART0_BASE + 0x04u)
#define UART0_CTRL REG(UART0_BASE + 0x08u)
#define UART0_INTCLEAR REG(UART0_BASE + 0x0Cu)
#define UART0_BAUDDIV REG(UART0_BASE + 0x10u)
#define UART_STATE_TXFULL (1u << 0)
#define UART_STATE_RXFULL (1u << 1)
#define UART_CTRL_TXEN (1u << 0)
#define UART_CTRL_RXEN (1u << 1)
#define UART_CTRL_RXINTEN (1u << 3)
#define UART_INT_RX (1u << 1)
#define UART0RX_IRQn 0u

#define NVIC_ISER0 REG(0xE000E100u)
#define NVIC_IPR_BYTE(n) (*(volatile uint8_t *)(0xE000E400u + (n)))
#define SCB_SHPR3 REG(0xE000ED20u)
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)

#define CORE_HZ 25000000u
#define BAUD 115200u
/* A 100 us tick while idle lets QEMU's main loop run; the timed region
 * switches to the full 24-bit range. */
#define SYSTICK_IDLE_RELOAD (CORE_HZ / 10000u - 1u)
#define SYSTICK_TIMED_RELOAD 0x00FFFFFFu

/* Interrupts at or below this priority are masked in the timed region;
 * SysTick stays above it so its wrap count survives long inferences. */
#define PRIO_SYSTICK 0x00u
#define PRIO_UART 0x80u
#define BASEPRI_TIMED 0x40u

static bench_rx_ring rx;
static volatile uint32_t systick_wraps;
static uint32_t wraps_start;

void SysTick_Handler(void);
void UART0RX_IRQHandler(void);

void SysTick_Handler(void)
{
    systick_wraps++;
}

void UART0RX_IRQHandler(void)
{
    UART0_INTCLEAR = UART_INT_RX;
    while (UART0_STATE & UART_STATE_RXFULL) {
        bench_rx_push(&rx, (uint8_t)UART0_DATA);
    }
}

void board_init(void)
{
    SYST_RVR = SYSTICK_IDLE_RELOAD;
    SYST_CVR = 0;
    SYST_CSR = SYST_CSR_TICKINT | SYST_CSR_ENABLE | SYST_CSR_CLKSOURCE;
    SCB_SHPR3 = (SCB_SHPR3 & 0x00FFFFFFu) | ((uint32_t)PRIO_SYSTICK << 24);

    UART0_BAUDDIV = CORE_HZ / BAUD; /* QEMU's model wants >= 16 to run */
    UART0_CTRL = UART_CTRL_TXEN | UART_CTRL_RXEN | UART_CTRL_RXINTEN;
    NVIC_IPR_BYTE(UART0RX_IRQn) = PRIO_UART;
    NVIC_ISER0 = 1u << UART0RX_IRQn;
    __asm volatile("cpsie i");
}

uint32_t board_clock_hz(void) { return CORE_HZ; }

const char *board_name(void) { return "mps2-an386"; }

void board_uart_write(const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        while (UART0_STATE & UART_STATE_TXFULL) {
        }
        UART0_DATA = data[i];
    }
}

int32_t board_uart_getc(void)
{
    return bench_rx_pop(&rx);
}

void board_idle(void)
{
    bench_rx_idle(&rx);
}

void board_timer_start(void)
{
    uint32_t basepri = BASEPRI_TIMED;
    __asm volatile("msr basepri, %0" ::"r"(basepri) : "memory");
    SYST_RVR = SYSTICK_TIMED_RELOAD;
    SYST_CVR = 0; /* reloads to SYSTICK_TIMED_RELOAD on the next tick */
    wraps_start = systick_wraps;
}

uint64_t board_timer_stop(bench_timer_kind *kind)
{
    uint32_t wraps;
    uint32_t now;
    do {
        wraps = systick_wraps;
        now = SYST_CVR;
    } while (wraps != systick_wraps);
    SYST_RVR = SYSTICK_IDLE_RELOAD;
    SYST_CVR = 0;
    /* Counts down, SYSTICK_TIMED_RELOAD + 1 ticks per wrap. */
    uint64_t count = (uint64_t)(wraps - wraps_start) * (SYSTICK_TIMED_RELOAD + 1u) +
                     SYSTICK_TIMED_RELOAD - now;
    *kind = BENCH_TIMER_SYSTICK;
    uint32_t zero = 0;
    __asm volatile("msr basepri, %0" ::"r"(zero) : "memory");
    return count;
}

void board_trigger(int32_t level)
{
    (void)level;
}
