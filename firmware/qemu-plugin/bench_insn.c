/*
 * bench_insn.c - QEMU TCG plugin: exact guest instruction counts between
 * the firmware's region markers (firmware/runtime/bench_marks.c), and an
 * estimate of the Cortex-M4 cycles they take (the timing model in
 * cm4_timing.h).
 *
 * Arguments (comma separated after the .so path, as QEMU passes them):
 *   out=PATH     file the counts are written to (created, truncated)
 *   start=ADDR   address of bench_mark_start (Thumb bit ignored)
 *   stop=ADDR    address of bench_mark_stop
 *   layer=ADDR   address of bench_mark_layer (optional)
 *
 * Output, one line each, flushed as written:
 *   "# bench_insn 2 timing=MODEL"     once, when the plugin is installed
 *   "C SEQ CYCLES N C0 ... C(N-1)"    at every stop mark, then
 *   "R SEQ TOTAL N L0 L1 ... L(N-1)"  at every stop mark
 * SEQ counts stop marks from 1. TOTAL is the number of instructions from
 * the first instruction of bench_mark_start (included) to the first
 * instruction of bench_mark_stop (excluded); Li the same from the previous
 * mark (start or layer) to the i-th layer mark. CYCLES and Ci are the
 * model's estimate for the same instructions. The lines are written before
 * the guest executes bench_mark_stop, so before it can answer the host.
 *
 * Counting: every translation block adds its instruction count and its
 * cycles (each conditional branch counted as taken) to a per-vCPU
 * scoreboard when it starts executing (inline ops, no helper call). A
 * block that ends in a conditional branch also stores its fall-through
 * address; the next block compares that with its own address, inline, and
 * only when they are equal (the branch was not taken) calls back to take
 * the refill cycles off again. A divide calls back to read its operands. A
 * marker instruction gets an exec callback that reads the counters and
 * subtracts the part of its block that has not run yet, so a reading does
 * not depend on how QEMU cut the code into blocks. Under -icount, blocks cut
 * short by the instruction budget are translated as shorter blocks, which
 * keeps the counts exact.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm4_timing.h"
#include "qemu_plugin_api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

enum mark { MARK_START, MARK_STOP, MARK_LAYER, N_MARKS };
static const char *const mark_names[N_MARKS] = {"start", "stop", "layer"};

static uint64_t mark_addr[N_MARKS];
static int mark_set[N_MARKS];
/* One vCPU's scoreboard entry. */
typedef struct {
    uint64_t insns;       /* instructions executed so far */
    uint64_t cycles;      /* their estimated cycles */
    uint64_t fallthrough; /* set by a block ending in a conditional branch, else 0 */
} vcpu_counts;

static struct qemu_plugin_scoreboard *score;
static qemu_plugin_u64 insns;
static qemu_plugin_u64 cycles;
static qemu_plugin_u64 fallthrough;
static FILE *out;

/* A reading: instructions and cycles at one point. */
typedef struct {
    uint64_t insns;
    uint64_t cycles;
} reading;

static int in_region;
static reading region_start; /* at the start mark */
static reading last_mark;    /* at the start mark or the latest layer mark */
static uint64_t seq;
static reading *layers;
static size_t n_layers;
static size_t cap_layers;
static int layers_lost; /* out of memory: this region's layer list is incomplete */

/* The registers a divide reads, found when the vCPU starts. */
static struct qemu_plugin_register *core_regs[16];
static GByteArray *reg_buf;

/* udata of a marker callback: its kind and what of its block, from the
 * marker to the block's end (inclusive), has been counted but not run. */
typedef struct marker_use {
    enum mark kind;
    reading rest;
    struct marker_use *next; /* all of them, freed at exit */
} marker_use;
static marker_use *marker_uses;

/* udata of a divide callback: operand registers and signedness. */
typedef struct div_use {
    uint32_t rn, rm;
    int is_signed;
    struct div_use *next;
} div_use;
static div_use *div_uses;

static void on_mark(unsigned int vcpu, void *udata)
{
    const marker_use *m = udata;
    enum mark kind = m->kind;
    reading now = {qemu_plugin_u64_get(insns, vcpu) - m->rest.insns,
                   qemu_plugin_u64_get(cycles, vcpu) - m->rest.cycles};

    switch (kind) {
    case MARK_START:
        in_region = 1;
        region_start = now;
        last_mark = now;
        n_layers = 0;
        layers_lost = 0;
        break;
    case MARK_LAYER:
        if (!in_region) {
            break;
        }
        if (n_layers == cap_layers) {
            size_t cap = cap_layers ? 2 * cap_layers : 64;
            reading *grown = realloc(layers, cap * sizeof *layers);
            if (grown == NULL) {
                layers_lost = 1;
                break;
            }
            layers = grown;
            cap_layers = cap;
        }
        layers[n_layers].insns = now.insns - last_mark.insns;
        layers[n_layers].cycles = now.cycles - last_mark.cycles;
        n_layers++;
        last_mark = now;
        break;
    case MARK_STOP:
        if (!in_region) {
            break;
        }
        in_region = 0;
        seq++;
        if (layers_lost) {
            fprintf(out, "E %" PRIu64 " out of memory for per-layer counts\n", seq);
        } else {
            fprintf(out, "C %" PRIu64 " %" PRIu64 " %zu", seq, now.cycles - region_start.cycles,
                    n_layers);
            for (size_t i = 0; i < n_layers; i++) {
                fprintf(out, " %" PRIu64, layers[i].cycles);
            }
            fprintf(out, "\nR %" PRIu64 " %" PRIu64 " %zu", seq, now.insns - region_start.insns,
                    n_layers);
            for (size_t i = 0; i < n_layers; i++) {
                fprintf(out, " %" PRIu64, layers[i].insns);
            }
            fputc('\n', out);
        }
        /* The host reads this line as soon as the guest's reply arrives. */
        fflush(out);
        break;
    default:
        break;
    }
}

/* The block before this one ended in a conditional branch that fell through. */
static void on_not_taken(unsigned int vcpu, void *udata)
{
    (void)udata;
    qemu_plugin_u64_add(cycles, vcpu, (uint64_t)0 - CM4_REFILL);
}

static uint32_t read_core_reg(uint32_t r)
{
    if (r > 15u || core_regs[r] == NULL || reg_buf == NULL) {
        return 0u;
    }
    g_byte_array_set_size(reg_buf, 0);
    if (qemu_plugin_read_register(core_regs[r], reg_buf) < 4 || reg_buf->len < 4u) {
        return 0u;
    }
    const uint8_t *b = reg_buf->data; /* the guest's byte order: little endian */
    return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
           ((uint32_t)b[3] << 24);
}

static void on_divide(unsigned int vcpu, void *udata)
{
    const div_use *d = udata;
    uint32_t c = CM4_DIV_DEFAULT;
    if (core_regs[d->rn] != NULL && core_regs[d->rm] != NULL) {
        c = cm4_div_cycles(read_core_reg(d->rn), read_core_reg(d->rm), d->is_signed);
    }
    qemu_plugin_u64_add(cycles, vcpu, c);
}

static void on_vcpu_init(qemu_plugin_id_t id, unsigned int vcpu)
{
    (void)id;
    (void)vcpu;
    static const char *const names[16] = {"r0", "r1", "r2",  "r3",  "r4",  "r5", "r6", "r7",
                                          "r8", "r9", "r10", "r11", "r12", "sp", "lr", "pc"};
    GArray *regs = qemu_plugin_get_registers();
    if (regs == NULL) {
        return;
    }
    const qemu_plugin_reg_descriptor *desc = (const qemu_plugin_reg_descriptor *)regs->data;
    for (unsigned int i = 0; i < regs->len; i++) {
        for (int r = 0; r < 16; r++) {
            if (core_regs[r] == NULL && desc[i].name != NULL &&
                strcmp(desc[i].name, names[r]) == 0) {
                core_regs[r] = desc[i].handle;
            }
        }
    }
    g_array_free(regs, 1);
    if (reg_buf == NULL) {
        reg_buf = g_byte_array_new();
    }
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    if (n == 0) {
        return;
    }
    /* Cycles of each instruction, for the markers' "not run yet" part. */
    uint32_t cost[64];
    uint32_t *costs = n <= 64 ? cost : malloc(n * sizeof *costs);
    uint64_t total = 0;
    uint64_t next_pc = 0;
    enum cm4_branch last_branch = CM4_NOT_BRANCH;
    cm4_state st;
    cm4_reset(&st);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint8_t bytes[4] = {0, 0, 0, 0};
        size_t size = qemu_plugin_insn_data(insn, bytes, sizeof bytes);
        cm4_cost k = cm4_cost_of(&st, bytes, size);
        if (k.div != CM4_NO_DIV) {
            div_use *d = malloc(sizeof *d);
            if (d != NULL) {
                *d = (div_use){k.div_rn, k.div_rm, k.div == CM4_SDIV, div_uses};
                div_uses = d;
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_divide, QEMU_PLUGIN_CB_R_REGS, d);
            } else {
                k.cycles += CM4_DIV_DEFAULT;
            }
        }
        if (costs != NULL) {
            costs[i] = k.cycles;
        }
        total += k.cycles;
        last_branch = k.branch;
        next_pc = (qemu_plugin_insn_vaddr(insn) & ~(uint64_t)1) + size;
    }
    qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_ADD_U64, insns,
                                                      (uint64_t)n);
    qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_ADD_U64, cycles,
                                                      total);
    /* Before this block's own store (an instruction op runs after the
     * block's): did the previous block's conditional branch fall through? */
    qemu_plugin_register_vcpu_tb_exec_cond_cb(tb, on_not_taken, QEMU_PLUGIN_CB_NO_REGS,
                                              QEMU_PLUGIN_COND_EQ, fallthrough,
                                              qemu_plugin_tb_vaddr(tb) & ~(uint64_t)1, NULL);
    qemu_plugin_register_vcpu_insn_exec_inline_per_vcpu(
        qemu_plugin_tb_get_insn(tb, 0), QEMU_PLUGIN_INLINE_STORE_U64, fallthrough,
        last_branch == CM4_CONDITIONAL ? next_pc : 0);

    uint64_t rest_cycles = total;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn) & ~(uint64_t)1;
        for (int k = 0; k < N_MARKS; k++) {
            if (mark_set[k] && pc == mark_addr[k]) {
                marker_use *m = malloc(sizeof *m);
                if (m == NULL) {
                    continue;
                }
                *m = (marker_use){(enum mark)k, {(uint64_t)(n - i), rest_cycles}, marker_uses};
                marker_uses = m;
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS, m);
            }
        }
        if (costs != NULL) {
            rest_cycles -= costs[i];
        }
    }
    if (costs != cost) {
        free(costs);
    }
}

static void on_qemu_exit(qemu_plugin_id_t id, void *udata)
{
    (void)id;
    (void)udata;
    if (out != NULL) {
        fclose(out);
        out = NULL;
    }
    free(layers);
    layers = NULL;
    while (marker_uses != NULL) {
        marker_use *next = marker_uses->next;
        free(marker_uses);
        marker_uses = next;
    }
    while (div_uses != NULL) {
        div_use *next = div_uses->next;
        free(div_uses);
        div_uses = next;
    }
    if (reg_buf != NULL) {
        g_byte_array_free(reg_buf, 1);
        reg_buf = NULL;
    }
    qemu_plugin_scoreboard_free(score);
}

static int parse_addr(const char *text, uint64_t *addr)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 0);
    if (errno != 0 || end == text || *end != '\0') {
        return -1;
    }
    *addr = (uint64_t)v & ~(uint64_t)1; /* a Thumb symbol's bit 0 is not part of the pc */
    return 0;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                           int argc, char **argv)
{
    (void)info;
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *eq = strchr(arg, '=');
        if (eq == NULL) {
            fprintf(stderr, "bench_insn: argument %s is not key=value\n", arg);
            return -1;
        }
        size_t klen = (size_t)(eq - arg);
        int known = 0;
        if (klen == 3 && strncmp(arg, "out", 3) == 0) {
            path = eq + 1;
            known = 1;
        }
        for (int k = 0; k < N_MARKS && !known; k++) {
            if (klen == strlen(mark_names[k]) && strncmp(arg, mark_names[k], klen) == 0) {
                if (parse_addr(eq + 1, &mark_addr[k]) != 0) {
                    fprintf(stderr, "bench_insn: bad address in %s\n", arg);
                    return -1;
                }
                mark_set[k] = 1;
                known = 1;
            }
        }
        if (!known) {
            fprintf(stderr, "bench_insn: unknown argument %s\n", arg);
            return -1;
        }
    }
    if (path == NULL || !mark_set[MARK_START] || !mark_set[MARK_STOP]) {
        fprintf(stderr, "bench_insn: needs out=PATH, start=ADDR and stop=ADDR\n");
        return -1;
    }
    out = fopen(path, "w");
    if (out == NULL) {
        fprintf(stderr, "bench_insn: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    score = qemu_plugin_scoreboard_new(sizeof(vcpu_counts));
    insns = (qemu_plugin_u64){score, offsetof(vcpu_counts, insns)};
    cycles = (qemu_plugin_u64){score, offsetof(vcpu_counts, cycles)};
    fallthrough = (qemu_plugin_u64){score, offsetof(vcpu_counts, fallthrough)};
    qemu_plugin_register_vcpu_init_cb(id, on_vcpu_init);
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
    /* Tells the host the plugin is loaded, before the guest runs. */
    fputs("# bench_insn 2 timing=" CM4_MODEL "\n", out);
    fflush(out);
    return 0;
}
