#pragma once
// The network handle without LibTorch: headers that only hold or pass a network (infer's
// Predictor, the precision trial) declare it through this; code that calls it includes
// model/segnet.hpp.
#include <memory>

namespace drshym::model {
class SegNetImpl;  // model/segnet.hpp
using SegNet = std::shared_ptr<SegNetImpl>;
struct ModelConfig;  // model/segnet.hpp
}  // namespace drshym::model

// LibTorch's tensor and device, for declarations only (torch::Tensor is at::Tensor).
namespace at {
class Tensor;
}
namespace c10 {
struct Device;
}
