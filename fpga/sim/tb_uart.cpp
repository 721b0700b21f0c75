// UART unit test: 300 random bytes through snn_uart_tx into snn_uart_rx.
// Checks every byte arrives once and in order, and that the line is 8N1 at
// the parameter's bit time (start bit low for ClksPerBit clocks, data LSB
// first, stop bit high). Prints "ok <bytes>" or the first failure.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "Vuart_loop.h"
#include "verilated.h"

int main(int argc, char **argv)
{
    Verilated::commandArgs(argc, argv);
    const uint32_t bit = TB_CLKS_PER_BIT;
    Vuart_loop top;
    auto tick = [&top]() {
        top.clk_i = 1;
        top.eval();
        top.clk_i = 0;
        top.eval();
    };
    top.rst_i = 1;
    for (int i = 0; i < 4; i++) tick();
    top.rst_i = 0;
    srand(1);
    std::vector<uint8_t> sent, got, line;
    for (int n = 0; n < 300; n++) {
        const uint8_t b = static_cast<uint8_t>(rand());
        while (!top.ready_o) {
            tick();
            line.push_back(top.tx_o);
            if (top.rx_valid_o) got.push_back(top.rx_data_o);
        }
        top.valid_i = 1;
        top.data_i = b;
        tick();
        line.push_back(top.tx_o);
        if (top.rx_valid_o) got.push_back(top.rx_data_o);
        top.valid_i = 0;
        sent.push_back(b);
    }
    for (uint32_t i = 0; i < 20 * bit; i++) {
        tick();
        line.push_back(top.tx_o);
        if (top.rx_valid_o) got.push_back(top.rx_data_o);
    }
    if (got != sent) {
        std::printf("fail: sent %zu bytes, received %zu\n", sent.size(), got.size());
        return 1;
    }
    // Decode the line independently: every frame 8N1 at exactly `bit` clocks per bit.
    size_t i = 0, k = 0;
    while (k < sent.size()) {
        while (i < line.size() && line[i] == 1) i++;
        if (i + 10 * bit > line.size()) break;
        for (uint32_t j = 0; j < bit; j++) {
            if (line[i + j] != 0) {
                std::printf("fail: start bit of byte %zu is %u clocks, not %u\n", k, j, bit);
                return 1;
            }
        }
        uint8_t b = 0;
        for (int d = 0; d < 8; d++) {
            b |= static_cast<uint8_t>(line[i + (1 + d) * bit + bit / 2] << d);
        }
        if (b != sent[k] || line[i + 9 * bit + bit / 2] != 1) {
            std::printf("fail: byte %zu on the line is %02x, sent %02x\n", k, b, sent[k]);
            return 1;
        }
        i += 10 * bit - bit / 2;  // into the stop bit
        k++;
    }
    if (k != sent.size()) {
        std::printf("fail: %zu frames on the line, %zu sent\n", k, sent.size());
        return 1;
    }
    std::printf("ok %zu\n", got.size());
    return 0;
}
