/*
 * The protocol over Arm semihosting, for QEMU only (a real core without a
 * debugger faults on BKPT 0xAB). QEMU maps SYS_OPEN(":tt") to its own
 * stdin/stdout, which the host connects to a pty. A read blocks inside one
 * trap, so no virtual time passes while the device waits for the host, and
 * the timed region never contains a trap.
 */
#include <stdint.h>

#include "bench_link.h"

#define SYS_OPEN 0x01
#define SYS_WRITE 0x05
#define SYS_READ 0x06
#define SYS_EXIT 0x18
#define ADP_STOPPED_APPLICATION_EXIT 0x20026
#define OPEN_MODE_R 0
#define OPEN_MODE_W 4

static uint8_t rx_buf[4096];
static uint32_t rx_len;
static uint32_t rx_pos;
static int32_t handle_in = -1;
static int32_t handle_out = -1;

static int32_t semihost(int32_t op, const void *arg)
{
    register int32_t r0 __asm("r0") = op;
    register const void *r1 __asm("r1") = arg;
    __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void open_console(void)
{
    static const char tt[] = ":tt";
    if (handle_in < 0) {
        const uint32_t in_args[3] = {(uint32_t)(uintptr_t)tt, OPEN_MODE_R, sizeof tt - 1u};
        const uint32_t out_args[3] = {(uint32_t)(uintptr_t)tt, OPEN_MODE_W, sizeof tt - 1u};
        handle_in = semihost(SYS_OPEN, in_args);
        handle_out = semihost(SYS_OPEN, out_args);
    }
}

int32_t link_getc(void)
{
    if (rx_pos == rx_len) {
        return -1;
    }
    return rx_buf[rx_pos++];
}

void link_idle(void)
{
    open_console();
    const uint32_t args[3] = {(uint32_t)handle_in, (uint32_t)(uintptr_t)rx_buf, sizeof rx_buf};
    int32_t left = semihost(SYS_READ, args); /* returns the bytes NOT read */
    if (left < 0 || (uint32_t)left >= sizeof rx_buf) {
        /* The host closed its end: stop the emulator instead of spinning. */
        (void)semihost(SYS_EXIT, (const void *)ADP_STOPPED_APPLICATION_EXIT);
    }
    rx_len = sizeof rx_buf - (uint32_t)left;
    rx_pos = 0;
}

void link_write(const uint8_t *data, uint32_t len)
{
    open_console();
    const uint32_t args[3] = {(uint32_t)handle_out, (uint32_t)(uintptr_t)data, len};
    (void)semihost(SYS_WRITE, args);
}
