// Stand-in (see tests/tflm_standin/README.md).
#pragma once
#include "tensorflow/lite/micro/micro_common.h"
namespace tflite {
TFLMRegistration Register_SOFTMAX_INT8();
}  // namespace tflite
