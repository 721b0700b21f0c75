/*
 * ops_s16.c - int16 depthwise conv, linear, pools, add and clamp (ops_q.inc).
 */
#include "bench_qkernels.h"
#include "bench_requant.h"

#define QT int16_t
#define QMIN (-32768)
#define QMAX 32767
#define SUFFIX s16
#include "ops_q.inc"
