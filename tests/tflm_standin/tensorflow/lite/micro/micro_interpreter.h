// Stand-in (see tests/tflm_standin/README.md).
#ifndef STANDIN_MICRO_INTERPRETER_H
#define STANDIN_MICRO_INTERPRETER_H
#include "tensorflow/lite/micro/micro_common.h"

namespace tflite {
class MicroOpResolver {
  public:
    virtual ~MicroOpResolver() {}
};

class MicroInterpreter {
  public:
    MicroInterpreter(const Model *model, const MicroOpResolver &op_resolver, uint8_t *arena,
                     size_t arena_size);
    TfLiteStatus AllocateTensors();
    TfLiteStatus Invoke();
    TfLiteTensor *input(size_t index);
    TfLiteTensor *output(size_t index);
    size_t arena_used_bytes() const;
};
}  // namespace tflite
#endif
