// snn_lif_unit under test: one neuron update per input line, read from
// stdin as integers (acc req_shift act_min act_max v decay_mode decay_shift
// decay_mult in_mult in_shift offset threshold v_reset reset fire_ge
// pre_reset post_reset lo hi); prints "v spike" per line. The Python test
// compares with harness/quant/lif.py and reference.py.
#include <cstdint>
#include <cstdio>

#include "Vsnn_lif_unit.h"
#include "verilated.h"

int main(int argc, char **argv)
{
    Verilated::commandArgs(argc, argv);
    Vsnn_lif_unit top;
    long long f[19];
    for (;;) {
        for (int i = 0; i < 19; i++) {
            if (std::scanf("%lld", &f[i]) != 1) {
                return 0;
            }
        }
        top.acc_i = static_cast<uint32_t>(f[0]);
        top.req_shift_i = static_cast<uint8_t>(f[1]);
        top.act_min_i = static_cast<uint32_t>(f[2]);
        top.act_max_i = static_cast<uint32_t>(f[3]);
        top.v_i = static_cast<uint16_t>(f[4]);
        top.decay_mode_i = static_cast<uint8_t>(f[5]);
        top.decay_shift_i = static_cast<uint8_t>(f[6]);
        top.decay_mult_i = static_cast<uint16_t>(f[7]);
        top.in_mult_i = static_cast<uint16_t>(f[8]);
        top.in_shift_i = static_cast<uint8_t>(f[9]);
        top.offset_i = static_cast<uint32_t>(f[10]);
        top.threshold_i = static_cast<uint32_t>(f[11]);
        top.v_reset_i = static_cast<uint32_t>(f[12]);
        top.reset_i = static_cast<uint8_t>(f[13]);
        top.fire_ge_i = static_cast<uint8_t>(f[14]);
        top.pre_reset_i = static_cast<uint8_t>(f[15]);
        top.post_reset_i = static_cast<uint8_t>(f[16]);
        top.lo_i = static_cast<uint32_t>(f[17]);
        top.hi_i = static_cast<uint32_t>(f[18]);
        top.eval();
        std::printf("%d %d\n", static_cast<int16_t>(top.v_o), top.spike_o);
    }
}
