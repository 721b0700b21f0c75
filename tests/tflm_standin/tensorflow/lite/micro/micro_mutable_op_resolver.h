// Stand-in (see tests/tflm_standin/README.md).
#ifndef STANDIN_MICRO_MUTABLE_OP_RESOLVER_H
#define STANDIN_MICRO_MUTABLE_OP_RESOLVER_H
#include "tensorflow/lite/micro/micro_interpreter.h"

namespace tflite {
#define STANDIN_OPS(X)                                                                   \
    X(ADD, Add) X(AVERAGE_POOL_2D, AveragePool2D) X(CONCATENATION, Concatenation)        \
    X(CONV_2D, Conv2D) X(DEPTHWISE_CONV_2D, DepthwiseConv2D)                             \
    X(FULLY_CONNECTED, FullyConnected) X(MAX_POOL_2D, MaxPool2D) X(MEAN, Mean)           \
    X(MUL, Mul) X(PAD, Pad) X(PADV2, PadV2) X(RELU, Relu) X(RELU6, Relu6)                \
    X(RESHAPE, Reshape) X(SLICE, Slice) X(SOFTMAX, Softmax) X(STRIDED_SLICE, StridedSlice) \
    X(TRANSPOSE, Transpose)

#define STANDIN_REGISTER(OP, NAME) TFLMRegistration Register_##OP();
STANDIN_OPS(STANDIN_REGISTER)

template <unsigned int tOpCount>
class MicroMutableOpResolver : public MicroOpResolver {
  public:
#define STANDIN_ADD(OP, NAME)                                                            \
    TfLiteStatus Add##NAME(const TFLMRegistration &registration = Register_##OP()) {    \
        return Add(registration);                                                        \
    }
    STANDIN_OPS(STANDIN_ADD)

  private:
    TfLiteStatus Add(const TFLMRegistration &registration) {
        if (count_ >= tOpCount) {
            return kTfLiteError;
        }
        registrations_[count_++] = registration;
        return kTfLiteOk;
    }
    TFLMRegistration registrations_[tOpCount];
    unsigned int count_ = 0;
};
}  // namespace tflite
#endif
