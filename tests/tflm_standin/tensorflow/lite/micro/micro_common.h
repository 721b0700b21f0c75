// Stand-in (see tests/tflm_standin/README.md).
#ifndef STANDIN_MICRO_COMMON_H
#define STANDIN_MICRO_COMMON_H
#include <stddef.h>
#include <stdint.h>

typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;

typedef struct {
    union {
        int8_t *int8;
        void *raw;
    } data;
    size_t bytes;
} TfLiteTensor;

namespace tflite {
struct Model;
struct TFLMRegistration {
    void *(*init)(void *, const char *, size_t);
};
const Model *GetModel(const void *buf);
}  // namespace tflite
#endif
