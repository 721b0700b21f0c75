/*
 * Board support for the SparkFun Edge (Ambiq Apollo3 Blue), written from the
 * Apollo3 Blue datasheet's register map; no AmbiqSuite SDK.
 *
 * Clock: HFRC at 48 MHz (CLKGEN CCTRL.CORESEL = HFRC; reset runs at HFRC/2),
 * flash cache on. Console: UART0 on pads 48 (TX) / 49 (RX), function select 0,
 * clocked at 24 MHz; receive is interrupt driven (FIFO level + receive
 * timeout) into a ring buffer and the idle loop sleeps in WFI.
 * Timer: DWT CYCCNT, core cycles at 48 MHz. The timed region takes no
 * interrupt that is not part of the inference: SysTick is never started and
 * the UART's interrupt is masked by BASEPRI. Trigger: pad 46 (red LED).
 */
#include <stdint.h>

#include "bench_board.h"
#include "bench_rx_ring.h"

#define REG(addr) (*(volatile uint32_t *)(addr))

/* CLKGEN: CCTRL is write protected by CLKKEY. */
#define CLKGEN_BASE 0x40004000u
#define CLKGEN_CLKKEY REG(CLKGEN_BASE + 0x14u)
#define CLKGEN_CCTRL REG(CLKGEN_BASE + 0x18u)
#define CLKGEN_KEY 0x47u
#define CCTRL_CORESEL_HFRC 0u /* 1 = HFRC/2, the reset value */

/* PWRCTRL: UART0 sits in the HCPA power domain. */
#define PWRCTRL_BASE 0x40021000u
#define PWRCTRL_DEVPWREN REG(PWRCTRL_BASE + 0x08u)
#define PWRCTRL_DEVPWRSTATUS REG(PWRCTRL_BASE + 0x18u)
#define DEVPWREN_PWRUART0 (1u << 7)
#define DEVPWRSTATUS_HCPA (1u << 2)

/* CACHECTRL: direct mapped, 128-bit lines, 1024 entries, I and D caching. */
#define CACHECTRL_CACHECFG REG(0x40018000u)
#define CACHECFG_ON ((1u << 0) | (0x8u << 4) | (1u << 8) | (1u << 9) | (1u << 10) | (1u << 20))

/* GPIO: one byte per pad in PADREGx (PULL b0, INPEN b1, STRNG b2, FNCSEL b3-5),
 * one nibble per pad in CFGx (INCFG b0, OUTCFG b1-2, INTD b3); PADKEY unlocks. */
#define GPIO_BASE 0x40010000u
#define GPIO_PADREG(pad) REG(GPIO_BASE + 4u * ((pad) / 4u))
#define GPIO_CFG(pad) REG(GPIO_BASE + 0x40u + 4u * ((pad) / 8u))
#define GPIO_PADKEY REG(GPIO_BASE + 0x60u)
#define GPIO_WTSB REG(GPIO_BASE + 0x94u)
#define GPIO_WTCB REG(GPIO_BASE + 0x9Cu)
#define GPIO_KEY 0x73u
#define PAD_INPEN (1u << 1)
#define PAD_FNCSEL(f) ((uint32_t)(f) << 3)
#define CFG_OUT_PUSHPULL (1u << 1)
#define PAD_UART0_TX 48u /* FNCSEL 0 = UART0TX */
#define PAD_UART0_RX 49u /* FNCSEL 0 = UART0RX */
#define PAD_TRIGGER 46u  /* FNCSEL 3 = GPIO46, the red LED */
#define FNCSEL_GPIO 3u

/* UART0: an ARM PL011 with Ambiq's clock select in CR. */
#define UART0_BASE 0x4001C000u
#define UART0_DR REG(UART0_BASE + 0x00u)
#define UART0_RSR REG(UART0_BASE + 0x04u)
#define UART0_FR REG(UART0_BASE + 0x18u)
#define UART0_IBRD REG(UART0_BASE + 0x24u)
#define UART0_FBRD REG(UART0_BASE + 0x28u)
#define UART0_LCRH REG(UART0_BASE + 0x2Cu)
#define UART0_CR REG(UART0_BASE + 0x30u)
#define UART0_IFLS REG(UART0_BASE + 0x34u)
#define UART0_IER REG(UART0_BASE + 0x38u)
#define UART0_MIS REG(UART0_BASE + 0x40u)
#define UART0_IEC REG(UART0_BASE + 0x44u)
#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)
#define LCRH_FEN (1u << 4)
#define LCRH_WLEN8 (3u << 5)
#define CR_UARTEN (1u << 0)
#define CR_CLKEN (1u << 3)
#define CR_CLKSEL_24MHZ (1u << 4)
#define CR_TXE (1u << 8)
#define CR_RXE (1u << 9)
#define INT_RX (1u << 4)
#define INT_RT (1u << 6)
#define INT_OE (1u << 10)
#define UART0_IRQn 15u
#define UART_CLK_HZ 24000000u

#define NVIC_ISER(n) REG(0xE000E100u + 4u * (n))
#define NVIC_IPR_BYTE(n) (*(volatile uint8_t *)(0xE000E400u + (n)))
#define DEMCR REG(0xE000EDFCu)
#define DWT_CTRL REG(0xE0001000u)
#define DWT_CYCCNT REG(0xE0001004u)

#define CORE_HZ 48000000u
#define BAUD 921600u
/* 3 NVIC priority bits: UART at 0x80 is masked in the timed region. */
#define PRIO_UART 0x80u
#define BASEPRI_TIMED 0x40u
#define POWER_WAIT_LOOPS 100000u

static bench_rx_ring rx;
static uint32_t timer_start;
static int32_t have_dwt;

void UART0_IRQHandler(void);

void UART0_IRQHandler(void)
{
    uint32_t mis = UART0_MIS;
    UART0_IEC = mis;
    /* Drain the FIFO: a level interrupt leaves bytes below the level, the
     * receive timeout picks those up. */
    while ((UART0_FR & FR_RXFE) == 0u) {
        bench_rx_push(&rx, (uint8_t)UART0_DR);
    }
    if (mis & INT_OE) {
        UART0_RSR = 0; /* clear the error status */
    }
}

static void clock_init(void)
{
    CLKGEN_CLKKEY = CLKGEN_KEY;
    CLKGEN_CCTRL = CCTRL_CORESEL_HFRC;
    CLKGEN_CLKKEY = 0;
    CACHECTRL_CACHECFG = CACHECFG_ON;
}

static void dwt_init(void)
{
    DEMCR |= 1u << 24; /* TRCENA */
    DWT_CYCCNT = 0;
    DWT_CTRL |= 1u;
    for (volatile int32_t i = 0; i < 16; i++) {
    }
    have_dwt = DWT_CYCCNT != 0u; /* an emulator without a DWT model reads 0 */
}

static void pad_config(uint32_t pad, uint32_t padreg, uint32_t cfg)
{
    uint32_t shift = 8u * (pad % 4u);
    GPIO_PADREG(pad) = (GPIO_PADREG(pad) & ~(0xFFu << shift)) | (padreg << shift);
    shift = 4u * (pad % 8u);
    GPIO_CFG(pad) = (GPIO_CFG(pad) & ~(0xFu << shift)) | (cfg << shift);
}

static void pins_init(void)
{
    GPIO_PADKEY = GPIO_KEY;
    pad_config(PAD_UART0_TX, PAD_FNCSEL(0), 0);
    pad_config(PAD_UART0_RX, PAD_FNCSEL(0) | PAD_INPEN, 0);
    pad_config(PAD_TRIGGER, PAD_FNCSEL(FNCSEL_GPIO), CFG_OUT_PUSHPULL);
    GPIO_PADKEY = 0;
    GPIO_WTCB = 1u << (PAD_TRIGGER - 32u);
}

static void uart0_init(void)
{
    PWRCTRL_DEVPWREN |= DEVPWREN_PWRUART0;
    /* Bounded: microseconds on silicon; an emulator may not model the status. */
    for (uint32_t i = 0; i < POWER_WAIT_LOOPS; i++) {
        if (PWRCTRL_DEVPWRSTATUS & DEVPWRSTATUS_HCPA) {
            break;
        }
    }
    UART0_CR = 0;
    UART0_CR = CR_CLKEN | CR_CLKSEL_24MHZ;
    /* Divisor = 24 MHz / (16 x baud) = 1 + 40/64 at 921600 (+0.16%). */
    uint32_t div64 = (4u * UART_CLK_HZ + BAUD / 2u) / BAUD; /* 64 x divisor */
    UART0_IBRD = div64 / 64u;
    UART0_FBRD = div64 % 64u;
    UART0_LCRH = LCRH_WLEN8 | LCRH_FEN; /* after the divisors, as the PL011 latches them */
    UART0_IFLS = 0;                     /* RX interrupt at 1/8 full */
    UART0_IEC = 0x7FFu;
    UART0_IER = INT_RX | INT_RT | INT_OE;
    UART0_CR = CR_CLKEN | CR_CLKSEL_24MHZ | CR_UARTEN | CR_TXE | CR_RXE;
    NVIC_IPR_BYTE(UART0_IRQn) = PRIO_UART;
    NVIC_ISER(UART0_IRQn / 32u) = 1u << (UART0_IRQn % 32u);
}

void board_init(void)
{
    clock_init();
    dwt_init();
    pins_init();
    uart0_init();
    __asm volatile("cpsie i" ::: "memory");
}

uint32_t board_clock_hz(void) { return CORE_HZ; }

const char *board_name(void) { return "apollo3"; }

void board_uart_write(const uint8_t *data, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        while (UART0_FR & FR_TXFF) {
        }
        UART0_DR = data[i];
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
    timer_start = DWT_CYCCNT;
}

uint64_t board_timer_stop(bench_timer_kind *kind)
{
    uint32_t now = DWT_CYCCNT;
    uint32_t zero = 0;
    __asm volatile("msr basepri, %0" ::"r"(zero) : "memory");
    *kind = have_dwt ? BENCH_TIMER_DWT_CYCLES : BENCH_TIMER_NONE;
    return have_dwt ? (uint64_t)(uint32_t)(now - timer_start) : 0u;
}

void board_trigger(int32_t level)
{
    if (level) {
        GPIO_WTSB = 1u << (PAD_TRIGGER - 32u);
    } else {
        GPIO_WTCB = 1u << (PAD_TRIGGER - 32u);
    }
}
