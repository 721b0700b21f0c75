// Verilator harness for bench_snn_top: the design's UART on a pty, so the
// host reaches the simulated core with pyserial exactly as a board's serial
// port. Prints "pty <path>" on stdout once ready; runs until killed.
//
// Bytes from the pty are shifted into uart_rx at the design's bit time
// (BENCH_CLKS_PER_BIT, the ClksPerBit it was built with); uart_tx is sampled
// mid-bit and its bytes written to the pty. While the core says it is idle
// (core_idle: no frame in progress, nothing to send) the harness sleeps in
// poll() instead of clocking, so an idle simulation takes no CPU. Cycle
// counts are the design's own (its RESULT frame carries them).
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include "Vbench_snn_top.h"
#include "Vbench_snn_top___024root.h"
#include "verilated.h"

#ifndef BENCH_CLKS_PER_BIT
#error "build with -DBENCH_CLKS_PER_BIT=<the design's ClksPerBit>"
#endif

namespace {

constexpr uint32_t kBit = BENCH_CLKS_PER_BIT;

int open_pty(char *name, size_t size, int *slave_out)
{
    const int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        return -1;
    }
    if (ptsname_r(master, name, size) != 0) {
        return -1;
    }
    // Keep a slave open ourselves: the master then never sees a hang-up when
    // the host closes its side between runs. Raw: bytes pass untouched.
    const int slave = open(name, O_RDWR | O_NOCTTY);
    if (slave < 0) {
        return -1;
    }
    struct termios tio;
    if (tcgetattr(slave, &tio) != 0) {
        return -1;
    }
    cfmakeraw(&tio);
    if (tcsetattr(slave, TCSANOW, &tio) != 0) {
        return -1;
    }
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    *slave_out = slave;
    return master;
}

// Shifts bytes out as 8N1 frames, one bit every kBit clocks.
struct Serializer {
    std::deque<uint8_t> queue;
    uint32_t bit = 0;   // 0 = idle, 1 start, 2..9 data, 10 stop
    uint32_t clocks = 0;
    uint8_t byte = 0;

    bool busy() const { return bit != 0 || !queue.empty(); }

    uint8_t line()
    {
        if (bit == 0) {
            if (queue.empty()) {
                return 1;
            }
            byte = queue.front();
            queue.pop_front();
            bit = 1;
            clocks = 0;
        }
        const uint8_t level = bit == 1 ? 0 : (bit <= 9 ? (byte >> (bit - 2)) & 1u : 1);
        if (++clocks == kBit) {
            clocks = 0;
            bit = bit == 10 ? 0 : bit + 1;
        }
        return level;
    }
};

// Samples 8N1 frames in the middle of each bit.
struct Deserializer {
    uint32_t bit = 0;  // 0 = waiting for a start bit
    uint32_t clocks = 0;
    uint8_t byte = 0;

    // Returns true with *out set when a byte is complete.
    bool sample(uint8_t level, uint8_t *out)
    {
        if (bit == 0) {
            if (level == 0) {
                bit = 1;
                clocks = kBit / 2;
            }
            return false;
        }
        if (clocks != 0) {
            clocks--;
            return false;
        }
        clocks = kBit - 1;
        if (bit == 1) {
            bit = level == 0 ? 2 : 0;  // a glitch, not a start bit
            return false;
        }
        if (bit <= 9) {
            byte = static_cast<uint8_t>((byte >> 1) | (level << 7));
            bit++;
            return false;
        }
        bit = 0;
        if (level == 1) {
            *out = byte;
            return true;
        }
        return false;  // framing error: dropped, as a real UART would
    }
};

}  // namespace

int main(int argc, char **argv)
{
    Verilated::commandArgs(argc, argv);
    char name[128];
    int slave = -1;
    const int master = open_pty(name, sizeof name, &slave);
    if (master < 0) {
        std::perror("bench-snn-sim: cannot open a pty");
        return 1;
    }
    auto *top = new Vbench_snn_top;
    top->clk = 0;
    top->uart_rx = 1;
    top->eval();
    // Through the design's power-on reset before any byte is let in.
    for (int i = 0; i < 64; i++) {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
    }
    std::printf("pty %s\n", name);
    std::fflush(stdout);

    const bool debug = std::getenv("BENCH_SIM_DEBUG") != nullptr;  // a byte trace on stderr
    Serializer ser;
    Deserializer des;
    uint8_t buf[4096];
    uint64_t cycle = 0;
    for (;;) {
        const bool idle = top->rootp->bench_snn_top__DOT__core_idle && !ser.busy() &&
                          des.bit == 0;
        if (idle || (cycle & 1023u) == 0) {
            struct pollfd pfd = {master, POLLIN, 0};
            // Idle: sleep until the host writes. Otherwise only look.
            const int ready = poll(&pfd, 1, idle ? 100 : 0);
            if (ready > 0 && (pfd.revents & POLLIN)) {
                const ssize_t n = read(master, buf, sizeof buf);
                for (ssize_t i = 0; i < n; i++) {
                    ser.queue.push_back(buf[i]);
                }
                if (debug && n > 0) {
                    std::fprintf(stderr, "rx %zd bytes at cycle %llu\n", n,
                                 static_cast<unsigned long long>(cycle));
                }
            }
            if (idle && ser.queue.empty()) {
                continue;
            }
        }
        top->uart_rx = ser.line();
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
        cycle++;
        uint8_t out;
        if (des.sample(top->uart_tx, &out)) {
            if (debug) {
                std::fprintf(stderr, "tx %02x at cycle %llu\n", out,
                             static_cast<unsigned long long>(cycle));
            }
            while (write(master, &out, 1) < 0 && errno == EAGAIN) {
                usleep(100);
            }
        }
    }
}
