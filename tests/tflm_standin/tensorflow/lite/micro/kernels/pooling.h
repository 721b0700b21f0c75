// Stand-in (see tests/tflm_standin/README.md).
#pragma once
#include "tensorflow/lite/micro/micro_common.h"
namespace tflite {
TFLMRegistration Register_MAX_POOL_2D_INT8();
TFLMRegistration Register_AVERAGE_POOL_2D_INT8();
}  // namespace tflite
