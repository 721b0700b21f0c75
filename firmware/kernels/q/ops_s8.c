/*
 * ops_s8.c - int8 depthwise conv, linear, pools, add and clamp (ops_q.inc).
 */
#include "bench_qkernels.h"
#include "bench_requant.h"

#define QT int8_t
#define QMIN (-128)
#define QMAX 127
#define SUFFIX s8
#include "ops_q.inc"
