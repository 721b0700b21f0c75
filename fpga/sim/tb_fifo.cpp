// FIFO unit test: 20,000 clocks of random pushes and pops on snn_fifo
// (Depth 16) against a software queue: every popped word, valid, full and
// count checked each clock. Prints "ok <words passed>" or the first failure.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>

#include "Vsnn_fifo.h"
#include "verilated.h"

int main(int argc, char **argv)
{
    Verilated::commandArgs(argc, argv);
    const size_t depth = TB_DEPTH;
    Vsnn_fifo top;
    auto tick = [&top]() {
        top.clk_i = 1;
        top.eval();
        top.clk_i = 0;
        top.eval();
    };
    top.rst_i = 1;
    tick();
    top.rst_i = 0;
    top.eval();
    std::deque<uint32_t> model;
    srand(2);
    size_t passed = 0, fills = 0;
    for (int t = 0; t < 20000; t++) {
        // Phases of mostly pushing and mostly popping, so it fills and drains.
        const bool filling = (t / 500) % 2 == 0;
        const bool push = rand() % 100 < (filling ? 80 : 30);
        const bool pop = rand() % 100 < (filling ? 30 : 80);
        const uint32_t word = static_cast<uint32_t>(rand()) & 0xFFu;
        top.push_i = push;
        top.data_i = word;
        top.pop_i = pop;
        top.eval();
        if (top.count_o != model.size()) {
            std::printf("fail: clock %d count %u, expected %zu\n", t, top.count_o, model.size());
            return 1;
        }
        if (top.full_o != (model.size() == depth)) {
            std::printf("fail: clock %d full %u with %zu words\n", t, top.full_o, model.size());
            return 1;
        }
        if (top.valid_o && model.empty()) {
            std::printf("fail: clock %d valid with nothing in it\n", t);
            return 1;
        }
        const bool popped = pop && top.valid_o;
        if (popped) {
            if (top.data_o != model.front()) {
                std::printf("fail: clock %d popped %02x, expected %02x\n", t, top.data_o,
                            model.front());
                return 1;
            }
            model.pop_front();
            passed++;
        }
        if (push && model.size() < depth + (popped ? 1 : 0) && !top.full_o) {
            model.push_back(word);
        }
        if (model.size() == depth) fills++;
        tick();
    }
    if (fills == 0 || passed < 1000) {
        std::printf("fail: the test never filled the FIFO or passed too few words\n");
        return 1;
    }
    std::printf("ok %zu\n", passed);
    return 0;
}
