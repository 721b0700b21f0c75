/*
 * Board support for the STM32L4 family: Nucleo-L452RE(-P) and QEMU's
 * b-l475e-iot01a (same RCC, GPIO and USART IP).
 *
 * Clock: HSI16 -> PLL (M=1, N=10, R=2) = 80 MHz, 4 flash wait states.
 * Console: USART2 on PA2/PA3 (AF7), the Nucleo's ST-LINK virtual COM port and
 * QEMU's second -serial. Receive is interrupt driven and the idle loop sleeps
 * in WFI: QEMU's L4 USART model only hands over the next byte when its main
 * loop runs, which a busy-polling core starves (about 1 byte/s).
 * Timer: DWT CYCCNT where it counts (silicon, Renode); SysTick otherwise (QEMU,
 * where under -icount SysTick ticks are proportional to executed instructions).
 * The timed region takes no interrupt that is not part of the inference: the
 * USART is masked by BASEPRI, and the 10 kHz idle tick is stopped on the DWT
 * path and slowed to its 24-bit wrap on the SysTick path (whose rare wrap
 * interrupt is the timer itself).
 */
#include <stdint.h>

#include "bench_board.h"
#include "bench_rx_ring.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

#define RCC_BASE 0x40021000u
#define RCC_CR REG(RCC_BASE + 0x00u)
#define RCC_CFGR REG(RCC_BASE + 0x08u)
#define RCC_PLLCFGR REG(RCC_BASE + 0x0Cu)
#define RCC_AHB2ENR REG(RCC_BASE + 0x4Cu)
#define RCC_APB1ENR1 REG(RCC_BASE + 0x58u)
#define FLASH_ACR REG(0x40022000u)

#define GPIOA_BASE 0x48000000u
#define GPIOA_MODER REG(GPIOA_BASE + 0x00u)
#define GPIOA_BSRR REG(GPIOA_BASE + 0x18u)
#define GPIOA_AFRL REG(GPIOA_BASE + 0x20u)

#define USART2_BASE 0x40004400u
#define USART2_CR1 REG(USART2_BASE + 0x00u)
#define USART2_BRR REG(USART2_BASE + 0x0Cu)
#define USART2_ISR REG(USART2_BASE + 0x1Cu)
#define USART2_ICR REG(USART2_BASE + 0x20u)
#define USART2_RDR REG(USART2_BASE + 0x24u)
#define USART2_TDR REG(USART2_BASE + 0x28u)
#define USART_CR1_UE (1u << 0)
#define USART_CR1_RE (1u << 2)
#define USART_CR1_TE (1u << 3)
#define USART_CR1_RXNEIE (1u << 5)
#define USART_ISR_ORE (1u << 3)
#define USART_ISR_RXNE (1u << 5)
#define USART_ISR_TXE (1u << 7)
#define USART2_IRQn 38u

#define NVIC_ISER(n) REG(0xE000E100u + 4u * (n))
#define NVIC_IPR_BYTE(n) (*(volatile uint8_t *)(0xE000E400u + (n)))
#define SCB_SHPR3 REG(0xE000ED20u)
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)
#define SCB_ICSR REG(0xE000ED04u)
#define ICSR_PENDSTCLR (1u << 25)
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)

#define CORE_HZ 80000000u
#define BAUD 921600u
/* SysTick runs a 100 us tick while idle: on QEMU every tick lets the main
 * loop hand over the next received byte (3x faster receive than a slow
 * tick). The timed region switches to the full 24-bit range. */
#define SYSTICK_IDLE_RELOAD (CORE_HZ / 10000u - 1u)
#define SYSTICK_TIMED_RELOAD 0x00FFFFFFu
#define TRIGGER_PIN 10u /* PA10 (Arduino D2): high during the timed region */

/* Interrupts at or below this priority are masked in the timed region;
 * SysTick stays above it so its wrap count survives long inferences. */
#define PRIO_SYSTICK 0x00u
#define PRIO_USART 0x80u
#define BASEPRI_TIMED 0x40u

static bench_rx_ring rx;
static volatile uint32_t systick_wraps;
static uint32_t timer_start;
static uint32_t wraps_start;
static int32_t have_dwt;

void SysTick_Handler(void);
void USART2_IRQHandler(void);

void SysTick_Handler(void)
{
    systick_wraps++;
}

void USART2_IRQHandler(void)
{
    uint32_t isr = USART2_ISR;
    if (isr & USART_ISR_RXNE) {
        bench_rx_push(&rx, (uint8_t)USART2_RDR);
    }
    if (isr & USART_ISR_ORE) {
        USART2_ICR = USART_ISR_ORE;
    }
}

static void clock_init(void)
{
    RCC_CR |= 1u << 8; /* HSION */
    while ((RCC_CR & (1u << 10)) == 0u) {
    }
    /* 4 wait states before raising the clock; QEMU reads FLASH_ACR as 0, so no readback. */
    FLASH_ACR = (FLASH_ACR & ~0x7u) | 4u;
    RCC_CR &= ~(1u << 24); /* PLLOFF */
    while (RCC_CR & (1u << 25)) {
    }
    /* PLLSRC = HSI16 (2), PLLM = 1 (0), PLLN = 10, PLLR = 2 (0), PLLREN */
    RCC_PLLCFGR = 2u | (0u << 4) | (10u << 8) | (0u << 25) | (1u << 24);
    RCC_CR |= 1u << 24;
    while ((RCC_CR & (1u << 25)) == 0u) {
    }
    RCC_CFGR = (RCC_CFGR & ~0x3u) | 0x3u; /* SW = PLL */
    while (((RCC_CFGR >> 2) & 0x3u) != 0x3u) {
    }
}

static void systick_init(void)
{
    SYST_RVR = SYSTICK_IDLE_RELOAD;
    SYST_CVR = 0;
    /* QEMU keeps SysTick at HCLK/8 after a clock switch unless CLKSOURCE
     * goes 0 -> 1 again; harmless on silicon. */
    SYST_CSR = SYST_CSR_TICKINT | SYST_CSR_ENABLE;
    SYST_CSR = SYST_CSR_TICKINT | SYST_CSR_ENABLE | SYST_CSR_CLKSOURCE;
    SCB_SHPR3 = (SCB_SHPR3 & 0x00FFFFFFu) | ((uint32_t)PRIO_SYSTICK << 24);
}

static void dwt_init(void)
{
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
    for (volatile int32_t i = 0; i < 16; i++) {
    }
    have_dwt = DWT_CYCCNT != 0u; /* reads 0 on QEMU */
#ifdef BENCH_TEST_ASSUME_DWT
    /* Test hook: take the DWT path on QEMU (where CYCCNT reads 0) so the
     * emulator's exact instruction counter can check that path's timed
     * region takes no tick (tests/test_timed_region.py). */
    have_dwt = 1;
#endif
}

static void usart2_init(void)
{
    RCC_AHB2ENR |= 1u << 0;   /* GPIOA */
    RCC_APB1ENR1 |= 1u << 17; /* USART2 */
    /* PA2 TX, PA3 RX: alternate function 7; PA10 trigger: output, low. */
    GPIOA_MODER = (GPIOA_MODER & ~((3u << 4) | (3u << 6) | (3u << (2u * TRIGGER_PIN)))) |
                  (2u << 4) | (2u << 6) | (1u << (2u * TRIGGER_PIN));
    GPIOA_AFRL = (GPIOA_AFRL & ~((0xFu << 8) | (0xFu << 12))) | (7u << 8) | (7u << 12);
    GPIOA_BSRR = 1u << (TRIGGER_PIN + 16u);
    USART2_CR1 = 0;
    USART2_BRR = (CORE_HZ + BAUD / 2u) / BAUD;
    USART2_CR1 = USART_CR1_TE | USART_CR1_RE | USART_CR1_RXNEIE | USART_CR1_UE;
    NVIC_IPR_BYTE(USART2_IRQn) = PRIO_USART;
    NVIC_ISER(USART2_IRQn / 32u) = 1u << (USART2_IRQn % 32u);
}

void board_init(void)
{
    clock_init();
    systick_init();
    dwt_init();
    usart2_init();
    __asm volatile("cpsie i");
}

uint32_t board_clock_hz(void) { return CORE_HZ; }

const char *board_name(void) { return "stm32l452"; }

void board_uart_write(const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        while ((USART2_ISR & USART_ISR_TXE) == 0u) {
        }
        USART2_TDR = data[i];
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
    if (have_dwt) {
        /* The idle tick is no part of the inference: stop its interrupt (and
         * drop one pended meanwhile) until board_timer_stop(). */
        SYST_CSR &= ~SYST_CSR_TICKINT;
        SCB_ICSR = ICSR_PENDSTCLR;
        timer_start = DWT_CYCCNT;
        return;
    }
    SYST_RVR = SYSTICK_TIMED_RELOAD;
    SYST_CVR = 0; /* reloads to SYSTICK_TIMED_RELOAD on the next tick */
    wraps_start = systick_wraps;
    timer_start = SYSTICK_TIMED_RELOAD;
}

uint64_t board_timer_stop(bench_timer_kind *kind)
{
    uint64_t count;
    if (have_dwt) {
        count = (uint32_t)(DWT_CYCCNT - timer_start);
        SYST_CSR |= SYST_CSR_TICKINT;
        *kind = BENCH_TIMER_DWT_CYCLES;
    } else {
        uint32_t wraps;
        uint32_t now;
        do {
            wraps = systick_wraps;
            now = SYST_CVR;
        } while (wraps != systick_wraps);
        SYST_RVR = SYSTICK_IDLE_RELOAD;
        SYST_CVR = 0;
        /* Counts down, SYSTICK_TIMED_RELOAD + 1 ticks per wrap. */
        count = (uint64_t)(wraps - wraps_start) * (SYSTICK_TIMED_RELOAD + 1u) + timer_start - now;
        *kind = BENCH_TIMER_SYSTICK;
    }
    uint32_t zero = 0;
    __asm volatile("msr basepri, %0" ::"r"(zero) : "memory");
    return count;
}

void board_trigger(int32_t level)
{
    GPIOA_BSRR = level ? (1u << TRIGGER_PIN) : (1u << (TRIGGER_PIN + 16u));
}
