/*
 * bench_insn.c - QEMU TCG plugin: exact guest instruction counts between
 * the firmware's region markers (firmware/runtime/bench_marks.c).
 *
 * Arguments (comma separated after the .so path, as QEMU passes them):
 *   out=PATH     file the counts are written to (created, truncated)
 *   start=ADDR   address of bench_mark_start (Thumb bit ignored)
 *   stop=ADDR    address of bench_mark_stop
 *   layer=ADDR   address of bench_mark_layer (optional)
 *
 * Output, one line each, flushed as written:
 *   "# bench_insn 1"                  once, when the plugin is installed
 *   "R SEQ TOTAL N L0 L1 ... L(N-1)"  at every stop mark
 * SEQ counts stop marks from 1. TOTAL is the number of instructions from
 * the first instruction of bench_mark_start (included) to the first
 * instruction of bench_mark_stop (excluded); Li the same from the previous
 * mark (start or layer) to the i-th layer mark. The line is written before
 * the guest executes bench_mark_stop, so before it can answer the host.
 *
 * Counting: every translation block adds its instruction count to a
 * per-vCPU scoreboard when it starts executing (an inline op, no helper
 * call). A marker instruction gets an exec callback that reads that
 * counter and subtracts the instructions of its block that have not run
 * yet, so a reading does not depend on how QEMU cut the code into blocks.
 * Under -icount, blocks cut short by the instruction budget are translated
 * as shorter blocks, which keeps the count exact.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_plugin_api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

enum mark { MARK_START, MARK_STOP, MARK_LAYER, N_MARKS };
static const char *const mark_names[N_MARKS] = {"start", "stop", "layer"};

static uint64_t mark_addr[N_MARKS];
static int mark_set[N_MARKS];
static struct qemu_plugin_scoreboard *score;
static qemu_plugin_u64 insns; /* instructions executed so far, per vCPU */
static FILE *out;

static int in_region;
static uint64_t region_start; /* reading at the start mark */
static uint64_t last_mark;    /* reading at the start mark or the latest layer mark */
static uint64_t seq;
static uint64_t *layers;
static size_t n_layers;
static size_t cap_layers;
static int layers_lost; /* out of memory: this region's layer list is incomplete */

/* udata of a marker callback: the mark kind in bits 0-1, the instructions of
 * its block from the marker to the block's end (inclusive) above them. */
static void *pack(enum mark kind, uint64_t rest) { return (void *)(uintptr_t)((rest << 2) | kind); }

static void on_mark(unsigned int vcpu, void *udata)
{
    uintptr_t u = (uintptr_t)udata;
    enum mark kind = (enum mark)(u & 3u);
    uint64_t now = qemu_plugin_u64_get(insns, vcpu) - (uint64_t)(u >> 2);

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
            uint64_t *grown = realloc(layers, cap * sizeof *layers);
            if (grown == NULL) {
                layers_lost = 1;
                break;
            }
            layers = grown;
            cap_layers = cap;
        }
        layers[n_layers++] = now - last_mark;
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
            fprintf(out, "R %" PRIu64 " %" PRIu64 " %zu", seq, now - region_start, n_layers);
            for (size_t i = 0; i < n_layers; i++) {
                fprintf(out, " %" PRIu64, layers[i]);
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

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    qemu_plugin_register_vcpu_tb_exec_inline_per_vcpu(tb, QEMU_PLUGIN_INLINE_ADD_U64, insns,
                                                      (uint64_t)n);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        uint64_t pc = qemu_plugin_insn_vaddr(insn) & ~(uint64_t)1;
        for (int k = 0; k < N_MARKS; k++) {
            if (mark_set[k] && pc == mark_addr[k]) {
                qemu_plugin_register_vcpu_insn_exec_cb(insn, on_mark, QEMU_PLUGIN_CB_NO_REGS,
                                                       pack((enum mark)k, (uint64_t)(n - i)));
            }
        }
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
    score = qemu_plugin_scoreboard_new(sizeof(uint64_t));
    insns.score = score;
    insns.offset = 0;
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, on_qemu_exit, NULL);
    /* Tells the host the plugin is loaded, before the guest runs. */
    fputs("# bench_insn 1\n", out);
    fflush(out);
    return 0;
}
