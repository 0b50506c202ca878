#pragma once
// What a Grad-CAM run is asked for: plain option types, no LibTorch, so the front-ends that only
// fill options (the CLI, the server, the batch) need not include the network code
// (explain/gradcam.hpp has the maps themselves).
#include <string>

namespace drshym::explain {

enum class CamMethod { GradCam, GradCamPlusPlus };

// "gradcam" | "gradcam++"; anything else is a Usage error listing both.
CamMethod parse_cam_method(const std::string& name);
const char* cam_method_name(CamMethod m);

struct GradCamParams {
  std::string layer;  // "" = the network's last tap point (the last decoder block)
  CamMethod method = CamMethod::GradCam;
  double threshold = 0.5;  // region = calibrated p >= threshold
};

}  // namespace drshym::explain
