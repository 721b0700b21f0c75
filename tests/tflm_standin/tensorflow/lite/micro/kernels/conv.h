// Stand-in (see tests/tflm_standin/README.md).
#pragma once
#include "tensorflow/lite/micro/micro_common.h"
namespace tflite {
TFLMRegistration Register_CONV_2D_INT8();
}  // namespace tflite
