// ombria_calibrate: shows that OMBRIA's 8-bit images are stretched one by one and summarizes
// the per-image 8-bit -> dB mappings the dataset applies (docs/dataset_card.md).
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <iostream>

#include "core/error.hpp"
#include "core/log.hpp"
#include "data/ombria_dataset.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Describe the OMBRIA per-image 8-bit -> dB VV mappings"};
  const char* env = std::getenv("DRSHYM_SHARED_DATA");
  const std::string shared = env && *env ? env : "../shared/data";
  std::string ombria = shared + "/ombria/OmbriaS1", split = "train";
  app.add_option("--ombria", ombria, "OMBRIA root (holding train/ and test/)")->capture_default_str();
  app.add_option("--split", split, "OMBRIA split to measure")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    std::cout << drshym::data::describe_ombria_mapping(ombria, split).dump(2) << "\n";
    return 0;
  } catch (const drshym::Error& e) {
    drshym::core::log().error("{}", e.what());
    return 1;
  }
}
