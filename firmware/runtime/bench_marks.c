/*
 * bench_marks.c - region markers for exact instruction counts on QEMU.
 *
 * The runtime calls bench_mark_start() right before bench_model_run() and
 * bench_mark_stop() right after it; generated model code calls
 * bench_mark_layer() after every profiled layer (BENCH_LAYER_MARK() in
 * bench_model.h, only in -DBENCH_PER_LAYER builds). The functions do
 * nothing: bench's QEMU TCG plugin (firmware/qemu-plugin/bench_insn.c) finds
 * their addresses in the ELF symbol table and counts the instructions
 * executed between them. On a real board they cost a call and a return.
 */
#include "bench_model.h"

/* noipa: the calls must survive -O2 (no inlining, no removal of a call to
 * an empty function) and the three bodies must not be folded into one
 * address by identical-code folding. The asm gives each a side effect. */
#if defined(__GNUC__) && !defined(__clang__)
#define BENCH_MARKER __attribute__((noipa, used))
#else
#define BENCH_MARKER __attribute__((noinline, used))
#endif

BENCH_MARKER void bench_mark_start(void)
{
    __asm volatile("" ::: "memory");
}

BENCH_MARKER void bench_mark_stop(void)
{
    __asm volatile("" ::: "memory");
}

BENCH_MARKER void bench_mark_layer(void)
{
    __asm volatile("" ::: "memory");
}
