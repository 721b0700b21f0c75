/*
 * cm4_timing.h - "cortex-m4 v1": a cycle estimate for Cortex-M4 Thumb-2 code,
 * per instruction class, from the Cortex-M4 Technical Reference Manual (ARM
 * DDI 0439, "Processor instruction timings" and, for the FPU, "FPU
 * instruction set"). Used by bench_insn.c at translation time: each
 * instruction is decoded once, from its bytes, when QEMU translates it.
 *
 * Why bytes and not qemu_plugin_insn_disas(): the mnemonic text depends on
 * whether QEMU was built with capstone, and on its spelling (IT suffixes,
 * .w, condition codes); the encodings are fixed by the architecture, and
 * the few classes we need are a handful of masks.
 *
 * The model (change it => bump CM4_MODEL):
 *   - data processing, MUL/MLA/MLS, SMULL/UMULL/SMLAL/UMLAL, SMLAxy, SMLAD
 *     and the other DSP ops, saturation, bitfield, extend, IT, NOP: 1
 *   - SDIV/UDIV: 2..12, early termination: 2 + (significant quotient bits
 *     + 3) / 4 when the operands are known (bench_insn.c reads them), else
 *     CM4_DIV_DEFAULT
 *   - LDR/LDRB/LDRH/LDRSB/LDRSH (immediate, register, literal): 2, or 1
 *     when it directly follows a single load without writeback whose
 *     destination it does not use for its address (the TRM's pipelining
 *     rule for neighbouring loads and stores)
 *   - STR/STRB/STRH with an immediate offset: 1 ("always one cycle"); with a
 *     register offset: 2, or 1 after such a load; nothing pipelines after a
 *     store
 *   - a load or store whose address uses the register the instruction just
 *     before wrote as a data-processing (or multiply) result: 1 more (the
 *     TRM's "no forwarding path" stall of the address generation)
 *   - LDRD/STRD: 1 + 2; LDM/STM/PUSH/POP: 1 + N registers; LDREX/STREX: 2
 *   - branches: B, BL, BX, BLX: 1 + P; B<cond>, CBZ/CBNZ and branches in an
 *     IT block: 1 not taken, 1 + P taken; LDR PC: 2 + P; POP/LDM with PC:
 *     1 + N + P; MOV/ADD to PC: 1 + P; TBB/TBH: 2 + P. P (the pipeline
 *     refill, 1..3 in the TRM) is taken as CM4_REFILL = 2.
 *   - FPU: VADD/VSUB/VMUL/VNMUL/VABS/VNEG/VCMP/VCVT/VMOV/VMRS/VMSR: 1;
 *     VMLA/VMLS/VNMLA/VNMLS/VFMA/VFMS/VFNMA/VFNMS: 3; VDIV, VSQRT: 14;
 *     VLDR/VSTR: 2 (3 for a D register); VLDM/VSTM/VPUSH/VPOP: 1 + N words;
 *     VMOV of two core registers: 2
 *   - memory: zero wait states. Code from flash: the board's flash
 *     accelerator is assumed to hide its wait states (boards/<b>/board.toml
 *     [timing] states the assumption for each board).
 * Not modelled: IT folded onto a preceding 16-bit instruction (charged 1),
 * LDR literal contention with fetch,
 * the refill's dependence on target alignment, pipelining across
 * translation blocks, conditional instructions that fail their condition
 * in an IT block (charged as executed), exception entry/exit, bus stalls.
 */
#ifndef BENCH_CM4_TIMING_H
#define BENCH_CM4_TIMING_H

#include <stddef.h>
#include <stdint.h>

#define CM4_MODEL "cortex-m4 v1"
#define CM4_REFILL 2u
#define CM4_DIV_DEFAULT 7u /* the middle of 2..12, when operands are unknown */

enum cm4_branch {
    CM4_NOT_BRANCH = 0,
    CM4_ALWAYS,      /* taken every time: its cost includes P */
    CM4_CONDITIONAL, /* its cost includes P; not taken costs P less */
};

enum cm4_div { CM4_NO_DIV = 0, CM4_UDIV, CM4_SDIV };

/* What the previous instruction of the same block leaves for the next one. */
typedef struct {
    int32_t pipe_rt; /* destination of a pipelinable load, else -1 */
    int32_t alu_rd;  /* core register a data-processing instruction just wrote, else -1 */
    uint32_t it_left; /* instructions still inside an IT block */
} cm4_state;

typedef struct {
    uint32_t cycles;
    enum cm4_branch branch;
    enum cm4_div div; /* cycles then exclude the divide's own; div_rn/rm name its operands */
    uint32_t div_rn;
    uint32_t div_rm;
} cm4_cost;

static inline void cm4_reset(cm4_state *st)
{
    st->pipe_rt = -1;
    st->alu_rd = -1;
    st->it_left = 0;
}

/* The AGU stall: an address computed from the register a data-processing
 * instruction wrote just before waits one cycle (no forwarding path). */
static inline uint32_t cm4_agu(const cm4_state *st, uint32_t rn, int32_t rm)
{
    return (st->alu_rd >= 0 && ((uint32_t)st->alu_rd == rn || st->alu_rd == rm)) ? 1u : 0u;
}

/* The core register a 16-bit data-processing instruction writes, or -1. */
static inline int32_t cm4_rd16(uint32_t hw)
{
    if ((hw & 0xE000u) == 0x0000u) { /* shift by immediate, ADD/SUB register or imm3 */
        return (int32_t)(hw & 7u);
    }
    if ((hw & 0xE000u) == 0x2000u) { /* MOV/CMP/ADD/SUB imm8 */
        return ((hw >> 11) & 3u) == 1u ? -1 : (int32_t)((hw >> 8) & 7u);
    }
    if ((hw & 0xFC00u) == 0x4000u) { /* data processing; TST, CMP, CMN write nothing */
        uint32_t op = (hw >> 6) & 0xFu;
        return (op == 0x8u || op == 0xAu || op == 0xBu) ? -1 : (int32_t)(hw & 7u);
    }
    if ((hw & 0xFF00u) == 0x4400u || (hw & 0xFF00u) == 0x4600u) { /* ADD/MOV high */
        return (int32_t)(((hw >> 4) & 8u) | (hw & 7u));
    }
    if ((hw & 0xF000u) == 0xA000u) { /* ADR, ADD Rd, SP, #imm */
        return (int32_t)((hw >> 8) & 7u);
    }
    if ((hw & 0xFF00u) == 0xB000u) { /* ADD/SUB SP, SP, #imm */
        return 13;
    }
    if ((hw & 0xFF00u) == 0xB200u || (hw & 0xFF00u) == 0xBA00u) { /* extend, reverse */
        return (int32_t)(hw & 7u);
    }
    return -1;
}

/* The core register a 32-bit data-processing or multiply instruction writes, or -1. */
static inline int32_t cm4_rd32(uint32_t hw1, uint32_t hw2)
{
    uint32_t rd = (hw2 >> 8) & 0xFu;
    int dp = (hw1 & 0xFE00u) == 0xEA00u                       /* shifted register */
             || ((hw1 & 0xF800u) == 0xF000u && !(hw2 & 0x8000u)) /* immediate */
             || (hw1 & 0xFF00u) == 0xFA00u                       /* register */
             || (hw1 & 0xFF00u) == 0xFB00u;                      /* multiply, divide */
    return (dp && rd != 15u) ? (int32_t)rd : -1;
}

static inline uint32_t cm4_popcount(uint32_t v) { return (uint32_t)__builtin_popcount(v); }

/* Early termination: the divider retires about 4 quotient bits a cycle. */
static inline uint32_t cm4_div_cycles(uint32_t n, uint32_t d, int is_signed)
{
    if (is_signed) {
        n = (int32_t)n < 0 ? 0u - n : n;
        d = (int32_t)d < 0 ? 0u - d : d;
    }
    if (d == 0u || n < d) {
        return 2u;
    }
    uint32_t bits = (uint32_t)(__builtin_clz(d) - __builtin_clz(n)) + 1u;
    uint32_t c = 2u + (bits + 3u) / 4u;
    return c > 12u ? 12u : c;
}

/* A single load (pipelinable unless it writes back or loads the PC). */
static inline uint32_t cm4_load(cm4_state *st, uint32_t rt, uint32_t rn, int32_t rm,
                                int writeback)
{
    uint32_t c = 2u + cm4_agu(st, rn, rm);
    if (st->pipe_rt >= 0 && (uint32_t)st->pipe_rt != rn && st->pipe_rt != rm) {
        c = 1u;
    }
    st->pipe_rt = (writeback || rt == 15u) ? -1 : (int32_t)rt;
    return c;
}

static inline uint32_t cm4_store(cm4_state *st, uint32_t rn, int32_t rm)
{
    uint32_t c = 1u; /* immediate offset: always one cycle */
    if (rm >= 0) {
        c = (st->pipe_rt >= 0 && (uint32_t)st->pipe_rt != rn && st->pipe_rt != rm) ? 1u : 2u;
    }
    c += cm4_agu(st, rn, rm);
    st->pipe_rt = -1;
    return c;
}

/* 16-bit Thumb instructions. */
static inline cm4_cost cm4_thumb16(cm4_state *st, uint32_t hw)
{
    cm4_cost k = {1u, CM4_NOT_BRANCH, CM4_NO_DIV, 0u, 0u};
    int32_t pipe = -1;
    if ((hw & 0xF800u) == 0x4800u) { /* LDR literal */
        k.cycles = cm4_load(st, (hw >> 8) & 7u, 15u, -1, 0);
        return k;
    }
    if ((hw & 0xF000u) == 0x5000u) { /* load/store, register offset */
        uint32_t op = (hw >> 9) & 7u, rt = hw & 7u, rn = (hw >> 3) & 7u;
        int32_t rm = (int32_t)((hw >> 6) & 7u);
        k.cycles = op <= 2u ? cm4_store(st, rn, rm) : cm4_load(st, rt, rn, rm, 0);
        return k;
    }
    if ((hw & 0xE000u) == 0x6000u || (hw & 0xF000u) == 0x8000u) { /* imm5 word/byte/half */
        uint32_t rt = hw & 7u, rn = (hw >> 3) & 7u;
        k.cycles = (hw & 0x0800u) ? cm4_load(st, rt, rn, -1, 0) : cm4_store(st, rn, -1);
        return k;
    }
    if ((hw & 0xF000u) == 0x9000u) { /* SP-relative */
        k.cycles = (hw & 0x0800u) ? cm4_load(st, (hw >> 8) & 7u, 13u, -1, 0)
                                  : cm4_store(st, 13u, -1);
        return k;
    }
    if ((hw & 0xFE00u) == 0xB400u) { /* PUSH */
        k.cycles = 1u + cm4_popcount(hw & 0x1FFu) + cm4_agu(st, 13u, -1);
    } else if ((hw & 0xFE00u) == 0xBC00u) { /* POP */
        k.cycles = 1u + cm4_popcount(hw & 0x1FFu) + cm4_agu(st, 13u, -1);
        if (hw & 0x100u) {
            k.cycles += CM4_REFILL;
            k.branch = CM4_ALWAYS;
        }
    } else if ((hw & 0xF000u) == 0xC000u) { /* LDM/STM */
        k.cycles = 1u + cm4_popcount(hw & 0xFFu) + cm4_agu(st, (hw >> 8) & 7u, -1);
    } else if ((hw & 0xF500u) == 0xB100u) { /* CBZ/CBNZ */
        k.cycles = 1u + CM4_REFILL;
        k.branch = CM4_CONDITIONAL;
    } else if ((hw & 0xFF00u) == 0xBF00u && (hw & 0xFu) != 0u) { /* IT */
        st->pipe_rt = -1;
        st->it_left = 4u - (uint32_t)__builtin_ctz(hw & 0xFu); /* the IT itself is not inside */
    } else if ((hw & 0xF000u) == 0xD000u && ((hw >> 8) & 0xEu) != 0xEu) { /* B<cond> */
        k.cycles = 1u + CM4_REFILL;
        k.branch = CM4_CONDITIONAL;
    } else if ((hw & 0xF800u) == 0xE000u) { /* B */
        k.cycles = 1u + CM4_REFILL;
        k.branch = CM4_ALWAYS;
    } else if ((hw & 0xFF00u) == 0x4700u) { /* BX, BLX register */
        k.cycles = 1u + CM4_REFILL;
        k.branch = CM4_ALWAYS;
    } else if (((hw & 0xFF00u) == 0x4400u || (hw & 0xFF00u) == 0x4600u) &&
               (hw & 0x87u) == 0x87u) { /* ADD/MOV pc, Rm */
        k.cycles = 1u + CM4_REFILL;
        k.branch = CM4_ALWAYS;
    }
    st->pipe_rt = pipe;
    return k;
}

/* 32-bit Thumb-2 instructions: hw1 is the first halfword. */
static inline cm4_cost cm4_thumb32(cm4_state *st, uint32_t hw1, uint32_t hw2)
{
    cm4_cost k = {1u, CM4_NOT_BRANCH, CM4_NO_DIV, 0u, 0u};
    uint32_t rn = hw1 & 0xFu;
    if ((hw1 & 0xFE40u) == 0xE800u) { /* LDM/STM (and PUSH.W/POP.W) */
        k.cycles = 1u + cm4_popcount(hw2) + cm4_agu(st, rn, -1);
        if ((hw1 & 0x10u) && (hw2 & 0x8000u)) {
            k.cycles += CM4_REFILL;
            k.branch = CM4_ALWAYS;
        }
    } else if ((hw1 & 0xFE40u) == 0xE840u) { /* dual, exclusive, table branch */
        if (hw1 & 0x0120u) { /* LDRD/STRD (P or W set) */
            k.cycles = 3u + cm4_agu(st, rn, -1);
        } else if ((hw1 & 0xFFF0u) == 0xE8D0u && (hw2 & 0xFFE0u) == 0xF000u) { /* TBB/TBH */
            k.cycles = 2u + CM4_REFILL;
            k.branch = CM4_ALWAYS;
        } else { /* LDREX/STREX and friends */
            k.cycles = 2u;
        }
    } else if ((hw1 & 0xEC00u) == 0xEC00u) { /* coprocessor: the FPU */
        if ((hw1 & 0xFE00u) == 0xEC00u && (hw1 & 0x01A0u) == 0x0000u && (hw1 & 0x40u)) {
            k.cycles = 2u; /* VMOV two core registers <-> two S / one D */
        } else if ((hw1 & 0xEE00u) == 0xEC00u) { /* extension register load/store */
            uint32_t p = (hw1 >> 8) & 1u, w = (hw1 >> 5) & 1u;
            if (p && !w) {
                k.cycles = ((hw2 >> 8) & 1u) ? 3u : 2u; /* VLDR/VSTR (.64: 3) */
            } else {
                k.cycles = 1u + (hw2 & 0xFFu); /* VLDM/VSTM/VPUSH/VPOP: imm8 = words */
            }
            k.cycles += cm4_agu(st, rn, -1);
        } else if ((hw1 & 0xEF00u) == 0xEE00u && (hw2 & 0x10u) == 0u &&
                   (hw2 & 0x0E00u) == 0x0A00u) { /* VFP data processing */
            uint32_t opc1 = (hw1 >> 4) & 0xBu, opc2 = hw1 & 0xFu;
            switch (opc1) {
            case 0x0u: case 0x1u: case 0x9u: case 0xAu: /* VMLA/VMLS, VNMLA/S, VFNMA/S, VFMA/S */
                k.cycles = 3u;
                break;
            case 0x8u: /* VDIV */
                k.cycles = 14u;
                break;
            case 0xBu: /* VSQRT among the others */
                k.cycles = (opc2 == 1u && (hw2 & 0xC0u) == 0xC0u) ? 14u : 1u;
                break;
            default:
                k.cycles = 1u;
                break;
            }
        }
    } else if ((hw1 & 0xF800u) == 0xF000u && (hw2 & 0x8000u)) { /* branches, misc control */
        if ((hw2 & 0x5000u) == 0x0000u) {
            if (((hw1 >> 7) & 7u) != 7u) { /* B<cond>.W */
                k.cycles = 1u + CM4_REFILL;
                k.branch = CM4_CONDITIONAL;
            }
        } else { /* B.W, BL */
            k.cycles = 1u + CM4_REFILL;
            k.branch = CM4_ALWAYS;
        }
    } else if ((hw1 & 0xFE00u) == 0xF800u) { /* single load/store: 1111 100x */
        int load = (hw1 & 0x10u) != 0u;
        uint32_t rt = (hw2 >> 12) & 0xFu;
        int32_t rm = -1;
        int writeback = 0;
        if (rn != 15u && !(hw1 & 0x80u)) {
            if (hw2 & 0x800u) { /* imm8, P U W */
                writeback = (hw2 & 0x100u) != 0u || (hw2 & 0x400u) == 0u;
            } else if ((hw2 & 0xFC0u) == 0u) { /* register offset */
                rm = (int32_t)(hw2 & 0xFu);
            }
        }
        if (load) {
            k.cycles = cm4_load(st, rt, rn, rm, writeback);
            if (rt == 15u && ((hw1 >> 5) & 3u) == 2u) { /* LDR pc (byte/half to pc: PLD/PLI) */
                k.cycles = 2u + CM4_REFILL;
                k.branch = CM4_ALWAYS;
            }
        } else {
            k.cycles = cm4_store(st, rn, rm);
        }
        return k;
    } else if ((hw1 & 0xFF80u) == 0xFB80u) { /* long multiply, divide */
        uint32_t op1 = (hw1 >> 4) & 7u, op2 = (hw2 >> 4) & 0xFu;
        if ((op1 == 1u || op1 == 3u) && op2 == 0xFu) {
            k.cycles = 0u;
            k.div = op1 == 1u ? CM4_SDIV : CM4_UDIV;
            k.div_rn = rn;
            k.div_rm = hw2 & 0xFu;
        }
    } else if ((hw1 & 0xFBF0u) == 0xF1D0u && ((hw2 >> 8) & 0xFu) == 0xFu) {
        /* SUBS pc, lr, #imm (exception return): a branch */
        k.cycles = 1u + CM4_REFILL;
        k.branch = CM4_ALWAYS;
    }
    st->pipe_rt = -1;
    return k;
}

/* One instruction of `size` bytes (2 or 4) at `b`, in block order. */
static inline cm4_cost cm4_cost_of(cm4_state *st, const uint8_t *b, size_t size)
{
    uint32_t hw1 = (uint32_t)b[0] | ((uint32_t)b[1] << 8);
    int in_it = st->it_left > 0u;
    if (in_it) {
        st->it_left--;
    }
    cm4_cost k;
    int32_t rd;
    if (size >= 4u) {
        uint32_t hw2 = (uint32_t)b[2] | ((uint32_t)b[3] << 8);
        k = cm4_thumb32(st, hw1, hw2);
        rd = cm4_rd32(hw1, hw2);
    } else {
        k = cm4_thumb16(st, hw1);
        rd = cm4_rd16(hw1);
    }
    st->alu_rd = rd;
    if (in_it && k.branch == CM4_ALWAYS) {
        k.branch = CM4_CONDITIONAL; /* BX LR, POP {pc} ... under IT */
    }
    return k;
}

#endif /* BENCH_CM4_TIMING_H */
